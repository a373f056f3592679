//! The shim's edits of OCI files, as pure functions over their bytes: the bundle's
//! `config.json` (at `create` and `run`) and the `--process` file of `runc exec`.
//!
//! A container gets a read-only bind mount of the host's packages at `/opt/datadog-packages`,
//! the launcher in `LD_PRELOAD` (after the container's own entries, never twice),
//! `DD_INJECT_SENDER_TYPE=docker` and `DD_INJECT_START_TIME`, plus the service tags
//! derived from Docker labels or the image ([`Container::service_tags`]) where the container has
//! none, and, when the host has the agent's socket directory `/var/run/datadog`, a read-only
//! bind mount of it at the same place (connecting to a socket needs no write access to its
//! mount), so that tracers find a Unix-socket agent as on the host. Everything else is kept as it
//! was, unknown fields included: the edit works on the JSON
//! tree, after `oci-spec` has validated the document (oci-spec's types drop unknown fields, so
//! they only validate).

use super::decision::Skip;
use crate::docker_config::DenyRule;
use crate::preload_file;
use analyzer::process::is_false;
use contract::sdk::{self, Sdk};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the packages appear inside every container.
pub const CONTAINER_PACKAGES: &str = "/opt/datadog-packages";
/// The launcher as containers see it, as the host's preload list names it (with the loader's
/// `$LIB` token, so 32-bit programs find an object of their class; musl opens the literal
/// `$LIB` directory, which links to the launcher), except in images whose loader expands
/// `$LIB` to `lib` ([`super::image`]).
pub const CONTAINER_LAUNCHER: &str = contract::layout::STABLE_LAUNCHER;
/// The agent's socket directory (`apm.socket`, `dsd.socket`), on the host and in containers.
pub const AGENT_SOCKET_DIR: &str = "/var/run/datadog";
/// The opt-out, as a variable, an annotation or a label.
pub const OPT_OUT: &str = "DD_INSTRUMENT_SERVICE_WITH_APM";
/// Variables the shim may add; `exec` copies those the container got into its processes.
pub const ADDED: &[&str] = &[
    sdk::VARIABLE,
    "DD_INJECT_SENDER_TYPE",
    "DD_INJECT_START_TIME",
    "DD_SERVICE",
    "DD_ENV",
    "DD_VERSION",
];
/// Docker labels of Datadog's unified service tagging, and the variables they become.
const TAG_LABELS: &[(&str, &str)] = &[
    ("com.datadoghq.tags.service", "DD_SERVICE"),
    ("com.datadoghq.tags.env", "DD_ENV"),
    ("com.datadoghq.tags.version", "DD_VERSION"),
];
/// Annotations containerd's CRI plugin writes into `config.json` (Docker writes none): the
/// image reference and the container name, for deny rules when Docker does not know the
/// container.
const CRI_IMAGE: &str = "io.kubernetes.cri.image-name";
const CRI_NAME: &str = "io.kubernetes.cri.container-name";
/// Largest OCI file handled; Docker's are ~25 KiB.
pub const MAX_SIZE: usize = 4 << 20;

