//! The webhook's configuration: Datadog's Helm values under `datadog.apm.instrumentation`, so
//! that a user's existing values can be pasted in, plus the image registry and the init
//! containers' resources and security context.
//!
//! ```yaml
//! enabled: true
//! sdk: opentelemetry                     # or datadog (the default); per target too
//! disabledNamespaces: [jenkins]          # or enabledNamespaces: [...] (not both)
//! targets:                               # first match wins (not with enabledNamespaces/libVersions)
//!   - name: billing
//!     namespaceSelector:                 # matchNames, or matchLabels/matchExpressions
//!       matchNames: [billing]
//!     podSelector:
//!       matchLabels: {app: api}
//!       matchExpressions: [{key: tier, operator: In, values: [web]}]
//!     ddTraceVersions: {python: v4, js: default}
//!     sdk: datadog
//!     ddTraceConfigs:                    # DD_ variables only
//!       - {name: DD_PROFILING_ENABLED, value: "auto"}
//!       - name: DD_ENV
//!         valueFrom: {fieldRef: {fieldPath: "metadata.labels['env']"}}
//! libVersions: {python: v4}              # older form: libraries for every selected pod
//! injector: {imageTag: "0.1.0"}
//! registry: registry.example.com/apm-inject
//! initResources: {cpu: 50m, memory: 100Mi}
//! initSecurityContext: {runAsNonRoot: true, runAsUser: 65532}
//! ```
//!
//! A whole Helm values file is accepted too: its `datadog.apm.instrumentation` block is read
//! (and its top-level `registry`), everything else in it is ignored. `languageDetection`,
//! `language_detection`, `skipKPITelemetry` and `injectionMode: init_container` are accepted
//! and have no effect. Errors read `file:line:column: message`.

use crate::language::Language;
use crate::quantity::Quantity;
use crate::selector::{Expression, Operator, Selector};
use contract::sdk::Sdk;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecurityContext};
use rule_yaml::tree::{self, Error, Node, Value};
use serde_json::Value as Json;
use std::path::Path;

/// Largest configuration file accepted.
const MAX_SOURCE: u64 = 1 << 20;

/// Registry of the images when the configuration names none: the names `make images` gives.
pub const DEFAULT_REGISTRY: &str = "apm-inject";

const KEYS: &[&str] = &[
    "enabled",
    "enabledNamespaces",
    "disabledNamespaces",
    "libVersions",
    "targets",
    "injector",
    "registry",
    "initResources",
    "initSecurityContext",
    "languageDetection",
    "language_detection",
    "skipKPITelemetry",
    "injectionMode",
    "sdk",
];

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `enabled`: instrument pods selected by namespaces or targets. When false, only pods
    /// labelled `admission.datadoghq.com/enabled: "true"` that name libraries in annotations.
    pub enabled: bool,
    /// `enabledNamespaces`: when not empty, the only namespaces instrumented.
    pub enabled_namespaces: Vec<String>,
    /// `disabledNamespaces`: never instrumented, whatever else says.
    pub disabled_namespaces: Vec<String>,
    /// `libVersions`: libraries for every selected pod (when there are no targets).
    pub lib_versions: Vec<(Language, String)>,
    /// `targets`, in order.
    pub targets: Vec<Target>,
    /// `injector.imageTag`.
    pub injector_tag: String,
    /// `registry`, e.g. `registry.example.com/apm-inject`.
    pub registry: String,
    /// `initResources`.
    pub init_resources: InitResources,
    /// `initSecurityContext`.
    pub init_security_context: Option<SecurityContext>,
    /// `sdk`: the SDK family of the libraries injected (Datadog's unless set).
    pub sdk: Sdk,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: false,
            enabled_namespaces: Vec::new(),
            disabled_namespaces: Vec::new(),
            lib_versions: Vec::new(),
            targets: Vec::new(),
            injector_tag: env!("CARGO_PKG_VERSION").to_string(),
            registry: DEFAULT_REGISTRY.to_string(),
            init_resources: InitResources::default(),
            init_security_context: None,
            sdk: Sdk::Datadog,
        }
    }
}

