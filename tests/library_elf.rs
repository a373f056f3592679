//! The shipped `launcher.preload.so` loads into any process: pinned on the ELF itself.
#![forbid(unsafe_code)]

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

// ---- the path of a process the library rules out ----

/// Page size on x86_64.
const PAGE: u64 = 4096;

#[test]
fn start_up_code_fits_one_page() {
    // Everything a process that is not a runtime runs of the library: one page of code, so one
    // page fault (see launcher-preload/start.ld).
    with_elf(|elf| {
        let section = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".text.apm_start"))
            .expect(".text.apm_start");
        assert_eq!(section.sh_addr % PAGE, 0, "starts a page");
        assert!(section.sh_size <= PAGE, "{} bytes", section.sh_size);
        let range = section.sh_addr..section.sh_addr + section.sh_size;
        for wanted in [
            "launcher_preload5start",
            "analyzer7runtime6detect",
            "analyzer6dotnet19in_system_directory",
            "memcpy",
            "strlen",
        ] {
            let symbol = elf
                .syms
                .iter()
                .find(|s| {
                    elf.strtab
                        .get_at(s.st_name)
                        .is_some_and(|n| n.contains(wanted))
                })
                .unwrap_or_else(|| panic!("symbol {wanted}"));
            assert!(
                range.contains(&symbol.st_value) && symbol.st_value + symbol.st_size <= range.end,
                "{wanted} is outside the start-up page"
            );
        }
    });
}

#[test]
fn loads_as_one_code_segment_and_one_data_segment() {
    // As the empty library does: no separate read-only segment, so no mapping more and no
    // `PROT_NONE` gap for the loader to protect in every process (launcher-preload/build.rs).
    with_elf(|elf| {
        let flags: Vec<u32> = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == program_header::PT_LOAD)
            .map(|p| p.p_flags)
            .collect();
        let (r, w, x) = (
            program_header::PF_R,
            program_header::PF_W,
            program_header::PF_X,
        );
        assert_eq!(flags, [r | x, r | w], "PT_LOAD flags");
        // The writable segment: the decision record's page first and the arena's reserve
        // last, both written only on the runtime path (so never copied in a process ruled
        // out), and between them what the loader's relocations copy, on one page (two would
        // be a fault more in every process). All of it in the file: a part beyond it would be
        // zeroed by the loader in every process.
        let data = elf
            .program_headers
            .iter()
            .find(|p| p.p_type == program_header::PT_LOAD && p.p_flags & w != 0)
            .unwrap();
        let section = |name: &str| {
            let s = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
                .unwrap_or_else(|| panic!("no section {name}"));
            (s.sh_addr, s.sh_addr + s.sh_size)
        };
        let (record, reserve) = (section(".data.apm_status"), section(".data.apm_arena"));
        let end = data.p_vaddr + data.p_memsz;
        assert_eq!(
            data.p_filesz, data.p_memsz,
            "nothing for the loader to zero"
        );
        assert_eq!(
            record,
            (data.p_vaddr, data.p_vaddr + PAGE),
            "the record's page first"
        );
        assert_eq!(reserve.1, end, "the reserve last");
        assert!(
            data.p_vaddr % PAGE == 0 && reserve.0 == record.1 + PAGE,
            "relocated data on the one page between them: {:#x}..{:#x}",
            record.1,
            reserve.0
        );
    });
}

#[test]
fn loader_rewrites_can_be_seen_in_the_dynamic_section() {
    // The constructor trusts glibc's (argc, argv, envp) only when glibc's loader rewrote the
    // dynamic section's DT_STRTAB to an absolute address: the section must be writable, and
    // the value in the file far below any load address.
    with_elf(|elf| {
        let dynamic = elf
            .program_headers
            .iter()
            .find(|p| p.p_type == program_header::PT_DYNAMIC)
            .unwrap();
        assert!(elf.program_headers.iter().any(|p| {
            p.p_type == program_header::PT_LOAD
                && p.p_flags & program_header::PF_W != 0
                && (p.p_vaddr..p.p_vaddr + p.p_memsz).contains(&dynamic.p_vaddr)
        }));
        let strtab = elf
            .dynamic
            .as_ref()
            .unwrap()
            .dyns
            .iter()
            .find(|d| d.d_tag == dynamic::DT_STRTAB);
        assert!(strtab.is_some_and(|d| d.d_val < PAGE));
    });
}

