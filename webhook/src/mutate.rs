//! The change made to a selected pod (Datadog's init-container mode, with our package layout):
//!
//! - emptyDir volumes `datadog-auto-instrumentation` (packages, under `opt/datadog-packages/`)
//!   and `datadog-auto-instrumentation-etc` (`ld.so.preload`);
//! - init container `datadog-init-apm-inject` (injector image) and one `datadog-lib-<lang>-init`
//!   per library image, each running the image's static `/apm-inject-init`, which copies the
//!   image's `/opt/datadog-packages/*` into the volume (no shell in the images), the first one
//!   also writing `ld.so.preload`; they are appended after the pod's own init containers;
//! - in every app container: read-only mounts of `/etc/ld.so.preload` (subPath),
//!   `/opt/datadog-packages/datadog-apm-inject` and `/opt/datadog-packages/datadog-apm-library-<lang>`
//!   (`opentelemetry-apm-library-<lang>` for the OpenTelemetry SDKs; the launcher finds
//!   libraries beside itself), `LD_PRELOAD` joined after any existing value (the launcher
//!   as every preload list names it, `…/inject/$LIB/launcher.preload.so`: a 32-bit or
//!   foreign-architecture program's loader finds a no-op object of its own class there),
//!   `DD_INJECT_SENDER_TYPE=k8s`, `DD_INJECT_START_TIME`, for the OpenTelemetry SDKs
//!   `DD_APM_INSTRUMENTATION_SDK=opentelemetry` (so that the launcher picks their packages), the
//!   target's `ddTraceConfigs` (the container's own values win) and, with `apm-inject.debug`,
//!   debug variables.

use crate::config::{Config, InitResources};
use crate::keys;
use crate::quantity::Quantity;
use crate::select::{Library, Plan, INJECTOR_CONTAINER};
use crate::selector::Labels;
use contract::layout::{DEFAULT_ROOT, INJECT_PACKAGE, STABLE_LAUNCHER};
use contract::sdk::{self, Sdk};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, Pod, PodSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use std::collections::BTreeMap;

/// The packages volume.
pub const VOLUME: &str = "datadog-auto-instrumentation";
/// The volume holding `ld.so.preload`.
pub const ETC_VOLUME: &str = "datadog-auto-instrumentation-etc";
/// The copying program in the injector and library images.
pub const INIT_PROGRAM: &str = "/apm-inject-init";
/// Annotation recording the target that selected the pod.
pub const APPLIED_TARGET: &str = "internal.apm.datadoghq.com/applied-target";
/// Annotation recording why a selected pod was not instrumented.
pub const INJECTION_ERROR: &str = "apm.datadoghq.com/injection-error";
/// Containers never instrumented (service-mesh proxies).
const EXCLUDED_CONTAINERS: &[&str] = &["istio-proxy"];
/// User of the init containers where root is not allowed and the pod names no user (the
/// images' own user is root, which `runAsNonRoot` refuses).
pub const NON_ROOT_USER: i64 = 65532;
const MIN_CPU: &str = "50m";
const MIN_MEMORY: &str = "100Mi";

/// Adds what `plan` asks for to `pod`; returns warnings for the client. On error the pod may
/// be half-changed: callers mutate a copy.
pub fn apply(
    pod: &mut Pod,
    plan: &Plan,
    config: &Config,
    namespace_labels: &Labels,
    now: u64,
) -> Result<Vec<String>, String> {
    let spec = pod.spec.as_mut().ok_or("the pod has no spec")?;
    let resources = init_resources(spec, &config.init_resources)?;
    let security = init_security_context(config, namespace_labels, spec);
    add_volumes(spec)?;
    let mut init = vec![init_container(
        INJECTOR_CONTAINER.to_string(),
        &plan.injector_image,
        true,
        &resources,
        &security,
    )];
    for library in &plan.libraries {
        init.push(init_container(
            format!("datadog-lib-{}-init", library.language),
            &library.image,
            false,
            &resources,
            &security,
        ));
    }
    spec.init_containers
        .get_or_insert_with(Vec::new)
        .extend(init);
    let mut warnings = Vec::new();
    for container in spec
        .containers
        .iter_mut()
        .filter(|c| !EXCLUDED_CONTAINERS.contains(&c.name.as_str()))
    {
        let libraries: Vec<&Library> = plan
            .libraries
            .iter()
            .filter(|l| {
                l.containers
                    .as_ref()
                    .is_none_or(|names| names.contains(&container.name))
            })
            .collect();
        add_mounts(container, plan.sdk, &libraries)?;
        add_env(container, plan, now, &mut warnings);
    }
    if let Some(target) = &plan.target {
        set_annotation(pod, APPLIED_TARGET, target.to_string())?;
    }
    Ok(warnings)
}

/// Records `message` in the pod's `…/injection-error` annotation.
pub fn annotate_error(pod: &mut Pod, message: &str) -> Result<(), String> {
    set_annotation(pod, INJECTION_ERROR, message.to_string())
}

