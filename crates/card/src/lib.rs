/*!
How to feed a model and read its outputs: a model card beside the file (`model.onnx.json`, the STAC Machine Learning
Model extension's `mlm:input`/`mlm:output` fields), or the same facts from flags ([`CardFlags`]). [`ModelCard::parse`]
reads one, [`ModelCard::to_mlm`] writes one, [`ModelCard::of_run`] describes a trained run. No GDAL and no inference
here, so the training binary writes cards too.
*/
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value;

/// What is wrong with a card or the flags that stand for one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The model card is wrong.
    #[error("model card {0}")]
    Card(String),
    /// The card could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a model's output holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// One score (logit or probability) per class: written as a class map of the classes' values.
    Classes,
    /// Continuous values (regression, embeddings): written as Float32.
    Values,
    /// An image in the input's units (super-resolution, restoration): written in the input's type, clipped to it.
    Image,
}

impl FromStr for OutputKind {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "classes" => Ok(Self::Classes),
            "values" => Ok(Self::Values),
            "image" => Ok(Self::Image),
            _ => Err(Error::Usage(format!("--output `{text}`: expected classes, values or image"))),
        }
    }
}

impl OutputKind {
    /// The kind an MLM output's `tasks` imply.
    fn of_tasks(tasks: &[&str]) -> Option<Self> {
        if tasks.iter().any(|t| t.contains("segmentation") || *t == "classification") {
            Some(Self::Classes)
        } else if tasks.iter().any(|t| matches!(*t, "super-resolution" | "generative")) {
            Some(Self::Image)
        } else if tasks.iter().any(|t| matches!(*t, "regression" | "similarity-search")) {
            Some(Self::Values)
        } else {
            None
        }
    }
}

/// Per-band input scaling: the model takes `(x − subtract) / divide`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Normalization {
    /// Subtracted from each band.
    pub subtract: Vec<f32>,
    /// Then each band divided by this.
    pub divide: Vec<f32>,
}

impl Normalization {
    /// One value broadcast to `bands` bands; lists of another length are an error naming `what`.
    fn broadcast(self, bands: usize, what: &str) -> Result<Self> {
        let spread = |v: Vec<f32>| -> Result<Vec<f32>> {
            match v.len() {
                1 => Ok(vec![v[0]; bands]),
                n if n == bands => Ok(v),
                n => Err(Error::Card(format!("{what}: {n} values for {bands} input bands"))),
            }
        };
        let n = Self { subtract: spread(self.subtract)?, divide: spread(self.divide)? };
        if let Some(d) = n.divide.iter().find(|d| **d == 0.0 || !d.is_finite()) {
            return Err(Error::Card(format!("{what}: divides by {d}")));
        }
        Ok(n)
    }
}

/// `--normalize` as given on the command line: `mean=M,…/std=S,…` (the model takes `(x − mean) / std`) or
/// `scale=S,…/offset=O,…` (the model takes `x · scale + offset`, GDAL's unscaling convention); one value applies to
/// every band.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct NormalizeSpec(Normalization);

impl FromStr for NormalizeSpec {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let usage = |reason: &str| Error::Usage(format!("--normalize `{text}`: {reason}"));
        let mut parts = std::collections::BTreeMap::new();
        for part in text.split('/') {
            let (key, values) = part.split_once('=').ok_or_else(|| usage("expected KEY=V,… parts"))?;
            let values: Vec<f32> = values
                .split(',')
                .map(|v| v.trim().parse::<f32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| usage("values must be numbers"))?;
            parts.insert(key.trim().to_owned(), values);
        }
        let keys: Vec<&str> = parts.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["mean", "std"] => {
                Ok(Self(Normalization { subtract: parts["mean"].clone(), divide: parts["std"].clone() }))
            }
            ["offset", "scale"] => {
                let (scale, offset) = (&parts["scale"], &parts["offset"]);
                if scale.len() != offset.len() && scale.len() != 1 && offset.len() != 1 {
                    return Err(usage("scale and offset need as many values, or one of them one"));
                }
                let n = scale.len().max(offset.len());
                let at = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                if (0..n).any(|i| at(scale, i) == 0.0) {
                    return Err(usage("a scale of 0 maps every value to the offset"));
                }
                // x·s + o = (x − (−o/s)) / (1/s)
                Ok(Self(Normalization {
                    subtract: (0..n).map(|i| -at(offset, i) / at(scale, i)).collect(),
                    divide: (0..n).map(|i| 1.0 / at(scale, i)).collect(),
                }))
            }
            _ => Err(usage("expected mean=…/std=… or scale=…/offset=…")),
        }
    }
}

