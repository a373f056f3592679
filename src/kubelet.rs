//! A Pod as stored by the API server, run the way a kubelet runs it, on a private Docker engine
//! ([`Dockerd`]): emptyDir volumes are host directories (mode 0777, as the kubelet makes them),
//! each init container runs to completion in order, then the app containers start; each
//! container gets the pod's and its own security context, its environment (`value`, and
//! `valueFrom.fieldRef` resolved from the pod), its volume mounts (`subPath` directories made
//! as the kubelet makes them) and its command and arguments (`command` replaces the image's
//! entrypoint, `args` its command). Every container shares the host's network, as with
//! `hostNetwork: true`: the pod's IP and the host's are 127.0.0.1.
//!
//! What this translation does not know (other volume kinds, probes, `$(VAR)` references,
//! `envFrom`, …) fails the test instead of being dropped silently. Resources are not enforced:
//! what is tested is what runs, not how it is scheduled.

use crate::containers::Dockerd;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Container fields translated below, then those that change nothing here (the images are
/// local, the network is the host's, resources are not enforced).
const KNOWN_CONTAINER_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "volumeMounts",
    "securityContext",
    "workingDir",
    "name",
    "image",
    "imagePullPolicy",
    "resources",
    "ports",
    "terminationMessagePath",
    "terminationMessagePolicy",
];

/// A pod whose init containers completed and whose app containers were started.
pub struct RunningPod<'a> {
    docker: &'a Dockerd,
    /// Each init container's output, in order: (name, standard output and error).
    pub init_output: Vec<(String, String)>,
    name: String,
}

/// Runs `pod` (an object as the API server stores it) on `docker`, its emptyDirs under
/// `volumes`: the init containers one after the other, each of which must exit 0, then the app
/// containers in the background (named `<pod>-<container>`).
pub fn run_pod<'a>(docker: &'a Dockerd, pod: &Value, volumes: &Path) -> RunningPod<'a> {
    let name = pod["metadata"]["name"].as_str().expect("metadata.name");
    let spec = &pod["spec"];
    for volume in list(&spec["volumes"]) {
        empty_dir(volume, volumes);
    }
    let mut init_output = Vec::new();
    for container in list(&spec["initContainers"]) {
        let args = docker_args(pod, container, volumes);
        let mut all = vec!["run".to_string(), "--rm".to_string()];
        all.extend(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = crate::run(&mut docker.docker_command(&all));
        let text = format!("{}{}", crate::stdout(&out), crate::stderr(&out));
        let container_name = container["name"].as_str().unwrap().to_string();
        assert!(
            out.status.success(),
            "init container {container_name} failed ({}):\n{text}",
            out.status
        );
        init_output.push((container_name, text));
    }
    for container in list(&spec["containers"]) {
        let container_name = format!("{name}-{}", container["name"].as_str().unwrap());
        let mut all = vec![
            "run".to_string(),
            "--detach".to_string(),
            "--name".to_string(),
            container_name,
        ];
        all.extend(docker_args(pod, container, volumes));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        docker.docker_ok(&all);
    }
    RunningPod {
        docker,
        init_output,
        name: name.to_string(),
    }
}

impl RunningPod<'_> {
    /// Runs `argv` in app container `container` (`docker exec`, with the container's
    /// environment and user), and waits for it.
    pub fn exec(&self, container: &str, argv: &[&str]) -> std::process::Output {
        let name = format!("{}-{container}", self.name);
        let mut all = vec!["exec", name.as_str()];
        all.extend(argv);
        self.docker.docker(&all)
    }

    /// What app container `container` wrote so far (`docker logs`).
    pub fn logs(&self, container: &str) -> String {
        let out = self
            .docker
            .docker(&["logs", &format!("{}-{container}", self.name)]);
        format!("{}{}", crate::stdout(&out), crate::stderr(&out))
    }
}

