//! Integration tests: one binary, a module per command or concern.

mod ack;
mod check;
mod findings_only;
mod fix;
mod fuzz;
mod history;
mod ig;
mod jobs;
mod parse;
mod pyx12;
mod reading;
mod readme;
mod synth;
mod util;
mod validate;
