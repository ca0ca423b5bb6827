//! Reading shards back: a WebDataset tar into the [`Sample`]s it holds, as the training loader needs them.

use crate::sample::{Sample, Tensor};

/// A shard that cannot be read, naming the shard and what is wrong (member, offset).
#[derive(Debug, thiserror::Error)]
#[error("cannot read shard `{shard}`: {reason}")]
pub struct ReadError {
    /// The shard (path or URL as given).
    pub shard: String,
    /// What is wrong.
    pub reason: String,
}

/// The element types a shard's `.npy` members may hold: descr → dtype name.
const DTYPES: [(&str, &str); 6] =
    [("|u1", "uint8"), ("|i1", "int8"), ("<u2", "uint16"), ("<i2", "int16"), ("<f2", "float16"), ("<f4", "float32")];

/// Bytes per element of a known descr.
fn element_size(descr: &str) -> usize {
    match descr {
        "|u1" | "|i1" => 1,
        "<f4" => 4,
        _ => 2,
    }
}

/// Decodes a WebDataset tar (as [`crate::webdataset_tar`] writes it, or any tar of `<key>.<name>.npy` and
/// `<key>.json` members, consecutive per key) into its samples, in order. `shard` names it in errors: a
/// truncated archive, a bad header checksum, a member that is not a C-order `.npy` of a known dtype, invalid
/// JSON, or a key whose members are not consecutive.
pub fn read_webdataset_tar(bytes: &[u8], shard: &str) -> Result<Vec<Sample>, ReadError> {
    let err = |reason: String| ReadError { shard: shard.to_owned(), reason };
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut at = 0;
    loop {
        let header = bytes.get(at..at + 512).ok_or_else(|| err(format!("the archive ends inside a header at {at}")))?;
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let stored = octal(&header[148..156]).ok_or_else(|| err(format!("unreadable checksum at {at}")))?;
        let sum: u64 =
            header.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) }).sum();
        if stored != sum {
            return Err(err(format!("header checksum mismatch at byte {at}")));
        }
        let name = member_name(header);
        let size = octal(&header[124..136]).ok_or_else(|| err(format!("`{name}`: unreadable size")))? as usize;
        let data = bytes
            .get(at + 512..at + 512 + size)
            .ok_or_else(|| err(format!("`{name}`: the archive ends inside its {size} bytes")))?;
        at += 512 + size.next_multiple_of(512);
        if !matches!(header[156], b'0' | 0) {
            continue; // directories, links and extended headers carry no sample data
        }
        let base = name.rsplit('/').next().unwrap_or(&name);
        let Some((key, ext)) = base.split_once('.') else {
            return Err(err(format!("`{name}`: no extension after the sample key")));
        };
        let key = format!("{}{key}", &name[..name.len() - base.len()]);
        if samples.last().is_none_or(|s| s.key != key) {
            if !seen.insert(key.clone()) {
                return Err(err(format!("`{name}`: the members of sample `{key}` are not consecutive")));
            }
            samples.push(Sample { key: key.clone(), tensors: Vec::new(), meta: serde_json::Value::Null });
        }
        let sample = samples.last_mut().ok_or_else(|| err("no sample".into()))?;
        if ext == "json" {
            sample.meta = serde_json::from_slice(data).map_err(|e| err(format!("`{name}`: {e}")))?;
        } else if let Some(tensor) = ext.strip_suffix(".npy") {
            sample.tensors.push(parse_npy(tensor, data).map_err(|reason| err(format!("`{name}`: {reason}")))?);
        }
    }
    Ok(samples)
}

/// Decodes a Parquet shard (as [`crate::parquet_shard`] writes it: `__key__`, one binary column per tensor with
/// `<name>.shape` and `<name>.dtype` in the schema metadata, and `json`) into its samples, in row order. Errors
/// name `shard`: not Parquet, a missing column or metadata entry, a value whose size disagrees with its shape.
pub fn read_parquet_shard(bytes: &[u8], shard: &str) -> Result<Vec<Sample>, ReadError> {
    use arrow::array::{Array, BinaryArray, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let err = |reason: String| ReadError { shard: shard.to_owned(), reason };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|e| err(format!("not a Parquet shard: {e}")))?;
    let schema = builder.schema().clone();
    let metadata = schema.metadata();
    // Tensor columns: every binary column, with its dtype and shape from the schema metadata.
    let mut tensors = Vec::new();
    for field in schema.fields() {
        if field.data_type() != &arrow::datatypes::DataType::Binary {
            continue;
        }
        let name = field.name();
        let meta = |suffix: &str| {
            metadata
                .get(&format!("{name}.{suffix}"))
                .ok_or_else(|| err(format!("no `{name}.{suffix}` in the schema metadata")))
        };
        let dtype = meta("dtype")?;
        let &(descr, dtype) = DTYPES
            .iter()
            .find(|(_, d)| d == dtype)
            .ok_or_else(|| err(format!("`{name}` has unsupported dtype {dtype}")))?;
        let shape: Vec<usize> =
            serde_json::from_str(meta("shape")?).map_err(|e| err(format!("`{name}.shape`: {e}")))?;
        tensors.push((name.clone(), descr, dtype, shape));
    }
    let reader = builder.build().map_err(|e| err(e.to_string()))?;
    let mut samples = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        let column = |name: &str| batch.column_by_name(name).ok_or_else(|| err(format!("no `{name}` column")));
        let strings = |name: &str| {
            column(name)?
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| err(format!("`{name}` is not a string column")))
        };
        let keys = strings("__key__")?;
        let json = strings("json")?;
        let mut binaries = Vec::with_capacity(tensors.len());
        for (name, ..) in &tensors {
            let values = column(name)?.as_any().downcast_ref::<BinaryArray>().cloned();
            binaries.push(values.ok_or_else(|| err(format!("`{name}` is not a binary column")))?);
        }
        for row in 0..batch.num_rows() {
            let key = keys.value(row).to_owned();
            let meta = serde_json::from_str(json.value(row)).map_err(|e| err(format!("row `{key}`: json: {e}")))?;
            let mut sample_tensors = Vec::with_capacity(tensors.len());
            for ((name, descr, dtype, shape), values) in tensors.iter().zip(&binaries) {
                let data = values.value(row);
                let size = element_size(descr);
                let expected = shape.iter().product::<usize>() * size;
                if data.len() != expected || values.is_null(row) {
                    return Err(err(format!("row `{key}`: `{name}` holds {} bytes, {expected} expected", data.len())));
                }
                sample_tensors.push(Tensor {
                    name: name.clone(),
                    descr,
                    dtype,
                    shape: shape.clone(),
                    data: data.to_vec(),
                });
            }
            samples.push(Sample { key, tensors: sample_tensors, meta });
        }
    }
    Ok(samples)
}