/// Configured resources of the init containers (each unset one is derived from the pod).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InitResources {
    /// CPU, as written (e.g. `"50m"`) and its value.
    pub cpu: Option<(String, Quantity)>,
    /// Memory, as written (e.g. `"100Mi"`) and its value.
    pub memory: Option<(String, Quantity)>,
}

/// One entry of `targets`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `name`, recorded on the pods it selects.
    pub name: String,
    /// `namespaceSelector`.
    pub namespaces: NamespaceSelector,
    /// `podSelector` (empty: every pod).
    pub pods: Selector,
    /// `ddTraceVersions` (empty: the default libraries).
    pub versions: Vec<(Language, String)>,
    /// `ddTraceConfigs`, as container variables.
    pub configs: Vec<EnvVar>,
    /// `sdk`, when the target sets it (else the configuration's).
    pub sdk: Option<Sdk>,
    /// The target as written, in JSON, for `internal.apm.datadoghq.com/applied-target`.
    pub json: Json,
}

/// Which namespaces a target selects.
#[derive(Clone, Debug, PartialEq)]
pub enum NamespaceSelector {
    /// Every namespace (no `namespaceSelector`).
    Any,
    /// `matchNames`.
    Names(Vec<String>),
    /// `matchLabels` and `matchExpressions`: needs the namespace's labels.
    Labels(Selector),
}

/// Reads and validates the configuration file; errors read `path:line:column: message`.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = tree::read_file(path, MAX_SOURCE)?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Parses configuration text.
pub fn parse(text: &str) -> Result<Config, Error> {
    let Some(root) = tree::parse(text)? else {
        return Ok(Config::default());
    };
    if root.is_null() {
        return Ok(Config::default());
    }
    let entries = root.entries("configuration")?;
    if !entries.iter().any(|(k, _)| k.text() == Some("datadog")) {
        return instrumentation(&root, None);
    }
    // A whole Helm values file.
    let get = |entries: &[(Node, Node)], key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v.clone())
    };
    let registry = get(entries, "registry")
        .map(|n| n.string("registry"))
        .transpose()?;
    let mut block = get(entries, "datadog");
    for key in ["apm", "instrumentation"] {
        block = match block {
            Some(node) if !node.is_null() => get(node.entries(key)?, key),
            _ => None,
        };
    }
    match block {
        Some(node) if !node.is_null() => instrumentation(&node, registry),
        _ => Ok(Config {
            registry: registry.unwrap_or_else(|| DEFAULT_REGISTRY.to_string()),
            ..Config::default()
        }),
    }
}

fn instrumentation(node: &Node, helm_registry: Option<String>) -> Result<Config, Error> {
    let fields = node.fields("instrumentation", KEYS)?;
    let mut config = Config::default();
    if let Some(n) = fields.get("enabled") {
        config.enabled = n.boolean("enabled")?;
    }
    if let Some(n) = fields.get("enabledNamespaces") {
        config.enabled_namespaces = names(n, "enabledNamespaces")?;
    }
    if let Some(n) = fields.get("disabledNamespaces") {
        config.disabled_namespaces = names(n, "disabledNamespaces")?;
    }
    if let Some(n) = fields.get("libVersions") {
        config.lib_versions = versions(n, "libVersions")?;
    }
    if let Some(n) = fields.get("targets") {
        config.targets = n
            .items("targets")?
            .iter()
            .map(target)
            .collect::<Result<_, _>>()?;
    }
    if let Some(n) = fields.get("injector") {
        let injector = n.fields("injector", &["imageTag"])?;
        if let Some(tag) = injector.get("imageTag") {
            config.injector_tag = image_tag(tag, "injector.imageTag")?;
        }
    }
    config.registry = match fields.get("registry") {
        Some(n) => registry(n)?,
        None => helm_registry.unwrap_or(config.registry),
    };
    if let Some(n) = fields.get("initResources") {
        config.init_resources = init_resources(n)?;
    }
    if let Some(n) = fields.get("initSecurityContext") {
        config.init_security_context = Some(typed(n, "initSecurityContext")?);
    }
    for key in ["languageDetection", "language_detection"] {
        if let Some(n) = fields.get(key) {
            let f = n.fields(key, &["enabled"])?;
            if let Some(e) = f.get("enabled") {
                e.boolean("enabled")?;
            }
        }
    }
    if let Some(n) = fields.get("sdk") {
        config.sdk = sdk(n)?;
    }
    if let Some(n) = fields.get("skipKPITelemetry") {
        n.boolean("skipKPITelemetry")?;
    }
    if let Some(n) = fields.get("injectionMode") {
        let mode = n.string("injectionMode")?;
        if mode != "init_container" && mode != "auto" {
            return Err(Error::at(
                n.pos,
                format!("injectionMode: only init_container is supported, not {mode:?}"),
            ));
        }
    }
    exclusive(&fields, &config)?;
    Ok(config)
}

