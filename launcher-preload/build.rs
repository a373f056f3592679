//! Link flags that keep `launcher.preload.so` free of imports and start-up code.
#![forbid(unsafe_code)]
fn main() {
    // No crt start files: they add weak imports (`__gmon_start__`, `_ITM_*`,
    // `__cxa_finalize`), each a symbol lookup in every process, and code we never need.
    println!("cargo:rustc-cdylib-link-arg=-nostartfiles");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,launcher.preload.so");
    // Refuse to link if anything would still be imported.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--no-undefined");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--hash-style=gnu");
    // Bind internal references at link time: calls become direct instead of going through
    // GOT entries that the loader would relocate in every process.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    // One writable segment, no RELRO: RELRO costs an extra mapping, a page of zeroing and an
    // mprotect in every process, to protect eight relocated pointers.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,norelro");
    // One read-and-execute segment for headers, read-only data and code (lld's default puts
    // read-only data in a segment of its own): the loader then maps the library as it maps an
    // empty one, with no mapping more and no `PROT_NONE` gap to protect, and the page fault of
    // its first look at the symbol table maps the start-up page around it (fault-around), so
    // a process the library rules out pays about 10 µs less. Read-only data becomes
    // executable, never writable: no page is both writable and executable.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--no-rosegment");
    // Each segment starts a page of its own in the file: the writable one (GOT, `.init_array`,
    // `.dynamic`, a few hundred bytes) then always sits on one page, which the loader's
    // relocations copy once, instead of straddling two when the code's length ends near a page
    // boundary (seen: +1 fault and +6 µs per process).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments");
    // The start-up page (see start.ld).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/start.ld");
    println!("cargo:rerun-if-changed=start.ld");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{script}");
}
