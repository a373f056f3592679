//! How a runtime was asked to run: its own options, the program, the program's subcommand.
//!
//! Every runtime's command line is read by one loop, [`split`]; a runtime only says what each
//! argument before its program is ([`Word`], from `Language::word`).

use alloc::vec::Vec;

/// A command line split the way the runtime reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// The runtime's own options (and their values), before the program, e.g. `["-Xmx1g"]`.
    pub options: Vec<&'a [u8]>,
    /// The program: script path, jar path, Java main class, .NET assembly or SDK command, or
    /// the inline-code option itself (`-c`, `-e`); `None` when the runtime runs nothing.
    pub program: Option<&'a [u8]>,
    /// The module run with `python -m` or `java -m`.
    pub module: Option<&'a [u8]>,
    /// The program's first argument, e.g. `install` in `ruby /usr/bin/bundle install`.
    pub subcommand: Option<&'a [u8]>,
}

/// What one argument before the program is, as a runtime reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word<'a> {
    /// One of the runtime's options, e.g. `-Xmx1g`; with `takes_value`, the next argument is
    /// its value (`-cp lib/*`).
    Option {
        /// The next argument is the option's value.
        takes_value: bool,
    },
    /// The program itself: a script, a main class, an assembly, or an inline-code option whose
    /// code follows (`node -e CODE`).
    Program,
    /// The next argument is the program: `--`, or `java -jar` (an option kept among the
    /// options when `keep`).
    ProgramFollows {
        /// This argument is one of the runtime's options too.
        keep: bool,
    },
    /// A module to run: attached (`--module=app`, `-mpip`), else the next argument.
    Module {
        /// The module, when written in the same argument.
        attached: Option<&'a [u8]>,
        /// This argument is one of the runtime's options too (`python -m`).
        keep: bool,
    },
    /// Inline code, which counts as the program `name` (`python -c CODE`, `-cCODE`); the code is
    /// attached or the next argument.
    Code {
        /// The program's name, e.g. `-c`.
        name: &'static [u8],
        /// The code is written in the same argument.
        attached: bool,
    },
}

/// Splits `args` (`args[0]` is the command) with `word` telling what each argument before the
/// program is; the argument after the program (or module) is the subcommand.
pub fn split<'a>(args: &[&'a [u8]], word: impl Fn(&'a [u8]) -> Word<'a>) -> Invocation<'a> {
    let mut inv = Invocation::default();
    let mut rest = args.iter().skip(1).copied();
    while let Some(arg) = rest.next() {
        match word(arg) {
            Word::Option { takes_value } => {
                inv.options.push(arg);
                if takes_value {
                    inv.options.extend(rest.next());
                }
                continue;
            }
            Word::Program => inv.program = Some(arg),
            Word::ProgramFollows { keep } => {
                if keep {
                    inv.options.push(arg);
                }
                inv.program = rest.next();
            }
            Word::Module { attached, keep } => {
                if keep {
                    inv.options.push(arg);
                }
                inv.module = attached.or_else(|| rest.next());
            }
            Word::Code { name, attached } => {
                inv.options.push(arg);
                if !attached {
                    rest.next();
                }
                inv.program = Some(name);
            }
        }
        break;
    }
    inv.subcommand = rest.next();
    inv
}

/// The usual reading of an argument: `--` ends the options, `inline` options (`-e`) and `-`
/// (standard input) are the program, other arguments starting with `-` are options
/// (`takes_value` ones consume the next argument), anything else is the program.
pub fn usual_word<'a>(
    arg: &'a [u8],
    takes_value: fn(&[u8]) -> bool,
    inline: fn(&[u8]) -> bool,
) -> Word<'a> {
    if arg == b"--" {
        Word::ProgramFollows { keep: false }
    } else if inline(arg) || arg == b"-" || !arg.starts_with(b"-") {
        Word::Program
    } else {
        Word::Option {
            takes_value: takes_value(arg),
        }
    }
}
