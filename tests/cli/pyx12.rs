//! pyx12 tests
