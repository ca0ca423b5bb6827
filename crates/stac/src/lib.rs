/*!
STAC in: a STAC Item's assets as one scene.

- [`StacItem`]: an Item read from a path, `file://` or `s3://` URL; [`StacItem::bands`] picks assets by key or by
  `eo:bands` name/common name (`blue,green,red,nir`) with each asset's `raster:bands` nodata, scale and offset;
  [`StacItem::scene`] stacks them into a VRT ([`eoforge_raster::stack_bands`]) that reads the COGs in place.
- Asset hrefs: relative ones are resolved against the item's location, `http(s)://` ones read through GDAL's
  `/vsicurl/`, `s3://` ones through the store settings.
*/
#![deny(missing_docs)]

mod error;
mod item;

pub use crate::error::{Error, Result};
pub use crate::item::{ItemScene, StacItem};
