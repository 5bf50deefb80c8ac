//! Arbitrary bytes as a pipeline file (YAML and JSON): parse, decode, validate, render.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::validate(data));
