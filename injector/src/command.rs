//! What the kernel would execute for a command: `PATH` search and `#!` interpreters, as
//! `execvp` does, so `explain` sees the process the library would run in.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How deep `#!` interpreters may nest (the kernel allows 4 levels as well).
const MAX_INTERPRETERS: usize = 4;

/// The process a command becomes once the kernel has followed `#!` lines.
#[derive(Debug)]
pub struct Exec {
    /// Resolved executable (symbolic links followed, as `/proc/self/exe` shows it).
    pub exe: PathBuf,
    /// The command line the executable receives.
    pub args: Vec<OsString>,
    /// Scripts passed through on the way, e.g. `/usr/bin/npm` for `npm`.
    pub scripts: Vec<PathBuf>,
}

/// Finds `name` like `execvp`: as a path if it contains `/` (which must be an executable
/// file), else in `PATH`.
pub fn find(name: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, String> {
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return match path.metadata() {
            Ok(m) if m.is_dir() => {
                Err(format!("{}: is a directory, not a command", path.display()))
            }
            Ok(m) if !is_executable(&path) => Err(format!(
                "{}: not executable (mode {:04o}): the kernel would refuse to run it",
                path.display(),
                m.permissions().mode() & 0o7777
            )),
            Ok(_) => Ok(path),
            Err(e) => Err(format!("{}: {e}", path.display())),
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("{}: command not found in PATH", name.to_string_lossy()))
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves `args` (`args[0]` is the command) into what actually executes.
pub fn resolve(args: &[OsString], path_var: Option<&OsStr>) -> Result<Exec, String> {
    let first = args.first().ok_or("no command given")?;
    let mut program = find(first, path_var)?;
    let mut argv: Vec<OsString> = args.to_vec();
    let mut scripts = Vec::new();
    for _ in 0..=MAX_INTERPRETERS {
        let Some((interpreter, argument)) = shebang(&program)? else {
            let exe = std::fs::canonicalize(&program)
                .map_err(|e| format!("{}: {e}", program.display()))?;
            return Ok(Exec {
                exe,
                args: argv,
                scripts,
            });
        };
        scripts.push(program.clone());
        // The kernel runs `interpreter [argument] script args...`.
        let mut next: Vec<OsString> = vec![interpreter.clone().into()];
        next.extend(argument.clone());
        next.push(program.clone().into());
        next.extend(argv.into_iter().skip(1));
        argv = next;
        program = PathBuf::from(&interpreter);
        // `#!/usr/bin/env node` runs `node` from PATH with `env` out of the picture.
        if program.file_name() == Some(OsStr::new("env")) {
            let Some(target) = argument.filter(|a| !a.as_bytes().starts_with(b"-")) else {
                return Err(format!(
                    "{}: unsupported `env` options in #! line",
                    interpreter.display()
                ));
            };
            argv.remove(0);
            program = find(&target, path_var)?;
        }
    }
    Err(format!(
        "{}: too many nested #! interpreters",
        first.to_string_lossy()
    ))
}

/// The `#!` interpreter and optional argument of `path`, if it is a script.
fn shebang(path: &Path) -> Result<Option<(PathBuf, Option<OsString>)>, String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let n = file
        .read(&mut head)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(line) = head[..n].strip_prefix(b"#!") else {
        return Ok(None);
    };
    let line = line.split(|&c| c == b'\n').next().unwrap_or_default();
    let line = line.trim_ascii();
    let (interpreter, argument) = match line.iter().position(|c| c.is_ascii_whitespace()) {
        Some(i) => (&line[..i], Some(line[i..].trim_ascii())),
        None => (line, None),
    };
    if interpreter.is_empty() {
        return Ok(None);
    }
    let argument = argument
        .filter(|a| !a.is_empty())
        .map(|a| OsString::from_vec(a.to_vec()));
    Ok(Some((
        PathBuf::from(OsStr::from_bytes(interpreter)),
        argument,
    )))
}
