//! Messages for people, on standard output and standard error, that never fail: a closed pipe
//! (`apm-inject install | head -1`), a full disk or a closed descriptor loses the message, never
//! the command. `println!` would panic there (the process aborts, exit status 134), possibly
//! in the middle of an installation.
//!
//! `say!` writes a line to standard output, `say_err!` to standard error; both take `format!`
//! arguments.

use std::fmt::Arguments;
use std::io::Write;

/// Writes `text` to standard output, ignoring any error.
pub fn stdout(text: Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|()| out.flush());
}

/// Writes `text` to standard error, ignoring any error.
pub fn stderr(text: Arguments) {
    let _ = std::io::stderr().lock().write_fmt(text);
}

/// A line on standard output that cannot fail, e.g. `say!("removed {}", dir.display())`.
macro_rules! say {
    () => {
        $crate::output::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// A line on standard error that cannot fail, e.g. `say_err!("apm-inject: {message}")`.
macro_rules! say_err {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {say, say_err};
