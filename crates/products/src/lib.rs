/*!
Map products: from a working folder through QC to an atomic, idempotent publish.

# Brief overview
- [`WorkDir`]: where a product is written — beside a local destination, so publishing is a rename — removed when
  dropped and on SIGINT/SIGTERM; folders a killed run left are removed by the next run.
- [`ProductSet`]: a finished product and its derived maps; [`ProductSet::check_and_publish`] runs QC on each and
  publishes all of them (derived maps first, the product last) or none, with reports at `DEST.qc.json` (passing)
  or `DEST.rejected.qc.json` (rejected), the run's profile at `DEST.profile.json` and, once published, its STAC
  Item at `DEST.json` ([`product_item`]), added to a static collection when one is named ([`add_to_collection`]).
- [`publish_file`] publishes one checked file and records its options and content ([`ProductStamp`]);
  [`existing`] decides from that record whether a destination already holds a product ([`Existing`]): passing,
  unchanged since published (entity tag and size), made with the same options.
- [`Notifier`]: a [`Notice`] per run (published, rejected with the failed checks, failed with the stage and error)
  POSTed to Slack-compatible or plain JSON webhooks, retried, never fatal, URLs redacted.
- [`read_scene_list`] reads `SOURCE DEST` lists for many-scene runs; [`derived_dest`] names derived maps.
*/
#![deny(missing_docs)]

mod collection;
mod error;
mod naming;
mod notify;
mod preview;
mod publish;
mod record;
mod scenes;
mod stac;
mod stac_api;
mod work;

pub use crate::collection::add_to_collection;
pub use crate::error::{Error, Result};
pub use crate::naming::{derived_dest, product_stem, profile_key, published_files, rejected_report_key, report_key};
pub use crate::notify::{Delivery, Notice, Notifier, Verdict, Webhook, WebhookKind};
pub use crate::preview::preview_key;
pub use crate::publish::{Outcome, ProductSet, Published, publish_file};
pub use crate::record::{Existing, ProductStamp, existing, sha256_file};
pub use crate::scenes::{Scene, read_scene_list};
pub use crate::stac::{
    CLASSIFICATION_EXTENSION, COG_MEDIA_TYPE, ItemContext, ItemFile, STAC_EXTENSIONS, STAC_VERSION, item_key,
    product_item,
};
pub use crate::stac_api::publish_to_api;
pub use crate::work::{WorkDir, finish_on_stop_signals};
