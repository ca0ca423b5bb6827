//! [`AreaConfig`]: an area pipeline as written in a config file — TOML, or JSON with `//` and `/* */` comments —
//! with `${var:NAME}` (from its `[variables]` or `--var` overrides) and `${env:NAME}` substituted before it is
//! read. Unknown keys, unknown variables and unset environment variables are errors naming the file and line.
//! Relative paths are relative to the config file's folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use eoforge_sampling::{BlockSampling, BlockSpec, SplitRatios};

use crate::error::{Error, Result};
use crate::features::IndexSpec;
use crate::grid::GridSpec;
use crate::inputs::{InputSpec, ReferenceSpec};
use crate::pixel_model::{PixelModelConfig, PixelTask};
use crate::samples::{SampleOptions, SplitBy};

/// A whole area pipeline: where its store is, the area and grid, and each stage's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaConfig {
    /// The store's root: a folder or an `s3://bucket/prefix`, holding tiles, grid cache, training table, model,
    /// runs and (by default) maps.
    pub store: String,
    /// Values for `${var:NAME}` (strings, numbers or booleans).
    #[serde(default)]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Skip what the store already has (default true): finished tiles, and a model trained from the same table,
    /// are not redone on a rerun.
    #[serde(default = "yes")]
    pub skip_existing: bool,
    /// The AOI and its grid.
    pub area: AreaSection,
    /// Rasters read onto every tile.
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
    /// Indices computed from the inputs.
    #[serde(default)]
    pub indices: Vec<IndexSpec>,
    /// Reference labels.
    #[serde(default)]
    pub reference: Option<ReferenceSpec>,
    /// Training samples.
    #[serde(default)]
    pub sampling: Option<SamplingSection>,
    /// The pixel model.
    #[serde(default)]
    pub model: Option<ModelSection>,
    /// Zone maps.
    #[serde(default)]
    pub export: Option<ExportSection>,
}

fn yes() -> bool {
    true
}

/// The AOI and the tile grid over it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaSection {
    /// The AOI GeoJSON.
    pub aoi: String,
    /// Tile side in pixels, without the buffer.
    pub tile_px: u32,
    /// Pixel size in metres.
    pub resolution: f64,
    /// Buffer in pixels on every side (default 0).
    #[serde(default)]
    pub buffer_px: u32,
}

impl AreaSection {
    /// The grid parameters.
    pub fn grid_spec(&self) -> GridSpec {
        GridSpec { tile_px: self.tile_px, resolution: self.resolution, buffer_px: self.buffer_px }
    }
}

/// How samples are drawn from each tile and split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSection {
    /// Block side in pixels (1 for pixel models; default 1).
    #[serde(default = "one")]
    pub block: usize,
    /// This many blocks per tile (one of `count`, `fraction`, `grid`).
    #[serde(default)]
    pub count: Option<usize>,
    /// Each block position of the lattice with this probability.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Every block on a lattice of this step in pixels.
    #[serde(default)]
    pub grid: Option<usize>,
    /// With `count`: as many blocks of each class as the others.
    #[serde(default)]
    pub balance: bool,
    /// The seed (with each tile's name).
    #[serde(default)]
    pub seed: u64,
    /// The features whose values make a sample (default: every input, then every index).
    #[serde(default)]
    pub features: Vec<String>,
    /// `tile` (default) or `sample`.
    #[serde(default = "by_tile")]
    pub split_by: SplitBy,
    /// Share of training samples (default 0.6).
    #[serde(default = "train_share")]
    pub train: f64,
    /// Share of validation samples (default 0.2).
    #[serde(default = "other_share")]
    pub validation: f64,
    /// Share of test samples (default 0.2).
    #[serde(default = "other_share")]
    pub test: f64,
}

fn one() -> usize {
    1
}
fn by_tile() -> SplitBy {
    SplitBy::Tile
}
fn train_share() -> f64 {
    0.6
}
fn other_share() -> f64 {
    0.2
}

