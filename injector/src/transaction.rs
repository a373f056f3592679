//! A change to a root (`install`, `uninstall`) as one transaction: after it, the packages,
//! `/etc/ld.so.preload` and the other files it manages are either all as they were or all as
//! asked, whatever happens (an error, a signal, a closed pipe, `SIGKILL`, a power cut).
//!
//! 1. [`Transaction::begin`] takes the root's lock ([`crate::lock`]), finishes whatever an
//!    interrupted run left (see below) and removes leftovers ([`leftovers`]).
//! 2. [`Transaction::plan`] writes the journal, `<root>/etc/.apm-inject-transaction`: the
//!    steps to apply, each with what is needed to undo it, the directories the change creates
//!    and what to remove once it is committed. The journal is written atomically and durably
//!    each time it changes.
//! 3. The caller prepares (copies, proves), then applies the steps one by one
//!    ([`Transaction::apply`]); nothing it does before the commit point is beyond undoing.
//! 4. [`Transaction::commit`] marks the journal committed: the commit point.
//! 5. [`Transaction::finish`] removes what the change made unused (previous versions, backups),
//!    then the journal.
//!
//! Any error or terminating signal before the commit point rolls back ([`Transaction::abort`]):
//! steps are undone in reverse order, each undo looking at what is actually there, so that it
//! is right whether its step was applied, half applied or not at all, and can be run again.
//! After the commit point, the change is finished instead. A run that was killed leaves its
//! journal: the next `install` or `uninstall` rolls it back (not committed) or finishes it
//! (committed) before doing anything else, and `doctor` reports it until then.
//!
//! New kinds of change join by adding a [`Step`] with its apply and undo.

use crate::errors;
use crate::layout::Root;
use crate::lock::{self, Lock};
use crate::output::{say, say_err};
use crate::package;
use crate::{signals, system_file, tree};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The journal, inside the root.
const JOURNAL: &str = "/etc/.apm-inject-transaction";
/// Largest journal read.
const MAX_JOURNAL: u64 = 16 << 20;

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Steps planned, not all of them applied: an interruption rolls back.
    Planned,
    /// Every step applied and durable: an interruption finishes the clean-up.
    Committed,
}

/// One change, with what is needed to undo it. Paths are as seen inside the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A package version put in place from its staging copy and `stable` pointed at it.
    Package {
        /// The package directory, e.g. `/opt/datadog-packages/datadog-apm-library-js`.
        package: PathBuf,
        /// The version installed.
        version: String,
        /// The version `stable` named before, if any.
        previous: Option<String>,
        /// A copy of the same version was there: the two are exchanged.
        replaces: bool,
        /// Inode of the staged copy once complete: tells which copy is which after an
        /// exchange.
        staged_inode: Option<u64>,
    },
    /// A system file given new content, or removed; its previous content is kept beside it
    /// (`<file>.apm-inject-backup`) until the commit.
    File {
        /// The file, e.g. `/etc/ld.so.preload`.
        path: PathBuf,
        /// Whether it existed before.
        existed: bool,
        /// Its new content; `None` removes it.
        content: Option<Vec<u8>>,
    },
    /// A symbolic link created (never over an existing file).
    Link {
        /// The link, e.g. `/usr/bin/apm-inject`.
        path: PathBuf,
        /// What it points to.
        target: PathBuf,
    },
    /// A symbolic link of ours removed.
    Unlink {
        /// The link.
        path: PathBuf,
        /// What it pointed to.
        target: PathBuf,
    },
}

/// The journal's content.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// `install` or `uninstall`.
    operation: String,
    /// The process that wrote it.
    pid: u32,
    state: State,
    steps: Vec<Step>,
    /// Directories the change creates, parents first: removed by a rollback if empty.
    created: Vec<PathBuf>,
    /// Trees to remove once committed.
    remove: Vec<PathBuf>,
    /// Directories to remove once committed, if empty.
    prune: Vec<PathBuf>,
}

/// A change in progress; holds the root's lock.
pub struct Transaction<'r> {
    root: &'r Root,
    journal: Option<Journal>,
    _lock: Lock,
}

