/*!
Object storage for eoforge: one [`Store`] type over local paths, `file://`, `s3://` and `memory://` URLs.

# Brief overview
- [`Store::open`] takes a URL or a plain path; keys are relative to it (`s3://bucket/prefix` + `a/b.tif`).
- Reads: [`Store::get`], [`Store::get_range`], [`Store::get_stream`]; metadata: [`Store::head`],
  [`Store::exists`], [`Store::list`].
- Writes are atomic ([`Store::put`], [`Store::put_stream`], [`Store::put_file`]): a reader sees the whole object
  or nothing. Large objects go up as multipart uploads completed only at the end and aborted on failure.
- [`Store::check_exist`] HEADs many keys concurrently and reports every missing one ([`ExistenceReport`]).
- S3 settings ([`StoreOptions`]) come from the standard AWS environment or explicitly: custom endpoint,
  path-style, region, retries with backoff, timeouts. Secrets are wrapped in [`Secret`] and never printed.
- [`UrlReader`] reads objects named by full URLs, opening each bucket or root once.
- [`copy`] copies one object or a whole prefix between any two stores, streaming large objects.
- Every [`Error`] names the full URL it concerns.

# Example
```
# async fn demo() -> eoforge_storage::Result<()> {
let store = eoforge_storage::Store::open("memory://example")?;
store.put("patches/a.bin", bytes::Bytes::from_static(b"hello")).await?;
assert_eq!(&store.get_range("patches/a.bin", 1..3).await?[..], b"el");
let report = store.check_exist(["patches/a.bin", "patches/b.bin"], 8).await?;
assert_eq!(report.missing, vec!["patches/b.bin".to_string()]);
# Ok(()) }
# tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
```
*/
#![deny(missing_docs)]

pub use crate::error::{Error, Result};
pub use crate::exists::ExistenceReport;
pub use crate::location::{Scheme, StoreUrl};
pub use crate::options::{RetryOptions, S3Options, Secret, StoreOptions};
pub use crate::store::{ObjectInfo, Store};
pub use crate::transfer::{CopySummary, copy};
pub use crate::url_reader::UrlReader;

mod error;
mod exists;
mod location;
mod options;
mod store;
mod transfer;
mod url_reader;
