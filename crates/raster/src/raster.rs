//! [`Raster`]: an open GDAL dataset with its metadata and windowed, optionally resampled reads into ndarray.

use std::path::Path;
use std::sync::Once;

use gdal::raster::{RasterBand, ResampleAlg};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags, Metadata};
use ndarray::{Array3, Axis};

use eoforge_storage::StoreOptions;

use crate::crs::Crs;
use crate::dtype::{DataType, Pixel};
use crate::error::{Error, Result};
use crate::geo::{Bounds, GeoTransform, Grid, Window};

/// How pixels are interpolated when a read changes resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resampling {
    /// Nearest neighbour: exact source values (labels, masks).
    #[default]
    Nearest,
    /// Bilinear interpolation of the 2x2 neighbourhood (continuous bands, upsampling).
    Bilinear,
    /// Area-weighted average (continuous bands, downsampling).
    Average,
}

impl Resampling {
    fn gdal(self) -> ResampleAlg {
        match self {
            Self::Nearest => ResampleAlg::NearestNeighbour,
            Self::Bilinear => ResampleAlg::Bilinear,
            Self::Average => ResampleAlg::Average,
        }
    }

    /// The overview reduction that suits the data: `Nearest` for one UInt8 band (a class or mask raster, whose
    /// values must not be averaged into classes that do not exist), `Average` for everything else.
    pub fn for_overviews(dtype: DataType, bands: usize) -> Self {
        if dtype == DataType::UInt8 && bands == 1 { Self::Nearest } else { Self::Average }
    }

    /// GDAL's name, as used by overview building and the COG driver.
    pub fn gdal_name(self) -> &'static str {
        match self {
            Self::Nearest => "NEAREST",
            Self::Bilinear => "BILINEAR",
            Self::Average => "AVERAGE",
        }
    }
}

/// Metadata of one band.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BandInfo {
    /// 1-based band index.
    pub index: usize,
    /// GDAL data type name (`UInt16`, …).
    pub dtype: String,
    /// Nodata value, if set.
    pub nodata: Option<f64>,
    /// Native block (tile or strip) size, width x height.
    pub block_size: [usize; 2],
    /// Band description (often the band name, e.g. `B04`).
    pub description: String,
    /// Colour interpretation (`Red`, `Gray`, `Undefined`, …).
    pub color_interpretation: String,
    /// Number of overview levels.
    pub overviews: usize,
}

/// Metadata of a raster, as `eoforge-prep info` prints it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RasterInfo {
    /// The location as given (path or URL).
    pub location: String,
    /// GDAL driver short name (`GTiff`, …).
    pub driver: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Number of bands.
    pub band_count: usize,
    /// Geotransform, when the raster is georeferenced.
    pub geo_transform: Option<GeoTransform>,
    /// Map bounds, when georeferenced.
    pub bounds: Option<Bounds>,
    /// Coordinate reference system, when set.
    pub crs: Option<Crs>,
    /// Compression named in the file's image structure metadata, if any.
    pub compression: Option<String>,
    /// Pixel or band interleaving, if reported.
    pub interleave: Option<String>,
    /// GDAL's layout hint (`COG` for cloud-optimized files written by GDAL 3.1+), if reported.
    pub layout: Option<String>,
    /// Per-band metadata.
    pub bands: Vec<BandInfo>,
}

/// An open raster (local file or `s3://` object read through GDAL's `/vsis3/`).
///
/// Not `Sync` (GDAL datasets are single-threaded): open one per thread.
pub struct Raster {
    dataset: Dataset,
    location: String,
    /// Stored bottom-up (a positive pixel height): reads and the geotransform are turned north-up.
    bottom_up: bool,
    /// Per band: signed bytes GDAL reads as unsigned (a Byte band with `PIXELTYPE=SIGNEDBYTE`), found once at open.
    signed_bytes: Vec<bool>,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raster").field("location", &self.location).finish_non_exhaustive()
    }
}

impl Raster {
    /// Opens a raster from a local path, `file://` or `s3://` URL, with store options from the environment.
    pub fn open(location: &str) -> Result<Self> {
        Self::open_with(location, &StoreOptions::from_env())
    }