fn set_annotation(pod: &mut Pod, key: &str, value: String) -> Result<(), String> {
    keys::check(key)?;
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(key.to_string(), value);
    keys::check_total(annotations.iter())
}

/// Resources of the init containers: the configured ones, else the pod's own (the largest of
/// its init containers, or the sum of its containers and sidecars), so that scheduling is
/// unchanged. A pod whose limits are below what copying needs (50m CPU, 100Mi) is refused.
fn init_resources(
    spec: &PodSpec,
    configured: &InitResources,
) -> Result<ResourceRequirements, String> {
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    let mut too_small = Vec::new();
    for (name, configured, minimum) in [
        ("cpu", &configured.cpu, MIN_CPU),
        ("memory", &configured.memory, MIN_MEMORY),
    ] {
        let text = |q: Quantity| {
            if name == "memory" {
                q.binary()
            } else {
                q.to_string()
            }
        };
        if let Some((written, _)) = configured {
            limits.insert(name.to_string(), KubeQuantity(written.clone()));
            requests.insert(name.to_string(), KubeQuantity(written.clone()));
            continue;
        }
        let (limit, request) = pod_resources(spec, name)?;
        let minimum = Quantity::parse(minimum).expect("valid minimum");
        if limit.is_positive() {
            if limit < minimum {
                too_small.push(format!(
                    "{name} pod_limit={} needed={}",
                    text(limit),
                    text(minimum)
                ));
            }
            limits.insert(name.to_string(), KubeQuantity(text(limit)));
        }
        if request.is_positive() {
            requests.insert(name.to_string(), KubeQuantity(text(request)));
        }
    }
    if !too_small.is_empty() {
        return Err(format!(
            "The overall pod's containers limit is too low for injection, {}",
            too_small.join(", ")
        ));
    }
    Ok(ResourceRequirements {
        limits: Some(limits).filter(|m| !m.is_empty()),
        requests: Some(requests).filter(|m| !m.is_empty()),
        ..Default::default()
    })
}

/// The pod's effective (limit, request) of `resource`: max(largest init container,
/// containers + sidecars), the limit never below the request.
fn pod_resources(spec: &PodSpec, resource: &str) -> Result<(Quantity, Quantity), String> {
    let read = |c: &Container, limits: bool| -> Result<Quantity, String> {
        let r = c.resources.as_ref();
        let map = if limits {
            r.and_then(|r| r.limits.as_ref())
        } else {
            r.and_then(|r| r.requests.as_ref())
        };
        match map.and_then(|m| m.get(resource)) {
            Some(q) => Quantity::parse(&q.0).map_err(|e| format!("container {}: {e}", c.name)),
            None => Ok(Quantity::ZERO),
        }
    };
    let sidecar = |c: &Container| c.restart_policy.as_deref() == Some("Always");
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let (mut init_limit, mut init_request) = (Quantity::ZERO, Quantity::ZERO);
    let (mut sum_limit, mut sum_request) = (Quantity::ZERO, Quantity::ZERO);
    for c in init {
        if sidecar(c) {
            sum_limit = sum_limit.plus(read(c, true)?);
            sum_request = sum_request.plus(read(c, false)?);
        } else {
            init_limit = crate::quantity::max(init_limit, read(c, true)?);
            init_request = crate::quantity::max(init_request, read(c, false)?);
        }
    }
    for c in &spec.containers {
        sum_limit = sum_limit.plus(read(c, true)?);
        sum_request = sum_request.plus(read(c, false)?);
    }
    let request = crate::quantity::max(init_request, sum_request);
    let limit = crate::quantity::max(crate::quantity::max(init_limit, sum_limit), request);
    Ok((limit, request))
}

/// The init containers' security context: the configured one; else, in namespaces where Pod
/// Security enforces `restricted`, one that complies. Where the result or the pod demands a
/// non-root user and names none, the init containers run as [`NON_ROOT_USER`].
fn init_security_context(
    config: &Config,
    namespace_labels: &Labels,
    spec: &PodSpec,
) -> Option<SecurityContext> {
    let restricted = namespace_labels
        .get("pod-security.kubernetes.io/enforce")
        .is_some_and(|v| v == "restricted");
    let mut context = config.init_security_context.clone().or_else(|| {
        restricted.then(|| SecurityContext {
            allow_privilege_escalation: Some(false),
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..Default::default()
            }),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Default::default()
            }),
            ..Default::default()
        })
    });
    let pod = spec.security_context.as_ref();
    let non_root = context
        .as_ref()
        .and_then(|c| c.run_as_non_root)
        .or(pod.and_then(|p| p.run_as_non_root))
        == Some(true);
    let has_user = context.as_ref().is_some_and(|c| c.run_as_user.is_some())
        || pod.is_some_and(|p| p.run_as_user.is_some());
    if non_root && !has_user {
        context.get_or_insert_with(Default::default).run_as_user = Some(NON_ROOT_USER);
    }
    context
}

