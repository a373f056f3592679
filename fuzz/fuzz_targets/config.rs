//! The compiled host configuration (`host_config.bin`) the library reads in every runtime
//! process, and its rules matched against a process. Seeds: files `apm-inject config apply`
//! compiled from sample configurations.
#![no_main]

use analyzer::Config;
use deny_list::Subject;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(config) = Config::parse(data) else {
        return;
    };
    assert!(config.time_budget_ms > 0);
    let args: Vec<&[u8]> = vec![b"python3", b"-m", b"app", b"--batch"];
    let env: Vec<&[u8]> = vec![b"STAGE=prod-eu", b"DD_SERVICE=svc"];
    for runtime in ["java", "node", "python", "ruby", "php", "dotnet"] {
        let subject = Subject {
            runtime,
            exe: b"/usr/bin/python3.11",
            args: &args,
            options: &[],
            module: Some(b"app"),
            env: &env,
            cwd: Some(b"/srv/batch/jobs"),
            ..Subject::default()
        };
        if let Some(rule) = deny_list::first_match(&config.rules, &subject) {
            assert!(deny_list::applies(&rule, &subject));
        }
    }
});
