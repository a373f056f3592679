//! Editing Docker's `/etc/docker/daemon.json`: pure functions over its bytes.
//!
//! Install adds the runtime `dd-shim` (`"runtimes": {"dd-shim": {"path": SHIM}}`) and makes it
//! the `default-runtime`, keeping every other key; uninstall removes it and restores the default
//! runtime there was before ([`Previous`], kept by the caller, and read by the shim, which
//! chains to that runtime when `daemon.json` declared it). The file must be a JSON object;
//! anything else is refused with `line:column`. Keys come out sorted and indented (the previous
//! bytes are kept in a backup by [`crate::system_file::replace`]).

use serde_json::{Map, Value};

/// The runtime name Docker knows the shim by (Datadog's).
pub const RUNTIME: &str = "dd-shim";
const DEFAULT_RUNTIME: &str = "default-runtime";
/// Docker's own default runtime.
const DOCKER_DEFAULT: &str = "runc";
const RUNTIMES: &str = "runtimes";

/// Where install keeps [`Previous`], in the configuration directory.
pub const PREVIOUS_FILE: &str = "docker_runtime.previous.json";

/// What install changed, for uninstall to restore and for the shim to chain to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Previous {
    /// Whether the file existed.
    pub existed: bool,
    /// The `default-runtime` it named, if any.
    pub default_runtime: Option<String>,
    /// That runtime as `daemon.json` declared it (`runtimes.<name>`), if it did: a custom
    /// runtime (say `nvidia`) the shim runs instead of runc. Docker's built-in runtimes
    /// (`runc`, `io.containerd.runc.v2`) are not declared there.
    pub declared: Option<Declared>,
}

/// A runtime of `daemon.json`'s `runtimes`: `{"path": …, "runtimeArgs": […]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The program, a path or a name Docker searches in `PATH`.
    pub path: String,
    /// Arguments dockerd passes before its own.
    pub args: Vec<String>,
}

impl Declared {
    fn from_json(value: &Value) -> Option<Declared> {
        let path = value.get("path")?.as_str()?.to_owned();
        let args = match value.get("runtimeArgs") {
            None | Some(Value::Null) => Vec::new(),
            Some(args) => args
                .as_array()?
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
        };
        (!path.is_empty()).then_some(Declared { path, args })
    }
}

impl Previous {
    /// As stored beside the configuration: a small JSON object.
    pub fn to_json(&self) -> Vec<u8> {
        let value = serde_json::json!({
            "daemon_json_existed": self.existed,
            "default_runtime": self.default_runtime,
            "declared": self.declared.as_ref().map(|d| serde_json::json!({
                "path": d.path,
                "runtimeArgs": d.args,
            })),
        });
        let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads [`Previous::to_json`]'s output; `None` if it is not that.
    pub fn from_json(bytes: &[u8]) -> Option<Previous> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        Some(Previous {
            existed: value.get("daemon_json_existed")?.as_bool()?,
            default_runtime: match value.get("default_runtime")? {
                Value::Null => None,
                other => Some(other.as_str()?.to_owned()),
            },
            declared: match value.get("declared") {
                None | Some(Value::Null) => None,
                Some(declared) => Some(Declared::from_json(declared)?),
            },
        })
    }
}

/// Parses `content` (`None`: no file) as a daemon configuration; errors as `line:column: …`.
pub fn parse(content: Option<&[u8]>) -> Result<Map<String, Value>, String> {
    let Some(content) = content.filter(|c| !c.iter().all(u8::is_ascii_whitespace)) else {
        return Ok(Map::new());
    };
    let value: Value =
        serde_json::from_slice(content).map_err(|e| format!("{}:{}: {e}", e.line(), e.column()))?;
    let Value::Object(map) = value else {
        return Err("1:1: expected a JSON object".into());
    };
    if let Some(runtimes) = map.get(RUNTIMES) {
        if !runtimes.is_object() {
            return Err(format!(
                "{}: expected an object",
                location(content, RUNTIMES)
            ));
        }
    }
    if let Some(default) = map.get(DEFAULT_RUNTIME) {
        if !default.is_string() {
            return Err(format!(
                "{}: expected a string",
                location(content, DEFAULT_RUNTIME)
            ));
        }
    }
    Ok(map)
}

