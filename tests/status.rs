//! `apm-inject status` tells which runtime processes are traced and why the others are not:
//! the launcher's decision and the tracer's own outcome, from the record each process keeps in
//! memory; runtimes started before the install are listed as needing a restart; other programs
//! are not listed.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{
    free_port, node_of_unknown_version, npm_node, tools_tempdir, wait_for,
};
use apm_inject_tests::{cli, private_host, pyenv, run, stdout, wait_until_asleep, Packages};
use serde_json::Value;
use std::path::Path;
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

/// `apm-inject status --json`.
fn status() -> Value {
    let out = run(Command::new(cli()).args(["status", "--json"]));
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The entry of process `pid` in a status document.
fn process(status: &Value, pid: u32) -> Option<Value> {
    status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
}

/// The summary's count for `state` and `reason`.
fn count(status: &Value, state: &str, reason: Option<&str>) -> u64 {
    let entry = status["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == state && s["reason"].as_str() == reason)
        .cloned();
    entry.map_or(0, |s| s["count"].as_u64().unwrap())
}

const SLEEP: &str = "import time; time.sleep(60)";

#[test]
fn status_lists_instrumented_and_skipped_processes() {
    let p = Packages::with_libraries();
    let injected = start(p.command("/usr/bin/python3").args(["-c", SLEEP]));
    let skipped = start(p.command("/usr/bin/python3").args(["-I", "-c", SLEEP]));
    let other = start(p.command("sleep").arg("60"));
    for running in [&injected, &skipped, &other] {
        wait_until_asleep(running.0.id());
    }
    let v = status();
    assert_eq!(v["schema_version"], 1);
    let a = process(&v, injected.0.id()).expect("instrumented python listed");
    assert_eq!(a["runtime"], "python");
    assert_eq!(a["launcher"]["outcome"], "injected");
    assert_eq!(
        a["command_line"],
        serde_json::json!(["/usr/bin/python3", "-c", SLEEP])
    );
    // The fixture package's entry point does not report: injected, outcome unknown.
    assert_eq!(
        (a["state"].as_str(), &a["tracer"]),
        (Some("injected"), &Value::Null)
    );
    assert!(a["launcher"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().starts_with("PYTHONPATH=")));
    let b = process(&v, skipped.0.id()).expect("skipped python listed");
    assert_eq!(
        (b["state"].as_str(), b["reason"].as_str()),
        (Some("skipped"), Some("python_ignores_environment"))
    );
    assert!(
        process(&v, other.0.id()).is_none(),
        "non-runtime processes have no record"
    );
    assert!(count(&v, "injected", None) >= 1);
    let text = stdout(&run(Command::new(cli()).arg("status")));
    assert!(
        text.contains(&injected.0.id().to_string())
            && text.contains("skipped (python_ignores_environment)"),
        "{text}"
    );
}

/// What the issue asks to see at a glance: a traced process, one whose tracer aborted (an
/// unsupported Python forced past the launcher's guardrails with `DD_INJECT_FORCE`), and one
/// the deny list kept out, side by side with the reasons, command lines and a summary.
#[test]
fn traced_aborted_and_denied_processes_side_by_side() {
    let p = Packages::with_tracers();
    let agent = format!("http://127.0.0.1:{}", free_port());
    let python = |program: &Path| {
        let mut cmd = p.command(program);
        cmd.env_remove("PYTHONPATH")
            .env_remove("DD_INJECT_FORCE")
            .env("DD_TRACE_AGENT_URL", &agent);
        cmd
    };
    let traced = start(python(Path::new("/usr/bin/python3")).args(["-c", SLEEP]));
    let aborted = start(
        python(&pyenv("3.8"))
            .args(["-c", SLEEP])
            .env("DD_INJECT_FORCE", "1"),
    );
    // A script named like pip: the default deny list keeps package managers out.
    let pip = p.dir.path().join("pip");
    std::fs::write(&pip, SLEEP).unwrap();
    let denied = start(python(Path::new("/usr/bin/python3")).arg(&pip));
    let settled = |pid: u32| {
        let v = status();
        let entry = process(&v, pid)?;
        (entry["state"] != "injected").then_some(v)
    };
    wait_for("the tracers' outcomes", || {
        settled(traced.0.id())?;
        settled(aborted.0.id())
    });
    let v = status();
    let entry = |child: &Running| process(&v, child.0.id()).unwrap();
    let t = entry(&traced);
    assert_eq!(
        (t["state"].as_str(), &t["reason"]),
        (Some("traced"), &Value::Null)
    );
    assert_eq!(t["tracer"]["outcome"], "complete");
    assert_eq!(t["tracer"]["version"], "4.16.0");
    let a = entry(&aborted);
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("aborted"), Some("incompatible_runtime"))
    );
    assert_eq!(a["launcher"]["outcome"], "injected");
    assert_eq!(a["tracer"]["reason"], "incompatible_runtime");
    let d = entry(&denied);
    assert_eq!(
        (d["state"].as_str(), d["reason"].as_str()),
        (Some("skipped"), Some("python_package_manager"))
    );
    assert_eq!(d["tracer"], Value::Null);
    assert_eq!(d["command_line"][1], pip.to_str().unwrap());
    for (state, reason) in [
        ("traced", None),
        ("aborted", Some("incompatible_runtime")),
        ("skipped", Some("python_package_manager")),
    ] {
        assert!(count(&v, state, reason) >= 1, "{state} {reason:?}: {v:#}");
    }
    let text = stdout(&run(Command::new(cli()).arg("status")));
    for line in [
        "traced",
        "aborted (incompatible_runtime)",
        "skipped (python_package_manager)",
    ] {
        assert!(
            text.lines()
                .any(|l| l.ends_with(line) && l.starts_with(char::is_numeric)),
            "summary line {line:?} in\n{text}"
        );
    }
    let row = |child: &Running| {
        let pid = child.0.id().to_string();
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&pid));
        row.unwrap_or_else(|| panic!("{pid} in\n{text}")).to_owned()
    };
    assert!(row(&traced).contains(" traced "), "{text}");
    assert!(row(&aborted).contains(" aborted ") && row(&aborted).contains("incompatible_runtime"));
    assert!(row(&denied).contains(&format!("/usr/bin/python3 {}", pip.display())));
}

