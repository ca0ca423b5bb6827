//! Samples and their two shard encodings: WebDataset tar and Parquet.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::ArrayViewD;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::npy::{NpyElement, npy_header, raw_le_bytes};
use crate::tar::TarBuilder;

/// A shard-encoding failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A member name does not fit the tar format.
    #[error(transparent)]
    TarName(#[from] crate::tar::NameTooLong),
    /// Samples of one shard disagree on a tensor's name, dtype or shape.
    #[error("sample `{key}`: tensor `{tensor}` is {found}, but earlier samples of the shard have {expected}")]
    Inconsistent {
        /// The sample.
        key: String,
        /// The tensor.
        tensor: String,
        /// What earlier samples have.
        expected: String,
        /// What this one has.
        found: String,
    },
    /// Building the Parquet shard failed.
    #[error("cannot encode Parquet shard")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building the Arrow table failed.
    #[error("cannot build shard table")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A shard with no samples.
    #[error("a shard needs at least one sample")]
    Empty,
}

/// One named array of a sample, stored as little-endian bytes in C order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Field name (`s2`, `labels`): the tar member is `<key>.<name>.npy`, the Parquet column `<name>`.
    pub name: String,
    /// NumPy descr (`<u2`).
    pub descr: &'static str,
    /// NumPy dtype name (`uint16`).
    pub dtype: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Raw little-endian bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    /// A tensor from an array view.
    pub fn new<T: NpyElement>(name: &str, array: &ArrayViewD<'_, T>) -> Self {
        Self {
            name: name.to_owned(),
            descr: T::DESCR,
            dtype: T::DTYPE,
            shape: array.shape().to_vec(),
            data: raw_le_bytes(array),
        }
    }

    /// The tensor as a `.npy` file.
    pub fn to_npy(&self) -> Vec<u8> {
        let mut out = npy_header(self.descr, &self.shape);
        out.extend_from_slice(&self.data);
        out
    }

    fn signature(&self) -> String {
        format!("{} {:?}", self.dtype, self.shape)
    }
}

/// One training sample: a key (the patch id), tensors and JSON metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Unique key; WebDataset groups members by it.
    pub key: String,
    /// Arrays, e.g. `s2` (12, 120, 120) and `labels` (19,).
    pub tensors: Vec<Tensor>,
    /// Metadata (labels as names, split, country, …), stored as `<key>.json` / a `json` column.
    pub meta: serde_json::Value,
}

impl Sample {
    /// Encoded size estimate in bytes (tensor data plus metadata).
    pub fn size(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len() + 128).sum::<usize>() + self.meta.to_string().len()
    }
}

/// Encodes samples as a WebDataset tar: for each sample, `<key>.<tensor>.npy` members and `<key>.json`,
/// consecutive and in order, as `webdataset.WebDataset` expects.
pub fn webdataset_tar(samples: &[Sample]) -> Result<Vec<u8>, Error> {
    if samples.is_empty() {
        return Err(Error::Empty);
    }
    let mut tar = TarBuilder::new();
    for sample in samples {
        // WebDataset splits the key from the extension at the first dot of the file name: keys must not have one.
        let key = sample.key.replace('.', "_");
        for tensor in &sample.tensors {
            tar.append(&format!("{key}.{}.npy", tensor.name), &tensor.to_npy())?;
        }
        tar.append(&format!("{key}.json"), sample.meta.to_string().as_bytes())?;
    }
    Ok(tar.finish())
}

/// Encodes samples as a Parquet shard: `__key__`, one binary column per tensor (raw little-endian bytes, C order;
/// shape and dtype in the schema metadata as `<name>.shape` = `[12, 120, 120]`, `<name>.dtype` = `uint16`), and
/// a `json` metadata column. `numpy.frombuffer(v, dtype).reshape(shape)` restores a tensor.
pub fn parquet_shard(samples: &[Sample]) -> Result<Vec<u8>, Error> {
    let first = samples.first().ok_or(Error::Empty)?;
    let mut metadata = HashMap::new();
    for t in &first.tensors {
        metadata.insert(format!("{}.shape", t.name), format!("{:?}", t.shape));
        metadata.insert(format!("{}.dtype", t.name), t.dtype.to_owned());
    }
    for sample in samples {
        let same = sample.tensors.len() == first.tensors.len()
            && sample
                .tensors
                .iter()
                .zip(&first.tensors)
                .all(|(a, b)| a.name == b.name && a.signature() == b.signature());
        if !same {
            let describe = |s: &Sample| {
                s.tensors.iter().map(|t| format!("{}: {}", t.name, t.signature())).collect::<Vec<_>>().join(", ")
            };
            return Err(Error::Inconsistent {
                key: sample.key.clone(),
                tensor: "*".into(),
                expected: describe(first),
                found: describe(sample),
            });
        }
    }
    let mut fields = vec![Field::new("__key__", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> =
        vec![Arc::new(samples.iter().map(|s| Some(s.key.as_str())).collect::<StringArray>())];
    for (i, t) in first.tensors.iter().enumerate() {
        fields.push(Field::new(&t.name, DataType::Binary, false));
        columns.push(Arc::new(samples.iter().map(|s| Some(s.tensors[i].data.as_slice())).collect::<BinaryArray>()));
    }
    fields.push(Field::new("json", DataType::Utf8, false));
    columns.push(Arc::new(samples.iter().map(|s| Some(s.meta.to_string())).collect::<StringArray>()));
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    // Tensor data is already dense; ZSTD level 1 is fast and still removes the zeros and smooth gradients.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(256))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array3};

    fn sample(key: &str, v: u16) -> Sample {
        let img = Array3::<u16>::from_elem((2, 3, 4), v).into_dyn();
        let lab = Array1::<u8>::from(vec![0, 1, 0]).into_dyn();
        Sample {
            key: key.into(),
            tensors: vec![Tensor::new("img", &img.view()), Tensor::new("labels", &lab.view())],
            meta: serde_json::json!({"k": key}),
        }
    }

    #[test]
    fn tar_members_are_grouped_by_key() {
        let bytes = webdataset_tar(&[sample("a_1", 1), sample("b.2", 2)]).expect("tar");
        let names: Vec<String> = bytes
            .chunks(512)
            .filter(|h| h[257..262] == *b"ustar")
            .map(|h| String::from_utf8_lossy(&h[..100]).trim_end_matches('\0').to_owned())
            .collect();
        assert_eq!(names, ["a_1.img.npy", "a_1.labels.npy", "a_1.json", "b_2.img.npy", "b_2.labels.npy", "b_2.json"]);
    }

    #[test]
    fn parquet_rejects_mixed_shapes() {
        parquet_shard(&[sample("a", 1), sample("b", 2)]).expect("same shapes");
        let mut odd = sample("c", 3);
        odd.tensors[0].shape = vec![1, 2];
        let err = parquet_shard(&[sample("a", 1), odd]).expect_err("mixed");
        assert!(err.to_string().contains("`c`"), "{err}");
        assert!(matches!(parquet_shard(&[]), Err(Error::Empty)));
    }
}
