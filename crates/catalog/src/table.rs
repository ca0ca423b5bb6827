//! [`Catalog`]: typed patch records read from and written to Arrow/Parquet, validated on the way in.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use eoforge_sampling::Split;

use crate::error::{Error, Result};
use crate::labels::class19;
use crate::record::{LABEL_RASTER, PatchRecord, S1_BANDS, S2_BANDS, Sensor, path_column};

/// A validated dataset catalog: unique patch ids, known splits and labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Where it came from (for messages).
    pub source: String,
    /// The patches, in catalog order.
    pub records: Vec<PatchRecord>,
}

/// Reads Parquet bytes into Arrow record batches.
pub fn read_parquet(bytes: Bytes, source: &str) -> Result<Vec<RecordBatch>> {
    let err = |source_err| Error::Parquet { source_name: source.to_owned(), source: source_err };
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(err)?.with_batch_size(65_536).build().map_err(err)?;
    reader.collect::<std::result::Result<Vec<_>, _>>().map_err(Error::Arrow)
}

/// Writes record batches as ZSTD-compressed Parquet readable by pyarrow, DuckDB and Spark.
pub fn write_parquet(batches: &[RecordBatch]) -> Result<Bytes> {
    let Some(first) = batches.first() else {
        return Err(Error::Arrow(arrow::error::ArrowError::InvalidArgumentError("no record batches to write".into())));
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(Error::Write)?))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, first.schema(), Some(props)).map_err(Error::Write)?;
    for batch in batches {
        writer.write(batch).map_err(Error::Write)?;
    }
    writer.close().map_err(Error::Write)?;
    Ok(Bytes::from(out))
}

/// Reads and validates a Parquet catalog from a path or URL; returns it with its raw batches (to keep columns
/// eoforge does not interpret when writing an enriched copy).
pub async fn read_catalog(url: &str, options: &eoforge_storage::StoreOptions) -> Result<(Catalog, Vec<RecordBatch>)> {
    let (store, key) = eoforge_storage::Store::open_object(url, options)?;
    let bytes = store.get(&key).await?;
    let batches = read_parquet(bytes, url)?;
    Ok((Catalog::from_batches(&batches, url)?, batches))
}

/// Writes batches as Parquet to a path or URL, atomically.
pub async fn write_catalog(url: &str, batches: &[RecordBatch], options: &eoforge_storage::StoreOptions) -> Result<()> {
    let (store, key) = eoforge_storage::Store::open_object(url, options)?;
    store.put(&key, write_parquet(batches)?).await?;
    Ok(())
}

impl Catalog {
    /// Parses and validates a catalog from Parquet bytes (`source` names it in errors).
    pub fn from_parquet(bytes: Bytes, source: &str) -> Result<Self> {
        Self::from_batches(&read_parquet(bytes, source)?, source)
    }

