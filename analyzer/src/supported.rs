//! `supported_runtimes.json`: which tracer of a library package serves which runtime versions.
//!
//! `make libraries` (`scripts/libraries.sh`) writes it into each package it builds, from the
//! tracers' own metadata (dd-trace's `engines.node` and `nodeMaxMajor`, the class-file version of
//! dd-java-agent's bootstrap, the CPython ABIs ddtrace was installed for):
//!
//! ```text
//! {"version":1,
//!  "tracers":[{"tracer":"dd-trace 6.21.0","dir":".","min":"22","max":"26"},
//!             {"tracer":"dd-trace 5.132.0","dir":"dd-trace-5","min":"18","max":"26"}]}
//! ```
//! `dir` is the tracer's directory inside the package (`.`: the package itself), holding the
//! runtime's entry point. `min` and `max` are inclusive and compare as far as they are written:
//! `"max":"26"` admits 26.9, `"max":"3.13"` admits 3.13.5 but not 3.14. A process gets the first
//! tracer whose range holds its runtime's version. When the version cannot be read, or none
//! holds it and `DD_INJECT_FORCE` is set, the tracer with the lowest `min` serves it (the one that
//! runs on the most runtimes). Without this file the package serves every version from its own
//! directory. A file that cannot be read or parsed, or names a directory outside the package,
//! blocks injection (`invalid_requirements`), like a broken `requirements.json`.

use crate::decision::Reason;
use crate::json::{self, Value};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Largest file read.
pub const LIMIT: usize = 64 << 10;

/// The tracer a process gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Its directory relative to the package, empty for the package itself.
    pub dir: Vec<u8>,
    /// Why the package does not support the runtime's version, e.g. `version 16.20; the
    /// package supports 22 to 26 (dd-trace 6.21.0), 18 to 26 (dd-trace 5.132.0)`; `None` when
    /// it does (or the version is unknown).
    pub unsupported: Option<String>,
}

impl Choice {
    /// The package itself, for every version (a package without the file).
    pub fn whole_package() -> Choice {
        Choice {
            dir: Vec::new(),
            unsupported: None,
        }
    }
}

/// A version bound as written: major, and minor if given.
type Bound = (u32, Option<u32>);

/// One tracer of the file.
struct Tracer<'a> {
    name: &'a [u8],
    dir: &'a [u8],
    min: Option<Bound>,
    max: Option<Bound>,
}

impl Tracer<'_> {
    fn holds(&self, (major, minor): (u32, u32)) -> bool {
        let above_min = self
            .min
            .is_none_or(|(m, n)| (major, minor) >= (m, n.unwrap_or(0)));
        let below_max = self
            .max
            .is_none_or(|(m, n)| major < m || (major == m && n.is_none_or(|n| minor <= n)));
        above_min && below_max
    }

    fn lowest(&self) -> (u32, u32) {
        self.min.map_or((0, 0), |(m, n)| (m, n.unwrap_or(0)))
    }

    /// E.g. `18 to 26 (dd-trace 5.132.0)`, `8 and later (dd-java-agent 1.68.1)`.
    fn describe(&self) -> String {
        let text = |(m, n): Bound| match n {
            Some(n) => format!("{m}.{n}"),
            None => format!("{m}"),
        };
        let range = match (self.min, self.max) {
            (Some(min), Some(max)) => format!("{} to {}", text(min), text(max)),
            (Some(min), None) => format!("{} and later", text(min)),
            (None, Some(max)) => format!("up to {}", text(max)),
            (None, None) => String::from("any version"),
        };
        match self.name {
            b"" => range,
            name => format!("{range} ({})", String::from_utf8_lossy(name)),
        }
    }
}

/// The tracer for a runtime of `version` (`None`: unknown), from the file's contents `text`.
pub fn choose(text: &[u8], version: Option<(u32, u32)>) -> Result<Choice, Reason> {
    let doc = json::parse(text).ok_or(Reason::InvalidRequirements)?;
    let tracers = doc
        .get("tracers")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .map(tracer)
        .collect::<Option<Vec<Tracer>>>()
        .ok_or(Reason::InvalidRequirements)?;
    let widest = tracers
        .iter()
        .min_by_key(|t| t.lowest())
        .ok_or(Reason::InvalidRequirements)?;
    let (chosen, unsupported) = match version {
        None => (widest, None),
        Some(v) => match tracers.iter().find(|t| t.holds(v)) {
            Some(t) => (t, None),
            None => {
                let ranges: Vec<String> = tracers.iter().map(Tracer::describe).collect();
                let why = format!(
                    "version {}.{}; the package supports {}",
                    v.0,
                    v.1,
                    ranges.join(", ")
                );
                (widest, Some(why))
            }
        },
    };
    Ok(Choice {
        dir: if chosen.dir == b"." {
            Vec::new()
        } else {
            chosen.dir.to_vec()
        },
        unsupported,
    })
}