/// A class of a model's output: its index is its position in the card's list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CardClass {
    /// The value written in the class map.
    pub value: u16,
    /// Its name.
    pub name: String,
    /// Its colour, from the class's `color_hint` (`RRGGBB`).
    pub color: Option<[u8; 3]>,
}

/// How to feed a model and what its output means.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ModelCard {
    /// Where it came from: the card's path, or `flags`.
    pub source: String,
    /// The names of the bands the model takes, in order (empty: not named).
    pub bands: Vec<String>,
    /// Input scaling (none: the model takes the bands' values).
    pub normalization: Option<Normalization>,
    /// What the output holds.
    pub output: OutputKind,
    /// The classes of a `classes` output, in output order (empty: values 0, 1, … of the output channels).
    pub classes: Vec<CardClass>,
    /// Input height and width the model requires, when fixed.
    pub fixed_size: Option<(usize, usize)>,
    /// Input height and width must be multiples of this (padded up to one when a window is not).
    pub size_multiple: usize,
}

/// The facts flags give when a model has no card.
#[derive(Clone, Debug, Default)]
pub struct CardFlags {
    /// `--input-bands` by name (empty: not named).
    pub bands: Vec<String>,
    /// `--normalize`.
    pub normalize: Option<NormalizeSpec>,
    /// `--output`.
    pub output: Option<OutputKind>,
    /// `--size-multiple`.
    pub size_multiple: Option<usize>,
}