/// Node.js processes show their tracer's outcome as Python's do: the package's bootstrap writes
/// it into the status record. Node.js 22 runs dd-trace 6, the machine's Node.js 20 dd-trace 5,
/// and a Node.js 16 whose version the launcher cannot read gets dd-trace 5, which aborts.
#[test]
fn node_processes_show_their_tracers_outcome() {
    let p = Packages::with_tracers();
    let agent = format!("http://127.0.0.1:{}", free_port());
    let dir = tools_tempdir();
    let node = |program: &Path| {
        let mut cmd = p.command(program);
        cmd.args(["-e", "setTimeout(() => {}, 60000)"])
            .env_remove("NODE_OPTIONS")
            .env_remove("DD_INJECT_FORCE")
            .env("DD_TRACE_AGENT_URL", &agent);
        start(&mut cmd)
    };
    let six = node(&npm_node(22));
    let five = node(Path::new("/usr/bin/node"));
    let aborted = node(&node_of_unknown_version(dir.path(), 16));
    let settled = |pid: u32| {
        let v = status();
        (process(&v, pid)?["state"] != "injected").then_some(())
    };
    wait_for("the Node.js tracers' outcomes", || {
        settled(six.0.id())?;
        settled(five.0.id())?;
        settled(aborted.0.id())
    });
    let v = status();
    let entry = |child: &Running| process(&v, child.0.id()).unwrap();
    for (child, version) in [(&six, "6.21.0"), (&five, "5.132.0")] {
        let e = entry(child);
        assert_eq!(
            (e["state"].as_str(), e["runtime"].as_str()),
            (Some("traced"), Some("node")),
            "{e:#}"
        );
        assert_eq!(e["tracer"]["outcome"], "complete");
        assert_eq!(e["tracer"]["version"], version);
    }
    let a = entry(&aborted);
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("aborted"), Some("incompatible_runtime")),
        "{a:#}"
    );
    assert_eq!(a["tracer"]["version"], "5.132.0");
}

