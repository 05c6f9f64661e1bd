//! Full disks. On a full disk under `tallies.redb` the tally database fails its write, and redb
//! then refuses every later one until the database is opened again ("Previous I/O error"), so a
//! node kept acknowledging votes it could not apply until somebody restarted it. A full disk
//! under the bundled broker made every vote a 503 "Unknown broker error" while `/healthz` said
//! 200 and nothing was logged.
//!
//! So the health probe also watches the free space where the node writes ([`Watched`]): below
//! [`FULL_BELOW`] it reports the disk full, on `/healthz` (503 with the reason) and in the log,
//! and votes are refused with 503 instead of acknowledged. When space is back and the tally
//! consumer still cannot write (redb's latch), `serve` starts itself again in place
//! ([`restart_in_place`]): the same process id, arguments and port, the bundled broker kept
//! (it is serve's and taken over), tallies and offsets reloaded from the last commit, so every
//! acknowledged vote is applied exactly once. See docs/operations.md "A full disk".

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Free space under which a disk counts as full.
pub const FULL_BELOW: u64 = 1 << 20;
/// Free space a disk needs again before a wedged tally database is reopened.
pub const FREE_AGAIN: u64 = 8 << 20;

/// Whether this process may start itself again in place (only `livepoll serve` itself, never a
/// server embedded in tests or tools).
static RESTART_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Lets [`restart_in_place`] run: called by the `serve` command.
pub fn allow_restart_in_place() {
    RESTART_ALLOWED.store(true, Ordering::Relaxed);
}

/// The places the node writes to, with what each holds (for the messages).
#[derive(Debug, Clone, Default)]
pub struct Watched(pub Vec<(PathBuf, &'static str)>);

impl Watched {
    /// The first watched place whose disk has less than `below` bytes free, as a reason.
    pub fn short_of(&self, below: u64) -> Option<String> {
        self.0.iter().find_map(|(dir, what)| {
            let free = free_bytes(dir)?;
            (free < below).then(|| {
                format!(
                    "the disk under {} ({what}) is full: {} KiB free; free some space (the node \
                     recovers by itself)",
                    dir.display(),
                    free / 1024
                )
            })
        })
    }
}

/// Bytes an unprivileged process may still write on the filesystem holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; `path` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Replaces this process with a fresh `serve` (same executable, arguments, environment and
/// process id), if allowed; returns only if it is not allowed or the exec failed.
pub fn restart_in_place(why: &str) {
    if !RESTART_ALLOWED.load(Ordering::Relaxed) {
        tracing::error!("{why}; restart serve to recover");
        return;
    }
    tracing::warn!("{why}: serve starts again in place to reopen it");
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        tracing::error!("cannot find serve's own executable to start it again; restart it");
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    tracing::error!("starting serve again failed: {err}; restart it");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_and_a_full_disk_is_named_with_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).is_some());
        let watched = Watched(vec![(dir.path().to_path_buf(), "the tally database")]);
        assert_eq!(watched.short_of(0), None);
        let full = watched.short_of(u64::MAX).unwrap();
        assert!(
            full.contains("the tally database") && full.contains("is full"),
            "{full}"
        );
        assert_eq!(free_bytes(std::path::Path::new("/no/such/dir")), None);
    }
}
