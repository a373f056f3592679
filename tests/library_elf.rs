//! The shipped `launcher.preload.so` loads into any process: pinned on the ELF itself.

use apm_inject_tests::built_library;
use goblin::elf::{dynamic, program_header, section_header, Elf};

/// Imports the library may have. Every import is a symbol lookup in every process and a
/// strong one breaks libc-free programs: there are none.
const ALLOWED_IMPORTS: &[&str] = &[];
/// Symbols the library may export (anything exported could interpose on the program's own).
const ALLOWED_EXPORTS: &[&str] = &[];

fn with_elf(check: impl FnOnce(&Elf)) {
    let bytes = std::fs::read(built_library()).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    check(&elf);
}

#[test]
fn has_no_needed_libraries() {
    with_elf(|elf| assert!(elf.libraries.is_empty(), "DT_NEEDED: {:?}", elf.libraries));
}

#[test]
fn imports_nothing_beyond_the_allowlist() {
    with_elf(|elf| {
        let imports: Vec<(&str, bool)> = elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx == section_header::SHN_UNDEF as usize && s.st_name != 0)
            .map(|s| {
                (
                    elf.dynstrtab.get_at(s.st_name).unwrap_or("?"),
                    s.st_bind() == goblin::elf::sym::STB_WEAK,
                )
            })
            .collect();
        for (name, weak) in &imports {
            assert!(
                *weak,
                "strong import {name}: libc-free processes would fail to start"
            );
            assert!(
                ALLOWED_IMPORTS.contains(name),
                "import {name} is not on the allowlist"
            );
        }
    });
}

#[test]
fn exports_nothing() {
    with_elf(|elf| {
        let exports: Vec<&str> = elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx != section_header::SHN_UNDEF as usize && s.st_name != 0)
            .map(|s| elf.dynstrtab.get_at(s.st_name).unwrap_or("?"))
            .collect();
        for name in &exports {
            assert!(ALLOWED_EXPORTS.contains(name), "exported symbol {name}");
        }
    });
}

#[test]
fn runs_its_constructor_from_init_array() {
    with_elf(|elf| {
        let dynamic = elf.dynamic.as_ref().expect("dynamic section");
        let size = dynamic
            .dyns
            .iter()
            .find(|d| d.d_tag == dynamic::DT_INIT_ARRAYSZ)
            .map(|d| d.d_val);
        assert_eq!(size, Some(8), "exactly one constructor in .init_array");
        assert!(
            !dynamic.dyns.iter().any(|d| d.d_tag == dynamic::DT_INIT),
            "no legacy _init"
        );
        assert!(
            !dynamic
                .dyns
                .iter()
                .any(|d| d.d_tag == dynamic::DT_FINI_ARRAY),
            "no destructors"
        );
    });
}

#[test]
fn has_no_thread_local_storage() {
    with_elf(|elf| {
        assert!(!elf
            .program_headers
            .iter()
            .any(|p| p.p_type == program_header::PT_TLS));
    });
}

#[test]
fn needs_few_load_time_relocations() {
    // Each relocation is work for the loader in every process; text relocations would also
    // make the code writable.
    with_elf(|elf| {
        let dynamic = elf.dynamic.as_ref().unwrap();
        assert!(!dynamic.dyns.iter().any(|d| d.d_tag == dynamic::DT_TEXTREL));
        let count = elf.dynrelas.len() + elf.dynrels.len() + elf.pltrelocs.len();
        assert!(count <= 16, "{count} load-time relocations");
    });
}

#[test]
fn stack_is_not_executable() {
    with_elf(|elf| {
        let stack = elf
            .program_headers
            .iter()
            .find(|p| p.p_type == program_header::PT_GNU_STACK);
        assert!(stack.is_some_and(|p| p.p_flags & program_header::PF_X == 0));
    });
}