    /// Opens a raster with explicit store options (S3 endpoint, credentials, retries).
    pub fn open_with(location: &str, options: &StoreOptions) -> Result<Self> {
        route_gdal_errors_to_tracing();
        let path = crate::vsi::gdal_path(location, options)?;
        // GDAL's subdataset syntax (`NETCDF:"f.nc":blue`) names its file inside the string: that file must exist;
        // unquoted forms (`GTIFF_DIR:2:f.tif`) are left to GDAL, whose error names the file.
        if file_to_check(&path).is_some_and(|f| !f.starts_with("/vsi") && !Path::new(f).exists()) {
            return Err(Error::NotFound { path: location.to_owned() });
        }
        let flags =
            GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR;
        let dataset = Dataset::open_ex(&path, DatasetOptions { open_flags: flags, ..DatasetOptions::default() })
            .map_err(|e| {
                let reason = gdal_message(&e);
                if reason.contains("does not exist") || reason.contains("HTTP response code: 404") {
                    Error::NotFound { path: location.to_owned() }
                } else {
                    Error::Open { path: location.to_owned(), reason }
                }
            })?;
        let bottom_up = dataset.geo_transform().is_ok_and(|t| t[2] == 0.0 && t[4] == 0.0 && t[5] > 0.0);
        let signed_bytes = (1..=dataset.raster_count())
            .map(|i| {
                dataset.rasterband(i).is_ok_and(|band| {
                    band.band_type() == gdal::raster::GdalDataType::UInt8
                        && band.metadata_item("PIXELTYPE", "IMAGE_STRUCTURE").as_deref() == Some("SIGNEDBYTE")
                })
            })
            .collect();
        let raster = Self { dataset, location: location.to_owned(), bottom_up, signed_bytes };
        if raster.band_count() == 0 {
            return Err(Error::Open { path: location.to_owned(), reason: "it has no raster bands".into() });
        }
        Ok(raster)
    }

    /// An in-memory raster of `planes` `(bands, rows, cols)` on the north-up `transform` in `crs`, its bands named
    /// `names` and `nodata` set on each: a scene assembled from arrays (embedding tiles stored as `.npy`), read like
    /// any file; `location` names it in errors.
    pub fn from_planes(
        location: &str,
        planes: &Array3<f32>,
        transform: GeoTransform,
        crs: &Crs,
        names: &[String],
        nodata: Option<f64>,
    ) -> Result<Self> {
        let (bands, rows, cols) = planes.dim();
        let err = |what: &str, e: &gdal::errors::GdalError| Error::Read {
            path: location.to_owned(),
            what: what.to_owned(),
            reason: gdal_message(e),
        };
        if bands == 0 || rows == 0 || cols == 0 || !transform.is_north_up() || transform.0[5] >= 0.0 {
            return Err(Error::Invalid {
                path: location.to_owned(),
                reason: format!(
                    "{bands}x{rows}x{cols} planes on transform {:?}: nothing to hold north-up",
                    transform.0
                ),
            });
        }
        let driver = gdal::DriverManager::get_driver_by_name("MEM").map_err(|e| err("GDAL's MEM driver", &e))?;
        let mut dataset = driver
            .create_with_band_type::<f32, _>("", cols, rows, bands)
            .map_err(|e| err("an in-memory raster", &e))?;
        dataset.set_geo_transform(&transform.0).map_err(|e| err("its geotransform", &e))?;
        dataset.set_spatial_ref(&crs.spatial_ref()?).map_err(|e| err("its CRS", &e))?;
        for (index, plane) in planes.outer_iter().enumerate() {
            let mut band = dataset.rasterband(index + 1).map_err(|e| err("a band", &e))?;
            let values = plane.as_standard_layout().iter().copied().collect::<Vec<f32>>();
            let mut buffer = gdal::raster::Buffer::new((cols, rows), values);
            band.write((0, 0), (cols, rows), &mut buffer).map_err(|e| err("a band", &e))?;
            band.set_no_data_value(nodata).map_err(|e| err("its nodata", &e))?;
            if let Some(name) = names.get(index) {
                band.set_description(name).map_err(|e| err("its name", &e))?;
            }
        }
        Ok(Self { dataset, location: location.to_owned(), bottom_up: false, signed_bytes: vec![false; bands] })
    }

