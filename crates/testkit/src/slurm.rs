//! A real single-node SLURM cluster (`scripts/slurm.sh`: slurmctld, slurmd, munge, slurmdbd on a private MariaDB)
//! for the scale-out tests; stopped by pid on drop.

use std::path::PathBuf;
use std::process::Command;

/// A running cluster; its client commands need `SLURM_CONF` ([`SlurmCluster::command`] sets it).
pub struct SlurmCluster {
    parent: tempfile::TempDir,
}

impl SlurmCluster {
    /// Installs what is missing and starts the cluster, or returns `None` (skipping) where it cannot run (not
    /// root, no apt); with `EOFORGE_REQUIRE_SLURM=1` that is a failure. The daemons listen on fixed ports, so one
    /// cluster runs at a time per machine. Its folder lies inside one only root may enter (as `mktemp -d` makes
    /// them), where the daemons' own users (slurm, mysql) cannot reach: the script must cope, as on users' machines.
    pub fn start() -> Option<Self> {
        let parent = tempfile::Builder::new().prefix("eoforge-slurm-").tempdir().expect("temp dir for SLURM");
        let cluster = Self { parent };
        let script = crate::workspace_root().join("scripts/slurm.sh");
        let out =
            Command::new("bash").arg(&script).arg("up").arg(cluster.dir()).output().expect("run scripts/slurm.sh");
        if !out.status.success() {
            crate::skip_or_fail(
                "EOFORGE_REQUIRE_SLURM",
                &format!("no SLURM cluster: scripts/slurm.sh up failed: {}", String::from_utf8_lossy(&out.stderr)),
            );
            drop(cluster);
            return None;
        }
        Some(cluster)
    }

    /// The cluster's folder (`slurm.conf`, `log/`, and where the daemons' files are: `daemons`).
    pub fn dir(&self) -> PathBuf {
        self.parent.path().join("cluster")
    }

    /// The cluster's `slurm.conf`.
    pub fn conf(&self) -> PathBuf {
        self.dir().join("slurm.conf")
    }

    /// A SLURM client command (`sbatch`, `squeue`, `sacct`, `scancel` …) pointed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.conf());
        cmd
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let script = crate::workspace_root().join("scripts/slurm.sh");
        let _ = Command::new("bash").arg(script).arg("down").arg(self.dir()).status();
    }
}
