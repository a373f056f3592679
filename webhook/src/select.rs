//! Which pods are instrumented, with what: Datadog's rules, in order. The webhook's own and
//! `kube-system` namespaces, then `disabledNamespaces`, then the opt-out label always win;
//! then the pod's annotations; then the first matching target (or `enabledNamespaces`).
//! The SDK family is the pod's `admission.datadoghq.com/apm-inject.sdk` annotation, else the
//! target's `sdk`, else the configuration's; languages the family has no library for are left
//! out.

use crate::config::{Config, NamespaceSelector, Target};
use crate::language::Language;
use crate::selector::Labels;
use contract::sdk::Sdk;
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Prefix of the annotations and labels users write.
pub const ADMISSION_PREFIX: &str = "admission.datadoghq.com/";
/// Label that opts a pod out (`"false"`) or in without instrumentation enabled (`"true"`).
pub const ENABLED_LABEL: &str = "admission.datadoghq.com/enabled";
/// Annotation choosing the SDK family of a pod (`datadog` or `opentelemetry`).
pub const SDK_ANNOTATION: &str = "admission.datadoghq.com/apm-inject.sdk";
/// Name of the init container that copies the injector; its presence means "already done".
pub const INJECTOR_CONTAINER: &str = "datadog-init-apm-inject";

/// A namespace as the webhook knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Its labels, or why they could not be read.
    pub labels: Result<Labels, String>,
}

/// The outcome of selection.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Leave the pod alone.
    Skip(Skip),
    /// Instrument it.
    Inject(Plan),
}

/// Why a pod is left alone; `id()` is stable (logs, metrics, `status.message`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The pod already has our init containers (reinvocation).
    AlreadyInjected,
    /// `kube-system` or the webhook's own namespace.
    ProtectedNamespace,
    /// Listed in `disabledNamespaces`.
    DisabledNamespace,
    /// Labelled `admission.datadoghq.com/enabled: "false"`.
    OptedOut,
    /// Nothing selects it: instrumentation disabled, namespace not enabled, no target matched.
    NotSelected,
}

impl Skip {
    /// Stable identifier, e.g. `"disabled_namespace"`.
    pub fn id(self) -> &'static str {
        match self {
            Skip::AlreadyInjected => "already_injected",
            Skip::ProtectedNamespace => "protected_namespace",
            Skip::DisabledNamespace => "disabled_namespace",
            Skip::OptedOut => "opted_out",
            Skip::NotSelected => "not_selected",
        }
    }
}

/// What to add to a pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The injector image, e.g. `apm-inject/apm-inject:0.1.0`.
    pub injector_image: String,
    /// The SDK family of the libraries.
    pub sdk: Sdk,
    /// The libraries, one per language.
    pub libraries: Vec<Library>,
    /// The target that selected the pod, as written (for `…/applied-target`).
    pub target: Option<Json>,
    /// `ddTraceConfigs` of that target.
    pub env: Vec<EnvVar>,
    /// `admission.datadoghq.com/apm-inject.debug` is true.
    pub debug: bool,
}

/// One library to add.
#[derive(Clone, Debug, PartialEq)]
pub struct Library {
    /// Its language.
    pub language: Language,
    /// Its image, e.g. `apm-inject/dd-lib-python-init:v4`.
    pub image: String,
    /// The containers that get it: `None` for all, else these names.
    pub containers: Option<Vec<String>>,
}

/// Decides for `pod` in `namespace`; `own_namespace` is the webhook's. An error means the
/// decision could not be made (e.g. the namespace's labels are needed and unknown).
pub fn decide(
    config: &Config,
    pod: &Pod,
    namespace: &Namespace,
    own_namespace: &str,
) -> Result<Decision, String> {
    let spec = pod.spec.as_ref();
    let has_injector = spec
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name == INJECTOR_CONTAINER));
    if has_injector {
        return Ok(Decision::Skip(Skip::AlreadyInjected));
    }
    if namespace.name == "kube-system" || namespace.name == own_namespace {
        return Ok(Decision::Skip(Skip::ProtectedNamespace));
    }
    if config.disabled_namespaces.contains(&namespace.name) {
        return Ok(Decision::Skip(Skip::DisabledNamespace));
    }
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let label = labels.get(ENABLED_LABEL).map(String::as_str);
    if label == Some("false") {
        return Ok(Decision::Skip(Skip::OptedOut));
    }
    let target = if config.enabled {
        selected_by(config, labels, namespace)?
    } else {
        None
    };
    let selected = config.enabled
        && (target.is_some()
            || (config.targets.is_empty() && namespace_enabled(config, namespace)));
    let containers: Vec<&str> = spec
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let sdk = match annotations.get(SDK_ANNOTATION) {
        Some(name) => Sdk::from_name(name.as_bytes()).ok_or_else(|| {
            format!("{SDK_ANNOTATION}: expected datadog or opentelemetry, not {name:?}")
        })?,
        None => target.and_then(|t| t.sdk).unwrap_or(config.sdk),
    };
    let annotated = annotated_libraries(config, sdk, annotations, &containers)?;
    let mut libraries = match annotated {
        Some(libraries) if selected || label == Some("true") => libraries,
        _ if !selected => return Ok(Decision::Skip(Skip::NotSelected)),
        _ => {
            let versions = match target {
                Some(t) => &t.versions,
                None => &config.lib_versions,
            };
            configured_libraries(config, sdk, versions)
        }
    };
    libraries.retain(|l| l.language.has_library(sdk));
    Ok(Decision::Inject(Plan {
        injector_image: injector_image(config, annotations)?,
        sdk,
        libraries,
        target: target.map(|t| t.json.clone()),
        env: target.map(|t| t.configs.clone()).unwrap_or_default(),
        debug: annotations
            .get("admission.datadoghq.com/apm-inject.debug")
            .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")),
    }))
}