    /// The location as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The underlying GDAL dataset, for operations this crate does not wrap.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.dataset.raster_size().0
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.dataset.raster_size().1
    }

    /// Number of bands.
    pub fn band_count(&self) -> usize {
        self.dataset.raster_count()
    }

    /// The geotransform, or `None` when the raster is not georeferenced. A raster stored bottom-up (first row the
    /// southernmost, a positive pixel height) is presented north-up: this transform and every read agree on it.
    pub fn geo_transform(&self) -> Option<GeoTransform> {
        let t = self.dataset.geo_transform().ok()?;
        Some(GeoTransform(if self.bottom_up {
            [t[0], t[1], 0.0, t[3] + t[5] * self.height() as f64, 0.0, -t[5]]
        } else {
            t
        }))
    }

    /// Whether band `index` (1-based) holds signed bytes stored as GDAL's Byte.
    fn is_signed_byte(&self, index: usize) -> bool {
        self.signed_bytes.get(index.wrapping_sub(1)).copied().unwrap_or(false)
    }

    /// Whether the file stores its rows bottom-up (south first); reads return them north-up regardless.
    pub fn is_bottom_up(&self) -> bool {
        self.bottom_up
    }

    /// The CRS, or `None` when unset.
    pub fn crs(&self) -> Option<Crs> {
        let srs = self.dataset.spatial_ref().ok()?;
        Crs::from_srs(&srs).ok().filter(|c| !c.wkt.is_empty())
    }

    /// Dataset and band metadata (licence and other items, `AREA_OR_POINT`, scale/offset, colour interpretation).
    pub fn metadata(&self) -> Result<crate::metadata::RasterMetadata> {
        crate::metadata::RasterMetadata::read(&self.dataset)
    }

    /// The data type of band `index` (1-based), if it is one eoforge supports.
    pub fn dtype(&self, index: usize) -> Result<DataType> {
        let band = self.band(index)?;
        if self.is_signed_byte(index) {
            return Ok(DataType::Int8);
        }
        DataType::from_gdal(band.band_type()).ok_or_else(|| Error::UnsupportedDtype {
            path: self.location.clone(),
            band: index,
            dtype: band.band_type().name(),
        })
    }

    /// Nodata value of band `index` (1-based), if set.
    pub fn nodata(&self, index: usize) -> Result<Option<f64>> {
        Ok(self.band(index)?.no_data_value())
    }

    /// All metadata in one serializable value.
    pub fn info(&self) -> Result<RasterInfo> {
        let geo_transform = self.geo_transform();
        let bounds =
            geo_transform.map(|transform| Grid { width: self.width(), height: self.height(), transform }.bounds());
        let structure = |key: &str| self.dataset.metadata_item(key, "IMAGE_STRUCTURE");
        let mut bands = Vec::with_capacity(self.band_count());
        for index in 1..=self.band_count() {
            let band = self.band(index)?;
            let (bw, bh) = band.block_size();
            bands.push(BandInfo {
                index,
                dtype: band.band_type().name(),
                nodata: band.no_data_value(),
                block_size: [bw, bh],
                description: band.description().unwrap_or_default(),
                color_interpretation: band.color_interpretation().name(),
                overviews: band.overview_count().map_or(0, |n| n.max(0) as usize),
            });
        }
        Ok(RasterInfo {
            location: self.location.clone(),
            driver: self.dataset.driver().short_name(),
            width: self.width(),
            height: self.height(),
            band_count: self.band_count(),
            geo_transform,
            bounds,
            crs: self.crs(),
            compression: structure("COMPRESSION"),
            interleave: structure("INTERLEAVE"),
            layout: structure("LAYOUT"),
            bands,
        })
    }

    /// The pixel window covering `bounds` given in `crs` (e.g. a lon/lat AOI in EPSG:4326), clipped to the raster.
    /// An AOI that misses the raster is an error.
    pub fn window_for(&self, bounds: &Bounds, crs: &Crs) -> Result<Window> {
        let grid_err = |reason: String| Error::Grid { path: self.location.clone(), reason };
        let transform = self.geo_transform().ok_or_else(|| grid_err("the raster is not georeferenced".into()))?;
        let own = self.crs().ok_or_else(|| grid_err("the raster has no CRS".into()))?;
        let b = if own.epsg.is_some() && own.epsg == crs.epsg {
            *bounds
        } else {
            crate::crs::reproject_bounds(bounds, crs, &own)?
        };
        let corners = [(b.min_x, b.min_y), (b.min_x, b.max_y), (b.max_x, b.min_y), (b.max_x, b.max_y)];
        let mut px: Vec<(f64, f64)> = Vec::with_capacity(4);
        for (x, y) in corners {
            px.push(transform.map_to_pixel(x, y).ok_or_else(|| grid_err("degenerate geotransform".into()))?);
        }
        let c0 = px.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).floor().max(0.0);
        let r0 = px.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).floor().max(0.0);
        let c1 = px.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max).ceil().min(self.width() as f64);
        let r1 = px.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max).ceil().min(self.height() as f64);
        if c1 <= c0 || r1 <= r0 {
            return Err(grid_err(format!("the AOI {bounds:?} does not overlap the raster")));
        }
        Ok(Window::new(c0 as usize, r0 as usize, (c1 - c0) as usize, (r1 - r0) as usize))
    }

    /// Reads a pixel window of the given bands (1-based; `None` = all) at native resolution into a
    /// `(bands, rows, cols)` array.
    pub fn read_window<T: Pixel>(&self, window: Window, bands: Option<&[usize]>) -> Result<Array3<T>> {
        self.check_window(window)?;
        let src = [window.col as f64, window.row as f64, window.width as f64, window.height as f64];
        self.read_resampled(src, (window.width, window.height), bands, Resampling::Nearest)
    }

    /// Reads a window of the given bands resampled to `out_size` (cols, rows) pixels.
    pub fn read_window_resampled<T: Pixel>(
        &self,
        window: Window,
        out_size: (usize, usize),
        bands: Option<&[usize]>,
        resampling: Resampling,
    ) -> Result<Array3<T>> {
        self.check_window(window)?;
        let src = [window.col as f64, window.row as f64, window.width as f64, window.height as f64];
        self.read_resampled(src, out_size, bands, resampling)
    }

    /// Reads the given bands onto a target grid in this raster's CRS (e.g. a 20 m band onto the 10 m grid of its
    /// patch), resampling with `resampling`. The grid may cover fractional source pixels.
    pub fn read_onto_grid<T: Pixel>(
        &self,
        grid: &Grid,
        bands: Option<&[usize]>,
        resampling: Resampling,
    ) -> Result<Array3<T>> {
        let grid_err = |reason: String| Error::Grid { path: self.location.clone(), reason };
        let transform = self.geo_transform().ok_or_else(|| grid_err("the raster is not georeferenced".into()))?;
        if !transform.is_north_up() || !grid.transform.is_north_up() {
            return Err(grid_err("rotated geotransforms are not supported".into()));
        }
        if grid.width == 0 || grid.height == 0 {
            return Err(grid_err("the target grid is empty".into()));
        }
        let b = grid.bounds();
        let (c0, r0) =
            transform.map_to_pixel(b.min_x, b.max_y).ok_or_else(|| grid_err("degenerate geotransform".into()))?;
        let (c1, r1) =
            transform.map_to_pixel(b.max_x, b.min_y).ok_or_else(|| grid_err("degenerate geotransform".into()))?;
        let (c0, r0, c1, r1) = (snap(c0), snap(r0), snap(c1), snap(r1));
        let (w, h) = (self.width() as f64, self.height() as f64);
        if c0 < 0.0 || r0 < 0.0 || c1 > w || r1 > h {
            return Err(grid_err(format!(
                "the grid covers source pixels {c0:.3}..{c1:.3} x {r0:.3}..{r1:.3}, outside the raster's {w}x{h}"
            )));
        }
        self.read_resampled([c0, r0, c1 - c0, r1 - r0], (grid.width, grid.height), bands, resampling)
    }

    /// Reads the given bands warped onto a grid in any CRS through GDAL's warper (`GDALReprojectImage`):
    /// reprojected when the CRSs differ, resampled with `resampling`, the source's nodata honoured, and pixels the
    /// raster does not cover set to `fill`. What an area pipeline reads onto each tile of its grid.
    #[allow(unsafe_code)]
    pub fn warp_onto<T: Pixel>(
        &self,
        grid: &Grid,
        crs: &Crs,
        bands: Option<&[usize]>,
        resampling: Resampling,
        fill: f64,
    ) -> Result<Array3<T>> {
        let grid_err = |reason: String| Error::Grid { path: self.location.clone(), reason };
        if self.geo_transform().is_none() || self.crs().is_none() {
            return Err(grid_err("the raster is not georeferenced (no geotransform or no CRS)".into()));
        }
        if grid.width == 0 || grid.height == 0 {
            return Err(grid_err("the target grid is empty".into()));
        }
        let all: Vec<usize> = (1..=self.band_count()).collect();
        let bands = bands.unwrap_or(&all);
        for &index in bands {
            self.check_readable_as::<T>(index)?;
        }
        let signed: Vec<bool> = bands.iter().map(|&b| self.is_signed_byte(b)).collect();
        if signed.iter().any(|s| *s) && resampling != Resampling::Nearest {
            return Err(grid_err(format!(
                "signed-byte bands warp only with nearest-neighbour resampling, not {}",
                resampling.gdal_name()
            )));
        }
        let gdal_err = |what: &str, e: &gdal::errors::GdalError| Error::Read {
            path: self.location.clone(),
            what: what.to_owned(),
            reason: gdal_message(e),
        };
        let driver = gdal::DriverManager::get_driver_by_name("MEM").map_err(|e| gdal_err("GDAL's MEM driver", &e))?;
        let mut dst = driver
            .create_with_band_type::<T, _>("", grid.width, grid.height, self.band_count())
            .map_err(|e| gdal_err("an in-memory target", &e))?;
        dst.set_geo_transform(&grid.transform.0).map_err(|e| gdal_err("the target's geotransform", &e))?;
        dst.set_spatial_ref(&crs.spatial_ref()?).map_err(|e| gdal_err("the target's CRS", &e))?;
        for index in 1..=self.band_count() {
            let mut band = dst.rasterband(index).map_err(|e| gdal_err("a target band", &e))?;
            band.set_no_data_value(Some(fill)).map_err(|e| gdal_err("the target's nodata", &e))?;
            band.fill(fill, None).map_err(|e| gdal_err("the target's fill", &e))?;
        }
        let alg = match resampling {
            Resampling::Nearest => gdal_sys::GDALResampleAlg::GRA_NearestNeighbour,
            Resampling::Bilinear => gdal_sys::GDALResampleAlg::GRA_Bilinear,
            Resampling::Average => gdal_sys::GDALResampleAlg::GRA_Average,
        };
        // SAFETY: both handles are open datasets owned by live `Dataset`s for the duration of the call; null
        // WKTs mean "the datasets' own CRS", and no progress callback or warp options are passed.
        let status = unsafe {
            gdal_sys::GDALReprojectImage(
                self.dataset.c_dataset(),
                std::ptr::null(),
                dst.c_dataset(),
                std::ptr::null(),
                alg,
                0.0,
                0.125,
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if status != gdal_sys::CPLErr::CE_None {
            // SAFETY: CPLGetLastErrorMsg returns a pointer to a NUL-terminated thread-local buffer (never null).
            let message =
                unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned();
            return Err(Error::Read {
                path: self.location.clone(),
                what: format!("warp onto a {}x{} grid in {}", grid.width, grid.height, crs.label()),
                reason: message,
            });
        }
        let mut out = Array3::<T>::default((bands.len(), grid.height, grid.width));
        for (slot, &index) in bands.iter().enumerate() {
            let band = dst.rasterband(index).map_err(|e| gdal_err("a warped band", &e))?;
            let mut plane = out.index_axis_mut(Axis(0), slot);
            let buf = plane.as_slice_mut().ok_or_else(|| grid_err("output array is not contiguous".into()))?;
            band.read_into_slice::<T>((0, 0), (grid.width, grid.height), (grid.width, grid.height), buf, None)
                .map_err(|e| gdal_err("a warped band", &e))?;
            if signed[slot] {
                // The warper moved the stored (unsigned) bytes; the fill is left as it is.
                let fill = T::from_f64(fill);
                buf.iter_mut().filter(|v| **v != fill).for_each(|v| *v = as_signed_byte(*v));
            }
        }
        Ok(out)
    }

    /// Core read: source window in fractional pixels `[col, row, width, height]`, output `(cols, rows)`.
    fn read_resampled<T: Pixel>(
        &self,
        src: [f64; 4],
        out_size: (usize, usize),
        bands: Option<&[usize]>,
        resampling: Resampling,
    ) -> Result<Array3<T>> {
        let all: Vec<usize> = (1..=self.band_count()).collect();
        let bands = bands.unwrap_or(&all);
        if bands.is_empty() {
            return Err(Error::Invalid { path: self.location.clone(), reason: "no bands selected".into() });
        }
        let (cols, rows) = out_size;
        if cols == 0 || rows == 0 {
            return Err(Error::Invalid { path: self.location.clone(), reason: "output size is empty".into() });
        }
        for &index in bands {
            self.check_readable_as::<T>(index)?;
        }
        // The stored rows of a bottom-up file: the window mirrored, its rows reversed after the read.
        let stored =
            if self.bottom_up { [src[0], self.height() as f64 - src[1] - src[3], src[2], src[3]] } else { src };
        let one_to_one = src.iter().all(|v| v.fract() == 0.0) && (src[2], src[3]) == (cols as f64, rows as f64);
        let mut out = Array3::<T>::default((bands.len(), rows, cols));
        for (slot, &index) in bands.iter().enumerate() {
            let band = self.band(index)?;
            let mut plane = out.index_axis_mut(Axis(0), slot);
            let buf = plane.as_slice_mut().ok_or_else(|| Error::Invalid {
                path: self.location.clone(),
                reason: "output array is not contiguous".into(),
            })?;
            let read_err = |e: gdal::errors::GdalError| Error::Read {
                path: self.location.clone(),
                what: format!("band {index} window {:.3},{:.3} {:.3}x{:.3}", src[0], src[1], src[2], src[3]),
                reason: gdal_message(&e),
            };
            if self.is_signed_byte(index) {
                // GDAL before 3.7 reads signed bytes as unsigned: read the bytes, then take them as signed.
                if resampling != Resampling::Nearest && !one_to_one {
                    return Err(Error::Invalid {
                        path: self.location.clone(),
                        reason: format!(
                            "band {index} holds signed bytes, which only nearest-neighbour reads resample, not {}",
                            resampling.gdal_name()
                        ),
                    });
                }
                let mut bytes = vec![0u8; buf.len()];
                read_band(&band, stored, out_size, Resampling::Nearest, &mut bytes).map_err(read_err)?;
                for (value, byte) in buf.iter_mut().zip(bytes) {
                    *value = T::from_f64(f64::from(i8::from_ne_bytes([byte])));
                }
            } else {
                read_band(&band, stored, out_size, resampling, buf).map_err(read_err)?;
            }
            if self.bottom_up {
                flip_rows(buf, cols, cols);
            }
        }
        Ok(out)
    }

    /// Reads every band of `window` pixel-interleaved (band values of a pixel adjacent) into `buf`, row `r` starting
    /// at element `r * line_len`: GDAL writes straight into a tile layout, with no planar copy in between.
    #[allow(unsafe_code)]
    pub fn read_window_interleaved<T: Pixel>(&self, window: Window, line_len: usize, buf: &mut [T]) -> Result<()> {
        self.check_window(window)?;
        let bands = self.band_count();
        for index in 1..=bands {
            self.check_readable_as::<T>(index)?;
        }
        let invalid = |reason: String| Error::Invalid { path: self.location.clone(), reason };
        if window.width == 0 || window.height == 0 {
            return Err(invalid("empty window".into()));
        }
        if line_len < window.width * bands || buf.len() < (window.height - 1) * line_len + window.width * bands {
            return Err(invalid(format!(
                "a buffer of {} elements with rows of {line_len} cannot hold a {}x{}x{bands} window",
                buf.len(),
                window.width,
                window.height
            )));
        }
        let size = T::DTYPE.size() as i64;
        let stored_row = if self.bottom_up { self.height() - window.row - window.height } else { window.row };
        let mut extra = gdal_sys::GDALRasterIOExtraArg {
            nVersion: 1,
            eResampleAlg: gdal_sys::GDALRIOResampleAlg::GRIORA_NearestNeighbour,
            pfnProgress: None,
            pProgressData: std::ptr::null_mut(),
            bFloatingPointWindowValidity: 0,
            dfXOff: 0.0,
            dfYOff: 0.0,
            dfXSize: 0.0,
            dfYSize: 0.0,
        };
        // SAFETY: GDAL writes, for row r < height, pixel c < width and band b < bands, the element at
        // r * line_len + c * bands + b, which is inside `buf` by the size check above; all bands (null band map)
        // are read with the type named by `T::gdal_ordinal()`; `extra` outlives the call.
        let rv = unsafe {
            gdal_sys::GDALDatasetRasterIOEx(
                self.dataset.c_dataset(),
                gdal_sys::GDALRWFlag::GF_Read,
                window.col as i32,
                stored_row as i32,
                window.width as i32,
                window.height as i32,
                buf.as_mut_ptr().cast(),
                window.width as i32,
                window.height as i32,
                T::gdal_ordinal(),
                bands as i32,
                std::ptr::null_mut(),
                size * bands as i64,
                size * line_len as i64,
                size,
                &raw mut extra,
            )
        };
        if rv == gdal_sys::CPLErr::CE_None {
            for b in (0..bands).filter(|b| self.is_signed_byte(b + 1)) {
                for row in buf.chunks_mut(line_len).take(window.height) {
                    row[..window.width * bands].iter_mut().skip(b).step_by(bands).for_each(|v| *v = as_signed_byte(*v));
                }
            }
            if self.bottom_up {
                flip_rows(
                    &mut buf[..(window.height - 1) * line_len + window.width * bands],
                    line_len,
                    window.width * bands,
                );
            }
            Ok(())
        } else {
            Err(Error::Read {
                path: self.location.clone(),
                what: format!("window {window} (all bands, interleaved)"),
                reason: last_gdal_error(),
            })
        }
    }

    fn check_window(&self, window: Window) -> Result<()> {
        if window.fits(self.width(), self.height()) {
            Ok(())
        } else {
            Err(Error::WindowOutOfBounds {
                path: self.location.clone(),
                window,
                width: self.width(),
                height: self.height(),
            })
        }
    }

    fn check_readable_as<T: Pixel>(&self, index: usize) -> Result<()> {
        let dtype = self.dtype(index)?;
        if dtype.fits_in(T::DTYPE) {
            Ok(())
        } else {
            Err(Error::DtypeMismatch {
                path: self.location.clone(),
                band: index,
                band_dtype: dtype.name().into(),
                requested: T::DTYPE.name(),
            })
        }
    }

    /// The colour table of band `index` (1-based) as RGB entries, if it has one (class maps, palettes).
    pub fn color_table(&self, index: usize) -> Result<Option<Vec<[u8; 3]>>> {
        let band = self.band(index)?;
        let Some(table) = band.color_table() else { return Ok(None) };
        let channel = |v: i16| u8::try_from(v.clamp(0, 255)).unwrap_or(u8::MAX);
        Ok(Some(
            (0..table.entry_count())
                .map(|i| table.entry_as_rgb(i).map_or([0; 3], |e| [channel(e.r), channel(e.g), channel(e.b)]))
                .collect(),
        ))
    }

    /// The description (name) of band `index` (1-based); empty when unset.
    pub fn band_description(&self, index: usize) -> Result<String> {
        Ok(self.band(index)?.description().unwrap_or_default())
    }

    /// The category names of band `index` (1-based), one per class value from 0 (class maps); empty when unset.
    #[allow(unsafe_code)]
    pub fn category_names(&self, index: usize) -> Result<Vec<String>> {
        let band = self.band(index)?;
        // SAFETY: the band handle is valid while `band` lives; GDAL returns a NULL-terminated list it owns (or
        // NULL), which is copied out before the band is dropped.
        let mut names = Vec::new();
        unsafe {
            let list = gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband());
            if !list.is_null() {
                let mut at = list;
                while !(*at).is_null() {
                    names.push(std::ffi::CStr::from_ptr(*at).to_string_lossy().into_owned());
                    at = at.add(1);
                }
            }
        }
        Ok(names)
    }

    pub(crate) fn band(&self, index: usize) -> Result<RasterBand<'_>> {
        let count = self.band_count();
        if index == 0 || index > count {
            return Err(Error::BandOutOfRange { path: self.location.clone(), band: index, count });
        }
        self.dataset.rasterband(index).map_err(|e| Error::Read {
            path: self.location.clone(),
            what: format!("band {index}"),
            reason: gdal_message(&e),
        })
    }
}