/// Imports the images of `make k8s-image-trees` (`target/k8s-images`) into `docker` with
/// `scripts/k8s-images.sh import`, under the tags the webhook names by default
/// (`apm-inject/apm-inject:<version>`, `apm-inject/dd-lib-<lang>-init:v<N>`, …).
pub fn import_k8s_images(docker: &Dockerd) {
    let list = crate::workspace().join("target/k8s-images/images");
    assert!(
        list.exists(),
        "{} is missing: run `make k8s-image-trees` (`make test` does)",
        list.display()
    );
    let out = std::process::Command::new(crate::workspace().join("scripts/k8s-images.sh"))
        .arg("import")
        .env("DOCKER_HOST", format!("unix://{}", docker.socket.display()))
        .env("DOCKER_CONFIG", docker.dir.path().join("client"))
        .env_remove("LD_PRELOAD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "k8s-images.sh import: {}{}",
        crate::stdout(&out),
        crate::stderr(&out)
    );
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The host directory of an emptyDir volume, made world-writable as the kubelet makes it.
fn empty_dir(volume: &Value, volumes: &Path) {
    let name = volume["name"].as_str().expect("volume name");
    let kinds: Vec<&String> = volume
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "name")
        .collect();
    assert_eq!(
        kinds,
        ["emptyDir"],
        "volume {name}: only emptyDir volumes are translated"
    );
    let dir = volumes.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// `docker run` options, image and command of `container` of `pod`.
fn docker_args(pod: &Value, container: &Value, volumes: &Path) -> Vec<String> {
    let name = container["name"].as_str().unwrap();
    for field in container.as_object().unwrap().keys() {
        assert!(
            KNOWN_CONTAINER_FIELDS.contains(&field.as_str()),
            "container {name}: {field} is not translated"
        );
    }
    let mut args = vec!["--network".to_string(), "host".to_string()];
    args.extend(security_options(
        &pod["spec"]["securityContext"],
        &container["securityContext"],
    ));
    for variable in list(&container["env"]) {
        args.push("--env".to_string());
        args.push(format!(
            "{}={}",
            variable["name"].as_str().unwrap(),
            env_value(pod, variable)
        ));
    }
    for mount in list(&container["volumeMounts"]) {
        args.push("--volume".to_string());
        args.push(volume_mount(mount, volumes));
    }
    if let Some(dir) = container["workingDir"].as_str() {
        args.extend(["--workdir".to_string(), dir.to_string()]);
    }
    let strings = |v: &Value| -> Vec<String> {
        list(v)
            .iter()
            .map(|s| no_references(s.as_str().unwrap()))
            .collect()
    };
    let command = strings(&container["command"]);
    if let Some(entrypoint) = command.first() {
        args.extend(["--entrypoint".to_string(), entrypoint.clone()]);
    }
    args.push(container["image"].as_str().unwrap().to_string());
    args.extend(command.into_iter().skip(1));
    args.extend(strings(&container["args"]));
    args
}

/// `s`, which must hold no `$(VAR)` reference (the kubelet would expand it; this does not).
fn no_references(s: &str) -> String {
    assert!(
        !s.contains("$("),
        "{s:?}: $(VAR) references are not expanded"
    );
    s.to_string()
}

/// An environment variable's value: `value`, or a `fieldRef` resolved from the pod.
fn env_value(pod: &Value, variable: &Value) -> String {
    if let Some(value) = variable["value"].as_str() {
        return no_references(value);
    }
    let path = variable["valueFrom"]["fieldRef"]["fieldPath"]
        .as_str()
        .unwrap_or_else(|| panic!("{variable}: only value and valueFrom.fieldRef are translated"));
    let metadata = &pod["metadata"];
    let keyed = |prefix: &str, map: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(metadata[map][key].as_str().unwrap_or_default().to_string())
    };
    match path {
        "metadata.name" | "metadata.namespace" | "metadata.uid" => {
            let field = &path["metadata.".len()..];
            metadata[field].as_str().unwrap_or_default().to_string()
        }
        "status.hostIP" | "status.podIP" => "127.0.0.1".to_string(),
        "spec.nodeName" => "localhost".to_string(),
        _ => keyed("metadata.labels['", "labels")
            .or_else(|| keyed("metadata.annotations['", "annotations"))
            .unwrap_or_else(|| panic!("fieldRef {path} is not translated")),
    }
}

