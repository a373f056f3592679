//! `apm-inject status` lists running processes the launcher decided on, from the record each
//! keeps in memory, and nothing for other programs.

use apm_inject_tests::{cli, run, stdout, Packages};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(cmd: &mut Command) -> Running {
    Running(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn status_lists_instrumented_and_skipped_processes() {
    let p = Packages::with_libraries();
    let sleep = "import time; time.sleep(60)";
    let injected = start(p.command("/usr/bin/python3").args(["-c", sleep]));
    let skipped = start(p.command("/usr/bin/python3").args(["-I", "-c", sleep]));
    let other = start(p.command("sleep").arg("60"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = run(Command::new(cli()).args(["status", "--json"]));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |pid: u32| {
        v["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pid"] == pid)
            .cloned()
    };
    let a = find(injected.0.id()).expect("instrumented python listed");
    assert_eq!(
        (a["runtime"].as_str(), a["outcome"].as_str()),
        (Some("python"), Some("injected"))
    );
    assert!(a["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().starts_with("PYTHONPATH=")));
    let b = find(skipped.0.id()).expect("skipped python listed");
    assert_eq!(
        (b["outcome"].as_str(), b["reason"].as_str()),
        (Some("skipped"), Some("python_ignores_environment"))
    );
    assert!(
        find(other.0.id()).is_none(),
        "non-runtime processes have no record"
    );
    assert!(v["summary"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["outcome"] == "injected" && s["count"].as_u64() >= Some(1)));
    let text = stdout(&run(Command::new(cli()).arg("status")));
    assert!(
        text.contains(&injected.0.id().to_string())
            && text.contains("skipped (python_ignores_environment)"),
        "{text}"
    );
}

#[test]
fn the_record_costs_no_open_descriptor() {
    let p = Packages::with_libraries();
    let out = run(p.command("/usr/bin/python3").args([
        "-c",
        "import os; print(sorted(os.listdir('/proc/self/fd')))",
    ]));
    let baseline = run(Command::new("/usr/bin/python3").args([
        "-c",
        "import os; print(sorted(os.listdir('/proc/self/fd')))",
    ]));
    assert_eq!(stdout(&out), stdout(&baseline));
}

#[test]
fn as_root_it_never_asks_to_run_as_root() {
    // A process of another user, which root cannot read without CAP_SYS_PTRACE.
    let _other = start(apm_inject_tests::as_nobody(&mut Command::new("sleep")).arg("60"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = run(Command::new("setpriv")
        .args(["--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"])
        .arg(cli())
        .arg("status"));
    let text = stdout(&out);
    assert!(text.contains("could not be read (even as root"), "{text}");
    assert!(!text.contains("run as root"), "{text}");
}
