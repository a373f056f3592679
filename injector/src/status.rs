//! `apm-inject status`: the running processes the launcher decided on, read from the record
//! each keeps in memory (format: `contract::status`): nothing is read from disk but `/proc`.

use crate::output::say;
use contract::status::{self, key};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

/// One process's record.
#[derive(Debug, Default)]
pub struct Record {
    /// Process id.
    pub pid: u32,
    /// Fields in order, e.g. `("outcome", "injected")`; `set`/`unset` repeat.
    pub fields: Vec<(String, String)>,
}

impl Record {
    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The service name: the one the launcher set, else the process's own `DD_SERVICE`.
    fn service(&self) -> String {
        let set = self.fields.iter().find_map(|(k, v)| {
            (k == key::SET)
                .then(|| v.strip_prefix("DD_SERVICE="))
                .flatten()
        });
        set.map(str::to_owned)
            .or_else(|| initial_variable(self.pid, "DD_SERVICE"))
            .unwrap_or_default()
    }

    /// Variables set (`NAME=value`) and unset (`-NAME`).
    fn changes(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter_map(|(k, v)| match k.as_str() {
                key::SET => Some(v.clone()),
                key::UNSET => Some(format!("-{v}")),
                _ => None,
            })
            .collect()
    }
}

/// A variable from the process's initial environment.
fn initial_variable(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ
        .split(|&c| c == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Parses a record's page; `None` if it is not one.
pub fn parse(pid: u32, page: &[u8]) -> Option<Record> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let fields = status::decode(page)?
        .into_iter()
        .map(|(k, v)| (text(k), text(v)))
        .collect();
    Some(Record { pid, fields })
}

/// The record of process `pid`, if it has one and it can be read.
fn read_record(pid: u32) -> Result<Option<Record>, std::io::Error> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mapping = format!("/memfd:{}", status::NAME.to_string_lossy());
    let Some(line) = maps.lines().find(|l| l.contains(&mapping)) else {
        return Ok(None);
    };
    let range = line.split(' ').next().unwrap_or_default();
    let (start, end) = range.split_once('-').unwrap_or_default();
    let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
    else {
        return Ok(None);
    };
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    mem.seek(SeekFrom::Start(start))?;
    let mut page = vec![0u8; (end - start).min(1 << 16) as usize];
    mem.read_exact(&mut page)?;
    Ok(parse(pid, &page))
}

/// All records readable on this machine, and how many processes could not be read.
pub fn scan() -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut unreadable = 0;
    let pids = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok());
    for pid in pids {
        match read_record(pid) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => unreadable += 1,
        }
    }
    records.sort_by_key(|r| r.pid);
    (records, unreadable)
}

/// Count of records per (outcome, reason).
fn summarize(records: &[Record]) -> BTreeMap<(String, String), usize> {
    let mut summary = BTreeMap::new();
    for r in records {
        *summary
            .entry((
                r.get(key::OUTCOME).to_string(),
                r.get(key::REASON).to_string(),
            ))
            .or_default() += 1;
    }
    summary
}

/// The machine's records as JSON (what `status --json` prints and `flare` keeps).
pub fn report() -> serde_json::Value {
    let (records, unreadable) = scan();
    let processes: Vec<_> = records
        .iter()
        .map(|r| {
            json!({"pid": r.pid, "exe": r.get(key::EXE), "runtime": r.get(key::RUNTIME), "outcome": r.get(key::OUTCOME),
                   "reason": r.get(key::REASON), "service": r.service(), "changes": r.changes()})
        })
        .collect();
    let summary: Vec<_> = summarize(&records)
        .iter()
        .map(|((o, r), n)| json!({"outcome": o, "reason": r, "count": n}))
        .collect();
    json!({"processes": processes, "summary": summary, "unreadable_processes": unreadable})
}

/// Prints the records and a summary line per outcome and reason.
pub fn run(json_output: bool) -> Result<(), String> {
    if json_output {
        say!("{:#}", report());
        return Ok(());
    }
    let (records, unreadable) = scan();
    let summary = summarize(&records);
    say!(
        "{:>7}  {:<8} {:<9} {:<28} {:<20} EXECUTABLE",
        "PID",
        "RUNTIME",
        "OUTCOME",
        "REASON",
        "SERVICE"
    );
    for r in &records {
        say!(
            "{:>7}  {:<8} {:<9} {:<28} {:<20} {}",
            r.pid,
            r.get(key::RUNTIME),
            r.get(key::OUTCOME),
            r.get(key::REASON),
            r.service(),
            r.get(key::EXE)
        );
        for change in r.changes() {
            say!("{:>9}{change}", "");
        }
    }
    say!();
    for ((outcome, reason), count) in &summary {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        };
        say!("{count} {outcome}{reason}");
    }
    if unreadable > 0 {
        say!("{unreadable} processes could not be read (run as root to see all)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record() {
        let text = b"apm-inject-status 1\nexe=/usr/bin/python3.11\nruntime=python\noutcome=injected\nreason=\nset=DD_SERVICE=shop\nunset=X\n\0\0";
        let r = parse(7, text).unwrap();
        assert_eq!(
            (r.get(key::RUNTIME), r.get(key::OUTCOME), r.service()),
            ("python", "injected", "shop".to_string())
        );
        assert_eq!(r.changes(), ["DD_SERVICE=shop", "-X"]);
        assert!(parse(7, b"something else\n").is_none());
    }
}