/// The pixel model's task and boosting settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// `classification` (default) or `regression`.
    #[serde(default = "classification")]
    pub task: PixelTask,
    /// Boosting rounds (default 100).
    #[serde(default = "iterations")]
    pub iterations: usize,
    /// Shrinkage (default 0.1).
    #[serde(default = "learning_rate")]
    pub learning_rate: f32,
    /// Deepest tree (default 6).
    #[serde(default = "max_depth")]
    pub max_depth: usize,
    /// Seed (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Instead of a pixel model: a segmentation run of `eoforge-train fit` (U-Net or segmenter), applied to every
    /// tile through the tiled engine; it reads the features named after its channels. No train stage then.
    #[serde(default)]
    pub run: Option<String>,
    /// With `run`: window side in pixels (default: the largest the network takes within a buffered tile).
    #[serde(default)]
    pub window: Option<usize>,
    /// With `run`: pixels blended on each side of a window (default 8).
    #[serde(default = "halo")]
    pub halo: usize,
    /// Instead of a pixel model: train this segmentation network (`unet`) on the tiles' `[sampling] block`×`block`
    /// samples (the train stage writes them as a shard set and runs `eoforge-train`'s loop); predict applies it
    /// like a `run`.
    #[serde(default)]
    pub network: Option<Network>,
    /// With `network`: an `eoforge-train fit --config` file (network size, epochs, learning rate, …); default: a
    /// U-Net over the sampled features and the reference's classes with `eoforge-train`'s defaults.
    #[serde(default)]
    pub fit: Option<String>,
    /// With `network`: passes over the training windows, over the fit file's or the default's.
    #[serde(default)]
    pub epochs: Option<u64>,
}

/// A segmentation network the train stage can train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// `eoforge-models`' U-Net.
    Unet,
}

fn halo() -> usize {
    8
}

fn classification() -> PixelTask {
    PixelTask::Classification
}
fn iterations() -> usize {
    PixelModelConfig::default().iterations
}
fn learning_rate() -> f32 {
    PixelModelConfig::default().learning_rate
}
fn max_depth() -> usize {
    PixelModelConfig::default().max_depth
}

impl ModelSection {
    /// With `network`: the training settings for `channels` inputs and `classes` classes (the fit file's, checked
    /// against them, or the defaults), with `epochs` and `seed` applied.
    pub fn fit_config(&self, channels: usize, classes: usize) -> Result<eoforge_train::FitConfig> {
        let mut fit = match &self.fit {
            Some(path) => {
                let unet = eoforge_train::ModelConfig::Unet(eoforge_models::UNetConfig::new(channels, classes));
                let fit = read_fit(path, unet)?;
                let model = &fit.model;
                let problem = if !model.is_segmentation() {
                    Some("it does not train a segmentation network".to_owned())
                } else if model.in_channels() != channels {
                    Some(format!("its network reads {} channels, the samples have {channels}", model.in_channels()))
                } else if model.classes() != classes {
                    Some(format!(
                        "its network has {} classes, the reference has {classes} (its distinct label values)",
                        model.classes(),
                    ))
                } else {
                    None
                };
                if let Some(reason) = problem {
                    return Err(Error::Config { path: path.clone(), line: None, reason });
                }
                fit
            }
            None => eoforge_train::FitConfig::new(eoforge_train::ModelConfig::Unet(eoforge_models::UNetConfig::new(
                channels, classes,
            ))),
        };
        fit.epochs = self.epochs.unwrap_or(fit.epochs);
        fit.seed = self.seed;
        Ok(fit)
    }

    /// The boosting settings.
    pub fn pixel_config(&self) -> PixelModelConfig {
        PixelModelConfig {
            iterations: self.iterations,
            learning_rate: self.learning_rate,
            max_depth: self.max_depth,
            seed: self.seed,
        }
    }
}

