#![no_main]
//! See `secretgate_fuzz::review` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| secretgate_fuzz::review(data));
