//! Messages for people, on standard output and standard error, that never fail: a closed pipe
//! (`apm-inject install | head -1`), a full disk or a closed descriptor loses the message, never
//! the command. `println!` would panic there (the process aborts, exit status 134), possibly
//! in the middle of an installation.
//!
//! `say!` writes a line to standard output, `say_err!` to standard error; both take `format!`
//! arguments. Text that other processes supplied (command lines, variables, tracer reasons)
//! goes through [`escaped`] first, so that it cannot move the cursor, clear the screen or forge
//! lines in the terminal of whoever reads it.

use std::borrow::Cow;
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

/// `text` as it may be shown on a terminal: control characters (newline, escape, DEL, C1
/// controls), the Unicode controls that reorder text on screen (bidirectional embeddings,
/// overrides and isolates) and `\` escaped as Rust writes them, e.g. `a\nb\u{1b}[2J` for
/// `a`, a newline, `b` and an escape sequence; anything else unchanged (and borrowed).
pub fn escaped(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || is_bidi_control(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else if needs(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` changes the order in which a terminal shows the text around it (U+202A–U+202E,
/// U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_other_text_kept() {
        assert!(matches!(
            escaped("python3 /srv/app.py --name=café"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escaped("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escaped("\x1b[2J\x7f\u{9b}"), "\\u{1b}[2J\\u{7f}\\u{9b}");
        assert_eq!(escaped("C:\\x"), "C:\\\\x", "a backslash is not an escape");
        assert_eq!(escaped("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
    }
}
