//! Integration tests: one binary, a module per command or concern.

mod check;
mod fuzz;
mod parse;
mod pyx12;
mod reading;
mod readme;
mod util;
mod validate;
