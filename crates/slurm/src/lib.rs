/*!
eoforge on SLURM. A stage command — the same `eoforge-prep shard …`, `eoforge-train fit …` or `eoforge-infer
predict …` a user runs by hand — becomes a ready-to-submit sbatch script; stages chain into a pipeline with
`afterok` dependencies. The crate drives the real scheduler; it is not one.

- [`Pipeline`] (a TOML file or flags) → [`Pipeline::resolve`] checks it against the site's [`PartitionRule`]s →
  [`Resolved::emit`] writes `<stage>.sbatch`, `submit.sh` and `pipeline.json` into a pipeline folder.
- Each script pins its array task's part (`EOFORGE_SHARD=i/n`), forwards SLURM's time-limit signal to the stage as
  SIGTERM, records the task's outcome under `tasks/<stage>/`, and requeues a stage that stopped with
  [`EXIT_STOPPED`](eoforge_profile::EXIT_STOPPED) up to `requeue_on_stop` times.
- [`submit`] runs `sbatch --parsable` per stage and keeps the job ids in `jobs.json`; [`status`] reads the task
  records and `sacct` and says what to resubmit; [`merged_profile`] merges the tasks' figures.
- Secrets are passed by name, never by value: [`Resolved::emit`] refuses to write a file holding the value of a
  secret-looking variable of its environment.
*/
#![deny(missing_docs)]

mod error;
mod job;
mod merge;
mod pipeline;
mod rules;
mod script;
mod status;
mod submit;
mod time;

pub use crate::error::{Error, Result};
pub use crate::job::{Container, JobSpec, StopSignal};
pub use crate::merge::{PipelineProfile, StageProfile, TaskProfile, merged_profile, write_merged_profile};
pub use crate::pipeline::{ArraySpec, PIPELINE_JSON, Pipeline, Resolved, ResolvedStage, StageDef, load_rules};
pub use crate::rules::{GpuRule, PartitionRule};
pub use crate::script::{check_secrets, quote, secret_values};
pub use crate::status::{
    StageStatus, Status, TaskRecord, TaskStatus, parse_task_list, read_attempts, read_record, status, task_list,
};
pub use crate::submit::{JOBS_JSON, Submission, SubmitOptions, submissions, submit, wait};
pub use crate::time::parse_time;
