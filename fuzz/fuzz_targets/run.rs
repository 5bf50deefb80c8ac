//! Arbitrary bytes as a pipeline of pure steps (and its input after a NUL byte), run with a
//! short limit.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::run(data));