/// One entry of `tracers`; `None` if malformed.
fn tracer(entry: &Value) -> Option<Tracer<'_>> {
    let dir = entry.get("dir")?.as_str()?;
    if !inside_package(dir) {
        return None;
    }
    let bound = |name| match entry.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(value) => bound(value.as_str()?).map(Some),
    };
    let name = match entry.get("tracer") {
        None => &b""[..],
        Some(name) => name.as_str()?,
    };
    Some(Tracer {
        name,
        dir,
        min: bound("min")?,
        max: bound("max")?,
    })
}

/// `"22"` → `(22, None)`, `"3.13"` → `(3, Some(13))`; `None` for anything else.
fn bound(text: &[u8]) -> Option<Bound> {
    let number = |part: &[u8]| -> Option<u32> {
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        core::str::from_utf8(part).ok()?.parse().ok()
    };
    let mut parts = text.splitn(2, |&c| c == b'.');
    let major = number(parts.next()?)?;
    match parts.next() {
        None => Some((major, None)),
        Some(minor) => Some((major, Some(number(minor)?))),
    }
}

/// Whether `dir` is `.` or a relative path of plain names: never `..`, never absolute.
fn inside_package(dir: &[u8]) -> bool {
    dir == b"."
        || (!dir.is_empty()
            && dir.split(|&c| c == b'/').all(|name| {
                !matches!(name, b"" | b"." | b"..")
                    && name
                        .iter()
                        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const JS: &[u8] = br#"{"version":1,"tracers":[
        {"tracer":"dd-trace 6.21.0","dir":".","min":"22","max":"26"},
        {"tracer":"dd-trace 5.132.0","dir":"dd-trace-5","min":"18","max":"26"}]}"#;

    fn dir(text: &[u8], version: Option<(u32, u32)>) -> (String, bool) {
        let c = choose(text, version).unwrap();
        (String::from_utf8(c.dir).unwrap(), c.unsupported.is_none())
    }

    fn supported(text: &[u8], version: (u32, u32)) -> bool {
        choose(text, Some(version)).unwrap().unsupported.is_none()
    }

    #[test]
    fn each_node_gets_the_newest_tracer_that_supports_it() {
        assert_eq!(dir(JS, Some((22, 3))), ("".into(), true));
        assert_eq!(dir(JS, Some((26, 9))), ("".into(), true));
        assert_eq!(dir(JS, Some((20, 20))), ("dd-trace-5".into(), true));
        assert_eq!(dir(JS, Some((18, 0))), ("dd-trace-5".into(), true));
    }

    #[test]
    fn versions_outside_every_range_are_unsupported() {
        assert_eq!(dir(JS, Some((16, 20))), ("dd-trace-5".into(), false));
        assert_eq!(dir(JS, Some((27, 0))), ("dd-trace-5".into(), false));
        let python = br#"{"version":1,"tracers":[{"dir":".","min":"3.9","max":"3.13"}]}"#;
        assert!(!supported(python, (3, 8)));
        assert!(supported(python, (3, 9)));
        assert!(supported(python, (3, 13)));
        assert!(!supported(python, (3, 14)));
        assert!(!supported(python, (2, 7)));
        let java = br#"{"version":1,"tracers":[{"dir":".","min":"8"}]}"#;
        assert!(!supported(java, (7, 0)));
        assert!(supported(java, (25, 0)));
    }

    #[test]
    fn unsupported_versions_are_explained_with_the_packages_ranges() {
        assert_eq!(
            choose(JS, Some((16, 20))).unwrap().unsupported.as_deref(),
            Some(
                "version 16.20; the package supports 22 to 26 (dd-trace 6.21.0), \
                 18 to 26 (dd-trace 5.132.0)"
            )
        );
        let java = br#"{"tracers":[{"tracer":"dd-java-agent 1.68.1","dir":".","min":"8"}]}"#;
        assert_eq!(
            choose(java, Some((7, 0))).unwrap().unsupported.as_deref(),
            Some("version 7.0; the package supports 8 and later (dd-java-agent 1.68.1)")
        );
    }

    #[test]
    fn unknown_versions_get_the_tracer_for_the_most_runtimes() {
        assert_eq!(dir(JS, None), ("dd-trace-5".into(), true));
    }

    #[test]
    fn malformed_files_are_refused() {
        for text in [
            &b"{"[..],
            br#"{"tracers":[]}"#,
            br#"{"tracers":[{"min":"18"}]}"#,
            br#"{"tracers":[{"dir":"../elsewhere"}]}"#,
            br#"{"tracers":[{"dir":"/opt/x"}]}"#,
            br#"{"tracers":[{"dir":"a//b"}]}"#,
            br#"{"tracers":[{"dir":"a b"}]}"#,
            br#"{"tracers":[{"dir":".","min":"eighteen"}]}"#,
            br#"{"tracers":[{"dir":".","min":"18."}]}"#,
            br#"{"tracers":[{"dir":".","max":18}]}"#,
        ] {
            assert_eq!(
                choose(text, Some((20, 0))),
                Err(Reason::InvalidRequirements),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