/// What is known about a container besides its `config.json`: from the Docker API when it
/// answers in time, else nothing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Container {
    /// Name, e.g. `shop-api` (Docker's leading `/` removed).
    pub name: Option<String>,
    /// Image reference as Docker shows it, e.g. `shop/api:1.2`.
    pub image: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl Container {
    /// This container completed from `config.json`'s annotations: the image and name from
    /// containerd's CRI annotations where Docker told nothing, and the annotations as labels
    /// where no label of that name exists (`ctr run --label` writes labels as annotations).
    fn completed_from(&self, spec: &Value) -> Container {
        let annotations = spec.get("annotations").and_then(Value::as_object);
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut labels = self.labels.clone();
        for (key, value) in annotations.into_iter().flatten() {
            if let Some(value) = value.as_str() {
                labels
                    .entry(key.clone())
                    .or_insert_with(|| value.to_owned());
            }
        }
        Container {
            name: self.name.clone().or_else(|| annotation(CRI_NAME)),
            image: self.image.clone().or_else(|| annotation(CRI_IMAGE)),
            labels,
        }
    }

    /// `DD_SERVICE`, `DD_ENV`, `DD_VERSION` from Datadog's labels; `DD_SERVICE` falls back
    /// to the image's name, e.g. `api` for `registry:5000/shop/api:1.2@sha256:…`.
    pub fn service_tags(&self) -> Vec<(&'static str, String)> {
        let mut tags: Vec<(&'static str, String)> = TAG_LABELS
            .iter()
            .filter_map(|(label, var)| {
                let value = self.labels.get(*label).filter(|v| !v.is_empty())?;
                Some((*var, value.clone()))
            })
            .collect();
        if !tags.iter().any(|(var, _)| *var == "DD_SERVICE") {
            if let Some(service) = self.image.as_deref().and_then(image_name) {
                tags.push(("DD_SERVICE", service));
            }
        }
        tags
    }
}

/// The name part of an image reference: no registry, path, tag or digest; `None` for an image
/// id (`sha256:…`) or an empty name.
pub fn image_name(reference: &str) -> Option<String> {
    let without_digest = reference.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    let name = last.split(':').next().unwrap_or_default();
    let is_id = reference.starts_with("sha256:") || reference.len() == 64;
    (!name.is_empty() && !is_id).then(|| name.to_owned())
}

/// How a container is instrumented.
pub struct Injection<'a> {
    /// The host directory mounted at [`CONTAINER_PACKAGES`].
    pub packages: &'a Path,
    /// `DD_INJECT_START_TIME`: seconds since the epoch.
    pub start_time: u64,
    /// The user's deny rules.
    pub deny: &'a [DenyRule],
    /// The host's agent socket directory, mounted at [`AGENT_SOCKET_DIR`], if it exists.
    pub agent_dir: Option<&'a Path>,
    /// The host configuration's SDK family: containers get it as `DD_APM_INSTRUMENTATION_SDK`
    /// (unless they set their own), since the host configuration is not mounted into them.
    pub sdk: Sdk,
    /// The launcher entry `LD_PRELOAD` gets: [`CONTAINER_LAUNCHER`], or the real launcher's
    /// plain path for an image whose 64-bit loader expands `$LIB` to `lib`
    /// ([`super::image::launcher_entry`]).
    pub launcher: &'a str,
}

