//! Weights shared with PyTorch as safetensors: stable tensor names, PyTorch's layouts, and a report of what a load
//! applied, missed and left unused.
//!
//! Names are the module's field path with burn's enum variants left out (`down.0.norm1.weight`, not
//! `down.0.norm1.Batch.gamma`), normalisation scales and shifts named `weight` and `bias` as PyTorch names them,
//! and `Linear` weights stored `(out, in)` as PyTorch stores them (burn holds `(in, out)`). Convolutions have the
//! same layout in both. Values are written as F32 and read from F32, F64, F16 or BF16.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use burn_store::{ModuleSnapshot, TensorSnapshot};
use safetensors::{Dtype, SafeTensors};

/// A weights file that cannot be written, read or applied; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// The file cannot be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors, or a tensor cannot be converted.
    #[error("`{}`: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Tensors the model needs are not in the file (and a partial load was not allowed).
    #[error(
        "`{}` lacks {} of the model's tensors: {} (rename keys with a remap, or allow a partial load)",
        path.display(), names.len(), names.join(", ")
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The missing tensors' names.
        names: Vec<String>,
    },
    /// A tensor of the file has another shape than the model's.
    #[error("`{}`: tensor `{name}` has shape {found:?}, the model expects {expected:?}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor (its name in the file, after remapping).
        name: String,
        /// The model's shape, in PyTorch's layout.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
}

/// How a weights file is matched to a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Load what matches and leave the model's other tensors as they are (else missing tensors are an error).
    pub allow_partial: bool,
    /// Rewrites of the file's tensor names, applied in order, before matching (`^model\.` → ``, say).
    pub remap: Vec<(regex::Regex, String)>,
}

/// What a load did: tensor names (the model's, PyTorch style), sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadReport {
    /// Tensors loaded into the model.
    pub applied: Vec<String>,
    /// Tensors of the model the file lacks (kept as they were).
    pub missing: Vec<String>,
    /// Tensors of the file the model has no place for (their names in the file, before remapping).
    pub unused: Vec<String>,
}

/// One tensor of a model: its stable name, shape in PyTorch's layout, and whether burn holds it transposed.
struct Entry {
    name: String,
    shape: Vec<usize>,
    transposed: bool,
    snapshot: TensorSnapshot,
}

fn entries<B: Backend, M: Module<B>>(model: &M) -> Vec<Entry> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|snapshot| {
            let container = snapshot.container_type();
            let mut path = snapshot.path_stack.clone().unwrap_or_default();
            if let Some(last) = path.last_mut()
                && matches!(
                    container.as_str(),
                    "Struct:RowBatchNorm" | "Struct:BatchNorm" | "Struct:GroupNorm" | "Struct:LayerNorm"
                )
            {
                match last.as_str() {
                    "gamma" => *last = "weight".into(),
                    "beta" => *last = "bias".into(),
                    _ => {}
                }
            }
            let transposed = container == "Struct:Linear" && path.last().is_some_and(|p| p == "weight");
            let mut shape = snapshot.shape.to_vec();
            if transposed {
                shape.reverse();
            }
            Entry { name: path.join("."), shape, transposed, snapshot }
        })
        .collect()
}

/// The model's tensor names and shapes as a weights file holds them, in the module's order.
pub fn tensor_names<B: Backend, M: Module<B>>(model: &M) -> Vec<(String, Vec<usize>)> {
    entries(model).into_iter().map(|e| (e.name, e.shape)).collect()
}

