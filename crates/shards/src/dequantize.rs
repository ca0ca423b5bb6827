//! [`Dequantize`]: how an embedding product's stored integers map to its values — recorded in a set's `index.json`
//! (`dequantize`) and in the runs trained on it, so inference maps a scene's values as the windows were.

/// How an embedding product's stored integers map to its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dequantize {
    /// AlphaEarth Foundations' annual embeddings: signed bytes `v` to `sign(v)·(|v|/127.5)²` in [−1, 1].
    Aef,
}

impl Dequantize {
    /// The embedding value of a stored one.
    pub fn apply(self, stored: f64) -> f64 {
        match self {
            Self::Aef => (stored / 127.5).powi(2).copysign(stored),
        }
    }

    /// [`Dequantize::apply`] on `f32` values, as a plain function (an inference engine's input map).
    pub fn map_f32(self) -> fn(f32) -> f32 {
        match self {
            Self::Aef => |v| Self::Aef.apply(f64::from(v)) as f32,
        }
    }

    /// The mapping in words, for `index.json`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Aef => "aef: sign(v) * (|v| / 127.5)^2 of the stored signed bytes",
        }
    }
}

impl std::str::FromStr for Dequantize {
    type Err = String;

    /// `aef`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "aef" => Ok(Self::Aef),
            other => Err(format!("`{other}` is no known de-quantisation (aef)")),
        }
    }
}