/// `config` (a bundle's `config.json`) instrumented, or why not.
pub fn inject_config(
    config: &[u8],
    injection: &Injection,
    container: &Container,
) -> Result<Vec<u8>, Skip> {
    if config.len() > MAX_SIZE {
        return Err(Skip::Malformed("larger than 4 MiB".into()));
    }
    let mut spec = object::<oci_spec::runtime::Spec>(config)?;
    let env = spec
        .pointer("/process/env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let env = Env::from_json(&env)?;
    if env.get(OPT_OUT).is_some_and(|v| is_false(v.as_bytes())) {
        return Err(Skip::OptedOut("variable"));
    }
    let annotations = spec.get("annotations").and_then(Value::as_object);
    if annotations
        .and_then(|a| a.get(OPT_OUT))
        .and_then(Value::as_str)
        .is_some_and(|v| is_false(v.as_bytes()))
    {
        return Err(Skip::OptedOut("annotation"));
    }
    let container = container.completed_from(&spec);
    if container
        .labels
        .get(OPT_OUT)
        .is_some_and(|v| is_false(v.as_bytes()))
    {
        return Err(Skip::OptedOut("label"));
    }
    let name = container.name.as_deref();
    if let Some(rule) = injection
        .deny
        .iter()
        .find(|r| r.matches(container.image.as_deref(), name))
    {
        return Err(Skip::Denied(rule.id.clone()));
    }
    if spec.get("process").and_then(Value::as_object).is_none() {
        return Err(Skip::NoProcess);
    }
    let mounts = mounts(&mut spec)?;
    if let Some(taken) = mounts.iter().find_map(covering) {
        return Err(if taken == CONTAINER_PACKAGES && env.has_our_launcher() {
            Skip::AlreadyInjected
        } else {
            Skip::PackagesPathTaken(taken)
        });
    }
    mounts.push(json!({
        "destination": CONTAINER_PACKAGES,
        "type": "bind",
        "source": injection.packages,
        "options": ["rbind", "ro", "nosuid", "nodev"],
    }));
    if let Some(agent_dir) = injection.agent_dir {
        if !mounts.iter().any(holds_agent_dir) {
            mounts.push(json!({
                "destination": AGENT_SOCKET_DIR,
                "type": "bind",
                "source": agent_dir,
                "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
            }));
        }
    }
    let mut env = env;
    env.add_launcher(injection.launcher);
    env.set_default("DD_INJECT_SENDER_TYPE", "docker");
    env.set_default("DD_INJECT_START_TIME", &injection.start_time.to_string());
    if injection.sdk != Sdk::Datadog {
        env.set_default(sdk::VARIABLE, injection.sdk.name());
    }
    for (var, value) in container.service_tags() {
        env.set_default(var, &value);
    }
    spec["process"]["env"] = env.to_json();
    serde_json::to_vec(&spec).map_err(|e| Skip::Malformed(e.to_string()))
}

/// `process` (a `runc exec --process` file) instrumented like the container it runs in, whose
/// `config.json` is `container_config`; the reason if not.
pub fn inject_process(process: &[u8], container_config: &[u8]) -> Result<Vec<u8>, Skip> {
    if process.len() > MAX_SIZE || container_config.len() > MAX_SIZE {
        return Err(Skip::Malformed("larger than 4 MiB".into()));
    }
    let mut value = object::<oci_spec::runtime::Process>(process)?;
    let config = object::<oci_spec::runtime::Spec>(container_config)?;
    let container_env = Env::from_json(
        config
            .pointer("/process/env")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice),
    )?;
    let has_mount = config
        .get("mounts")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(is_our_mount));
    let launcher = container_env
        .our_launcher()
        .filter(|_| has_mount)
        .ok_or(Skip::ContainerNotInjected)?;
    let env = value.get("env").and_then(Value::as_array);
    let mut env = Env::from_json(env.map_or(&[][..], Vec::as_slice))?;
    if env.get(OPT_OUT).is_some_and(|v| is_false(v.as_bytes())) {
        return Err(Skip::OptedOut("variable"));
    }
    if env.has_our_launcher() {
        return Err(Skip::AlreadyInjected);
    }
    env.add_launcher(&launcher);
    for var in ADDED {
        if let Some(v) = container_env.get(var) {
            env.set_default(var, v);
        }
    }
    value["env"] = env.to_json();
    serde_json::to_vec(&value).map_err(|e| Skip::Malformed(e.to_string()))
}

/// `bytes` as a JSON object that `T` (an oci-spec type) accepts.
fn object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Value, Skip> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Skip::Malformed(e.to_string()))?;
    if !value.is_object() {
        return Err(Skip::Malformed("not a JSON object".into()));
    }
    serde_json::from_slice::<T>(bytes).map_err(|e| Skip::Malformed(e.to_string()))?;
    Ok(value)
}

/// The `mounts` array, created if absent.
fn mounts(spec: &mut Value) -> Result<&mut Vec<Value>, Skip> {
    let object = spec.as_object_mut().ok_or(Skip::NoProcess)?;
    object
        .entry("mounts")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| Skip::Malformed("mounts is not a list".into()))
}

/// The mount's destination if it is or contains `/opt/datadog-packages` (e.g. `/opt`), where
/// a mount of ours would land on the user's.
fn covering(mount: &Value) -> Option<String> {
    let destination = mount.get("destination")?.as_str()?;
    let clean = destination.trim_end_matches('/');
    let covers = clean.is_empty()
        || CONTAINER_PACKAGES == clean
        || CONTAINER_PACKAGES
            .strip_prefix(clean)
            .is_some_and(|rest| rest.starts_with('/'));
    covers.then(|| destination.to_owned())
}

