//! Every example in `deny-list/deny-list.yaml` decides as its rule says.

use analyzer::{decide, Host, Outcome, Process, Reason};

/// A machine where every library package is installed.
struct AllInstalled;

impl Host for AllInstalled {
    fn is_file(&self, _: &[u8]) -> bool {
        true
    }
}

fn decision_for(line: &str) -> Outcome {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    let exe = format!("/usr/bin/{}", line.split_whitespace().next().unwrap());
    let process = Process {
        exe: exe.as_bytes(),
        args,
        env: vec![],
    };
    decide(&process, &AllInstalled, Some(b"/opt/datadog-packages")).outcome
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