fn namespace_enabled(config: &Config, namespace: &Namespace) -> bool {
    config.enabled_namespaces.is_empty() || config.enabled_namespaces.contains(&namespace.name)
}

/// The first target selecting the pod. Namespace labels are read only when a target needs
/// them, so an unreadable namespace fails only pods that reach such a target.
fn selected_by<'a>(
    config: &'a Config,
    labels: &Labels,
    namespace: &Namespace,
) -> Result<Option<&'a Target>, String> {
    for target in &config.targets {
        let namespace_ok = match &target.namespaces {
            NamespaceSelector::Any => true,
            NamespaceSelector::Names(names) => names.contains(&namespace.name),
            NamespaceSelector::Labels(selector) => match &namespace.labels {
                Ok(ns_labels) => selector.matches(ns_labels),
                Err(e) => {
                    return Err(format!(
                        "target {:?} selects namespaces by label, and the labels of namespace {:?} are unknown: {e}",
                        target.name, namespace.name
                    ))
                }
            },
        };
        if namespace_ok && target.pods.matches(labels) {
            return Ok(Some(target));
        }
    }
    Ok(None)
}

fn configured_libraries(
    config: &Config,
    sdk: Sdk,
    versions: &[(Language, String)],
) -> Vec<Library> {
    let chosen: Vec<(Language, &str)> = if versions.is_empty() {
        Language::DEFAULTS.iter().map(|&l| (l, "default")).collect()
    } else {
        versions.iter().map(|(l, v)| (*l, v.as_str())).collect()
    };
    let mut libraries: Vec<Library> = chosen
        .into_iter()
        .map(|(language, version)| Library {
            language,
            image: library_image(config, sdk, language, version),
            containers: None,
        })
        .collect();
    libraries.sort_by_key(|l| l.language);
    libraries
}

fn library_image(config: &Config, sdk: Sdk, language: Language, version: &str) -> String {
    let tag = if version == "default" {
        language.default_tag(sdk)
    } else {
        version
    };
    format!("{}/{}:{tag}", config.registry, language.image_name(sdk))
}

/// Libraries named by annotations: `<lang>-lib.custom-image`, `<lang>-lib.version`,
/// `<container>.<lang>-lib.…` and `all-lib.version`, or `None` if there are none.
fn annotated_libraries(
    config: &Config,
    sdk: Sdk,
    annotations: &BTreeMap<String, String>,
    containers: &[&str],
) -> Result<Option<Vec<Library>>, String> {
    let mut found: Vec<Library> = Vec::new();
    for language in Language::ALL {
        let scopes = std::iter::once(None).chain(containers.iter().map(|&c| Some(c)));
        for container in scopes {
            let key = |what: &str| match container {
                None => format!("{ADMISSION_PREFIX}{language}-lib.{what}"),
                Some(c) => format!("{ADMISSION_PREFIX}{c}.{language}-lib.{what}"),
            };
            if let Some(image) = annotations.get(&key("custom-image")) {
                add(&mut found, language, image_reference(image)?, container)?;
            } else if let Some(version) = annotations.get(&key("version")) {
                add(
                    &mut found,
                    language,
                    library_image(config, sdk, language, tag(version)?),
                    container,
                )?;
            }
        }
    }
    if let Some(version) = annotations.get(&format!("{ADMISSION_PREFIX}all-lib.version")) {
        for language in Language::DEFAULTS {
            if !found.iter().any(|l| l.language == language) {
                add(
                    &mut found,
                    language,
                    library_image(config, sdk, language, tag(version)?),
                    None,
                )?;
            }
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    found.sort_by_key(|l| l.language);
    Ok(Some(found))
}

/// Adds a library asked for by an annotation, for one container or (`None`) all of them.
fn add(
    found: &mut Vec<Library>,
    language: Language,
    image: String,
    container: Option<&str>,
) -> Result<(), String> {
    match found.iter_mut().find(|l| l.language == language) {
        None => found.push(Library {
            language,
            image,
            containers: container.map(|c| vec![c.to_string()]),
        }),
        Some(existing) if existing.image != image => {
            return Err(format!(
                "annotations ask for two {language} libraries: {} and {image}",
                existing.image
            ))
        }
        Some(existing) => match (&mut existing.containers, container) {
            (Some(list), Some(c)) => list.push(c.to_string()),
            (containers, _) => *containers = None,
        },
    }
    Ok(())
}

fn injector_image(
    config: &Config,
    annotations: &BTreeMap<String, String>,
) -> Result<String, String> {
    if let Some(image) = annotations.get("admission.datadoghq.com/apm-inject.custom-image") {
        return image_reference(image);
    }
    let tag = match annotations.get("admission.datadoghq.com/apm-inject.version") {
        Some(version) => tag(version)?,
        None => &config.injector_tag,
    };
    Ok(format!("{}/apm-inject:{tag}", config.registry))
}

/// An image tag from an annotation (`v4`, `4.16.0`, `default`).
fn tag(value: &str) -> Result<&str, String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !value.starts_with(['.', '-']);
    if ok {
        Ok(value)
    } else {
        Err(format!("{value:?} is not an image tag"))
    }
}

/// A full image reference from an annotation: non-empty, no spaces or control characters.
fn image_reference(value: &str) -> Result<String, String> {
    if value.is_empty()
        || value.len() > 1024
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("{value:?} is not an image reference"));
    }
    Ok(value.to_string())
}
