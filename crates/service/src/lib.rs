//! The eoforge request queue on PostgreSQL: imagery requests (an area, days, optionally a model and derived maps)
//! in one table ([`Queue`]), claimed by workers with `SELECT … FOR UPDATE SKIP LOCKED` under a renewed lease, so
//! workers on several nodes never take the same request and a dead worker's request goes back to the queue.
//! [`serve`] runs each claimed request as STAC search → predict over the area → derived maps → QC → publish →
//! STAC Item → the row marked published, in that order; a QC failure marks it rejected with the report, other
//! failures are retried until the attempts run out. See `docs/service.md`.

mod error;
mod queue;
mod request;
mod worker;

pub use crate::error::{Error, Result, redacted};
pub use crate::queue::{AfterFailure, Claim, ClaimRules, KeepAlive, Migrated, Published, Queue, SCHEMA_VERSION};
pub use crate::request::{Aoi, DateRange, NewRequest, Request, Status};
pub use crate::worker::{ServiceEvent, ServiceOptions, Summary, serve, worker_name};