impl ModelCard {
    /// The card of `model`: `MODEL.json` beside it when there is one (flags then override its output kind and
    /// scaling), else the flags alone, which must then say what the output is.
    pub fn for_model(model: &Path, flags: &CardFlags) -> Result<Self> {
        let path = card_path(model);
        let mut card = match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let output = flags.output.ok_or_else(|| {
                    Error::Usage(format!(
                        "{} has no model card ({}): say what its output is with --output classes|values|image",
                        model.display(),
                        path.display()
                    ))
                })?;
                Self {
                    source: "flags".into(),
                    bands: Vec::new(),
                    normalization: None,
                    output,
                    classes: Vec::new(),
                    fixed_size: None,
                    size_multiple: 1,
                }
            }
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        if let Some(output) = flags.output {
            card.output = output;
        }
        if let Some(spec) = &flags.normalize {
            card.normalization = Some(spec.0.clone());
        }
        if let Some(m) = flags.size_multiple {
            card.size_multiple = m.max(1);
        }
        if !flags.bands.is_empty() {
            card.bands.clone_from(&flags.bands);
        }
        Ok(card)
    }

    /// Reads a card: a STAC Item (its `properties`) or a bare object with `mlm:input` and `mlm:output`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Card(format!("{}: {reason}", path.display()));
        let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let props = json.get("properties").filter(|p| p.get("mlm:input").is_some()).unwrap_or(&json);
        let input = first(props, "mlm:input").ok_or_else(|| bad("no `mlm:input`".into()))?;
        let bands: Vec<String> = input["bands"]
            .as_array()
            .map(|list| {
                list.iter().filter_map(|b| b.as_str().or_else(|| b["name"].as_str()).map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        let shape: Vec<i64> = input["input"]["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let order: Vec<&str> = input["input"]["dim_order"].as_array().map_or_else(
            || vec!["batch", "channel", "height", "width"],
            |s| s.iter().filter_map(Value::as_str).collect(),
        );
        if !order.is_empty() && order != ["batch", "channel", "height", "width"] {
            return Err(bad(format!("mlm:input dim_order {order:?}: eoforge feeds [batch, channel, height, width]")));
        }
        let dim = |i: usize| shape.get(i).copied().filter(|d| *d > 0).map(|d| d as usize);
        if let Some(c) = dim(1)
            && !bands.is_empty()
            && c != bands.len()
        {
            return Err(bad(format!("mlm:input takes {c} channels but names {} bands", bands.len())));
        }
        let fixed_size = dim(2).zip(dim(3));
        let channels = dim(1).unwrap_or(bands.len());
        let normalization = match input.get("value_scaling") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => Some(scaling(list, channels.max(1)).map_err(|e| bad(e.to_string()))?),
            Some(other) => return Err(bad(format!("value_scaling must be a list, not {other}"))),
        };
        let output = first(props, "mlm:output").ok_or_else(|| bad("no `mlm:output`".into()))?;
        let tasks: Vec<&str> =
            output["tasks"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let kind = match props.get("eoforge:output").and_then(Value::as_str) {
            Some(text) => text.parse().map_err(|e: Error| bad(e.to_string()))?,
            None => OutputKind::of_tasks(&tasks)
                .ok_or_else(|| bad(format!("mlm:output tasks {tasks:?} do not say whether it writes classes, values or an image; add \"eoforge:output\"")))?,
        };
        let mut classes = Vec::new();
        for class in output["classification:classes"].as_array().into_iter().flatten() {
            let value = class["value"]
                .as_u64()
                .and_then(|v| u16::try_from(v).ok())
                .ok_or_else(|| bad(format!("class {class}: `value` must be a whole number 0..65535")))?;
            let name = class["name"].as_str().unwrap_or_default().to_owned();
            let color = class["color_hint"].as_str().and_then(hex_color);
            if classes.iter().any(|c: &CardClass| c.value == value) {
                return Err(bad(format!("class value {value} is listed twice")));
            }
            classes.push(CardClass { value, name, color });
        }
        let size_multiple = props.get("eoforge:size_multiple").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
        Ok(Self {
            source: path.display().to_string(),
            bands,
            normalization,
            output: kind,
            classes,
            fixed_size,
            size_multiple,
        })
    }
}

impl ModelCard {
    /// The input scaling for `bands` bands (one value given applies to all), `None` when the model takes the
    /// bands' values; a list of another length is an error.
    pub fn normalization_for(&self, bands: usize) -> Result<Option<Normalization>> {
        self.normalization.clone().map(|n| n.broadcast(bands, "--normalize / value_scaling")).transpose()
    }
}

impl ModelCard {
    /// The card of a trained run: its channels, its own normalisation (z-score from `data.json`), and its output —
    /// the class table of a segmentation run, the image of a super-resolution run.
    pub fn of_run(run: &eoforge_train::TrainedRun) -> Self {
        let model = &run.config.model;
        let (output, classes) = match model {
            eoforge_train::ModelConfig::Sr(_) => (OutputKind::Image, Vec::new()),
            eoforge_train::ModelConfig::Classifier(_) => (OutputKind::Values, Vec::new()),
            _ => (
                OutputKind::Classes,
                run.class_table()
                    .classes()
                    .iter()
                    .map(|c| CardClass { value: c.value, name: c.name.clone(), color: Some(c.color) })
                    .collect(),
            ),
        };
        Self {
            source: run.dir.display().to_string(),
            bands: run.data.channels.clone(),
            normalization: Some(Normalization {
                subtract: run.data.mean.iter().map(|v| *v as f32).collect(),
                divide: run.data.std.iter().map(|v| *v as f32).collect(),
            }),
            output,
            classes,
            fixed_size: None,
            size_multiple: model.size_multiple().unwrap_or(1),
        }
    }

    /// The card as the STAC Machine Learning Model extension writes it (a STAC Item's `properties`, with
    /// `eoforge:output` and `eoforge:size_multiple` where MLM has no field), for `MODEL.json` beside a model file
    /// named `asset`; [`ModelCard::parse`] reads it back.
    pub fn to_mlm(&self, name: &str, asset: &str) -> Value {
        let scaling = self.normalization.as_ref().map(|n| {
            n.subtract
                .iter()
                .zip(&n.divide)
                .map(|(mean, std)| serde_json::json!({ "type": "z-score", "mean": mean, "stddev": std }))
                .collect::<Vec<_>>()
        });
        let channels = if self.bands.is_empty() { -1 } else { self.bands.len() as i64 };
        let tasks = match self.output {
            OutputKind::Classes => vec!["semantic-segmentation"],
            OutputKind::Image => vec!["super-resolution"],
            OutputKind::Values => vec!["regression"],
        };
        let classes: Vec<Value> = self
            .classes
            .iter()
            .map(|c| {
                let mut class = serde_json::json!({ "value": c.value, "name": c.name });
                if let Some([r, g, b]) = c.color {
                    class["color_hint"] = Value::String(format!("{r:02X}{g:02X}{b:02X}"));
                }
                class
            })
            .collect();
        let mut output = serde_json::json!({
            "name": "output",
            "tasks": tasks,
            "result": { "shape": [-1, -1, -1, -1], "dim_order": ["batch", "channel", "height", "width"], "data_type": "float32" },
        });
        if !classes.is_empty() {
            output["classification:classes"] = Value::Array(classes);
        }
        serde_json::json!({
            "type": "Feature",
            "stac_version": "1.1.0",
            "stac_extensions": ["https://stac-extensions.github.io/mlm/v1.4.0/schema.json"],
            "id": name,
            "geometry": null,
            "properties": {
                "datetime": null,
                "mlm:name": name,
                "mlm:architecture": name,
                "mlm:tasks": tasks,
                "mlm:framework": "burn",
                "mlm:input": [{
                    "name": "image",
                    "bands": self.bands,
                    "input": { "shape": [-1, channels, -1, -1], "dim_order": ["batch", "channel", "height", "width"], "data_type": "float32" },
                    "value_scaling": scaling,
                }],
                "mlm:output": [output],
                "eoforge:output": self.output,
                "eoforge:size_multiple": self.size_multiple,
            },
            "assets": { "model": { "href": asset, "roles": ["mlm:model", "mlm:weights"] } },
            "links": [],
        })
    }
}

/// `model.onnx` → `model.onnx.json`.
pub fn card_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

fn first<'a>(props: &'a Value, key: &str) -> Option<&'a Value> {
    match props.get(key)? {
        Value::Array(list) => list.first(),
        object @ Value::Object(_) => Some(object),
        _ => None,
    }
}