/// Reads an `eoforge-train fit --config` file; errors name the file and line.
fn read_fit(path: &str, default_model: eoforge_train::ModelConfig) -> Result<eoforge_train::FitConfig> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        operation: "read",
        path: path.to_owned(),
        source,
    })?;
    eoforge_train::FitConfig::from_toml(&text, || Ok(default_model)).map_err(|reason| Error::Config {
        path: path.to_owned(),
        line: None,
        reason,
    })
}

/// Zone maps: which feature, where, clipped or not, and how much nodata QC allows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    /// The tile feature merged (default `prediction`).
    #[serde(default = "prediction")]
    pub feature: String,
    /// Where the maps go: a folder or an `s3://` prefix (default `<store>/maps`).
    #[serde(default)]
    pub dest: Option<String>,
    /// Map names: `<name>_<zone>.tif` (default `map`).
    #[serde(default = "map")]
    pub name: String,
    /// Pixels outside the AOI become nodata (default true).
    #[serde(default = "yes")]
    pub clip_to_aoi: bool,
    /// QC: the largest share of nodata allowed beyond the pixels outside the AOI or the tiles (default 0.5).
    #[serde(default = "half")]
    pub max_nodata: f64,
}

fn prediction() -> String {
    crate::predict::PREDICTION.to_owned()
}
fn map() -> String {
    "map".to_owned()
}
fn half() -> f64 {
    0.5
}