/// `--volume` of a mount: the volume's directory, or its `subPath` below it, made (mode of the
/// volume) when missing, as the kubelet does.
fn volume_mount(mount: &Value, volumes: &Path) -> String {
    for field in mount.as_object().unwrap().keys() {
        assert!(
            ["name", "mountPath", "subPath", "readOnly"].contains(&field.as_str()),
            "volume mount {mount}: {field} is not translated"
        );
    }
    let volume = volumes.join(mount["name"].as_str().unwrap());
    let source: PathBuf = match mount["subPath"].as_str() {
        Some(sub) => {
            let path = volume.join(sub);
            if !path.exists() {
                let mode = std::fs::metadata(&volume).unwrap().permissions().mode();
                std::fs::create_dir_all(&path).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            path
        }
        None => volume,
    };
    let read_only = if mount["readOnly"] == true { ":ro" } else { "" };
    format!(
        "{}:{}{read_only}",
        source.display(),
        mount["mountPath"].as_str().unwrap()
    )
}

/// `docker run` options for the pod's security context overlaid with the container's.
fn security_options(pod: &Value, container: &Value) -> Vec<String> {
    const POD_LEVEL: &[&str] = &["runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile"];
    const CONTAINER_ONLY: &[&str] = &[
        "allowPrivilegeEscalation",
        "capabilities",
        "readOnlyRootFilesystem",
        "privileged",
    ];
    for (context, allowed) in [
        (pod, POD_LEVEL.to_vec()),
        (container, [POD_LEVEL, CONTAINER_ONLY].concat()),
    ] {
        for field in context.as_object().into_iter().flat_map(|o| o.keys()) {
            assert!(
                allowed.contains(&field.as_str()),
                "securityContext.{field} is not translated"
            );
        }
    }
    let field = |name: &str| {
        Some(&container[name])
            .filter(|v| !v.is_null())
            .or(Some(&pod[name]).filter(|v| !v.is_null()))
    };
    let mut options = Vec::new();
    let user = field("runAsUser").and_then(Value::as_i64);
    if field("runAsNonRoot") == Some(&Value::Bool(true)) {
        // The images' user is root: the kubelet refuses to start such a container.
        assert!(
            user.is_some_and(|u| u != 0),
            "runAsNonRoot without a non-root runAsUser: the kubelet would not start it"
        );
    }
    if let Some(user) = user {
        let group = field("runAsGroup").and_then(Value::as_i64);
        options.push("--user".to_string());
        options.push(match group {
            Some(group) => format!("{user}:{group}"),
            None => user.to_string(),
        });
    }
    match field("seccompProfile").map(|p| p["type"].as_str().unwrap()) {
        None | Some("RuntimeDefault") => {}
        Some("Unconfined") => {
            options.extend(["--security-opt".into(), "seccomp=unconfined".into()])
        }
        Some(other) => panic!("seccompProfile {other} is not translated"),
    }
    if container["allowPrivilegeEscalation"] == false {
        options.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    for (key, flag) in [("drop", "--cap-drop"), ("add", "--cap-add")] {
        for capability in list(&container["capabilities"][key]) {
            options.extend([flag.to_string(), capability.as_str().unwrap().to_string()]);
        }
    }
    if container["readOnlyRootFilesystem"] == true {
        options.push("--read-only".to_string());
    }
    if container["privileged"] == true {
        options.push("--privileged".to_string());
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_context_overrides_the_pod_and_restricted_fields_become_options() {
        let pod = json!({"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}});
        let container = json!({"runAsUser": 65532, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
        assert_eq!(
            security_options(&pod, &container),
            [
                "--user",
                "65532",
                "--security-opt",
                "no-new-privileges",
                "--cap-drop",
                "ALL"
            ]
        );
    }

    #[test]
    fn field_references_are_resolved_from_the_pod() {
        let pod = json!({"metadata": {"name": "web", "namespace": "shop", "labels": {"tags.datadoghq.com/service": "shop-api"}}});
        let from = |path: &str| {
            env_value(
                &pod,
                &json!({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}),
            )
        };
        assert_eq!(from("metadata.namespace"), "shop");
        assert_eq!(
            from("metadata.labels['tags.datadoghq.com/service']"),
            "shop-api"
        );
        assert_eq!(from("status.hostIP"), "127.0.0.1");
    }

    #[test]
    #[should_panic(expected = "livenessProbe is not translated")]
    fn an_untranslated_field_fails() {
        docker_args(
            &json!({"spec": {}}),
            &json!({"name": "app", "image": "x", "livenessProbe": {}}),
            Path::new("/nonexistent"),
        );
    }
}
