//! `docker_config.yaml` in the configuration directory: how containers are instrumented.
//!
//! ```yaml
//! library_inject: true          # false: the shim passes every container through untouched
//! log_level: debug              # the shim's debug log (off, error, warn, info: off)
//! output_paths: [/var/log/datadog/dd-shim.log]   # files only: the shim's own output would be
//!                               # the container's (default /var/log/datadog/apm-inject-shim.log)
//! runtimes: [/usr/local/bin/my-runc, runc]        # the runtime the shim chains to: the first
//!                               # that exists (a name is searched in PATH); default: the
//!                               # default runtime daemon.json declared before the install,
//!                               # then `runc`
//! docker_socket: /run/user/1000/docker.sock       # the Docker API (rootless Docker), a
//!                               # path, unix:///path or tcp://host:port;
//!                               # default /var/run/docker.sock
//! deny:                         # containers left alone, by image or name (globs, `/` ordinary)
//!   - image: "registry.local/batch/*"
//!   - name: "*-migrations"
//! config_sources: BASIC         # a string, accepted because Datadog's own file has it; ignored
//! ```
//! The CLI reports errors as `file:line:column: message`; the shim, which must never break a
//! container start, passes containers through untouched when the file is malformed.

use crate::config::dir;
use crate::http_client::Endpoint;
use deny_list::glob;
use rule_yaml::tree::{self, Error, Node};
use std::path::{Path, PathBuf};

/// The file name, in the configuration directory.
pub const FILE: &str = "docker_config.yaml";
/// Docker's API socket unless the configuration names another.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Where the shim's debug log goes unless `output_paths` names a file.
pub const DEFAULT_LOG: &str = "/var/log/datadog/apm-inject-shim.log";
/// Largest file accepted.
const MAX_SIZE: u64 = 1 << 20;
const KEYS: &[&str] = &[
    "library_inject",
    "log_level",
    "output_paths",
    "runtimes",
    "docker_socket",
    "deny",
    "config_sources",
];

/// The container configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerConfig {
    /// Whether containers are instrumented at all (`library_inject`).
    pub inject: bool,
    /// Whether the shim writes a debug log.
    pub debug: bool,
    /// The debug log files.
    pub log_files: Vec<PathBuf>,
    /// Runtimes to chain to, in order of preference: paths, or names searched in `PATH`;
    /// empty when not given (see [`crate::shim::runtime::candidates`]).
    pub runtimes: Vec<PathBuf>,
    /// The Docker API.
    pub docker_socket: Endpoint,
    /// Containers never instrumented.
    pub deny: Vec<DenyRule>,
}

/// A container deny rule: every condition given must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DenyRule {
    /// Where it was written, e.g. `docker_config.yaml:12`: how logs and `status` name it.
    pub id: String,
    /// Glob on the image reference as Docker shows it, e.g. `shop/api:1.2`.
    pub image: Option<String>,
    /// Glob on the container name, without Docker's leading `/`.
    pub name: Option<String>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            inject: true,
            debug: false,
            log_files: vec![PathBuf::from(DEFAULT_LOG)],
            runtimes: Vec::new(),
            docker_socket: Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
            deny: Vec::new(),
        }
    }
}

impl DenyRule {
    /// Whether this rule matches a container with `image` and `name` (an unknown value never
    /// matches a condition on it).
    pub fn matches(&self, image: Option<&str>, name: Option<&str>) -> bool {
        let holds = |pattern: &Option<String>, value: Option<&str>| match pattern {
            None => true,
            Some(p) => value.is_some_and(|v| glob::matches_text(p.as_bytes(), v.as_bytes())),
        };
        (self.image.is_some() || self.name.is_some())
            && holds(&self.image, image)
            && holds(&self.name, name.map(|n| n.trim_start_matches('/')))
    }
}

/// `<configuration directory>/docker_config.yaml`.
pub fn path() -> PathBuf {
    dir().join(FILE)
}

