//! The SLURM crate's error type: every variant names the file, stage, flag or variable it concerns.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure to emit, submit or read a pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pipeline file or flag is invalid (unknown key, bad value, contradiction).
    #[error("{origin}: {message}")]
    Config {
        /// The file (with its stage) or the flag.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A stage asks its partition for something the site's rules refuse.
    #[error("stage `{stage}`: partition `{partition}`: {message}")]
    Rule {
        /// The stage.
        stage: String,
        /// The partition.
        partition: String,
        /// The rule broken.
        message: String,
    },
    /// A secret's value would have been written into a file.
    #[error(
        "{file}: would contain the value of `{variable}`; pass secrets by name (pass_env, env_file), never by value"
    )]
    Secret {
        /// The file (or the stage argument) concerned.
        file: String,
        /// The variable whose value was found.
        variable: String,
    },
    /// A SLURM command failed or could not run.
    #[error("`{command}` failed: {message}")]
    Slurm {
        /// The command line.
        command: String,
        /// Its stderr, or why it could not start.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {operation} `{path}`")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file the crate wrote earlier does not parse.
    #[error("`{path}`: {message}")]
    Record {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(operation: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| Error::Io { operation, path, source }
    }

    pub(crate) fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { origin: origin.into(), message: message.into() }
    }
}
