//! PHP: `PHP_INI_SCAN_DIR`.
//!
//! The library package's loader directory (`linux-gnu/loader`, or `linux-musl/loader` for musl
//! processes) holds an ini file that loads the tracer extension. It is appended to
//! `PHP_INI_SCAN_DIR`; when the variable was unset the value starts with `:`, which keeps
//! PHP's default scan directory.

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::invocation::{app_directory_name, split, Invocation, Language};
use crate::layout::{in_library, join};
use crate::options::{remove_entries, set_or_unset};
use crate::process::{file_name, major_minor, LibcFlavor, Process};
use crate::runtime::Runtime;
use alloc::vec;
use alloc::vec::Vec;

const PHP_INI_SCAN_DIR: &str = "PHP_INI_SCAN_DIR";

/// PHP options whose value is the next argument.
fn takes_value(option: &[u8]) -> bool {
    matches!(
        option,
        b"-c" | b"-d" | b"-z" | b"-t" | b"-S" | b"-B" | b"-R" | b"-F" | b"-E"
    )
}

/// `-r CODE` runs inline code (`-f FILE` needs nothing special: the file is the program).
fn inline(arg: &[u8]) -> bool {
    arg == b"-r"
}

fn is_ours(entry: &[u8]) -> bool {
    in_library(entry, Runtime::Php)
}

/// The PHP runtime (CLI, FPM, CGI).
pub struct Php;

impl Language for Php {
    fn runtime(&self) -> Runtime {
        Runtime::Php
    }

    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        split(args, takes_value, inline)
    }

    fn instrumented_by_other(&self, _: &Process, _: &Invocation) -> bool {
        false
    }

    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        let rest = process
            .var(PHP_INI_SCAN_DIR)
            .and_then(|v| remove_entries(v, is_ours));
        rest.map(|rest| set_or_unset(PHP_INI_SCAN_DIR, rest))
            .into_iter()
            .collect()
    }

    fn entry_point(&self, process: &Process) -> (&'static str, FileKind) {
        match process.libc.flavor {
            LibcFlavor::Glibc => ("linux-gnu/loader", FileKind::Dir),
            LibcFlavor::Musl => ("linux-musl/loader", FileKind::Dir),
        }
    }

    /// From the executable's name, e.g. (8, 2) for `php8.2` or `php-fpm8.2`.
    fn version<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        _: &H,
    ) -> Option<(u32, u32)> {
        let name = file_name(process.exe);
        let digits = name
            .iter()
            .position(|c| c.is_ascii_digit())
            .map(|i| &name[i..])?;
        major_minor(digits)
    }

    /// The application directory (`/var/www/shop/public/index.php` → `shop`).
    fn service<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        _: &H,
    ) -> Option<Vec<u8>> {
        app_directory_name(process, invocation.program)
    }

    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Result<Vec<Edit>, Reason> {
        if lib.contains(&b':') {
            return Err(Reason::UnsupportedLibraryPath);
        }
        let loader = join(lib, self.entry_point(process).0);
        let current = process.var(PHP_INI_SCAN_DIR);
        if current.is_some_and(|v| v.split(|&c| c == b':').any(|e| e == loader)) {
            return Ok(vec![]);
        }
        // Unset: ":<loader>" keeps PHP's default scan directory (the empty entry).
        let user = current
            .map(|v| remove_entries(v, is_ours).unwrap_or_else(|| v.to_vec()))
            .unwrap_or_default();
        let value = [&user[..], b":", &loader].concat();
        Ok(vec![Edit::Set {
            name: PHP_INI_SCAN_DIR,
            value,
        }])
    }
}