/// Reads `path`: the defaults if it does not exist, else the file or a `path:line:col` error.
pub fn load(path: &Path) -> Result<DockerConfig, String> {
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
        other => other.map_err(|e| format!("{}: {e}", path.display()))?,
    };
    if !meta.is_file() || meta.len() > MAX_SIZE {
        return Err(format!(
            "{}: not a regular file of at most {MAX_SIZE} bytes",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}:1:1: not UTF-8 text", path.display()))?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Parses the text of a `docker_config.yaml`.
pub fn parse(text: &str) -> Result<DockerConfig, Error> {
    let mut config = DockerConfig::default();
    let Some(root) = tree::parse(text)? else {
        return Ok(config);
    };
    let fields = root.fields("docker configuration", KEYS)?;
    if let Some(n) = fields.get("library_inject") {
        config.inject = n.boolean("library_inject")?;
    }
    if let Some(n) = fields.get("log_level") {
        config.debug = matches!(
            n.string("log_level")?.to_ascii_lowercase().as_str(),
            "debug" | "trace"
        );
    }
    if let Some(n) = fields.get("output_paths") {
        let files = crate::logs::files(n.strings("output_paths")?.join(",").as_bytes());
        if !files.is_empty() {
            config.log_files = files;
        }
    }
    if let Some(n) = fields.get("runtimes") {
        config.runtimes = n
            .strings("runtimes")?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        if config.runtimes.is_empty() {
            return Err(Error::at(n.pos, "runtimes: expected at least one runtime"));
        }
    }
    if let Some(n) = fields.get("docker_socket") {
        let text = n.string("docker_socket")?;
        config.docker_socket = docker_host(&text).ok_or_else(|| {
            Error::at(
                n.pos,
                format!("docker_socket: \"{text}\" is not a path, unix:// or tcp:// address"),
            )
        })?;
    }
    if let Some(n) = fields.get("deny") {
        for item in n.items("deny")? {
            config.deny.push(deny_rule(item)?);
        }
    }
    if let Some(n) = fields.get("config_sources") {
        n.string("config_sources")?;
    }
    Ok(config)
}

fn deny_rule(item: &Node) -> Result<DenyRule, Error> {
    let fields = item.fields("deny rule", &["image", "name"])?;
    let rule = DenyRule {
        id: format!("{FILE}:{}", item.pos.line),
        image: fields.get("image").map(|n| n.string("image")).transpose()?,
        name: fields.get("name").map(|n| n.string("name")).transpose()?,
    };
    if rule.image.is_none() && rule.name.is_none() {
        return Err(Error::at(item.pos, "deny rule: expected image or name"));
    }
    Ok(rule)
}

/// A Docker host written as `unix:///path`, `/path` or `tcp://host:port` (as `DOCKER_HOST`);
/// `None` otherwise.
pub fn docker_host(text: &str) -> Option<Endpoint> {
    if let Some(path) = text
        .strip_prefix("unix://")
        .or(text.starts_with('/').then_some(text))
    {
        return (!path.is_empty()).then(|| Endpoint::Unix(PathBuf::from(path)));
    }
    let authority = text.strip_prefix("tcp://")?.trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(Endpoint::Tcp(host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datadogs_own_file_is_accepted() {
        let c = parse(
            "---\nconfig_sources: LOCAL:/etc/datadog-agent/inject/debug_config.yaml\n\
             library_inject: true\nlog_level: debug\noutput_paths:\n  - stderr\n",
        )
        .unwrap();
        assert!(c.inject && c.debug);
        assert_eq!(
            c.log_files,
            [PathBuf::from(DEFAULT_LOG)],
            "stderr is ignored"
        );
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), DockerConfig::default());
    }

    #[test]
    fn runtimes_socket_and_rules() {
        let c = parse(
            "runtimes: [/usr/local/bin/my-runc, runc]\ndocker_socket: /run/d.sock\n\
             deny:\n  - image: \"shop/batch-*\"\n  - name: \"*-migrations\"\n    image: \"shop/*\"\n",
        )
        .unwrap();
        assert_eq!(
            c.runtimes,
            [
                PathBuf::from("/usr/local/bin/my-runc"),
                PathBuf::from("runc")
            ]
        );
        assert_eq!(c.docker_socket, Endpoint::Unix("/run/d.sock".into()));
        assert_eq!(c.deny[0].id, "docker_config.yaml:4");
        assert!(c.deny[0].matches(Some("shop/batch-nightly:1"), None));
        assert!(!c.deny[0].matches(Some("shop/api:1"), Some("batch-x")));
        assert!(c.deny[1].matches(Some("shop/api:1"), Some("/db-migrations")));
        assert!(
            !c.deny[1].matches(None, Some("db-migrations")),
            "image unknown"
        );
    }

    #[test]
    fn docker_hosts_are_read_like_docker_host() {
        assert_eq!(
            docker_host("unix:///var/run/docker.sock"),
            Some(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            docker_host("/run/d.sock"),
            Some(Endpoint::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            docker_host("tcp://127.0.0.1:2375"),
            Some(Endpoint::Tcp("127.0.0.1".into(), 2375))
        );
        assert_eq!(
            docker_host("tcp://[::1]:2375/"),
            Some(Endpoint::Tcp("::1".into(), 2375))
        );
        for bad in [
            "",
            "unix://",
            "tcp://host",
            "tcp://h:99999",
            "ftp://x:1",
            "relative.sock",
        ] {
            assert_eq!(docker_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn mistakes_are_located() {
        let e = parse("library_inject: maybe\n").unwrap_err();
        assert_eq!(e.pos.line, 1);
        let e = parse("deny:\n  - tag: x\n").unwrap_err();
        assert_eq!((e.pos.line, e.message.contains("unknown key")), (2, true));
        assert!(parse("deny:\n  - {}\n").is_err());
        assert!(parse("runtimes: []\n").is_err());
        assert!(parse("dockr_socket: /x\n").is_err());
        assert!(parse("docker_socket: docker.sock\n").is_err());
        let e = parse("library_inject: true\nconfig_sources: [BASIC]\n").unwrap_err();
        assert_eq!(
            (e.pos.line, e.message.as_str()),
            (2, "config_sources: expected a string")
        );
    }
}
