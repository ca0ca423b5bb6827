//! [`WorkDir`]: where a product is written before it is checked and published — beside a local destination (so
//! publishing is a rename) or in the system's temporary folder — removed when dropped, and on SIGINT/SIGTERM.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use eoforge_storage::StoreUrl;

use crate::error::{Error, Result};

/// Working folders alive in this process, removed by the signal handler.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Set by [`finish_on_stop_signals`]: a stop request no longer abandons the product being written.
static FINISH_ON_STOP: AtomicBool = AtomicBool::new(false);

/// For a process that handles stop requests (SIGTERM, SIGUSR1, SIGUSR2) itself, finishing its current unit of work
/// before it stops (a queue worker): from now on only SIGINT removes the working folders and exits.
pub fn finish_on_stop_signals() {
    FINISH_ON_STOP.store(true, Ordering::SeqCst);
}

/// A working folder for one destination.
#[derive(Debug)]
pub struct WorkDir {
    dir: tempfile::TempDir,
}

impl WorkDir {
    /// A working folder for `dest` (path or URL). For a local destination it is `.<name>.eoforge-work-*` beside
    /// it, and folders of that name left by a killed run are removed first: one process owns a destination at a
    /// time.
    pub fn for_dest(dest: &str) -> Result<Self> {
        install_signal_cleanup();
        let io = |operation, path: &Path, source| Error::Io { operation, path: path.display().to_string(), source };
        let dir = match StoreUrl::parse(dest)?.local_path() {
            None => tempfile::Builder::new()
                .prefix("eoforge-work-")
                .tempdir()
                .map_err(|e| io("create a working folder in", &std::env::temp_dir(), e))?,
            Some(path) => {
                let parent = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                std::fs::create_dir_all(&parent).map_err(|e| io("create", &parent, e))?;
                let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                let prefix = format!(".{name}.eoforge-work-");
                for entry in std::fs::read_dir(&parent).map_err(|e| io("list", &parent, e))?.flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) && entry.path().is_dir() {
                        tracing::info!(path = %entry.path().display(), "removing the working folder of an interrupted run");
                        std::fs::remove_dir_all(entry.path()).map_err(|e| io("remove", &entry.path(), e))?;
                    }
                }
                tempfile::Builder::new()
                    .prefix(&prefix)
                    .tempdir_in(&parent)
                    .map_err(|e| io("create a working folder in", &parent, e))?
            }
        };
        if let Ok(mut live) = LIVE.lock() {
            live.insert(dir.path().to_owned());
        }
        Ok(Self { dir })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            live.remove(self.dir.path());
        }
    }
}

/// On SIGINT: remove every live working folder, then exit with 130 (128 + 2, as a shell reports it). On a stop
/// request (SIGTERM, SIGUSR1, SIGUSR2: a SLURM time limit or preemption) the same, then exit with
/// [`EXIT_STOPPED`](eoforge_profile::EXIT_STOPPED): the product being written is abandoned, those already
/// published stay, and a rerun skips them — unless [`finish_on_stop_signals`] was called. Installed once, by the first
/// working folder.
fn install_signal_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2]) else {
            tracing::warn!("cannot install the signal handler; working folders stay until the next run");
            return;
        };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if signal != SIGINT && FINISH_ON_STOP.load(Ordering::SeqCst) {
                    continue;
                }
                // The registry stays locked until the process exits: a run failing meanwhile (its files gone)
                // blocks in `WorkDir::drop` instead of reporting that failure as the outcome.
                let live = LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for folder in live.iter() {
                    let _ = std::fs::remove_dir_all(folder);
                }
                tracing::warn!(signal, "interrupted; working folders removed, nothing published");
                let code = if signal == SIGINT { 128 + SIGINT } else { i32::from(eoforge_profile::EXIT_STOPPED) };
                std::process::exit(code);
            }
        });
    });
}
