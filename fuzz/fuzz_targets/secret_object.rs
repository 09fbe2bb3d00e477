#![no_main]
//! See `secretgate_fuzz::secret_object` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| secretgate_fuzz::secret_object(data));