/// The local file a location must name to be opened: the location itself, the file quoted in GDAL's subdataset
/// syntax `DRIVER:"file":…`, or none for unquoted subdataset forms (`GTIFF_DIR:2:f.tif`), which GDAL checks.
/// Driver names are capitals, digits and `_`, two or more characters, so `C:\…` drive letters are not taken
/// for one.
fn file_to_check(location: &str) -> Option<&str> {
    let Some((driver, rest)) = location.split_once(':') else { return Some(location) };
    if driver.len() < 2 || !driver.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Some(location);
    }
    rest.strip_prefix('"').and_then(|quoted| quoted.split_once('"')).map(|(file, _)| file)
}

/// Rounds values within 1e-6 of an integer, so grid edges computed in floating point land on pixel edges.
fn snap(v: f64) -> f64 {
    if (v - v.round()).abs() < 1e-6 { v.round() } else { v }
}

/// Reverses the order of the rows of `buf` (row `r` starting at `r * line_len`, `used` elements of it in use).
fn flip_rows<T: Copy>(buf: &mut [T], line_len: usize, used: usize) {
    let rows = buf.len().div_ceil(line_len);
    for top in 0..rows / 2 {
        let bottom = rows - 1 - top;
        let (head, tail) = buf.split_at_mut(bottom * line_len);
        head[top * line_len..top * line_len + used].swap_with_slice(&mut tail[..used]);
    }
}

