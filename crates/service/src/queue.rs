//! [`Queue`]: the request table in PostgreSQL — its schema and migrations, submitting, claiming with
//! `FOR UPDATE SKIP LOCKED` under a lease, keeping the lease alive, and recording how an attempt ended. Every
//! change of a claimed request is conditioned on the claim (worker and attempt), so a worker that lost its lease
//! never overwrites the result of the one that took the request over.

use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};

use crate::error::{Error, Result, redacted};
use crate::request::{NewRequest, Request, Status};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The migrations, in order: version N is applied to a database at version N − 1.
const MIGRATIONS: [(i32, &str); 1] = [(
    1,
    r"
CREATE TABLE eoforge_requests (
    id          bigserial PRIMARY KEY,
    aoi         jsonb NOT NULL,
    bbox        double precision[] NOT NULL CHECK (cardinality(bbox) = 4),
    date_from   date NOT NULL,
    date_to     date NOT NULL CHECK (date_to >= date_from),
    model       text,
    derivatives text[],
    priority    integer NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'published', 'rejected', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    worker      text,
    lease_until timestamptz,
    not_before  timestamptz NOT NULL DEFAULT now(),
    scene       text,
    products    jsonb,
    item        text,
    qc_report   jsonb,
    stage       text,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX eoforge_requests_claimable ON eoforge_requests (priority DESC, id)
    WHERE status IN ('pending', 'running');
CREATE INDEX eoforge_requests_status ON eoforge_requests (status);
",
)];

/// The columns of a [`Request`], as text where a type has no plain Rust form.
const COLUMNS: &str = "id, aoi::text AS aoi, bbox, date_from::text AS date_from, date_to::text AS date_to, model, \
    derivatives, priority, status, attempts, worker, scene, products::text AS products, item, \
    qc_report::text AS qc_report, stage, error, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at, \
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS started_at, \
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS finished_at";

/// A connection pool to the queue's database, with the runtime its statements run on.
#[derive(Debug)]
pub struct Queue {
    pool: PgPool,
    runtime: tokio::runtime::Runtime,
    database: String,
}

/// How a worker claims requests.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRules {
    /// The worker's name (host and process), recorded on the request.
    pub worker: String,
    /// How long a claim holds without being renewed: a dead worker's request is taken over after it.
    pub lease: Duration,
    /// Attempts after which a failing request (or one whose workers keep dying) is marked failed.
    pub max_attempts: i32,
    /// The worker's model name: it takes requests for this model or for none in particular.
    pub model: String,
    /// How long a failed attempt's request waits before it is tried again.
    pub retry_delay: Duration,
}

/// A request this worker holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The request as claimed (`attempts` counts this attempt).
    pub request: Request,
    /// The worker.
    pub worker: String,
}

/// What a published request records.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The STAC Item the product was made from.
    pub scene: String,
    /// The files published.
    pub products: Vec<String>,
    /// The product's STAC Item.
    pub item: String,
    /// The product's QC report.
    pub qc_report: serde_json::Value,
}

/// What became of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back to pending, to be tried again after the retry delay.
    Retried,
    /// No attempts left: failed.
    Failed,
    /// The claim was no longer this worker's (its lease ran out and another worker took the request).
    Lost,
}

/// Which schema versions `init` took the database from and to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (0: no queue).
    pub from: i32,
    /// The version now.
    pub to: i32,
}