/// Datadog's rules for keys that cannot be combined.
fn exclusive(fields: &tree::Fields, config: &Config) -> Result<(), Error> {
    let clash = |a: &str, b: &str, set_a: bool, set_b: bool| match (set_a, set_b, fields.get(b)) {
        (true, true, Some(n)) => Err(Error::at(
            n.pos,
            format!("{a} and {b} cannot be set together"),
        )),
        _ => Ok(()),
    };
    clash(
        "enabledNamespaces",
        "disabledNamespaces",
        !config.enabled_namespaces.is_empty(),
        !config.disabled_namespaces.is_empty(),
    )?;
    clash(
        "enabledNamespaces",
        "targets",
        !config.enabled_namespaces.is_empty(),
        !config.targets.is_empty(),
    )?;
    clash(
        "libVersions",
        "targets",
        !config.lib_versions.is_empty(),
        !config.targets.is_empty(),
    )
}

fn names(node: &Node, what: &str) -> Result<Vec<String>, Error> {
    let items = node.items(what)?;
    items
        .iter()
        .map(|item| {
            let name = item.string(what)?;
            if !is_dns_label(&name) {
                return Err(Error::at(
                    item.pos,
                    format!("{what}: {name:?} is not a namespace name"),
                ));
            }
            Ok(name)
        })
        .collect()
}

/// A namespace name: a DNS label (lower case letters, digits and `-`, at most 63).
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn versions(node: &Node, what: &str) -> Result<Vec<(Language, String)>, Error> {
    node.entries(what)?
        .iter()
        .map(|(key, value)| {
            let id = key.string(what)?;
            let language = Language::from_id(&id).ok_or_else(|| {
                Error::at(
                    key.pos,
                    format!(
                        "{what}: unknown language {id:?} (expected java, js, python, dotnet, ruby or php)"
                    ),
                )
            })?;
            Ok((language, image_tag(value, what)?))
        })
        .collect()
}

/// An image tag (`v4`, `4.16.0`, `default`): at most 128 of `[A-Za-z0-9_.-]`, not starting
/// with `.` or `-`.
fn image_tag(node: &Node, what: &str) -> Result<String, Error> {
    let tag = node.string(what)?;
    let ok = tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if !ok || tag.is_empty() {
        return Err(Error::at(
            node.pos,
            format!("{what}: {tag:?} is not an image tag"),
        ));
    }
    Ok(tag)
}

/// `sdk`: `datadog` or `opentelemetry` (or `otel`), in any case.
fn sdk(node: &Node) -> Result<Sdk, Error> {
    let name = node.string("sdk")?;
    Sdk::from_name(name.as_bytes()).ok_or_else(|| {
        Error::at(
            node.pos,
            format!("sdk: expected datadog or opentelemetry, not {name:?}"),
        )
    })
}

fn registry(node: &Node) -> Result<String, Error> {
    let registry = node.string("registry")?;
    if registry.is_empty()
        || registry.ends_with('/')
        || registry.contains(|c: char| c.is_whitespace() || c == '@')
    {
        return Err(Error::at(
            node.pos,
            format!("registry: {registry:?} is not an image repository prefix"),
        ));
    }
    Ok(registry)
}