/// A stored byte (read by GDAL as unsigned, 0–255) taken as the signed byte it is.
fn as_signed_byte<T: Pixel>(stored: T) -> T {
    T::from_f64(f64::from(i8::from_ne_bytes([stored.to_f64() as u8])))
}

/// Reads one band window into `buf`, using GDAL's floating-point window when the window is fractional.
#[allow(unsafe_code)]
fn read_band<T: Pixel>(
    band: &RasterBand<'_>,
    src: [f64; 4],
    out_size: (usize, usize),
    resampling: Resampling,
    buf: &mut [T],
) -> gdal::errors::Result<()> {
    let integral = src.iter().all(|v| v.fract() == 0.0);
    if integral {
        return band.read_into_slice::<T>(
            (src[0] as isize, src[1] as isize),
            (src[2] as usize, src[3] as usize),
            out_size,
            buf,
            Some(resampling.gdal()),
        );
    }
    // GDAL needs an integer window that contains the fractional one, plus the exact window in the extra args.
    let (x0, y0) = (src[0].floor(), src[1].floor());
    let (x1, y1) = ((src[0] + src[2]).ceil(), (src[1] + src[3]).ceil());
    let mut extra = gdal_sys::GDALRasterIOExtraArg {
        nVersion: 1,
        eResampleAlg: resampling.gdal().to_gdal(),
        pfnProgress: None,
        pProgressData: std::ptr::null_mut(),
        bFloatingPointWindowValidity: 1,
        dfXOff: src[0],
        dfYOff: src[1],
        dfXSize: src[2],
        dfYSize: src[3],
    };
    assert_eq!(buf.len(), out_size.0 * out_size.1, "buffer size matches the output size");
    // SAFETY: `buf` holds exactly out_size.0 * out_size.1 elements of T (asserted above), GDAL writes that many
    // elements of the type named by `T::gdal_ordinal()` with default pixel/line spacing; `extra` outlives the call.
    let rv = unsafe {
        gdal_sys::GDALRasterIOEx(
            band.c_rasterband(),
            gdal_sys::GDALRWFlag::GF_Read,
            x0 as i32,
            y0 as i32,
            (x1 - x0) as i32,
            (y1 - y0) as i32,
            buf.as_mut_ptr().cast(),
            out_size.0 as i32,
            out_size.1 as i32,
            T::gdal_ordinal(),
            0,
            0,
            &raw mut extra,
        )
    };
    if rv == gdal_sys::CPLErr::CE_None {
        Ok(())
    } else {
        Err(gdal::errors::GdalError::CplError { class: rv, number: 0, msg: last_gdal_error() })
    }
}