/// A 2-D row-major matrix `rows × cols` transposed.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Writes the weights of `model` to `path` as safetensors (F32, PyTorch's names and layouts) with `metadata` in
/// the header, atomically (a `.partial` file renamed into place). Returns the number of tensors.
pub fn save_safetensors<B: Backend, M: Module<B>>(
    model: &M,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<usize, WeightsError> {
    let format = |reason: String| WeightsError::Format { path: path.to_owned(), reason };
    let mut tensors = Vec::new();
    for entry in entries(model) {
        let data = entry.snapshot.to_data().map_err(|e| format(format!("tensor `{}`: {e:?}", entry.name)))?;
        let values: Vec<f32> =
            data.convert::<f32>().to_vec().map_err(|e| format(format!("tensor `{}`: {e:?}", entry.name)))?;
        let values = if entry.transposed { transpose(&values, entry.shape[1], entry.shape[0]) } else { values };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((entry.name, entry.shape, bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| format(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut info: HashMap<String, String> = metadata.clone().into_iter().collect();
    info.entry("format".into()).or_insert_with(|| "pt".into());
    let partial = partial_path(path);
    safetensors::tensor::serialize_to_file(views, Some(info), &partial).map_err(|e| format(e.to_string()))?;
    std::fs::rename(&partial, path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
    Ok(tensors.len())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// The metadata in the header of a safetensors file.
pub fn safetensors_metadata(path: &Path) -> Result<BTreeMap<String, String>, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| WeightsError::Format { path: path.to_owned(), reason: e.to_string() })?;
    Ok(metadata.metadata().clone().unwrap_or_default().into_iter().collect())
}

/// A tensor's values as f32, from the dtypes PyTorch writes for weights.
fn values_of(view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>, String> {
    let bytes = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(format!("dtype {other:?} is not a float type (F32, F64, F16, BF16)")),
    })
}

/// `model` with the tensors of `weights` (when given) loaded after the `RE=REPLACEMENT` renames in `rules`: every
/// tensor of the model must load unless `partial`. Errors name the config `fields` (weights, remap) at fault.
pub(crate) fn pretrained<B: Backend, M: Module<B>>(
    model: M,
    weights: Option<&Path>,
    rules: &[String],
    partial: bool,
    (weights_field, remap_field): (&'static str, &'static str),
) -> crate::Result<M> {
    let Some(path) = weights else {
        return Ok(model);
    };
    let mut remap = Vec::new();
    for rule in rules {
        let (pattern, replacement) = rule
            .split_once('=')
            .ok_or_else(|| crate::ConfigError::new(remap_field, format!("`{rule}`: expected RE=REPLACEMENT")))?;
        let pattern =
            regex::Regex::new(pattern).map_err(|e| crate::ConfigError::new(remap_field, format!("`{rule}`: {e}")))?;
        remap.push((pattern, replacement.to_owned()));
    }
    let options = LoadOptions { allow_partial: partial, remap };
    Ok(load_safetensors(model, path, &options).map_err(|e| crate::ConfigError::new(weights_field, e.to_string()))?.0)
}

/// Loads the safetensors file `path` into `model`: every tensor of the model is looked up by its name
/// ([`tensor_names`]) among the file's names after `options.remap`; shapes must match exactly. Missing tensors are
/// an error unless `options.allow_partial`; the file's other tensors are reported unused.
pub fn load_safetensors<B: Backend, M: Module<B>>(
    mut model: M,
    path: &Path,
    options: &LoadOptions,
) -> Result<(M, LoadReport), WeightsError> {
    let format = |reason: String| WeightsError::Format { path: path.to_owned(), reason };
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
    let mut by_name = BTreeMap::new();
    for original in file.names() {
        let mut name = original.to_owned();
        for (pattern, replacement) in &options.remap {
            name = pattern.replace_all(&name, replacement.as_str()).into_owned();
        }
        if let Some(other) = by_name.insert(name.clone(), original.to_owned()) {
            return Err(format(format!("tensors `{other}` and `{original}` both become `{name}` after remapping")));
        }
    }
    let mut report = LoadReport::default();
    let mut snapshots = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for entry in entries(&model) {
        let Some(original) = by_name.get(&entry.name) else {
            report.missing.push(entry.name);
            continue;
        };
        let view = file.tensor(original).map_err(|e| format(e.to_string()))?;
        if view.shape() != entry.shape.as_slice() {
            return Err(WeightsError::Shape {
                path: path.to_owned(),
                name: entry.name,
                expected: entry.shape,
                found: view.shape().to_vec(),
            });
        }
        let values = values_of(&view).map_err(|reason| format(format!("tensor `{original}`: {reason}")))?;
        let values = if entry.transposed { transpose(&values, entry.shape[0], entry.shape[1]) } else { values };
        let data = TensorData::new(values, entry.snapshot.shape.to_vec());
        let (Some(path_stack), Some(containers), Some(id)) =
            (entry.snapshot.path_stack.clone(), entry.snapshot.container_stack.clone(), entry.snapshot.tensor_id)
        else {
            return Err(format(format!("tensor `{}` has no place in the model", entry.name)));
        };
        snapshots.push(TensorSnapshot::from_data(data, path_stack, containers, id));
        used.insert(original.clone());
        report.applied.push(entry.name);
    }
    report.unused = file.names().into_iter().filter(|n| !used.contains(*n)).map(str::to_owned).collect();
    report.unused.sort();
    report.applied.sort();
    report.missing.sort();
    if !report.missing.is_empty() && !options.allow_partial {
        return Err(WeightsError::Missing { path: path.to_owned(), names: report.missing });
    }
    let result = model.apply(snapshots, None, None, true);
    if !result.errors.is_empty() {
        let reasons: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(format(format!("could not apply: {}", reasons.join("; "))));
    }
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::transpose;

    #[test]
    fn transposes_row_major_matrices() {
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
