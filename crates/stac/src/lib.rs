/*!
STAC in: a STAC Item's assets as one scene.

- [`StacItem`]: an Item read from a path, `file://` or `s3://` URL; [`StacItem::bands`] picks assets by key or by
  `eo:bands` name/common name (`blue,green,red,nir`) with each asset's `raster:bands` nodata, scale and offset;
  [`StacItem::scene`] stacks them into a VRT ([`eoforge_raster::stack_bands`]) that reads the COGs in place.
- [`search_scene`]: the Item of a day for an MGRS tile or a box from a STAC API (`POST /search`, CQL2 filter on
  `grid:code` and `eo:cloud_cover`, checked again on the answer), picked by a stated rule ([`SceneQuery::index`]).
- Asset hrefs: relative ones are resolved against the item's location, `http(s)://` ones read through GDAL's
  `/vsicurl/`, `s3://` ones through the store settings.
*/
#![deny(missing_docs)]

mod error;
mod item;
mod search;

pub use crate::error::{Error, Result};
pub use crate::item::{ItemScene, StacItem};
pub use crate::search::{SceneQuery, iso_day, search_scene};
