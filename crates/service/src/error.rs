//! The queue's errors: each names the database (without its password) or the request it concerns.

/// What went wrong with the queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request, flag or value that cannot be used (exit 2 in the binary).
    #[error("{0}")]
    Usage(String),
    /// The database could not be reached or refused the login.
    #[error("cannot connect to the queue database {database}")]
    Connect {
        /// The database URL, its password replaced by `***`.
        database: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("queue database {database}: cannot {what}")]
    Query {
        /// The database URL, its password replaced by `***`.
        database: String,
        /// What the statement was for.
        what: &'static str,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The database holds no queue, or one of another version.
    #[error("queue database {database}: {reason}")]
    Schema {
        /// The database URL, its password replaced by `***`.
        database: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// No such request, or not in a state that allows the action.
    #[error("request {id}: {reason}")]
    Request {
        /// The request.
        id: i64,
        /// Why.
        reason: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `url` with its password (if any) replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            // Query parameters may carry a password too (`?password=`).
            if parsed.query().is_some_and(|q| q.to_ascii_lowercase().contains("password")) {
                parsed.set_query(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an unparsable database URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_never_shown() {
        let shown = super::redacted("postgres://eoforge:s3cr3t@db.example:5432/queue");
        assert_eq!(shown, "postgres://eoforge:***@db.example:5432/queue");
        assert!(!super::redacted("postgres://db/queue?user=a&password=s3cr3t").contains("s3cr3t"));
        assert!(!super::redacted("not a url s3cr3t").contains("s3cr3t"));
    }
}
