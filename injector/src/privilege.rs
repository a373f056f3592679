//! Who may change the system: `install`, `uninstall` and `config apply` write files owned by
//! root under `/etc` and `/opt` (or a `--root` prefix), so they refuse to start as anyone else.

/// An error unless this process runs as root (effective uid 0); `command` names the refused
/// command, e.g. `install must run as root (…): run it with sudo`.
pub fn require_root(command: &str) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "{command} must run as root (it changes system files and installs files owned by root): \
             run it with sudo"
        ));
    }
    Ok(())
}