fn target(node: &Node) -> Result<Target, Error> {
    const TARGET_KEYS: &[&str] = &[
        "name",
        "namespaceSelector",
        "podSelector",
        "ddTraceVersions",
        "ddTraceConfigs",
        "sdk",
    ];
    let fields = node.fields("target", TARGET_KEYS)?;
    let name = match fields.get("name") {
        Some(n) => n.string("name")?,
        None => String::new(),
    };
    let namespaces = match fields.get("namespaceSelector") {
        None => NamespaceSelector::Any,
        Some(n) => {
            let f = n.fields(
                "namespaceSelector",
                &["matchNames", "matchLabels", "matchExpressions"],
            )?;
            match f.get("matchNames") {
                Some(names_node) => {
                    if let Some(other) = f.get("matchLabels").or(f.get("matchExpressions")) {
                        return Err(Error::at(
                            other.pos,
                            "namespaceSelector: matchNames cannot be combined with matchLabels or matchExpressions",
                        ));
                    }
                    NamespaceSelector::Names(names(names_node, "matchNames")?)
                }
                None => NamespaceSelector::Labels(selector(n, "namespaceSelector")?),
            }
        }
    };
    let pods = match fields.get("podSelector") {
        Some(n) => selector(n, "podSelector")?,
        None => Selector::default(),
    };
    let versions = match fields.get("ddTraceVersions") {
        Some(n) => versions(n, "ddTraceVersions")?,
        None => Vec::new(),
    };
    let configs = match fields.get("ddTraceConfigs") {
        Some(n) => n
            .items("ddTraceConfigs")?
            .iter()
            .map(trace_config)
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let sdk = fields.get("sdk").map(sdk).transpose()?;
    Ok(Target {
        name,
        namespaces,
        pods,
        versions,
        configs,
        sdk,
        json: json(node),
    })
}

fn selector(node: &Node, what: &str) -> Result<Selector, Error> {
    let fields = node.fields(what, &["matchLabels", "matchExpressions", "matchNames"])?;
    if let Some(n) = fields.get("matchNames") {
        return Err(Error::at(
            n.pos,
            format!("{what}: matchNames is only for namespaceSelector"),
        ));
    }
    let mut selector = Selector::default();
    if let Some(n) = fields.get("matchLabels") {
        for (key, value) in n.entries("matchLabels")? {
            selector
                .labels
                .insert(key.string("matchLabels")?, value.string("matchLabels")?);
        }
    }
    if let Some(n) = fields.get("matchExpressions") {
        for item in n.items("matchExpressions")? {
            let f = item.fields("matchExpressions", &["key", "operator", "values"])?;
            let required = |k: &str| {
                f.get(k).ok_or_else(|| {
                    Error::at(item.pos, format!("matchExpressions: {k} is required"))
                })
            };
            let key = required("key")?.string("key")?;
            let operator_node = required("operator")?;
            let values = match f.get("values") {
                Some(v) => v
                    .items("values")?
                    .iter()
                    .map(|i| i.string("values"))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            let operator = Operator::new(&operator_node.string("operator")?, values)
                .map_err(|m| Error::at(operator_node.pos, format!("matchExpressions: {m}")))?;
            selector.expressions.push(Expression { key, operator });
        }
    }
    Ok(selector)
}

fn trace_config(node: &Node) -> Result<EnvVar, Error> {
    let fields = node.fields("ddTraceConfigs", &["name", "value", "valueFrom"])?;
    let name_node = fields
        .get("name")
        .ok_or_else(|| Error::at(node.pos, "ddTraceConfigs: name is required"))?;
    let name = name_node.string("name")?;
    if !name.starts_with("DD_")
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::at(
            name_node.pos,
            format!("ddTraceConfigs: {name:?} is not a DD_ variable (DD_ and upper case letters, digits, _)"),
        ));
    }
    let value = fields.get("value").map(|v| v.string("value")).transpose()?;
    let value_from = fields
        .get("valueFrom")
        .map(|v| typed::<EnvVarSource>(v, "valueFrom"))
        .transpose()?;
    if value.is_some() == value_from.is_some() {
        return Err(Error::at(
            node.pos,
            "ddTraceConfigs: exactly one of value and valueFrom is required",
        ));
    }
    Ok(EnvVar {
        name,
        value,
        value_from,
    })
}

