//! The Falco-compatible rule language: loading, parsing, compiling, evaluating and linting.
//! (Being built under issue 3.)

pub mod cli;