#[allow(unsafe_code)]
fn last_gdal_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a NUL-terminated thread-local string owned by GDAL.
    unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned()
}

/// GDAL's own message, without the wrapper's error-class preamble.
pub(crate) fn gdal_message(e: &gdal::errors::GdalError) -> String {
    match e {
        gdal::errors::GdalError::CplError { msg, .. } | gdal::errors::GdalError::NullPointer { msg, .. }
            if !msg.is_empty() =>
        {
            msg.clone()
        }
        other => other.to_string(),
    }
}

/// Caps GDAL's block cache (default: 5 % of RAM). Streaming jobs read every block once, so a large cache only
/// inflates memory; the COG writer's CLI sets it to a few hundred MiB.
#[allow(unsafe_code)]
pub fn set_gdal_cache_mib(mib: usize) {
    // SAFETY: GDALSetCacheMax64 takes a plain integer and may be called at any time.
    unsafe { gdal_sys::GDALSetCacheMax64((mib as i64) << 20) };
}

/// GDAL prints errors to stderr by default; send them to `tracing` instead (they also come back as typed errors).
pub(crate) fn route_gdal_errors_to_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|class, number, message| match class {
            gdal::errors::CplErrType::Debug => tracing::trace!(target: "gdal", number, "{message}"),
            gdal::errors::CplErrType::None => {}
            gdal::errors::CplErrType::Warning => tracing::debug!(target: "gdal", number, "{message}"),
            _ => tracing::debug!(target: "gdal", number, "error: {message}"),
        });
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn subdataset_syntax_names_its_file() {
        assert_eq!(super::file_to_check(r#"NETCDF:"/d/f.nc":blue"#), Some("/d/f.nc"));
        assert_eq!(super::file_to_check("GTIFF_DIR:2:/d/f.tif"), None);
        assert_eq!(super::file_to_check("/d/f.tif"), Some("/d/f.tif"));
        assert_eq!(super::file_to_check(r"C:\data\f.tif"), Some(r"C:\data\f.tif"));
    }
}