fn init_resources(node: &Node) -> Result<InitResources, Error> {
    let fields = node.fields("initResources", &["cpu", "memory"])?;
    let quantity = |key: &str| {
        fields
            .get(key)
            .map(|n| {
                let text = n.string(key)?;
                let q =
                    Quantity::parse(&text).map_err(|m| Error::at(n.pos, format!("{key}: {m}")))?;
                if !q.is_positive() {
                    return Err(Error::at(n.pos, format!("{key}: must be above zero")));
                }
                Ok((text, q))
            })
            .transpose()
    };
    Ok(InitResources {
        cpu: quantity("cpu")?,
        memory: quantity("memory")?,
    })
}

/// A Kubernetes object written in YAML, e.g. a `SecurityContext`: keys the type does not
/// know are errors (serde would drop them silently).
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    node: &Node,
    what: &str,
) -> Result<T, Error> {
    let written = json(node);
    let value: T = serde_json::from_value(written.clone())
        .map_err(|e| Error::at(node.pos, format!("{what}: {e}")))?;
    let read = serde_json::to_value(&value).unwrap_or(Json::Null);
    if let Some(path) = dropped(&written, &read, what) {
        return Err(Error::at(node.pos, format!("{path}: unknown field")));
    }
    Ok(value)
}

/// The first key of `written` that `read` lost, as a dotted path.
fn dropped(written: &Json, read: &Json, path: &str) -> Option<String> {
    match (written, read) {
        (Json::Object(w), Json::Object(r)) => w.iter().find_map(|(k, v)| match r.get(k) {
            None => Some(format!("{path}.{k}")),
            Some(rv) => dropped(v, rv, &format!("{path}.{k}")),
        }),
        (Json::Array(w), Json::Array(r)) => w
            .iter()
            .zip(r)
            .enumerate()
            .find_map(|(i, (wv, rv))| dropped(wv, rv, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// A YAML node as JSON: unquoted `true`, `false`, `null` and numbers are typed, the rest is text.
fn json(node: &Node) -> Json {
    match &node.value {
        Value::Seq(items) => Json::Array(items.iter().map(json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.text().unwrap_or_default().to_string(), json(v)))
                .collect(),
        ),
        Value::Scalar { text, quoted } => {
            if *quoted {
                return Json::String(text.clone());
            }
            if node.is_null() {
                return Json::Null;
            }
            match text.as_str() {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                _ => text
                    .parse::<i64>()
                    .map(Json::from)
                    .or_else(|_| text.parse::<f64>().map(Json::from))
                    .unwrap_or_else(|_| Json::String(text.clone())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_datadog_values_with_targets() {
        let config = parse(
            "enabled: true\ndisabledNamespaces: [jenkins]\ntargets:\n  - name: billing\n    namespaceSelector:\n      matchLabels: {team: billing}\n    podSelector:\n      matchExpressions: [{key: app, operator: In, values: [api]}]\n    ddTraceVersions: {python: v4, js: default}\n    ddTraceConfigs:\n      - {name: DD_PROFILING_ENABLED, value: auto}\n      - name: DD_ENV\n        valueFrom: {fieldRef: {fieldPath: metadata.namespace}}\ninjector: {imageTag: \"0.2.0\"}\nregistry: registry.example.com/apm\ninitResources: {cpu: 50m, memory: 100Mi}\ninitSecurityContext: {runAsUser: 1000}\n",
        )
        .unwrap();
        assert!(config.enabled);
        assert_eq!(config.disabled_namespaces, ["jenkins"]);
        let target = &config.targets[0];
        assert_eq!(target.name, "billing");
        assert!(
            matches!(&target.namespaces, NamespaceSelector::Labels(s) if s.labels["team"] == "billing")
        );
        assert_eq!(
            target.versions,
            [
                (Language::Python, "v4".to_string()),
                (Language::Js, "default".to_string())
            ]
        );
        assert_eq!(target.configs[0].value.as_deref(), Some("auto"));
        assert_eq!(
            target.configs[1]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.namespace"
        );
        assert_eq!(target.json["name"], "billing");
        assert_eq!(target.sdk, None);
        assert_eq!(config.sdk, Sdk::Datadog);
        let otel = parse("sdk: OpenTelemetry\ntargets: [{name: a, sdk: datadog}]\n").unwrap();
        assert_eq!(otel.sdk, Sdk::OpenTelemetry);
        assert_eq!(otel.targets[0].sdk, Some(Sdk::Datadog));
        let helm = parse("datadog: {apm: {instrumentation: {sdk: otel}}}\n").unwrap();
        assert_eq!(helm.sdk, Sdk::OpenTelemetry);
        assert_eq!(config.injector_tag, "0.2.0");
        assert_eq!(config.registry, "registry.example.com/apm");
        assert_eq!(config.init_resources.cpu.as_ref().unwrap().0, "50m");
        assert_eq!(
            config.init_security_context.unwrap().run_as_user,
            Some(1000)
        );
    }

    #[test]
    fn takes_the_instrumentation_block_of_a_whole_helm_values_file() {
        let config = parse(
            "registry: gcr.example.com/dd\ndatadog:\n  apiKey: xyz\n  apm:\n    instrumentation:\n      enabled: true\n      enabledNamespaces: [shop]\nclusterAgent: {enabled: true}\n",
        )
        .unwrap();
        assert!(config.enabled);
        assert_eq!(config.enabled_namespaces, ["shop"]);
        assert_eq!(config.registry, "gcr.example.com/dd");
        assert_eq!(parse("datadog: {apm: {}}\n").unwrap(), Config::default());
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_carry_line_and_column() {
        assert_eq!(
            error("enabled: true\ntargets:\n  - name: a\n    ddTraceConfigs: [{name: PATH, value: x}]\n"),
            "4:29: ddTraceConfigs: \"PATH\" is not a DD_ variable (DD_ and upper case letters, digits, _)"
        );
        assert!(error("enabled: yes\n").starts_with("1:10: enabled: expected true or false"));
        assert!(error("enabld: true\n").starts_with("1:1: instrumentation: unknown key \"enabld\""));
        assert!(error("targets:\n  - ddTraceVersions: {cobol: v1}\n")
            .starts_with("2:23: ddTraceVersions: unknown language \"cobol\""));
        assert!(error("initResources: {cpu: lots}\n").contains("invalid quantity"));
        assert!(error("initSecurityContext: {runAsUsr: 1}\n")
            .contains("initSecurityContext.runAsUsr: unknown field"));
        assert!(error(
            "targets:\n  - podSelector:\n      matchExpressions: [{key: a, operator: In}]\n"
        )
        .contains("operator In needs at least one value"));
        assert!(error("disabledNamespaces: [Not_A_Name]\n").contains("is not a namespace name"));
        assert!(error("injectionMode: csi\n").contains("only init_container"));
        assert_eq!(
            error("enabled: true\nsdk: zipkin\n"),
            "2:6: sdk: expected datadog or opentelemetry, not \"zipkin\""
        );
        assert!(error("targets:\n  - sdk: [otel]\n").starts_with("2:10: sdk:"));
    }

    #[test]
    fn refuses_what_datadog_refuses_together() {
        assert!(error("enabledNamespaces: [a]\ndisabledNamespaces: [b]\n")
            .contains("cannot be set together"));
        assert!(error("enabledNamespaces: [a]\ntargets: [{name: t}]\n")
            .contains("cannot be set together"));
        assert!(error("libVersions: {python: v4}\ntargets: [{name: t}]\n")
            .contains("cannot be set together"));
        assert!(
            error("targets:\n  - namespaceSelector: {matchNames: [a], matchLabels: {x: y}}\n")
                .contains("cannot be combined")
        );
        assert!(error("targets:\n  - ddTraceConfigs: [{name: DD_X, value: a, valueFrom: {fieldRef: {fieldPath: x}}}]\n").contains("exactly one"));
    }

    #[test]
    fn refuses_anchors_duplicates_and_bad_tags() {
        assert!(error("enabled: true\nenabled: false\n").contains("duplicate key"));
        assert!(error("a: &x 1\n").contains("anchors"));
        assert!(error("injector: {imageTag: \"bad tag\"}\n").contains("not an image tag"));
        assert!(error("registry: \"reg/\"\n").contains("not an image repository prefix"));
    }
}