/// MLM `value_scaling` objects (one per band, or one for all) as one normalisation.
fn scaling(list: &[Value], bands: usize) -> Result<Normalization> {
    let mut n = Normalization { subtract: Vec::new(), divide: Vec::new() };
    for item in list {
        let num = |key: &str| -> Result<f32> {
            item[key]
                .as_f64()
                .map(|v| v as f32)
                .ok_or_else(|| Error::Card(format!("value_scaling {item}: `{key}` must be a number")))
        };
        let (s, d) = match item["type"].as_str() {
            Some("z-score") => (num("mean")?, num("stddev")?),
            Some("min-max") => {
                let (lo, hi) = (num("minimum")?, num("maximum")?);
                (lo, hi - lo)
            }
            Some("scale") => (0.0, num("value")?),
            Some("offset") => (num("value")?, 1.0),
            None if item["type"].is_null() => (0.0, 1.0),
            other => {
                return Err(Error::Card(format!(
                    "value_scaling type {other:?} is not supported (z-score, min-max, scale, offset or null)"
                )));
            }
        };
        n.subtract.push(s);
        n.divide.push(d);
    }
    n.broadcast(bands, "value_scaling")
}

fn hex_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.trim_start_matches('#');
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mlm_item_gives_bands_scaling_classes_and_sizes() {
        let text = r#"{"type": "Feature", "properties": {
            "mlm:input": [{"name": "image", "bands": ["B02", {"name": "B03"}],
                "input": {"shape": [-1, 2, 64, 64], "dim_order": ["batch", "channel", "height", "width"], "data_type": "float32"},
                "value_scaling": [{"type": "z-score", "mean": 100, "stddev": 10}, {"type": "min-max", "minimum": 0, "maximum": 4}]}],
            "mlm:output": [{"name": "logits", "tasks": ["semantic-segmentation"],
                "classification:classes": [{"value": 10, "name": "water", "color_hint": "0000FF"}, {"value": 20, "name": "crop"}]}],
            "eoforge:size_multiple": 32}}"#;
        let card = ModelCard::parse(text, Path::new("m.onnx.json")).expect("card");
        assert_eq!(card.bands, ["B02", "B03"]);
        assert_eq!(card.normalization, Some(Normalization { subtract: vec![100.0, 0.0], divide: vec![10.0, 4.0] }));
        assert_eq!(card.output, OutputKind::Classes);
        assert_eq!(card.classes[0], CardClass { value: 10, name: "water".into(), color: Some([0, 0, 255]) });
        assert_eq!((card.fixed_size, card.size_multiple), (Some((64, 64)), 32));
    }

    #[test]
    fn bad_cards_are_refused_naming_the_field() {
        let refuse = |text: &str, needle: &str| {
            let e = ModelCard::parse(text, Path::new("m.onnx.json")).expect_err(text).to_string();
            assert!(e.contains(needle) && e.contains("m.onnx.json"), "{e}");
        };
        refuse("{", "not JSON");
        refuse(r#"{"mlm:output": []}"#, "mlm:input");
        refuse(
            r#"{"mlm:input": [{"bands": ["a"]}], "mlm:output": [{"tasks": ["object-detection"]}]}"#,
            "eoforge:output",
        );
        refuse(
            r#"{"mlm:input": [{"bands": ["a", "b"], "value_scaling": [{"type": "z-score", "mean": 1, "stddev": 1}, {"type": "z-score", "mean": 1, "stddev": 1}, {"type": "z-score", "mean": 1, "stddev": 1}]}], "mlm:output": [{"tasks": ["regression"]}]}"#,
            "3 values for 2",
        );
        refuse(
            r#"{"mlm:input": [{"bands": ["a"], "value_scaling": [{"type": "scale", "value": 0}]}], "mlm:output": [{"tasks": ["regression"]}]}"#,
            "divides by 0",
        );
    }

    #[test]
    fn a_written_card_reads_back_the_same() {
        let card = ModelCard {
            source: "m.json".into(),
            bands: vec!["B02".into(), "B08".into()],
            normalization: Some(Normalization { subtract: vec![100.0, 200.0], divide: vec![10.0, 20.0] }),
            output: OutputKind::Classes,
            classes: vec![CardClass { value: 10, name: "water".into(), color: Some([0, 0, 255]) }],
            fixed_size: None,
            size_multiple: 16,
        };
        let text = card.to_mlm("unet", "model.safetensors").to_string();
        assert_eq!(ModelCard::parse(&text, Path::new("m.json")).expect("parse"), card);
    }

    #[test]
    fn normalize_flags_parse_both_conventions() {
        let z: NormalizeSpec = "mean=1,2/std=3,4".parse().expect("z");
        assert_eq!(z.0, Normalization { subtract: vec![1.0, 2.0], divide: vec![3.0, 4.0] });
        let s: NormalizeSpec = "scale=0.0001/offset=-0.1".parse().expect("scale");
        let x = 1000.0_f32;
        assert!(((x - s.0.subtract[0]) / s.0.divide[0] - (x * 0.0001 - 0.1)).abs() < 1e-6);
        for bad in ["mean=1", "mean=a/std=1", "scale=0/offset=1", "x=1/y=2"] {
            assert!(bad.parse::<NormalizeSpec>().is_err(), "{bad}");
        }
    }
}