/// What a transaction will do, for [`Transaction::plan`].
#[derive(Default)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Directories it creates, parents first.
    pub created: Vec<PathBuf>,
    /// Trees to remove once committed.
    pub remove: Vec<PathBuf>,
    /// Directories to remove once committed, if empty.
    pub prune: Vec<PathBuf>,
}

impl<'r> Transaction<'r> {
    /// Locks `root` and finishes or rolls back what an interrupted run left.
    pub fn begin(root: &'r Root) -> Result<Transaction<'r>, String> {
        let lock = lock::exclusive(root)?;
        let tx = Transaction {
            root,
            journal: None,
            _lock: lock,
        };
        tx.recover()?;
        Ok(tx)
    }

    /// Finishes or rolls back an interrupted transaction, then removes leftovers.
    fn recover(&self) -> Result<(), String> {
        if let Some(journal) = read_journal(self.root)? {
            let action = match journal.state {
                State::Planned => "rolling back",
                State::Committed => "finishing",
            };
            say!(
                "{action} an interrupted {} (pid {})",
                journal.operation,
                journal.pid
            );
            match journal.state {
                State::Planned => self.undo(&journal)?,
                State::Committed => self.clean_up(&journal)?,
            }
            remove_journal(self.root)?;
        }
        for path in leftovers(self.root) {
            remove_any(&path)?;
            say!("removed {} (left by an interrupted run)", path.display());
        }
        Ok(())
    }

    /// Records `plan` in the journal; from now on an interruption rolls it back.
    pub fn plan(&mut self, operation: &str, plan: Plan) -> Result<(), String> {
        for path in plan
            .steps
            .iter()
            .flat_map(Step::paths)
            .chain(&plan.created)
            .chain(&plan.remove)
            .chain(&plan.prune)
        {
            check_inside(path)?;
        }
        self.journal = Some(Journal {
            operation: operation.into(),
            pid: std::process::id(),
            state: State::Planned,
            steps: plan.steps,
            created: plan.created,
            remove: plan.remove,
            prune: plan.prune,
        });
        self.save()
    }

    /// The planned steps, e.g. to record what preparing them found.
    pub fn steps_mut(&mut self) -> &mut [Step] {
        &mut self.journal.as_mut().expect("planned").steps
    }

    /// Saves the journal after [`Transaction::steps_mut`].
    pub fn save(&self) -> Result<(), String> {
        let journal = self.journal.as_ref().expect("planned");
        let text = serde_json::to_vec_pretty(journal).expect("serialisable");
        system_file::write_durably(&self.root.path(Path::new(JOURNAL)), &text)
    }

    /// A point where the change may stop: an error if a terminating signal is pending.
    pub fn checkpoint(&self) -> Result<(), String> {
        match signals::checkpoint() {
            Some(signal) => Err(format!("interrupted by {}", signals::name(signal))),
            None => Ok(()),
        }
    }

    /// Applies every planned step, in order, with a checkpoint after each.
    pub fn apply(&self) -> Result<(), String> {
        let journal = self.journal.as_ref().expect("planned");
        for step in &journal.steps {
            step.apply(self.root)?;
            self.checkpoint()?;
        }
        Ok(())
    }

    /// The commit point: marks the journal committed.
    pub fn commit(&mut self) -> Result<(), String> {
        self.journal.as_mut().expect("planned").state = State::Committed;
        self.save()
    }

    /// After the commit: removes what the change made unused, then the journal. A failure
    /// here leaves the journal for the next run to finish.
    pub fn finish(self) -> Result<(), String> {
        let journal = self.journal.as_ref().expect("planned");
        self.clean_up(journal)
            .map_err(|e| format!("the change is done, but cleaning up failed: {e}; run the same command again to finish"))?;
        remove_journal(self.root)
    }

    /// Rolls back after `error` (or a terminating signal) before the commit point; returns the
    /// message to report.
    pub fn abort(self, error: String) -> String {
        let Some(journal) = &self.journal else {
            return format!("{error}\nnothing was changed");
        };
        match self.undo(journal).and_then(|()| remove_journal(self.root)) {
            Ok(()) => format!("{error}\nrolled back: nothing was changed"),
            Err(e) => format!(
                "{error}\nrolling back failed too: {e}\nrun `apm-inject install` or `apm-inject uninstall` to finish"
            ),
        }
    }

    /// Undoes every step, last first, then removes the directories the change created.
    fn undo(&self, journal: &Journal) -> Result<(), String> {
        for step in journal.steps.iter().rev() {
            step.undo(self.root)?;
        }
        for dir in journal.created.iter().rev() {
            let _ = std::fs::remove_dir(self.root.path(dir));
        }
        Ok(())
    }

    /// Removes what a committed change made unused: the backups first, so that a run killed
    /// meanwhile never leaves a backup naming a launcher already removed (restored by hand, it
    /// would make every program print "cannot be preloaded"). A terminating signal meanwhile
    /// waits for the end (the checkpoints here only count, for the test hook).
    fn clean_up(&self, journal: &Journal) -> Result<(), String> {
        signals::checkpoint();
        for step in &journal.steps {
            if let Step::File { path, .. } = step {
                remove_any(&system_file::backup(&self.root.path(path)))?;
            }
        }
        for path in &journal.remove {
            let path = self.root.path(path);
            remove_any(&path)?;
            say!("removed {}", path.display());
            signals::checkpoint();
        }
        for dir in &journal.prune {
            let _ = std::fs::remove_dir(self.root.path(dir));
        }
        Ok(())
    }
}

impl Step {
    /// Every path the step names.
    fn paths(&self) -> Vec<&PathBuf> {
        match self {
            Step::Package { package, .. } => vec![package],
            Step::File { path, .. } => vec![path],
            Step::Link { path, target } | Step::Unlink { path, target } => vec![path, target],
        }
    }

