//! Names users type for our types (`--out-dtype uint16`, `--compress zstd`, `--resampling auto`): each type parses
//! itself, so command lines and config files share one spelling and one error.

use std::str::FromStr;

use crate::dtype::DataType;
use crate::raster::Resampling;
use crate::write::Compression;

/// A name that is not one of a type's, with the names it has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a {kind}; expected {expected}")]
pub struct UnknownName {
    /// What was being named (`data type`, `codec`).
    pub kind: &'static str,
    /// What was given.
    pub given: String,
    /// The names there are.
    pub expected: &'static str,
}

impl UnknownName {
    /// `given` is not a `kind`, whose names are `expected`.
    pub fn new(kind: &'static str, given: &str, expected: &'static str) -> Self {
        Self { kind, given: given.to_owned(), expected }
    }
}

impl FromStr for DataType {
    type Err = UnknownName;
    /// `uint8` (or `byte`), `uint16`, `int16`, `uint32`, `int32`, `float32`, `float64`, in any case.
    fn from_str(text: &str) -> Result<Self, UnknownName> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "uint8" | "byte" => Self::UInt8,
            "uint16" => Self::UInt16,
            "int16" => Self::Int16,
            "uint32" => Self::UInt32,
            "int32" => Self::Int32,
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            _ => {
                return Err(UnknownName::new(
                    "data type",
                    text,
                    "uint8, uint16, int16, uint32, int32, float32 or float64",
                ));
            }
        })
    }
}

/// A tile codec without its level (`--compress`; the level is `--level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// LZW.
    Lzw,
    /// DEFLATE (levels 1–9).
    Deflate,
    /// ZSTD (levels 1–22).
    Zstd,
}

impl FromStr for Codec {
    type Err = UnknownName;
    fn from_str(text: &str) -> Result<Self, UnknownName> {
        match text.to_ascii_lowercase().as_str() {
            "lzw" => Ok(Self::Lzw),
            "deflate" => Ok(Self::Deflate),
            "zstd" => Ok(Self::Zstd),
            _ => Err(UnknownName::new("codec", text, "lzw, deflate or zstd")),
        }
    }
}

impl Codec {
    /// The compression at `level` (ignored by LZW); a level the codec does not have is an error.
    pub fn at_level(self, level: u8) -> Result<Compression, String> {
        match self {
            Self::Lzw => Ok(Compression::Lzw),
            Self::Deflate if (1..=9).contains(&level) => Ok(Compression::Deflate { level }),
            Self::Zstd if (1..=22).contains(&level) => Ok(Compression::Zstd { level }),
            Self::Deflate => Err(format!("level {level}: DEFLATE levels are 1-9")),
            Self::Zstd => Err(format!("level {level}: ZSTD levels are 1-22")),
        }
    }
}

/// How overviews are reduced: chosen from the data, or fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverviewResampling {
    /// Nearest for one UInt8 band (classes, masks), average otherwise ([`Resampling::for_overviews`]).
    #[default]
    Auto,
    /// Nodata-aware mean of each 2×2 block.
    Average,
    /// Top-left pixel of each 2×2 block (class rasters).
    Nearest,
}

impl FromStr for OverviewResampling {
    type Err = UnknownName;
    fn from_str(text: &str) -> Result<Self, UnknownName> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "average" => Ok(Self::Average),
            "nearest" => Ok(Self::Nearest),
            _ => Err(UnknownName::new("overview resampling", text, "auto, average or nearest")),
        }
    }
}

impl OverviewResampling {
    /// The reduction for `bands` bands of `dtype`.
    pub fn for_data(self, dtype: DataType, bands: usize) -> Resampling {
        match self {
            Self::Auto => Resampling::for_overviews(dtype, bands),
            Self::Average => Resampling::Average,
            Self::Nearest => Resampling::Nearest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        assert_eq!("UInt16".parse::<DataType>(), Ok(DataType::UInt16));
        assert_eq!("byte".parse::<DataType>(), Ok(DataType::UInt8));
        let e = "int8".parse::<DataType>().expect_err("int8").to_string();
        assert!(e.contains("`int8` is not a data type") && e.contains("float64"), "{e}");
        assert_eq!("zstd".parse::<Codec>().map(|c| c.at_level(3)), Ok(Ok(Compression::Zstd { level: 3 })));
        assert!(Codec::Deflate.at_level(12).is_err());
        assert_eq!(
            "auto".parse::<OverviewResampling>().map(|r| r.for_data(DataType::UInt8, 1)),
            Ok(Resampling::Nearest)
        );
    }
}