/// The member's path: the ustar prefix and name fields joined.
fn member_name(header: &[u8]) -> String {
    let field = |range: std::ops::Range<usize>| {
        let raw = &header[range];
        String::from_utf8_lossy(&raw[..raw.iter().position(|b| *b == 0).unwrap_or(raw.len())]).into_owned()
    };
    let (prefix, name) = (field(345..500), field(0..100));
    if &header[257..262] == b"ustar" && !prefix.is_empty() { format!("{prefix}/{name}") } else { name }
}

/// An octal tar number field (NUL- or space-terminated).
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() { Some(0) } else { u64::from_str_radix(digits, 8).ok() }
}

/// A `.npy` member as a [`Tensor`]: version 1–3 header, C order, a dtype of [`DTYPES`].
fn parse_npy(name: &str, bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or non-UTF-8 .npy header")?;
    if !header.contains("'fortran_order': False") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let (descr, dtype) = DTYPES
        .iter()
        .find(|(d, _)| header.contains(&format!("'descr': '{d}'")))
        .ok_or_else(|| format!("unsupported dtype in header {header:?}"))?;
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape in the .npy header")?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape entry {s:?}")))
        .collect::<Result<_, _>>()?;
    let data = &bytes[start + len..];
    let size = element_size(descr);
    let expected = shape.iter().product::<usize>() * size;
    if data.len() != expected {
        return Err(format!("{} data bytes for shape {shape:?} of {dtype}, {expected} expected", data.len()));
    }
    Ok(Tensor { name: name.to_owned(), descr, dtype, shape, data: data.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array3};

    fn samples() -> Vec<Sample> {
        (0..3)
            .map(|i| Sample {
                key: format!("patch_{i}"),
                tensors: vec![
                    Tensor::new("s2", &Array3::<u16>::from_elem((2, 3, 4), i as u16).into_dyn().view()),
                    Tensor::new("labels", &Array1::<u8>::from(vec![1, 0, i as u8]).into_dyn().view()),
                ],
                meta: serde_json::json!({ "patch_id": format!("patch_{i}") }),
            })
            .collect()
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let written = samples();
        let tar = crate::webdataset_tar(&written).expect("encode");
        assert_eq!(read_webdataset_tar(&tar, "t.tar").expect("decode"), written);
    }

    #[test]
    fn parquet_shards_read_back_like_tars() {
        let written = samples();
        let parquet = crate::parquet_shard(&written).expect("encode");
        assert_eq!(read_parquet_shard(&parquet, "t.parquet").expect("decode"), written);
        let err = read_parquet_shard(&parquet[..parquet.len() / 2], "s3://b/t.parquet").expect_err("truncated");
        assert!(err.to_string().contains("s3://b/t.parquet"), "{err}");
    }

    #[test]
    fn corrupt_archives_are_errors_naming_the_shard() {
        let tar = crate::webdataset_tar(&samples()).expect("encode");
        let cut = read_webdataset_tar(&tar[..700], "s3://b/train-000001.tar").expect_err("truncated");
        assert!(cut.to_string().contains("s3://b/train-000001.tar") && cut.reason.contains("ends inside"), "{cut}");
        let mut flipped = tar.clone();
        flipped[5] ^= 1;
        assert!(read_webdataset_tar(&flipped, "x").expect_err("checksum").reason.contains("checksum"));
        let mut bad_npy = tar;
        bad_npy[513] = b'X'; // inside the first member's .npy magic
        assert!(read_webdataset_tar(&bad_npy, "x").expect_err("npy").reason.contains("not a .npy"));
    }
}
