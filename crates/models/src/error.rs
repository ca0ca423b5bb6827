//! The configuration error type.

/// Result alias for model configuration.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A model configuration that cannot be built, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model configuration: `{field}` {reason}")]
pub struct ConfigError {
    /// The config field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}
