#![no_main]
//! See `secretgate_fuzz::snapshot_text` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| secretgate_fuzz::snapshot_text(data));
