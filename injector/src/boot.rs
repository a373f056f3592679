//! `apm-inject boot`: what the systemd unit runs early at every boot ([`crate::integration`]),
//! before services start. It finishes or rolls back a change a power cut interrupted, then
//! proves the installed launcher: if it loads, `/etc/ld.so.preload` lists it (again, if
//! something took the entry out); if it does not (or no injector is installed), the entry goes,
//! so that no process at all is hurt, and the command fails to say so.

use crate::layout::{self, Root, INJECT_PACKAGE};
use crate::output::say;
use crate::package::Package;
use crate::privilege::require_root;
use crate::transaction::{self, Plan, Step, Transaction};
use crate::{loadcheck, preload_file, signals, system_file};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Re-asserts (or, for a launcher that no longer loads, removes) the entry in `root`.
pub fn run(root: &Path) -> Result<(), String> {
    require_root("boot")?;
    signals::defer();
    let root = Root::new(root)?;
    let mut tx = Transaction::begin(&root)?;
    let preload_path = root.ld_so_preload();
    let previous = match system_file::read(&preload_path) {
        Ok(previous) => previous,
        Err(e) => return Err(tx.abort(e)),
    };
    let entry = layout::stable_launcher();
    let inject = Package {
        dir: root.packages().join(INJECT_PACKAGE),
    };
    let proof = match inject.stable_version() {
        Some(_) => loadcheck::prove(&root, &entry),
        None => Err(format!("no {INJECT_PACKAGE} is installed")),
    };
    let current = previous.as_deref().unwrap_or_default();
    let wanted = match &proof {
        Ok(_) => Some(preload_file::with_entry(
            current,
            entry.as_os_str().as_bytes(),
        )),
        Err(_) if previous.is_none() => None,
        Err(_) => preload_file::without_ours(current),
    };
    let mut plan = Plan::default();
    if wanted != previous {
        plan.steps.push(Step::File {
            path: root.inside(&preload_path),
            existed: previous.is_some(),
            content: wanted,
        });
    }
    let changed = !plan.steps.is_empty();
    let result = tx
        .plan("boot", plan)
        .and_then(|()| tx.apply())
        .and_then(|()| tx.commit());
    if let Err(e) = result {
        return Err(tx.abort(e));
    }
    tx.finish()?;
    transaction::note_late_signal();
    let shown = preload_path.display();
    match proof {
        Ok(proof) => {
            say!("launcher checked: {proof}");
            match changed {
                true => say!("{shown}: lists {} again", entry.display()),
                false => say!("{shown}: lists {}", entry.display()),
            }
            Ok(())
        }
        Err(e) if changed => Err(format!(
            "{e}\n{shown}: launcher entry removed, so that no process preloads it"
        )),
        Err(e) => Err(format!("{e}\n{shown}: has no launcher entry")),
    }
}