    fn apply(&self, root: &Root) -> Result<(), String> {
        match self {
            Step::Package {
                package,
                version,
                replaces,
                ..
            } => package::switch(&root.path(package), version, *replaces),
            Step::File {
                path,
                existed,
                content,
            } => {
                let path = root.path(path);
                let previous = system_file::read(&path)?;
                if previous.is_some() != *existed {
                    return Err(format!("{} changed meanwhile", path.display()));
                }
                system_file::replace(&path, previous.as_deref(), content.as_deref())
            }
            Step::Link { path, target } => {
                let path = root.path(path);
                tree::create_dir_all(tree::parent_dir(&path))?;
                std::os::unix::fs::symlink(target, &path).map_err(errors::io("create", &path))?;
                tree::sync_dir(tree::parent_dir(&path))
            }
            Step::Unlink { path, target } => {
                let path = root.path(path);
                if std::fs::read_link(&path).ok().as_ref() == Some(target) {
                    std::fs::remove_file(&path).map_err(errors::io("remove", &path))?;
                }
                tree::sync_dir(tree::parent_dir(&path))
            }
        }
    }

    /// Undoes the step, whether it was applied, partly applied or not at all.
    fn undo(&self, root: &Root) -> Result<(), String> {
        match self {
            Step::Package {
                package,
                version,
                previous,
                replaces,
                staged_inode,
            } => package::unswitch(
                &root.path(package),
                version,
                previous.as_deref(),
                *replaces,
                *staged_inode,
            ),
            Step::File { path, existed, .. } => {
                let path = root.path(path);
                let backup = system_file::backup(&path);
                if *existed {
                    if std::fs::symlink_metadata(&backup).is_ok() {
                        std::fs::rename(&backup, &path).map_err(errors::io("restore", &path))?;
                    }
                } else {
                    remove_any(&path)?;
                }
                tree::sync_dir(tree::parent_dir(&path))
            }
            Step::Link { path, target } => {
                let path = root.path(path);
                if std::fs::read_link(&path).ok().as_ref() == Some(target) {
                    std::fs::remove_file(&path).map_err(errors::io("remove", &path))?;
                }
                Ok(())
            }
            Step::Unlink { path, target } => {
                let path = root.path(path);
                if std::fs::symlink_metadata(&path).is_err() {
                    std::os::unix::fs::symlink(target, &path)
                        .map_err(errors::io("restore", &path))?;
                }
                Ok(())
            }
        }
    }
}

/// The interrupted transaction's operation and pid, if a journal is there.
pub fn interrupted(root: &Root) -> Result<Option<(String, u32, State)>, String> {
    Ok(read_journal(root)?.map(|j| (j.operation, j.pid, j.state)))
}

/// Files a change leaves only when it is interrupted, outside its journal: staging copies and
/// temporary links in the packages, temporary and backup files beside `/etc/ld.so.preload`.
pub fn leftovers(root: &Root) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for package in root.our_packages().unwrap_or_default() {
        let Ok(entries) = std::fs::read_dir(&package) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if package::is_temporary_name(&name) {
                found.push(entry.path());
            }
        }
    }
    let preload = root.ld_so_preload();
    let etc = tree::parent_dir(&preload);
    let name = preload
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    if let Ok(entries) = std::fs::read_dir(etc) {
        for entry in entries.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            let temporary = system_file::is_temporary_name(&file);
            if temporary || *file == format!("{name}{}", system_file::BACKUP_SUFFIX) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

fn read_journal(root: &Root) -> Result<Option<Journal>, String> {
    let path = root.path(Path::new(JOURNAL));
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(errors::io("inspect", &path))?,
    };
    if !meta.is_file() || meta.uid() != 0 || meta.len() > MAX_JOURNAL {
        return Err(format!(
            "{} is not a journal of apm-inject (a regular file owned by root): move it away",
            path.display()
        ));
    }
    let text = std::fs::read(&path).map_err(errors::io("read", &path))?;
    let journal: Journal = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{} cannot be read ({e}): an interrupted change cannot be finished; move it away, \
             then run `apm-inject install` or `uninstall` again",
            path.display()
        )
    })?;
    for step in &journal.steps {
        for path in step.paths() {
            check_inside(path)?;
        }
    }
    for path in journal
        .created
        .iter()
        .chain(&journal.remove)
        .chain(&journal.prune)
    {
        check_inside(path)?;
    }
    Ok(Some(journal))
}