/// Whether the container mounts something of its own at the agent's socket directory (the
/// user's `-v /var/run/datadog:/var/run/datadog`), or binds a directory of the host above it,
/// where runc would create the mount point in the user's directory.
fn holds_agent_dir(mount: &Value) -> bool {
    let Some(destination) = mount.get("destination").and_then(Value::as_str) else {
        return false;
    };
    let clean = destination.trim_end_matches('/');
    let is_bind = mount.get("type").and_then(Value::as_str) == Some("bind")
        || mount
            .get("options")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"));
    [AGENT_SOCKET_DIR, "/run/datadog"].iter().any(|dir| {
        *dir == clean
            || (is_bind
                && (clean.is_empty()
                    || dir.strip_prefix(clean).is_some_and(|r| r.starts_with('/'))))
    })
}

fn is_our_mount(mount: &Value) -> bool {
    mount.get("destination").and_then(Value::as_str) == Some(CONTAINER_PACKAGES)
}

/// A process environment: `NAME=value` strings in order.
struct Env(Vec<String>);

impl Env {
    fn from_json(items: &[Value]) -> Result<Env, Skip> {
        items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Env)
            .ok_or_else(|| Skip::Malformed("env holds a value that is not a string".into()))
    }

    fn to_json(&self) -> Value {
        Value::Array(self.0.iter().cloned().map(Value::String).collect())
    }

    /// The value of the last `name=` entry (the one a process sees).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    fn has_our_launcher(&self) -> bool {
        self.our_launcher().is_some()
    }

    /// Our launcher's entry in `LD_PRELOAD`, e.g. [`CONTAINER_LAUNCHER`].
    fn our_launcher(&self) -> Option<String> {
        let value = self.get("LD_PRELOAD")?;
        preload_file::entries(value.as_bytes())
            .into_iter()
            .find(|e| preload_file::is_ours(e))
            .map(|e| String::from_utf8_lossy(e).into_owned())
    }

    /// Adds `launcher` to `LD_PRELOAD`, after the existing entries, unless one is ours.
    fn add_launcher(&mut self, launcher: &str) {
        if self.has_our_launcher() {
            return;
        }
        let value = match self.get("LD_PRELOAD").filter(|v| !v.trim().is_empty()) {
            Some(existing) => format!("{existing}:{launcher}"),
            None => launcher.to_owned(),
        };
        self.set("LD_PRELOAD", &value);
    }

    /// Sets `name` unless present (even empty: the user's choice).
    fn set_default(&mut self, name: &str, value: &str) {
        if self.get(name).is_none() {
            self.set(name, value);
        }
    }

    /// Sets `name`, replacing every entry of it.
    fn set(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        let position = self
            .0
            .iter()
            .position(|e| e.strip_prefix(name).is_some_and(|r| r.starts_with('=')));
        self.0
            .retain(|e| !e.strip_prefix(name).is_some_and(|r| r.starts_with('=')));
        match position {
            Some(i) => self.0.insert(i.min(self.0.len()), entry),
            None => self.0.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    const DOCKER: &[u8] = include_bytes!("../../test-assets/oci/docker-config.json");
    const CONTAINERD: &[u8] = include_bytes!("../../test-assets/oci/containerd-config.json");
    const EXEC: &[u8] = include_bytes!("../../test-assets/oci/docker-exec-process.json");

    fn injection(deny: &[DenyRule]) -> Injection<'_> {
        Injection {
            packages: Path::new("/opt/datadog-packages"),
            start_time: 1_700_000_000,
            deny,
            agent_dir: None,
            sdk: Sdk::Datadog,
            launcher: CONTAINER_LAUNCHER,
        }
    }

    fn inject(config: &[u8], container: &Container) -> Result<Value, Skip> {
        let edited = inject_config(config, &injection(&[]), container)?;
        Ok(serde_json::from_slice(&edited).unwrap())
    }

    /// The environment of a JSON object's `env` list, as `name -> value`.
    fn env(value: &Value) -> Map<String, Value> {
        value
            .get("env")
            .or_else(|| value.pointer("/process/env"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect()
    }

    /// `config` with `f` applied to its JSON.
    fn with(config: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(config).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn container_launcher_is_the_hosts_entry() {
        assert_eq!(
            crate::layout::stable_launcher().to_str(),
            Some(CONTAINER_LAUNCHER)
        );
        assert!(crate::preload_file::is_ours(CONTAINER_LAUNCHER.as_bytes()));
    }

    #[test]
    fn docker_container_gets_mount_and_variables() {
        let edited = inject(DOCKER, &Container::default()).unwrap();
        let mount = edited["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            mount,
            json!({"destination": "/opt/datadog-packages", "type": "bind",
                   "source": "/opt/datadog-packages", "options": ["rbind", "ro", "nosuid", "nodev"]})
        );
        let env = env(&edited);
        assert_eq!(env["LD_PRELOAD"], CONTAINER_LAUNCHER);
        assert_eq!(env["DD_INJECT_SENDER_TYPE"], "docker");
        assert_eq!(env["DD_INJECT_START_TIME"], "1700000000");
        assert_eq!(env["APP_ENV"], "prod", "the container's own variables stay");
        assert!(!env.contains_key("DD_SERVICE"), "no image known");
    }

    #[test]
    fn containerd_container_is_injected_too() {
        let edited = inject(CONTAINERD, &Container::default()).unwrap();
        assert_eq!(env(&edited)["LD_PRELOAD"], CONTAINER_LAUNCHER);
        assert_eq!(edited["root"]["path"], "rootfs", "relative root kept");
        assert_eq!(edited["annotations"]["team"], "shop");
    }

    #[test]
    fn everything_else_is_kept_unknown_fields_included() {
        let original = with(DOCKER, |v| {
            v["x-vendor-extension"] = json!({"keep": [1, 2]});
            v["process"]["x-process-extension"] = json!(true);
        });
        let edited = inject(&original, &Container::default()).unwrap();
        let mut expected: Value = serde_json::from_slice(&original).unwrap();
        expected["mounts"] = edited["mounts"].clone();
        expected["process"]["env"] = edited["process"]["env"].clone();
        assert_eq!(edited, expected);
        assert_eq!(
            edited["mounts"].as_array().unwrap().len(),
            expected["mounts"].as_array().unwrap().len()
        );
        let before: Value = serde_json::from_slice(DOCKER).unwrap();
        assert_eq!(
            edited["mounts"].as_array().unwrap().len(),
            before["mounts"].as_array().unwrap().len() + 1
        );
    }

    #[test]
    fn a_second_edit_changes_nothing() {
        let once = inject_config(DOCKER, &injection(&[]), &Container::default()).unwrap();
        assert_eq!(
            inject_config(&once, &injection(&[]), &Container::default()).unwrap_err(),
            Skip::AlreadyInjected
        );
    }

    #[test]
    fn own_ld_preload_is_kept_and_joined_once() {
        let config = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("LD_PRELOAD=/usr/lib/libjemalloc.so"));
        });
        let edited = inject(&config, &Container::default()).unwrap();
        assert_eq!(
            env(&edited)["LD_PRELOAD"],
            format!("/usr/lib/libjemalloc.so:{CONTAINER_LAUNCHER}")
        );
        let preloads = edited["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.as_str().unwrap().starts_with("LD_PRELOAD="))
            .count();
        assert_eq!(preloads, 1);
    }

    #[test]
    fn image_built_with_our_launcher_is_not_given_it_twice() {
        let config = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!(format!("LD_PRELOAD={CONTAINER_LAUNCHER}")));
        });
        let edited = inject(&config, &Container::default()).unwrap();
        assert_eq!(env(&edited)["LD_PRELOAD"], CONTAINER_LAUNCHER);
    }

    #[test]
    fn opt_outs_are_honoured() {
        let by_env = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("DD_INSTRUMENT_SERVICE_WITH_APM=false"));
        });
        assert_eq!(
            inject(&by_env, &Container::default()).unwrap_err(),
            Skip::OptedOut("variable")
        );
        let by_annotation = with(CONTAINERD, |v| {
            v["annotations"][OPT_OUT] = json!("False");
        });
        assert_eq!(
            inject(&by_annotation, &Container::default()).unwrap_err(),
            Skip::OptedOut("annotation")
        );
        let labelled = Container {
            labels: [(OPT_OUT.to_owned(), "false".to_owned())].into(),
            ..Container::default()
        };
        assert_eq!(
            inject(DOCKER, &labelled).unwrap_err(),
            Skip::OptedOut("label")
        );
        let opted_in = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("DD_INSTRUMENT_SERVICE_WITH_APM=true"));
        });
        assert!(inject(&opted_in, &Container::default()).is_ok());
    }

    #[test]
    fn deny_rules_match_image_and_name() {
        let deny = [DenyRule {
            id: "docker_config.yaml:3".into(),
            image: Some("shop/batch-*".into()),
            name: None,
        }];
        let batch = Container {
            image: Some("shop/batch-nightly:2".into()),
            ..Container::default()
        };
        assert_eq!(
            inject_config(DOCKER, &injection(&deny), &batch).unwrap_err(),
            Skip::Denied("docker_config.yaml:3".into())
        );
        let api = Container {
            image: Some("shop/api:2".into()),
            ..Container::default()
        };
        assert!(inject_config(DOCKER, &injection(&deny), &api).is_ok());
    }

    #[test]
    fn service_comes_from_labels_then_image_and_never_overrides() {
        let c = Container {
            image: Some("registry.local:5000/shop/shop-api:1.2@sha256:abc".into()),
            labels: [("com.datadoghq.tags.env".to_owned(), "prod".to_owned())].into(),
            ..Container::default()
        };
        let edited = inject(DOCKER, &c).unwrap();
        assert_eq!(env(&edited)["DD_SERVICE"], "shop-api");
        assert_eq!(env(&edited)["DD_ENV"], "prod");
        let labelled = Container {
            labels: [("com.datadoghq.tags.service".to_owned(), "cart".to_owned())].into(),
            ..c.clone()
        };
        assert_eq!(
            env(&inject(DOCKER, &labelled).unwrap())["DD_SERVICE"],
            "cart"
        );
        let own = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("DD_SERVICE=mine"));
        });
        assert_eq!(env(&inject(&own, &c).unwrap())["DD_SERVICE"], "mine");
        assert_eq!(image_name("sha256:0123"), None);
        assert_eq!(image_name("python:3.11-slim").as_deref(), Some("python"));
    }

    #[test]
    fn a_mount_over_opt_is_respected() {
        for destination in ["/opt", "/opt/", "/opt/datadog-packages", "/"] {
            let config = with(DOCKER, |v| {
                v["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": destination, "type": "bind", "source": "/srv/opt"}),
                );
            });
            assert_eq!(
                inject(&config, &Container::default()).unwrap_err(),
                Skip::PackagesPathTaken(destination.into()),
                "{destination}"
            );
        }
        let beside = with(DOCKER, |v| {
            v["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/opt/datadog", "type": "bind", "source": "/srv/x"}));
        });
        assert!(inject(&beside, &Container::default()).is_ok());
    }

    #[test]
    fn malformed_configs_are_refused() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"{\"ociVersion\": 1}",
            &DOCKER[..DOCKER.len() / 2],
        ] {
            assert!(
                matches!(inject(bad, &Container::default()), Err(Skip::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let env_not_strings = with(DOCKER, |v| v["process"]["env"] = json!([1, 2]));
        assert!(matches!(
            inject(&env_not_strings, &Container::default()),
            Err(Skip::Malformed(_))
        ));
        let huge = vec![b' '; MAX_SIZE + 1];
        assert!(matches!(
            inject(&huge, &Container::default()),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn config_without_process_is_left_alone() {
        let config = with(DOCKER, |v| {
            v.as_object_mut().unwrap().remove("process");
        });
        assert_eq!(
            inject(&config, &Container::default()).unwrap_err(),
            Skip::NoProcess
        );
    }

    #[test]
    fn docker_exec_gets_what_the_container_got() {
        let c = Container {
            image: Some("shop/api:1".into()),
            ..Container::default()
        };
        let container = inject_config(DOCKER, &injection(&[]), &c).unwrap();
        let edited: Value =
            serde_json::from_slice(&inject_process(EXEC, &container).unwrap()).unwrap();
        let env = env(&edited);
        assert_eq!(env["LD_PRELOAD"], CONTAINER_LAUNCHER);
        assert_eq!(env["DD_SERVICE"], "api");
        assert_eq!(env["DD_INJECT_SENDER_TYPE"], "docker");
        assert_eq!(env["EXTRA"], "1");
        let original: Value = serde_json::from_slice(EXEC).unwrap();
        assert_eq!(edited["args"], original["args"]);
        assert_eq!(edited["capabilities"], original["capabilities"]);
        assert_eq!(
            inject_process(&serde_json::to_vec(&edited).unwrap(), &container).unwrap_err(),
            Skip::AlreadyInjected
        );
    }

    #[test]
    fn an_image_with_its_loader_in_lib_gets_the_plain_path_and_so_do_its_execs() {
        let arch = Injection {
            launcher: contract::layout::STABLE_LAUNCHER_PLAIN,
            ..injection(&[])
        };
        let container = inject_config(DOCKER, &arch, &Container::default()).unwrap();
        let edited: Value = serde_json::from_slice(&container).unwrap();
        assert_eq!(
            env(&edited)["LD_PRELOAD"],
            "/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so"
        );
        let exec: Value =
            serde_json::from_slice(&inject_process(EXEC, &container).unwrap()).unwrap();
        assert_eq!(env(&exec)["LD_PRELOAD"], env(&edited)["LD_PRELOAD"]);
    }

    #[test]
    fn docker_exec_in_a_container_left_alone_gets_nothing() {
        assert_eq!(
            inject_process(EXEC, DOCKER).unwrap_err(),
            Skip::ContainerNotInjected
        );
        let container = inject_config(DOCKER, &injection(&[]), &Container::default()).unwrap();
        let opted_out = with(EXEC, |v| {
            v["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("DD_INSTRUMENT_SERVICE_WITH_APM=0"));
        });
        assert_eq!(
            inject_process(&opted_out, &container).unwrap_err(),
            Skip::OptedOut("variable")
        );
        assert!(matches!(
            inject_process(b"{]", &container),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn the_host_configurations_sdk_reaches_the_container() {
        let otel = Injection {
            sdk: Sdk::OpenTelemetry,
            ..injection(&[])
        };
        let env = |config: &[u8]| -> Vec<String> {
            let edited = inject_config(config, &otel, &Container::default()).unwrap();
            let edited: Value = serde_json::from_slice(&edited).unwrap();
            serde_json::from_value(edited["process"]["env"].clone()).unwrap()
        };
        assert!(env(DOCKER).contains(&"DD_APM_INSTRUMENTATION_SDK=opentelemetry".to_string()));
        let own = with(DOCKER, |v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("DD_APM_INSTRUMENTATION_SDK=datadog"));
        });
        let own = env(&own);
        assert!(own.contains(&"DD_APM_INSTRUMENTATION_SDK=datadog".to_string()));
        assert!(!own.contains(&"DD_APM_INSTRUMENTATION_SDK=opentelemetry".to_string()));
        let datadog = inject(DOCKER, &Container::default()).unwrap();
        assert!(!datadog["process"]["env"]
            .to_string()
            .contains("INSTRUMENTATION_SDK"));
    }

    #[test]
    fn agent_socket_directory_is_mounted_read_only_when_the_host_has_it() {
        let with_agent = Injection {
            agent_dir: Some(Path::new("/var/run/datadog")),
            ..injection(&[])
        };
        let edited = inject_config(DOCKER, &with_agent, &Container::default()).unwrap();
        let edited: Value = serde_json::from_slice(&edited).unwrap();
        let mount = edited["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            mount,
            json!({"destination": "/var/run/datadog", "type": "bind", "source": "/var/run/datadog",
                   "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
        );
        let without = inject(DOCKER, &Container::default()).unwrap();
        assert!(!without["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == AGENT_SOCKET_DIR));
    }

    #[test]
    fn the_users_own_agent_mount_is_kept() {
        let with_agent = Injection {
            agent_dir: Some(Path::new("/var/run/datadog")),
            ..injection(&[])
        };
        for (destination, kind) in [
            ("/var/run/datadog", "bind"),
            ("/run/datadog/", "bind"),
            ("/var/run", "bind"),
            ("/var", "bind"),
            ("/run/datadog", "tmpfs"),
        ] {
            let config = with(DOCKER, |v| {
                v["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": destination, "type": kind, "source": "/srv/agent"}),
                );
            });
            let edited = inject_config(&config, &with_agent, &Container::default()).unwrap();
            let edited: Value = serde_json::from_slice(&edited).unwrap();
            let ours = edited["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["destination"] == AGENT_SOCKET_DIR)
                .count();
            assert_eq!(
                ours,
                usize::from(destination == AGENT_SOCKET_DIR),
                "{destination}"
            );
            assert_eq!(
                env(&edited)["LD_PRELOAD"],
                CONTAINER_LAUNCHER,
                "{destination}"
            );
        }
        // containerd's tmpfs on /run is no reason to go without the agent.
        let edited = inject_config(CONTAINERD, &with_agent, &Container::default()).unwrap();
        let edited: Value = serde_json::from_slice(&edited).unwrap();
        assert_eq!(
            edited["mounts"].as_array().unwrap().last().unwrap()["destination"],
            AGENT_SOCKET_DIR
        );
    }

    #[test]
    fn containerd_annotations_name_the_image_for_deny_rules_and_service() {
        let cri = with(CONTAINERD, |v| {
            v["annotations"][CRI_IMAGE] = json!("registry.local/batch/nightly:3");
            v["annotations"][CRI_NAME] = json!("nightly");
        });
        let deny = [DenyRule {
            id: "docker_config.yaml:2".into(),
            image: Some("registry.local/batch/*".into()),
            name: None,
        }];
        assert_eq!(
            inject_config(&cri, &injection(&deny), &Container::default()).unwrap_err(),
            Skip::Denied("docker_config.yaml:2".into())
        );
        let by_name = [DenyRule {
            id: "docker_config.yaml:3".into(),
            image: None,
            name: Some("night*".into()),
        }];
        assert_eq!(
            inject_config(&cri, &injection(&by_name), &Container::default()).unwrap_err(),
            Skip::Denied("docker_config.yaml:3".into())
        );
        let edited = inject(&cri, &Container::default()).unwrap();
        assert_eq!(env(&edited)["DD_SERVICE"], "nightly");
        // What Docker says wins over annotations.
        let docker = Container {
            image: Some("shop/api:1".into()),
            ..Container::default()
        };
        assert!(inject_config(&cri, &injection(&deny), &docker).is_ok());
    }

    #[test]
    fn ctr_labels_are_read_from_annotations() {
        let labelled = with(CONTAINERD, |v| {
            v["annotations"]["com.datadoghq.tags.service"] = json!("cart");
        });
        assert_eq!(
            env(&inject(&labelled, &Container::default()).unwrap())["DD_SERVICE"],
            "cart"
        );
    }
}