impl AreaConfig {
    /// Reads a config file (`.toml`, `.json` or `.jsonc`), substituting variables (`overrides` over the file's
    /// own) and resolving relative paths against the file's folder.
    pub fn load(path: &Path, overrides: &BTreeMap<String, String>) -> Result<Self> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            operation: "read",
            path: shown.clone(),
            source,
        })?;
        let format = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("toml") => Format::Toml,
            Some("json" | "jsonc") => Format::Json,
            _ => {
                return Err(Error::Config {
                    path: shown,
                    line: None,
                    reason: "unknown format: name the file `.toml`, `.json` or `.jsonc`".into(),
                });
            }
        };
        let text = if format == Format::Json { strip_json_comments(&text) } else { text };
        let (mut variables, mut scalars) = declared_variables(&text, format, &shown)?;
        for (name, value) in overrides {
            // An override keeps a number's or boolean's type only while it is one.
            if !is_scalar(value) {
                scalars.remove(name);
            }
            variables.insert(name.clone(), value.clone());
        }
        let text = substitute(&text, &variables, &scalars, &shown)?;
        let mut config: AreaConfig = match format {
            Format::Toml => toml::from_str(&text).map_err(|e| Error::Config {
                path: shown.clone(),
                line: e.span().map(|s| line_of(&text, s.start)),
                reason: e.message().trim().to_owned(),
            })?,
            Format::Json => serde_json::from_str(&text).map_err(|e| Error::Config {
                path: shown.clone(),
                line: Some(e.line()),
                reason: strip_position(&e.to_string()),
            })?,
        };
        for (k, v) in overrides {
            config.variables.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        config.resolve_paths(&base);
        config.check().map_err(|reason| Error::Config { path: shown, line: None, reason })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |s: &mut String| *s = resolve_path(base, s);
        resolve(&mut self.store);
        resolve(&mut self.area.aoi);
        for input in &mut self.inputs {
            resolve(&mut input.raster);
        }
        if let Some(reference) = &mut self.reference {
            reference.raster.as_mut().map(resolve);
            reference.vector.as_mut().map(resolve);
        }
        if let Some(run) = self.model.as_mut().and_then(|m| m.run.as_mut()) {
            resolve(run);
        }
        if let Some(fit) = self.model.as_mut().and_then(|m| m.fit.as_mut()) {
            resolve(fit);
        }
        if let Some(dest) = self.export.as_mut().and_then(|e| e.dest.as_mut()) {
            resolve(dest);
        }
    }

    /// Checks what serde cannot: one sampling mode, known features, ratios.
    fn check(&self) -> std::result::Result<(), String> {
        if let Some(reference) = &self.reference {
            reference.validate().map_err(|e| format!("[reference]: {e}"))?;
        }
        let mut known: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        for index in &self.indices {
            known.push(index.name());
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in &known {
            if !seen.insert(*name) {
                return Err(format!("feature `{name}` is defined twice (inputs and indices share one namespace)"));
            }
            if matches!(*name, "reference" | "prediction") || name.contains(['/', '\\']) || name.is_empty() {
                return Err(format!("`{name}` cannot name a feature (reserved, empty or a path)"));
            }
        }
        // Features an index or the export reads must exist: checked here once, not as one error per tile.
        for index in &self.indices {
            for band in index.bands() {
                if band.feature == index.name() || !known.contains(&band.feature.as_str()) {
                    return Err(format!(
                        "[[indices]] `{}`: `{}` is not an input or another index (known: {})",
                        index.name(),
                        band.feature,
                        known.join(", ")
                    ));
                }
            }
        }
        if let Some(export) = &self.export
            && export.feature != "prediction"
            && export.feature != "reference"
            && !known.contains(&export.feature.as_str())
        {
            return Err(format!(
                "[export] feature: `{}` is neither `prediction`, `reference`, an input nor an index (known: {})",
                export.feature,
                known.join(", ")
            ));
        }
        if let Some(model) = &self.model {
            match (&model.network, &model.run) {
                (Some(_), Some(_)) => {
                    return Err("[model]: `network` trains a network, `run` names a trained one: pick one".into());
                }
                (None, _) if model.fit.is_some() || model.epochs.is_some() => {
                    return Err("[model]: `fit` and `epochs` go with `network`".into());
                }
                (Some(_), None) if self.sampling.as_ref().is_none_or(|s| s.block < 8) => {
                    return Err("[model] network: it trains on [sampling] blocks of 8 pixels or more (`block`)".into());
                }
                _ => {}
            }
            // A fit file that cannot be read is refused before any tile is worked on.
            if let Some(fit) = &model.fit {
                let placeholder = eoforge_train::ModelConfig::Unet(eoforge_models::UNetConfig::new(1, 2));
                read_fit(fit, placeholder).map_err(|e| format!("[model] fit: {}", crate::error::chain(&e)))?;
            }
        }
        if let Some(sampling) = &self.sampling {
            sampling.block_spec()?;
            for f in &sampling.features {
                if !known.contains(&f.as_str()) {
                    return Err(format!(
                        "[sampling] features: `{f}` is neither an input nor an index (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// The features samples are made of: the sampling section's, or every input then every index.
    pub fn sample_features(&self) -> Vec<String> {
        match &self.sampling {
            Some(s) if !s.features.is_empty() => s.features.clone(),
            _ => self
                .inputs
                .iter()
                .map(|i| i.name.clone())
                .chain(self.indices.iter().map(|i| i.name().to_owned()))
                .collect(),
        }
    }

    /// The sampling options of the sample stage, or why there are none.
    pub fn sample_options(&self) -> std::result::Result<SampleOptions, String> {
        let sampling = self.sampling.as_ref().ok_or("the config has no [sampling] section")?;
        Ok(SampleOptions {
            blocks: sampling.block_spec()?,
            seed: sampling.seed,
            features: self.sample_features(),
            ratios: SplitRatios { train: sampling.train, validation: sampling.validation, test: sampling.test },
            split_by: sampling.split_by,
        })
    }
}

impl SamplingSection {
    /// The block plan: exactly one of `count`, `fraction`, `grid`.
    pub fn block_spec(&self) -> std::result::Result<BlockSpec, String> {
        let sampling = match (self.count, self.fraction, self.grid) {
            (Some(n), None, None) => BlockSampling::Count(n),
            (None, Some(f), None) if (0.0..=1.0).contains(&f) => BlockSampling::Fraction(f),
            (None, Some(f), None) => return Err(format!("[sampling] fraction {f} is not within 0–1")),
            (None, None, Some(step)) if step > 0 => BlockSampling::Grid(step),
            (None, None, Some(_)) => return Err("[sampling] grid step must be positive".into()),
            _ => return Err("[sampling] needs exactly one of `count`, `fraction`, `grid`".into()),
        };
        if self.block == 0 {
            return Err("[sampling] block must be at least 1 pixel".into());
        }
        if ![self.train, self.validation, self.test].iter().all(|r| r.is_finite() && *r >= 0.0)
            || self.train + self.validation + self.test <= 0.0
        {
            return Err("[sampling] train, validation and test must be shares ≥ 0 with a positive sum".into());
        }
        Ok(BlockSpec { block: self.block, sampling, balance: self.balance })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Json,
}

/// A path relative to `base` unless it is absolute, a URL or a GDAL virtual path.
fn resolve_path(base: &Path, value: &str) -> String {
    if value.contains("://") || value.starts_with("/vsi") || Path::new(value).is_absolute() {
        value.to_owned()
    } else {
        base.join(value).display().to_string()
    }
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// serde_json's message without its ` at line L column C` (the line is reported separately).
fn strip_position(message: &str) -> String {
    message.find(" at line ").map_or(message, |i| &message[..i]).to_owned()
}

/// JSON with `//` and `/* */` comments outside strings blanked out (line breaks kept, so lines still match).
fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && next == '/' {
                        break;
                    }
                    last = next;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Variables by name, as text.
type Variables = BTreeMap<String, String>;

/// The file's `variables` table as text (their `${env:…}` references resolved), and the names of those that are
/// numbers or booleans.
fn declared_variables(text: &str, format: Format, shown: &str) -> Result<(Variables, BTreeSet<String>)> {
    let err = |line, reason: String| Error::Config { path: shown.to_owned(), line, reason };
    let table: serde_json::Value = match format {
        Format::Toml => {
            let value: toml::Table = toml::from_str(text)
                .map_err(|e| err(e.span().map(|s| line_of(text, s.start)), e.message().trim().to_owned()))?;
            serde_json::to_value(value.get("variables").cloned().unwrap_or(toml::Value::Table(toml::Table::new())))
                .map_err(|e| err(None, e.to_string()))?
        }
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| err(Some(e.line()), strip_position(&e.to_string())))?;
            value.get("variables").cloned().unwrap_or_else(|| serde_json::json!({}))
        }
    };
    let serde_json::Value::Object(map) = table else {
        return Err(err(None, "`variables` must be a table of values".into()));
    };
    let mut out = BTreeMap::new();
    let mut scalars = BTreeSet::new();
    for (name, value) in map {
        if matches!(value, serde_json::Value::Number(_) | serde_json::Value::Bool(_)) {
            scalars.insert(name.clone());
        }
        let value = match value {
            serde_json::Value::String(s) => {
                substitute(&s, &BTreeMap::new(), &BTreeSet::new(), shown).map_err(|e| match e {
                    Error::Config { reason, .. } => err(None, format!("variable `{name}`: {reason}")),
                    other => other,
                })?
            }
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                return Err(err(
                    None,
                    format!("variable `{name}` is {other}; variables are strings, numbers or booleans"),
                ));
            }
        };
        out.insert(name, value);
    }
    Ok((out, scalars))
}

/// Whether a value is written as a TOML/JSON number or boolean.
fn is_scalar(value: &str) -> bool {
    matches!(value, "true" | "false") || value.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Replaces every `${var:NAME}` and `${env:NAME}`; an unknown one is an error naming its line. A string that is
/// nothing but a number or boolean variable (`tile_px = "${var:size}"`, the variable among `scalars`) becomes that
/// value, unquoted, so numeric parameters can come from variables too.
fn substitute(text: &str, variables: &Variables, scalars: &BTreeSet<String>, shown: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        line += before.matches('\n').count();
        out.push_str(before);
        let err = |reason: String| Error::Config { path: shown.to_owned(), line: Some(line), reason };
        let Some(end) = after.find('}') else {
            return Err(err("`${` without a closing `}`".into()));
        };
        let reference = &after[2..end];
        let whole_scalar = reference.strip_prefix("var:").is_some_and(|name| scalars.contains(name))
            && out.ends_with('"')
            && !out.ends_with("\\\"")
            && after[end + 1..].starts_with('"');
        let value = match reference.split_once(':') {
            Some(("var", name)) => variables.get(name).cloned().ok_or_else(|| {
                let known: Vec<&str> = variables.keys().map(String::as_str).collect();
                err(format!(
                    "unknown variable `{name}` in `${{{reference}}}` (variables: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ))
            })?,
            Some(("env", name)) => std::env::var(name)
                .map_err(|_| err(format!("environment variable `{name}` in `${{{reference}}}` is not set")))?,
            _ => return Err(err(format!("`${{{reference}}}`: write `${{var:NAME}}` or `${{env:NAME}}`"))),
        };
        if value.contains(['"', '\\', '\n']) {
            return Err(err(format!("the value of `${{{reference}}}` holds a quote, backslash or line break")));
        }
        if whole_scalar {
            out.pop();
            out.push_str(&value);
            rest = &after[end + 2..];
            continue;
        }
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_blanked_outside_strings_only() {
        let text = "{\n  // a comment\n  \"a\": \"http://x\", /* two\n lines */ \"b\": 1\n}";
        let stripped = strip_json_comments(text);
        assert_eq!(stripped.lines().count(), text.lines().count());
        let value: serde_json::Value = serde_json::from_str(&stripped).expect("json");
        assert_eq!(value["a"], "http://x");
        assert_eq!(value["b"], 1);
    }

    #[test]
    fn substitution_names_the_line_of_an_unknown_variable() {
        let vars = BTreeMap::from([("year".to_owned(), "2020".to_owned())]);
        let none = BTreeSet::new();
        assert_eq!(substitute("a = \"${var:year}\"", &vars, &none, "c.toml").expect("ok"), "a = \"2020\"");
        let err = substitute("a = 1\nb = \"${var:yaer}\"", &vars, &none, "c.toml").expect_err("unknown");
        let message = err.to_string();
        assert!(message.contains("c.toml`:2") && message.contains("yaer") && message.contains("year"), "{message}");
        let err =
            substitute("x = \"${env:EOFORGE_SURELY_UNSET_VARIABLE}\"", &vars, &none, "c.toml").expect_err("unset");
        assert!(err.to_string().contains("EOFORGE_SURELY_UNSET_VARIABLE"), "{err}");
    }

    #[test]
    fn a_string_of_one_number_variable_becomes_the_number() {
        let vars = BTreeMap::from([("size".to_owned(), "64".to_owned()), ("year".to_owned(), "2020".to_owned())]);
        let scalars = BTreeSet::from(["size".to_owned()]);
        let text = "a = \"${var:size}\"\nb = \"t${var:size}\"\nc = \"${var:year}\"\nd = \"${var:size}${var:size}\"";
        assert_eq!(
            substitute(text, &vars, &scalars, "c.toml").expect("ok"),
            "a = 64\nb = \"t64\"\nc = \"2020\"\nd = \"6464\""
        );
    }

    #[test]
    fn numeric_parameters_come_from_variables_and_overrides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("area.toml");
        let text = "store = \"out\"\n[variables]\nsize = 64\nres = 10.5\n[area]\naoi = \"aoi.geojson\"\ntile_px = \"${var:size}\"\nresolution = \"${var:res}\"\n";
        std::fs::write(&path, text).expect("write");
        let config = AreaConfig::load(&path, &BTreeMap::new()).expect("config");
        assert_eq!((config.area.tile_px, config.area.resolution), (64, 10.5));
        let config = AreaConfig::load(&path, &BTreeMap::from([("size".to_owned(), "32".to_owned())])).expect("config");
        assert_eq!(config.area.tile_px, 32);
        // An override that is not a number stays a string, and the parameter says what it expected.
        let err = AreaConfig::load(&path, &BTreeMap::from([("size".to_owned(), "big".to_owned())])).expect_err("text");
        assert!(err.to_string().contains("area.toml`:7"), "{err}");
    }
}