fn remove_journal(root: &Root) -> Result<(), String> {
    let path = root.path(Path::new(JOURNAL));
    remove_any(&path)?;
    tree::sync_dir(tree::parent_dir(&path))
}

/// Journal paths are absolute and plain (no `..`): whatever a journal says, it only touches
/// the root.
fn check_inside(path: &Path) -> Result<(), String> {
    let mut components = path.components();
    let plain = components.next() == Some(Component::RootDir)
        && components.all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!("invalid path in the journal: {}", path.display()))
    }
}

/// Removes the file, link or directory tree at `path`; nothing to do if it is missing.
fn remove_any(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot inspect {}: {e}", path.display())),
        Ok(meta) if meta.is_dir() => tree::remove(path),
        Ok(_) => match std::fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(errors::io("remove", path)),
        },
    }
}

/// Reports a signal that arrived after the commit point, once the change is finished.
pub fn note_late_signal() {
    if let Some(signal) = signals::pending() {
        say_err!(
            "apm-inject: {} arrived after the change was committed: it was finished first",
            signals::name(signal)
        );
        signals::die_by(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_paths_stay_inside_the_root() {
        assert!(check_inside(Path::new("/opt/datadog-packages/x")).is_ok());
        for bad in ["opt/x", "/opt/../etc", "../etc", ""] {
            assert!(check_inside(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn steps_round_trip_through_the_journal() {
        let journal = Journal {
            operation: "install".into(),
            pid: 7,
            state: State::Planned,
            steps: vec![
                Step::Package {
                    package: "/opt/datadog-packages/datadog-apm-inject".into(),
                    version: "1.0".into(),
                    previous: None,
                    replaces: false,
                    staged_inode: Some(12),
                },
                Step::File {
                    path: "/etc/ld.so.preload".into(),
                    existed: true,
                    content: Some(b"/a.so\n".to_vec()),
                },
            ],
            created: vec!["/opt".into()],
            remove: vec![],
            prune: vec![],
        };
        let text = serde_json::to_string(&journal).unwrap();
        let back: Journal = serde_json::from_str(&text).unwrap();
        assert_eq!(back.steps, journal.steps);
        assert_eq!(back.state, State::Planned);
    }
}
