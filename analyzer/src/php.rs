//! PHP: `PHP_INI_SCAN_DIR`.
//!
//! The library package's loader directory (`linux-gnu/loader`, or `linux-musl/loader` for musl
//! processes) holds an ini file that loads the tracer extension. It is appended to
//! `PHP_INI_SCAN_DIR`; when the variable was unset the value starts with `:`, which keeps
//! PHP's default scan directory.

use crate::host::{FileKind, Host};
use crate::invocation::{usual_word, Invocation, Word};
use crate::language::Language;
use crate::layout::join;
use crate::process::{file_name, major_minor, LibcFlavor, Process};
use crate::runtime::Runtime;
use crate::service::app_directory_name;
use crate::variable::{Shape, Variable};
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

/// The PHP runtime (CLI, FPM, CGI).
pub struct Php;

impl Language for Php {
    fn runtime(&self) -> Runtime {
        Runtime::Php
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        usual_word(arg, takes_value, inline)
    }

    fn instrumented_by_other(&self, _: &Process, _: &Invocation) -> bool {
        false
    }

    const VARIABLE: Variable = Variable {
        name: PHP_INI_SCAN_DIR,
        shape: Shape::PathsLast,
    };

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

    /// The loader directory for the process's libc, last in `PHP_INI_SCAN_DIR`.
    fn additions<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Vec<Vec<u8>> {
        vec![join(lib, self.entry_point(process).0)]
    }
}
