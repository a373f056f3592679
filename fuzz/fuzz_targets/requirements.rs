//! `requirements.json` as a library package ships it: the JSON reader and the guardrail
//! check against a process. Seeds: requirements files in the shape the tracers ship.
#![no_main]

use analyzer::process::{Libc, LibcFlavor};
use analyzer::{requirements, Process};
use deny_list::Subject;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = analyzer::json::parse(data);
    let args: Vec<&[u8]> = vec![b"java", b"-version"];
    let env: Vec<&[u8]> = vec![b"JAVA_HOME=/usr/lib/jvm/java-17", b"SOLR_PORT=8983"];
    for flavor in [LibcFlavor::Glibc, LibcFlavor::Musl] {
        let process = Process {
            exe: b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
            args: args.clone(),
            env: env.clone(),
            libc: Libc {
                flavor,
                version: Some((2, 36)),
            },
            ..Process::default()
        };
        let subject = Subject {
            runtime: "java",
            exe: process.exe,
            args: &args,
            options: &args[1..],
            env: &env,
            ..Subject::default()
        };
        let _ = requirements::check(data, &process, &subject);
    }
});
