//! `/proc/self/cmdline` splitting and the dotted-version reader (libc and runtime versions).
//! Seeds: real command lines.
#![no_main]

use analyzer::process::{file_name, major_minor, parent, split_cmdline};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let args = split_cmdline(data);
    // Rejoined, the arguments give back the input (less one trailing NUL).
    let joined = args.join(&0u8);
    let expected = data.strip_suffix(b"\0").unwrap_or(data);
    assert_eq!(joined, expected);
    for arg in &args {
        assert!(!arg.contains(&0));
        let name = file_name(arg);
        assert!(!name.contains(&b'/'));
        if let Some(dir) = parent(arg) {
            assert!(dir.len() < arg.len());
        }
        let _ = major_minor(arg);
    }
});
