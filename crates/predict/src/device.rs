//! Where a model runs: the CPU, or an NVIDIA GPU (builds with the `cuda` feature: burn-cuda for trained runs,
//! ONNX Runtime's CUDA execution provider for ONNX models; nothing CUDA is needed at build time).

use std::str::FromStr;

use crate::error::Error;

/// A device named by `--device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The CPU.
    #[default]
    Cpu,
    /// GPU `N` (`cuda:N`; `cuda` is GPU 0).
    Cuda(usize),
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let usage = |reason: &str| Error::Usage(format!("--device {text}: {reason}"));
        match text.split_once(':').unwrap_or((text, "0")) {
            ("cpu", _) => Ok(Self::Cpu),
            ("cuda", index) => {
                let index = index.parse().map_err(|_| usage("expected cuda:N with N a GPU index"))?;
                if cfg!(feature = "cuda") {
                    Ok(Self::Cuda(index))
                } else {
                    Err(usage("this build has no CUDA support (build with `--features cuda`)"))
                }
            }
            _ => Err(usage("expected cpu, cuda or cuda:N")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_cuda_needs_the_feature() {
        assert_eq!("cpu".parse::<Device>().ok(), Some(Device::Cpu));
        let cuda = "cuda:1".parse::<Device>();
        if cfg!(feature = "cuda") {
            assert_eq!(cuda.ok(), Some(Device::Cuda(1)));
        } else {
            assert!(cuda.err().is_some_and(|e| e.to_string().contains("--features cuda")));
        }
        assert!("tpu".parse::<Device>().is_err() && "cuda:x".parse::<Device>().is_err());
    }
}