/// A Python that started before the launcher was listed in `/etc/ld.so.preload` (in a private
/// mount namespace) is listed as needing a restart; one started after is not.
#[test]
fn runtimes_started_before_the_install_need_a_restart() {
    let p = Packages::with_libraries();
    let scratch = tempfile::tempdir().unwrap();
    let script = format!(
        r#"asleep() {{ until grep -qE '^(35|230) ' "/proc/$1/syscall" 2>/dev/null; do sleep 0.01; done; }}
        /usr/bin/python3 -c '{SLEEP}' & old=$!
        asleep $old
        # Start times are known to the second (btime): keep the install clearly later.
        sleep 1.2
        echo "$1" > /etc/ld.so.preload
        /usr/bin/python3 -c '{SLEEP}' & new=$!
        asleep $new
        echo "$old $new"
        "$2" status --json
        kill $old $new"#
    );
    let mut cmd = private_host(
        scratch.path(),
        &[
            "sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
            "sh".as_ref(),
            p.launcher.as_ref(),
            cli().as_ref(),
        ],
    );
    let out = run(cmd.env_remove("LD_PRELOAD"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let (pids, json) = text.split_once('\n').unwrap();
    let pids: Vec<u32> = pids.split(' ').map(|p| p.parse().unwrap()).collect();
    let v: Value = serde_json::from_str(json).unwrap();
    let old = process(&v, pids[0]).expect("the old python is listed");
    assert_eq!(
        (old["state"].as_str(), old["reason"].as_str()),
        (
            Some("restart_to_instrument"),
            Some("started_before_install")
        )
    );
    assert_eq!(
        (&old["launcher"], &old["tracer"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(old["runtime"], "python");
    let new = process(&v, pids[1]).expect("the new python is listed");
    assert_eq!(new["state"], "injected");
    assert!(count(&v, "restart_to_instrument", Some("started_before_install")) >= 1);
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
    let other = start(apm_inject_tests::as_nobody(&mut Command::new("sleep")).arg("60"));
    wait_until_asleep(other.0.id());
    let out = run(Command::new("setpriv")
        .args(["--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"])
        .arg(cli())
        .arg("status"));
    let text = stdout(&out);
    assert!(text.contains("could not be read (even as root"), "{text}");
    assert!(!text.contains("run as root"), "{text}");
}

#[test]
fn text_output_escapes_what_processes_supply() {
    // Any user's process chooses its arguments and environment: in root's terminal it stays
    // one row, its control characters escaped, so it can neither forge rows nor clear the
    // screen; `--json` keeps the exact strings.
    let p = Packages::with_libraries();
    let forged = "x\n1 forged_state\x1b[2J";
    let service = "shop\n\x1b[2J";
    let running = start(
        p.command("/usr/bin/python3")
            .args(["-c", SLEEP, forged])
            .env("DD_SERVICE", service),
    );
    let pid = running.0.id();
    wait_until_asleep(pid);
    let text = stdout(&run(Command::new(cli()).arg("status")));
    assert!(!text.contains('\x1b'), "{text:?}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("forged_state"))
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].trim_start().starts_with(&pid.to_string()), "{text}");
    assert!(rows[0].contains(r"x\n1 forged_state\u{1b}[2J"), "{text}");
    assert!(rows[0].contains(r"shop\n\u{1b}[2J"), "{text}");
    let v = status();
    let entry = process(&v, pid).expect("listed");
    assert_eq!(entry["command_line"][3], forged);
    assert_eq!(entry["service"], service);
}