/// `line:column` of the first `"key"` in `content` (1:1 if not found).
fn location(content: &[u8], key: &str) -> String {
    let needle = format!("\"{key}\"");
    let Some(at) = content
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    else {
        return "1:1".into();
    };
    let before = &content[..at];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let column = at
        - before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    format!("{line}:{column}")
}

/// The configuration with the shim at `shim_path` as default runtime, and what it replaced;
/// `None` when it is already so (nothing to write).
pub fn with_shim(
    content: Option<&[u8]>,
    shim_path: &str,
) -> Result<Option<(Vec<u8>, Previous)>, String> {
    let mut map = parse(content)?;
    let default_runtime = map
        .get(DEFAULT_RUNTIME)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let declared = default_runtime
        .as_deref()
        .filter(|name| *name != RUNTIME)
        .and_then(|name| map.get(RUNTIMES)?.get(name))
        .and_then(Declared::from_json);
    let previous = Previous {
        existed: content.is_some(),
        default_runtime,
        declared,
    };
    let entry = serde_json::json!({ "path": shim_path });
    let runtimes = map
        .entry(RUNTIMES)
        .or_insert_with(|| Value::Object(Map::new()));
    let already = runtimes.get(RUNTIME) == Some(&entry)
        && previous.default_runtime.as_deref() == Some(RUNTIME);
    if already {
        return Ok(None);
    }
    runtimes[RUNTIME] = entry;
    map.insert(DEFAULT_RUNTIME.into(), RUNTIME.into());
    Ok(Some((render(&map), previous)))
}

/// The configuration without the shim, the default runtime restored from `previous` (Docker's
/// `runc` when there was none: dockerd keeps a removed key's old value on reload, so the key
/// must stay and name a runtime it knows).
pub fn without_shim(content: &[u8], previous: &Previous) -> Result<Vec<u8>, String> {
    let mut map = parse(Some(content))?;
    if let Some(Value::Object(runtimes)) = map.get_mut(RUNTIMES) {
        runtimes.remove(RUNTIME);
        if runtimes.is_empty() {
            map.remove(RUNTIMES);
        }
    }
    if map.get(DEFAULT_RUNTIME).and_then(Value::as_str) == Some(RUNTIME) {
        let runtime = previous
            .default_runtime
            .as_deref()
            .filter(|r| *r != RUNTIME)
            .unwrap_or(DOCKER_DEFAULT);
        map.insert(DEFAULT_RUNTIME.into(), runtime.into());
    }
    Ok(render(&map))
}

/// Whether the configuration makes the shim the default runtime.
pub fn has_shim(content: Option<&[u8]>) -> bool {
    parse(content).is_ok_and(|m| {
        m.get(DEFAULT_RUNTIME).and_then(Value::as_str) == Some(RUNTIME)
            && m.get(RUNTIMES).and_then(|r| r.get(RUNTIME)).is_some()
    })
}

