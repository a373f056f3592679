//! The auxiliary-vector parser the library runs on `/proc/self/auxv` in every runtime process.
//! Seeds: real vectors of glibc, musl and static processes.
#![no_main]

use analyzer::auxv;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(parsed) = auxv::parse(data) {
        // Only a vector that reaches AT_NULL counts, so it fits in the input.
        assert!(data.len() >= 32, "AT_SECURE and AT_NULL take 32 bytes");
        let _ = parsed.secure;
    }
});
