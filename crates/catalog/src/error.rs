//! The catalog error type: every variant names the catalog and, where it applies, the column, row or patch.

/// Result alias for catalog operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A catalog failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not readable Parquet.
    #[error("cannot read catalog `{source_name}` as Parquet")]
    Parquet {
        /// Catalog location.
        source_name: String,
        /// The reader's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A required column is absent.
    #[error("catalog `{source_name}` has no column `{column}` (columns: {present})")]
    MissingColumn {
        /// Catalog location.
        source_name: String,
        /// The missing column.
        column: String,
        /// The columns it does have.
        present: String,
    },

    /// A column has the wrong type.
    #[error("catalog `{source_name}` column `{column}` is {found}, expected {expected}")]
    WrongType {
        /// Catalog location.
        source_name: String,
        /// The column.
        column: String,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: String,
    },

    /// The catalog has no rows, or a scan found no patch folders.
    #[error("catalog `{source_name}` holds no patches")]
    NoPatches {
        /// Catalog location (or the scanned folder).
        source_name: String,
    },

    /// A required value is null or empty.
    #[error("catalog `{source_name}` row {row}: `{column}` is empty")]
    Empty {
        /// Catalog location.
        source_name: String,
        /// The column.
        column: String,
        /// 0-based row.
        row: usize,
    },

    /// Two rows share a patch id.
    #[error("catalog `{source_name}` has duplicate patch id `{patch_id}` in rows {first} and {second}")]
    DuplicateId {
        /// Catalog location.
        source_name: String,
        /// The repeated id.
        patch_id: String,
        /// 0-based row of the first occurrence.
        first: usize,
        /// 0-based row of the repeat.
        second: usize,
    },

    /// A split value that is not train/validation/test.
    #[error(
        "catalog `{source_name}` row {row} (patch `{patch_id}`): unknown split `{value}` (expected train, validation or test)"
    )]
    UnknownSplit {
        /// Catalog location.
        source_name: String,
        /// 0-based row.
        row: usize,
        /// The patch.
        patch_id: String,
        /// The value found.
        value: String,
    },

    /// A label outside the BigEarthNet nomenclature.
    #[error("catalog `{source_name}` row {row} (patch `{patch_id}`): unknown label `{label}`")]
    UnknownLabel {
        /// Catalog location.
        source_name: String,
        /// 0-based row.
        row: usize,
        /// The patch.
        patch_id: String,
        /// The label found.
        label: String,
    },

    /// A patch folder in a scanned tree is incomplete or malformed.
    #[error("patch `{patch_id}` at `{url}`: {reason}")]
    BadPatch {
        /// The patch.
        patch_id: String,
        /// Its folder or file.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// Building or writing Arrow data failed.
    #[error("cannot build catalog table: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// Writing Parquet failed.
    #[error("cannot write catalog Parquet")]
    Write(#[source] parquet::errors::ParquetError),

    /// Storage failure (reading the catalog, scanning, existence checks).
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
}