fn render(map: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(map).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIM: &str = "/opt/datadog-packages/datadog-apm-inject/stable/inject/auto_inject_runc";

    fn install(content: Option<&str>) -> (Value, Previous) {
        let (bytes, previous) = with_shim(content.map(str::as_bytes), SHIM)
            .unwrap()
            .unwrap();
        (serde_json::from_slice(&bytes).unwrap(), previous)
    }

    #[test]
    fn a_missing_file_gets_the_runtime() {
        let (config, previous) = install(None);
        assert_eq!(
            config,
            serde_json::json!({"default-runtime": "dd-shim", "runtimes": {"dd-shim": {"path": SHIM}}})
        );
        assert_eq!(
            previous,
            Previous {
                existed: false,
                default_runtime: None,
                declared: None,
            }
        );
    }

    #[test]
    fn other_keys_and_runtimes_are_kept() {
        let before = r#"{"log-level": "warn", "default-runtime": "nvidia",
            "runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime", "runtimeArgs": []}},
            "features": {"buildkit": true}}"#;
        let (config, previous) = install(Some(before));
        assert_eq!(config["log-level"], "warn");
        assert_eq!(config["features"]["buildkit"], true);
        assert_eq!(
            config["runtimes"]["nvidia"]["path"],
            "/usr/bin/nvidia-container-runtime"
        );
        assert_eq!(config["default-runtime"], "dd-shim");
        assert_eq!(previous.default_runtime.as_deref(), Some("nvidia"));
        assert_eq!(
            previous.declared,
            Some(Declared {
                path: "/usr/bin/nvidia-container-runtime".into(),
                args: Vec::new()
            })
        );
        let restored = without_shim(&serde_json::to_vec(&config).unwrap(), &previous).unwrap();
        let restored: Value = serde_json::from_slice(&restored).unwrap();
        assert_eq!(restored, serde_json::from_str::<Value>(before).unwrap());
    }

    #[test]
    fn installing_twice_changes_nothing() {
        let (config, _) = install(Some("{}"));
        let bytes = serde_json::to_vec(&config).unwrap();
        assert_eq!(with_shim(Some(&bytes), SHIM).unwrap(), None);
        assert!(has_shim(Some(&bytes)));
        assert!(!has_shim(Some(b"{}")));
    }

    #[test]
    fn uninstall_names_runc_when_there_was_no_default() {
        let (config, previous) = install(None);
        let bytes = serde_json::to_vec(&config).unwrap();
        let restored: Value =
            serde_json::from_slice(&without_shim(&bytes, &previous).unwrap()).unwrap();
        assert_eq!(restored, serde_json::json!({"default-runtime": "runc"}));
    }

    #[test]
    fn malformed_files_are_located() {
        let e = with_shim(Some(b"{\n  \"debug\": true,\n  \"x\": \n}"), SHIM).unwrap_err();
        assert!(e.starts_with("4:1:"), "{e}");
        assert_eq!(
            with_shim(Some(b"[1]"), SHIM).unwrap_err(),
            "1:1: expected a JSON object"
        );
        let e = with_shim(Some(b"{\n \"runtimes\": [] }"), SHIM).unwrap_err();
        assert_eq!(e, "2:2: expected an object");
        let e = with_shim(Some(b"{\"default-runtime\": 3}"), SHIM).unwrap_err();
        assert_eq!(e, "1:2: expected a string");
        assert!(with_shim(Some(b"\xff"), SHIM).is_err());
        assert!(
            with_shim(Some(b"  \n"), SHIM).unwrap().is_some(),
            "blank is empty"
        );
    }

    #[test]
    fn previous_state_round_trips() {
        for p in [
            Previous {
                existed: true,
                default_runtime: Some("runc".into()),
                declared: None,
            },
            Previous {
                existed: false,
                default_runtime: None,
                declared: None,
            },
            Previous {
                existed: true,
                default_runtime: Some("gvisor".into()),
                declared: Some(Declared {
                    path: "/usr/bin/runsc".into(),
                    args: vec!["--platform=ptrace".into()],
                }),
            },
        ] {
            assert_eq!(Previous::from_json(&p.to_json()), Some(p));
        }
        assert_eq!(Previous::from_json(b"{}"), None);
        let before_declared = br#"{"daemon_json_existed": true, "default_runtime": "runc"}"#;
        assert_eq!(
            Previous::from_json(before_declared).map(|p| p.declared),
            Some(None),
            "a record of an earlier version"
        );
    }

    #[test]
    fn a_declared_default_runtime_is_remembered_with_its_arguments() {
        let (_, previous) = install(Some(
            r#"{"default-runtime": "gvisor", "runtimes": {"gvisor": {"path": "runsc", "runtimeArgs": ["--debug"]}}}"#,
        ));
        assert_eq!(
            previous.declared,
            Some(Declared {
                path: "runsc".into(),
                args: vec!["--debug".into()]
            })
        );
        let (_, builtin) = install(Some(r#"{"default-runtime": "io.containerd.runc.v2"}"#));
        assert_eq!(builtin.declared, None);
    }
}