impl Queue {
    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host:port/db`; `sslmode` and the
    /// other libpq parameters are understood). Nothing is read or created.
    pub fn connect(url: &str) -> Result<Self> {
        let database = redacted(url);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eoforge-queue")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let pool = runtime
            .block_on(PgPoolOptions::new().max_connections(4).acquire_timeout(Duration::from_secs(30)).connect(url))
            .map_err(|source| Error::Connect { database: database.clone(), source })?;
        Ok(Self { pool, runtime, database })
    }

    /// The database, its password hidden.
    pub fn database(&self) -> &str {
        &self.database
    }

    fn query_error(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
        move |source| Error::Query { database: self.database.clone(), what, source }
    }

    /// Creates the queue's tables, or migrates them to [`SCHEMA_VERSION`]; safe to run again and from several
    /// processes at once (an advisory lock serialises them). A database newer than this build is refused.
    pub fn init(&self) -> Result<Migrated> {
        self.runtime.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.query_error("begin the migration"))?;
            sqlx::query("SELECT pg_advisory_xact_lock(7306111163912)")
                .execute(&mut *tx)
                .await
                .map_err(self.query_error("lock the schema"))?;
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS eoforge_schema (version integer NOT NULL)")
                .execute(&mut *tx)
                .await
                .map_err(self.query_error("create eoforge_schema"))?;
            let from: i32 = sqlx::query("SELECT coalesce(max(version), 0) AS v FROM eoforge_schema")
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("v"))
                .map_err(self.query_error("read the schema version"))?;
            if from > SCHEMA_VERSION {
                return Err(self.newer(from));
            }
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
                tracing::info!(version, "migrating the queue schema");
                sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(self.query_error("apply a migration"))?;
            }
            if from < SCHEMA_VERSION {
                sqlx::query("DELETE FROM eoforge_schema")
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_error("record the schema version"))?;
                sqlx::query("INSERT INTO eoforge_schema (version) VALUES ($1)")
                    .bind(SCHEMA_VERSION)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_error("record the schema version"))?;
            }
            tx.commit().await.map_err(self.query_error("commit the migration"))?;
            Ok(Migrated { from, to: SCHEMA_VERSION })
        })
    }

    fn newer(&self, found: i32) -> Error {
        Error::Schema {
            database: self.database.clone(),
            reason: format!(
                "the queue schema is version {found}, newer than this eoforge's {SCHEMA_VERSION}: upgrade eoforge"
            ),
        }
    }

    /// Checks that the database holds a queue of this build's version (else: what to run).
    pub fn check_schema(&self) -> Result<()> {
        let found: Option<i32> = self.runtime.block_on(async {
            let exists: bool = sqlx::query("SELECT to_regclass('eoforge_schema') IS NOT NULL AS e")
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get("e"))
                .map_err(self.query_error("look for the queue"))?;
            if !exists {
                return Ok(None);
            }
            sqlx::query("SELECT max(version) AS v FROM eoforge_schema")
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get("v"))
                .map_err(self.query_error("read the schema version"))
        })?;
        match found {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(v) if v > SCHEMA_VERSION => Err(self.newer(v)),
            Some(v) => Err(Error::Schema {
                database: self.database.clone(),
                reason: format!(
                    "the queue schema is version {v}, older than {SCHEMA_VERSION}: run `eoforge-infer serve --init-db`"
                ),
            }),
            None => Err(Error::Schema {
                database: self.database.clone(),
                reason: "no request queue here: create it with `eoforge-infer serve --init-db`".into(),
            }),
        }
    }

    /// Adds a request; returns its id.
    pub fn submit(&self, request: &NewRequest) -> Result<i64> {
        self.runtime.block_on(async {
            sqlx::query(
                "INSERT INTO eoforge_requests (aoi, bbox, date_from, date_to, model, derivatives, priority) \
                 VALUES ($1::jsonb, $2, $3::date, $4::date, $5, $6, $7) RETURNING id",
            )
            .bind(request.aoi.geometry.to_string())
            .bind(request.aoi.bbox.to_vec())
            .bind(&request.dates.from)
            .bind(&request.dates.to)
            .bind(&request.model)
            .bind(&request.derivatives)
            .bind(request.priority)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("id"))
            .map_err(self.query_error("add the request"))
        })
    }

    /// Claims the next request (highest priority, then oldest) that is pending, or running under an expired lease
    /// (its worker died), for `rules.model`; `None` when there is none now. A running request whose lease expired
    /// on its last attempt is marked failed first.
    pub fn claim(&self, rules: &ClaimRules) -> Result<Option<Claim>> {
        let lease_s = rules.lease.as_secs_f64();
        self.runtime.block_on(async {
            sqlx::query(
                "UPDATE eoforge_requests SET status = 'failed', stage = 'worker', lease_until = NULL, \
                   finished_at = now(), updated_at = now(), \
                   error = 'attempt ' || attempts || ' of ' || $1 || ': the lease of ' || coalesce(worker, '?') || \
                     ' expired (the worker died or was killed)' \
                 WHERE status = 'running' AND lease_until < now() AND attempts >= $1",
            )
            .bind(rules.max_attempts)
            .execute(&self.pool)
            .await
            .map_err(self.query_error("fail requests whose workers died"))?;
            let sql = format!(
                "WITH next AS ( \
                   SELECT id FROM eoforge_requests \
                   WHERE not_before <= now() AND (model IS NULL OR model = $3) AND attempts < $4 \
                     AND (status = 'pending' OR (status = 'running' AND lease_until < now())) \
                   ORDER BY priority DESC, id LIMIT 1 \
                   FOR UPDATE SKIP LOCKED) \
                 UPDATE eoforge_requests r SET status = 'running', attempts = r.attempts + 1, worker = $1, \
                   lease_until = now() + make_interval(secs => $2), started_at = now(), updated_at = now(), \
                   error = CASE WHEN r.status = 'running' \
                     THEN 'the lease of ' || coalesce(r.worker, '?') || ' expired (the worker died or was killed)' \
                     ELSE r.error END \
                 FROM next WHERE r.id = next.id RETURNING {}",
                COLUMNS.replacen("id, ", "r.id, ", 1)
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&rules.worker)
                .bind(lease_s)
                .bind(&rules.model)
                .bind(rules.max_attempts)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.query_error("claim a request"))?;
            row.map(|row| {
                let request = request(&row).map_err(self.query_error("read the claimed request"))?;
                Ok(Claim { request, worker: rules.worker.clone() })
            })
            .transpose()
        })
    }

    /// Keeps `claim`'s lease alive (renewed every third of `lease`) until the returned guard is dropped.
    pub fn keep_alive(&self, claim: &Claim, lease: Duration) -> KeepAlive {
        let (pool, claim) = (self.pool.clone(), claim.clone());
        let task = self.runtime.spawn(async move {
            let every = (lease / 3).max(Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                match renew(&pool, &claim, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(
                            request = claim.request.id,
                            "the lease was lost: another worker took the request"
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(request = claim.request.id, error = %e, "cannot renew the lease; trying again");
                    }
                }
            }
        });
        KeepAlive(task)
    }

    /// Records `claim` as published; false when the claim was no longer this worker's.
    pub fn publish(&self, claim: &Claim, published: &Published) -> Result<bool> {
        let products = serde_json::Value::from(published.products.clone()).to_string();
        self.runtime.block_on(async {
            sqlx::query(
                "UPDATE eoforge_requests SET status = 'published', scene = $4, products = $5::jsonb, item = $6, \
                   qc_report = $7::jsonb, stage = NULL, error = NULL, lease_until = NULL, finished_at = now(), \
                   updated_at = now() \
                 WHERE id = $1 AND worker = $2 AND attempts = $3 AND status = 'running'",
            )
            .bind(claim.request.id)
            .bind(&claim.worker)
            .bind(claim.request.attempts)
            .bind(&published.scene)
            .bind(products)
            .bind(&published.item)
            .bind(published.qc_report.to_string())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(self.query_error("record a published request"))
        })
    }

    /// Records `claim` as rejected by QC (nothing published) with the report and the failed checks.
    pub fn reject(&self, claim: &Claim, scene: &str, qc_report: &serde_json::Value, failed: &str) -> Result<bool> {
        self.runtime.block_on(async {
            sqlx::query(
                "UPDATE eoforge_requests SET status = 'rejected', scene = $4, products = NULL, item = NULL, \
                   qc_report = $5::jsonb, stage = 'qc', error = $6, lease_until = NULL, finished_at = now(), \
                   updated_at = now() \
                 WHERE id = $1 AND worker = $2 AND attempts = $3 AND status = 'running'",
            )
            .bind(claim.request.id)
            .bind(&claim.worker)
            .bind(claim.request.attempts)
            .bind(scene)
            .bind(qc_report.to_string())
            .bind(failed)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(self.query_error("record a rejected request"))
        })
    }

    /// Records a failed attempt of `claim` at `stage`: back to pending after `rules.retry_delay`, or failed when it
    /// was the last of `rules.max_attempts`.
    pub fn fail(&self, claim: &Claim, stage: &str, error: &str, rules: &ClaimRules) -> Result<AfterFailure> {
        self.runtime.block_on(async {
            let row = sqlx::query(
                "UPDATE eoforge_requests SET \
                   status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END, \
                   not_before = now() + make_interval(secs => $5), stage = $6, error = $7, lease_until = NULL, \
                   finished_at = CASE WHEN attempts >= $4 THEN now() END, updated_at = now() \
                 WHERE id = $1 AND worker = $2 AND attempts = $3 AND status = 'running' RETURNING status",
            )
            .bind(claim.request.id)
            .bind(&claim.worker)
            .bind(claim.request.attempts)
            .bind(rules.max_attempts)
            .bind(rules.retry_delay.as_secs_f64())
            .bind(stage)
            .bind(error)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_error("record a failed attempt"))?;
            Ok(match row.map(|r| r.try_get::<String, _>("status")) {
                None => AfterFailure::Lost,
                Some(Ok(status)) if status == "failed" => AfterFailure::Failed,
                Some(_) => AfterFailure::Retried,
            })
        })
    }

    /// The requests, oldest first, optionally of one status.
    pub fn list(&self, status: Option<Status>) -> Result<Vec<Request>> {
        let sql = format!("SELECT {COLUMNS} FROM eoforge_requests WHERE $1::text IS NULL OR status = $1 ORDER BY id");
        self.runtime.block_on(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(status.map(Status::as_str))
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_error("list the requests"))?;
            rows.iter().map(|row| request(row).map_err(self.query_error("read a request"))).collect()
        })
    }

    /// One request.
    pub fn get(&self, id: i64) -> Result<Request> {
        let sql = format!("SELECT {COLUMNS} FROM eoforge_requests WHERE id = $1");
        self.runtime.block_on(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.query_error("read a request"))?;
            let row = row.ok_or(Error::Request { id, reason: "no such request".into() })?;
            request(&row).map_err(self.query_error("read a request"))
        })
    }

    /// Puts a published, rejected or failed request back in the queue with its attempts reset (a rerun: its
    /// product is made again unless the one published is current).
    pub fn retry(&self, id: i64) -> Result<()> {
        let current = self.get(id)?;
        if matches!(current.status, Status::Pending | Status::Running) {
            return Err(Error::Request {
                id,
                reason: format!("it is {}; only a finished request is retried", current.status),
            });
        }
        self.runtime.block_on(async {
            sqlx::query(
                "UPDATE eoforge_requests SET status = 'pending', attempts = 0, not_before = now(), worker = NULL, \
                   lease_until = NULL, stage = NULL, error = NULL, finished_at = NULL, updated_at = now() \
                 WHERE id = $1 AND status IN ('published', 'rejected', 'failed')",
            )
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.query_error("put a request back in the queue"))?;
            Ok(())
        })
    }
}

async fn renew(pool: &PgPool, claim: &Claim, lease: Duration) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE eoforge_requests SET lease_until = now() + make_interval(secs => $4), updated_at = now() \
         WHERE id = $1 AND worker = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(claim.request.id)
    .bind(&claim.worker)
    .bind(claim.request.attempts)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Renews a claim's lease while it lives; dropping it stops the renewals.
#[derive(Debug)]
pub struct KeepAlive(tokio::task::JoinHandle<()>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A row of [`COLUMNS`] as a [`Request`].
fn request(row: &PgRow) -> Result<Request, sqlx::Error> {
    let json = |column: &str| -> Result<Option<serde_json::Value>, sqlx::Error> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
    };
    let status: String = row.try_get("status")?;
    let status = status.parse::<Status>().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let products = json("products")?
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    Ok(Request {
        id: row.try_get("id")?,
        aoi: json("aoi")?.unwrap_or_default(),
        bbox: row.try_get("bbox")?,
        date_from: row.try_get("date_from")?,
        date_to: row.try_get("date_to")?,
        model: row.try_get("model")?,
        derivatives: row.try_get("derivatives")?,
        priority: row.try_get("priority")?,
        status,
        attempts: row.try_get("attempts")?,
        worker: row.try_get("worker")?,
        scene: row.try_get("scene")?,
        products,
        item: row.try_get("item")?,
        qc_report: json("qc_report")?,
        stage: row.try_get("stage")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