    /// Builds and validates a catalog from Arrow batches: `patch_id` (string) and `labels` (list of strings) are
    /// required; `split`, `country`, `s1_name` and path columns (`s2_B04`, `s1_VV`, …) are read when present.
    pub fn from_batches(batches: &[RecordBatch], source: &str) -> Result<Self> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Err(Error::NoPatches { source_name: source.to_owned() });
        }
        let mut records = Vec::new();
        for batch in batches {
            let base = records.len();
            let ids =
                string_column(batch, "patch_id", source, true)?.ok_or_else(|| missing(batch, "patch_id", source))?;
            let labels = labels_column(batch, source)?;
            let split = string_column(batch, "split", source, false)?;
            let country = string_column(batch, "country", source, false)?;
            let s1_name = string_column(batch, "s1_name", source, false)?;
            let mut path_columns = Vec::new();
            for name in all_path_columns() {
                if let Some(col) = string_column(batch, &name, source, false)? {
                    path_columns.push((name, col));
                }
            }
            for row in 0..batch.num_rows() {
                let at = base + row;
                if ids.is_null(row) || ids.value(row).is_empty() {
                    return Err(Error::Empty { source_name: source.to_owned(), column: "patch_id".into(), row: at });
                }
                let patch_id = ids.value(row).to_owned();
                let split = match split.as_ref().filter(|c| !c.is_null(row)) {
                    Some(c) => Some(c.value(row).parse::<Split>().map_err(|_| Error::UnknownSplit {
                        source_name: source.to_owned(),
                        row: at,
                        patch_id: patch_id.clone(),
                        value: c.value(row).to_owned(),
                    })?),
                    None => None,
                };
                let value =
                    |c: &Option<StringArray>| c.as_ref().filter(|c| !c.is_null(row)).map(|c| c.value(row).to_owned());
                let paths = path_columns
                    .iter()
                    .filter(|(_, c)| !c.is_null(row) && !c.value(row).is_empty())
                    .map(|(name, c)| (name.clone(), c.value(row).to_owned()))
                    .collect();
                records.push(PatchRecord {
                    labels: labels.get(row).cloned().unwrap_or_default(),
                    split,
                    country: value(&country),
                    s1_name: value(&s1_name).filter(|s| !s.is_empty()),
                    paths,
                    patch_id,
                });
            }
        }
        let catalog = Self { source: source.to_owned(), records };
        catalog.validate()?;
        Ok(catalog)
    }

    /// Checks ids are unique and every label is in the BigEarthNet nomenclature (19- or 43-class).
    pub fn validate(&self) -> Result<()> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.records.len());
        for (row, record) in self.records.iter().enumerate() {
            if let Some(first) = seen.insert(record.patch_id.as_str(), row) {
                return Err(Error::DuplicateId {
                    source_name: self.source.clone(),
                    patch_id: record.patch_id.clone(),
                    first,
                    second: row,
                });
            }
            if let Some(label) = record.labels.iter().find(|l| class19(l).is_none()) {
                return Err(Error::UnknownLabel {
                    source_name: self.source.clone(),
                    row,
                    patch_id: record.patch_id.clone(),
                    label: label.clone(),
                });
            }
        }
        Ok(())
    }

    /// The catalog as one Arrow batch: `patch_id`, `labels`, `split`, `country`, `s1_name`, then every path
    /// column any record has.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut labels = ListBuilder::new(StringBuilder::new());
        for r in &self.records {
            for l in &r.labels {
                labels.values().append_value(l);
            }
            labels.append(true);
        }
        let strings = |f: &dyn Fn(&PatchRecord) -> Option<&str>| -> ArrayRef {
            Arc::new(self.records.iter().map(f).collect::<StringArray>())
        };
        let mut fields = vec![
            Field::new("patch_id", DataType::Utf8, false),
            Field::new("labels", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), false),
            Field::new("split", DataType::Utf8, true),
            Field::new("country", DataType::Utf8, true),
            Field::new("s1_name", DataType::Utf8, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            strings(&|r| Some(r.patch_id.as_str())),
            Arc::new(labels.finish()),
            strings(&|r| r.split.map(Split::name)),
            strings(&|r| r.country.as_deref()),
            strings(&|r| r.s1_name.as_deref()),
        ];
        for name in all_path_columns() {
            if self.records.iter().any(|r| r.paths.contains_key(&name)) {
                columns.push(strings(&|r| r.paths.get(&name).map(String::as_str)));
                fields.push(Field::new(name, DataType::Utf8, true));
            }
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
    }
}

/// Every path column eoforge knows, in output order: Sentinel-2 bands, Sentinel-1 bands, the label raster.
pub(crate) fn all_path_columns() -> Vec<String> {
    let mut names: Vec<String> = S2_BANDS.iter().map(|b| path_column(Sensor::S2, b)).collect();
    names.extend(S1_BANDS.iter().map(|b| path_column(Sensor::S1, b)));
    names.push(LABEL_RASTER.to_owned());
    names
}

fn missing(batch: &RecordBatch, column: &str, source: &str) -> Error {
    let present: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    Error::MissingColumn { source_name: source.to_owned(), column: column.to_owned(), present: present.join(", ") }
}

/// A string column as `StringArray` (Utf8, LargeUtf8 and Utf8View are accepted); `None` when absent.
fn string_column(batch: &RecordBatch, name: &str, source: &str, required: bool) -> Result<Option<StringArray>> {
    let Some(col) = batch.column_by_name(name) else {
        return if required { Err(missing(batch, name, source)) } else { Ok(None) };
    };
    match col.data_type() {
        // pyarrow writes an all-null column as the Null type.
        DataType::Null => Ok(Some(StringArray::new_null(col.len()))),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let utf8 =
                cast(col, &DataType::Utf8).map_err(|_| wrong(name, "a string column", col.data_type(), source))?;
            Ok(Some(utf8.as_string::<i32>().clone()))
        }
        other => Err(wrong(name, "a string column", other, source)),
    }
}

/// The `labels` column as one `Vec<String>` per row (list or large list of strings).
fn labels_column(batch: &RecordBatch, source: &str) -> Result<Vec<Vec<String>>> {
    let col = batch.column_by_name("labels").ok_or_else(|| missing(batch, "labels", source))?;
    let expected = "a list of strings";
    if col.data_type() == &DataType::Null {
        return Ok(vec![Vec::new(); col.len()]);
    }
    let item_ok = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let ok = match col.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::LargeListView(f) => {
            item_ok(f.data_type())
        }
        _ => false,
    };
    if !ok {
        return Err(wrong("labels", expected, col.data_type(), source));
    }
    let target = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let list = cast(col, &target).map_err(|_| wrong("labels", expected, col.data_type(), source))?;
    let list = list.as_list::<i32>();
    let mut out = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) {
            out.push(Vec::new());
            continue;
        }
        let values = list.value(row);
        let values = values.as_string::<i32>();
        out.push((0..values.len()).filter(|i| !values.is_null(*i)).map(|i| values.value(i).to_owned()).collect());
    }
    Ok(out)
}

fn wrong(column: &str, expected: &'static str, found: &DataType, source: &str) -> Error {
    Error::WrongType { source_name: source.to_owned(), column: column.to_owned(), expected, found: found.to_string() }
}