fn add_volumes(spec: &mut PodSpec) -> Result<(), String> {
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for name in [VOLUME, ETC_VOLUME] {
        if volumes.iter().any(|v| v.name == name) {
            return Err(format!("the pod already has a volume named {name}"));
        }
        volumes.push(Volume {
            name: name.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
    }
    Ok(())
}

fn init_container(
    name: String,
    image: &str,
    injector: bool,
    resources: &ResourceRequirements,
    security: &Option<SecurityContext>,
) -> Container {
    let mut args = Vec::new();
    let mut mounts = vec![VolumeMount {
        name: VOLUME.to_string(),
        mount_path: "/datadog-packages".to_string(),
        sub_path: Some(packages_sub_path().to_string()),
        ..Default::default()
    }];
    if injector {
        args.extend([
            "--ld-so-preload".to_string(),
            "/datadog-etc/ld.so.preload".to_string(),
        ]);
        mounts.push(VolumeMount {
            name: ETC_VOLUME.to_string(),
            mount_path: "/datadog-etc".to_string(),
            ..Default::default()
        });
    }
    args.push("/datadog-packages".to_string());
    Container {
        name,
        image: Some(image.to_string()),
        command: Some(vec![INIT_PROGRAM.to_string()]),
        args: Some(args),
        volume_mounts: Some(mounts),
        resources: Some(resources.clone()),
        security_context: security.clone(),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    }
}

fn add_mounts(container: &mut Container, sdk: Sdk, libraries: &[&Library]) -> Result<(), String> {
    let mut wanted = vec![
        (
            ETC_VOLUME,
            "/etc/ld.so.preload".to_string(),
            "ld.so.preload".to_string(),
        ),
        package_mount(INJECT_PACKAGE),
    ];
    wanted.extend(
        libraries
            .iter()
            .map(|l| package_mount(&l.language.package(sdk))),
    );
    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    for (volume, path, sub_path) in wanted {
        if mounts
            .iter()
            .any(|m| m.mount_path.trim_end_matches('/') == path)
        {
            return Err(format!(
                "container {} already mounts {path}",
                container.name
            ));
        }
        mounts.push(VolumeMount {
            name: volume.to_string(),
            mount_path: path,
            sub_path: Some(sub_path),
            read_only: Some(true),
            ..Default::default()
        });
    }
    Ok(())
}

/// (volume, mount path, sub-path) of a package directory, e.g. `/opt/datadog-packages/datadog-apm-inject`
/// from `opt/datadog-packages/datadog-apm-inject` of the packages volume.
fn package_mount(package: &str) -> (&'static str, String, String) {
    (
        VOLUME,
        format!("{DEFAULT_ROOT}/{package}"),
        format!("{}/{package}", packages_sub_path()),
    )
}

/// Where the packages are in the packages volume: the packages root of the app containers
/// without its leading `/`, `opt/datadog-packages`.
fn packages_sub_path() -> &'static str {
    DEFAULT_ROOT.trim_start_matches('/')
}

fn add_env(container: &mut Container, plan: &Plan, now: u64, warnings: &mut Vec<String>) {
    let env = container.env.get_or_insert_with(Vec::new);
    match env.iter_mut().find(|e| e.name == "LD_PRELOAD") {
        Some(e) if e.value_from.is_some() => warnings.push(format!(
            "container {}: LD_PRELOAD is set with valueFrom and was left as it is; the launcher still loads through /etc/ld.so.preload",
            container.name
        )),
        Some(e) => {
            let value = e.value.get_or_insert_with(String::new);
            if !value.split([':', ' ']).any(|entry| entry == STABLE_LAUNCHER) {
                *value = if value.is_empty() {
                    STABLE_LAUNCHER.to_string()
                } else {
                    format!("{value}:{STABLE_LAUNCHER}")
                };
            }
        }
        None => env.push(variable("LD_PRELOAD", STABLE_LAUNCHER)),
    }
    let mut ours = vec![
        variable("DD_INJECT_SENDER_TYPE", "k8s"),
        variable("DD_INJECT_START_TIME", &now.to_string()),
    ];
    if plan.sdk != Sdk::Datadog {
        ours.push(variable(sdk::VARIABLE, plan.sdk.name()));
    }
    if plan.debug {
        for name in [
            "DD_APM_INSTRUMENTATION_DEBUG",
            "DD_TRACE_STARTUP_LOGS",
            "DD_TRACE_DEBUG",
        ] {
            ours.push(variable(name, "true"));
        }
    }
    for var in ours {
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(e) => *e = var,
            None => env.push(var),
        }
    }
    for var in &plan.env {
        if !env.iter().any(|e| e.name == var.name) {
            env.push(var.clone());
        }
    }
}

fn variable(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}
