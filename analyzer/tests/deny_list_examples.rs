//! Every example in `deny-list/deny-list.yaml` decides as its rule says.
#![forbid(unsafe_code)]

use analyzer::host::{FileInfo, FileKind, ReadError};
use analyzer::{decide, Config, Host, Outcome, Process, Reason};

/// A machine where every library package is installed, owned by root, read-only to others.
struct AllInstalled;

impl Host for AllInstalled {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        let kind = if path.ends_with(b"/loader") {
            FileKind::Dir
        } else {
            FileKind::File
        };
        (!path.ends_with(b".json")).then_some(FileInfo {
            kind,
            mode: 0o644,
            uid: 0,
        })
    }
    fn read_file(&self, _: &[u8], _: usize) -> Result<Vec<u8>, ReadError> {
        Err(ReadError::Missing)
    }
    fn peek(&self, path: &[u8], _: usize, _: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        self.stat(path)
            .map(|_| (b"PK\x03\x04".to_vec(), b"PK\x05\x06".to_vec()))
            .ok_or(ReadError::Missing)
    }
    fn out_of_time(&self) -> bool {
        false
    }
}

/// The decision for a shell-like line: leading `NAME=value` words are the environment, the
/// first other word the command (found in /usr/bin), the rest its arguments.
fn decision_for(line: &str) -> Outcome {
    let words: Vec<&str> = line.split_whitespace().collect();
    let split = words
        .iter()
        .position(|w| !w.contains('=') || w.starts_with('-'))
        .unwrap_or(words.len());
    let (env, args) = words.split_at(split);
    let exe = format!("/usr/bin/{}", args[0]);
    let process = Process {
        exe: exe.as_bytes(),
        args: args.iter().map(|a| a.as_bytes()).collect(),
        env: env.iter().map(|e| e.as_bytes()).collect(),
        env_index: Default::default(),
        cwd: Some(b"/srv/app"),
        euid: 0,
        libc: Default::default(),
    };
    decide(
        &process,
        &AllInstalled,
        Some(b"/opt/datadog-packages"),
        &Config::default(),
    )
    .outcome
}

#[test]
fn deny_list_examples_hold() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deny-list/deny-list.yaml"
    ))
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut checked = 0;
    for rule in doc["rules"].as_sequence().unwrap() {
        let id = rule["id"].as_str().unwrap();
        let examples = &rule["examples"];
        assert!(
            examples["deny"]
                .as_sequence()
                .is_some_and(|d| !d.is_empty()),
            "{id} has no deny examples"
        );
        for line in examples["deny"].as_sequence().unwrap() {
            let line = line.as_str().unwrap();
            match decision_for(line) {
                Outcome::Skipped(Reason::Rule { id: got, .. }) => assert_eq!(got, id, "{line}"),
                other => panic!("{line}: expected rule {id}, got {other:?}"),
            }
            checked += 1;
        }
        for line in examples["allow"].as_sequence().into_iter().flatten() {
            let line = line.as_str().unwrap();
            assert_eq!(decision_for(line), Outcome::Injected, "{line}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} examples");
}

#[test]
fn issue_cases_stay_injected() {
    for line in [
        "java -jar app.jar",
        "java -Dversion=-version -jar app.jar",
        "node server.js",
        "python3 app.py",
    ] {
        assert_eq!(decision_for(line), Outcome::Injected, "{line}");
    }
    assert_eq!(
        decision_for("notjava -version"),
        Outcome::Skipped(Reason::NotARuntime)
    );
}