/// The system calls `argv` makes with `preload`, of the kinds the library uses, with numbers,
/// addresses and the preload's path made uniform so that runs can be compared.
fn system_calls(preload: &std::path::Path, argv: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=readlinkat,readlink,newfstatat,stat,statx,openat,open,getcwd,mmap,munmap,mprotect"])
        .arg("-E")
        .arg(format!("LD_PRELOAD={}", preload.display()))
        .args(argv)
        .output()
        .expect("strace (make deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uniform = numbers_as_n(
        &String::from_utf8_lossy(&out.stderr).replace(&*preload.to_string_lossy(), "PRELOAD"),
    );
    uniform.lines().map(str::to_string).collect()
}

/// `text` with every number replaced by `N`.
fn numbers_as_n(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        let digit = c.is_ascii_hexdigit() && (in_number || c.is_ascii_digit());
        if digit {
            if !in_number {
                out.push('N');
            }
        } else {
            out.push(c);
        }
        in_number = digit || (in_number && c == 'x');
    }
    out
}

#[test]
fn a_process_ruled_out_makes_a_few_cheap_system_calls_and_never_reads_proc() {
    let empty = apm_inject_tests::fixture("empty-preload.so");
    let ours = built_library();
    for (argv, expected) in [
        // One readlinkat of the path run; no apphost `stat` in a system directory.
        (&["/bin/true"][..], 1),
        (&["/bin/sh", "-c", ":"][..], 2), // sh -> dash: one more readlinkat
    ] {
        let mut extra = system_calls(&ours, argv);
        for call in system_calls(&empty, argv) {
            if let Some(i) = extra.iter().position(|c| *c == call) {
                extra.remove(i);
            }
        }
        // Loading a different file maps different sizes.
        extra.retain(|c| !c.starts_with("mmap(") && !c.starts_with("newfstatat(N, \"\""));
        assert_eq!(extra.len(), expected, "{argv:?}: {extra:#?}");
        assert!(
            extra
                .iter()
                .all(|c| c.starts_with("readlinkat(AT_FDCWD, \"/bin/")),
            "{argv:?}: {extra:#?}"
        );
        assert!(!extra.iter().any(|c| c.contains("/proc")), "{extra:#?}");
    }
}

/// Minor faults of `preload`'s constructor in each of `runs` starts of `argv`, measured by the
/// constructor-window fixtures around it.
fn constructor_faults(preload: &std::path::Path, argv: &[&str], runs: usize) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("window");
    let chain = format!(
        "{} {} {}",
        apm_inject_tests::fixture("window-end.so").display(),
        preload.display(),
        apm_inject_tests::fixture("window-start.so").display()
    );
    for _ in 0..runs {
        let status = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .env("LD_PRELOAD", &chain)
            .env("WINDOW_OUT", &out)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let faults: Vec<u64> = text
        .lines()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(faults.len(), runs, "one window per run");
    faults
}

#[test]
fn a_process_ruled_out_touches_one_more_page_than_with_an_empty_library() {
    let empty = apm_inject_tests::fixture("empty-preload.so");
    for argv in [&["/bin/true"][..], &["/bin/sh", "-c", ":"][..]] {
        // Medians of both: the empty library's window takes 2 or 3 faults from run to run (seen
        // on CI), so comparing with its minimum would compare ours with its luckiest run.
        let median = |mut faults: Vec<u64>| {
            faults.sort_unstable();
            faults[faults.len() / 2]
        };
        let baseline = median(constructor_faults(&empty, argv, 11));
        let ours = constructor_faults(&built_library(), argv, 11);
        assert!(
            median(ours.clone()) <= baseline + 1,
            "{argv:?}: {ours:?} faults, median {baseline} with the empty library"
        );
    }
}
