//! Where tensors live: the backend is picked at run time, by name.
//!
//! flex (burn's pure-Rust CPU backend) is always compiled in and is the default everywhere,
//! the browser included. wgpu (Vulkan/Metal/DX12, and WebGPU in wasm) and CUDA are cargo
//! features of this crate (`wgpu`, `webgpu`, `cuda`): asking for one that this build does not
//! contain is an error that says which feature to turn on, never a silent CPU fallback.
//!
//! ```
//! use ajuste_trainer::device::{device, DeviceKind};
//!
//! let kind: DeviceKind = "cpu".parse().unwrap();
//! let dev = device(kind).unwrap();
//! assert!(!dev.is_autodiff());
//! ```

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// The compute backends ajuste can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceKind {
    /// burn's flex backend: pure Rust, multi-threaded natively, works in wasm too.
    #[default]
    Cpu,
    /// burn's wgpu backend: Vulkan, Metal, DX12 natively; the browser's WebGPU in wasm.
    Wgpu,
    /// burn's CUDA backend (first GPU).
    Cuda,
}

impl DeviceKind {
    /// Every kind, in the order `--device` help lists them.
    pub const ALL: [DeviceKind; 3] = [DeviceKind::Cpu, DeviceKind::Wgpu, DeviceKind::Cuda];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Wgpu => "wgpu",
            DeviceKind::Cuda => "cuda",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            DeviceKind::Cpu => true,
            DeviceKind::Wgpu => cfg!(any(feature = "wgpu", feature = "webgpu")),
            DeviceKind::Cuda => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a device could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The name is none of `cpu`, `wgpu`, `cuda`.
    #[error("unknown device `{0}`: expected one of cpu, wgpu, cuda (flex is an alias of cpu)")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "device `{kind}` is not compiled into this build; rebuild ajuste-trainer with `--features {feature}`"
    )]
    NotCompiled {
        /// The device asked for.
        kind: DeviceKind,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
}

impl FromStr for DeviceKind {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(DeviceKind::Cpu),
            "wgpu" | "webgpu" | "gpu" | "vulkan" | "metal" => Ok(DeviceKind::Wgpu),
            "cuda" => Ok(DeviceKind::Cuda),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

/// The device for `kind`, without autodiff (call `.autodiff()` on it to train).
///
/// # Errors
/// [`DeviceError::NotCompiled`] when the backend's cargo feature is off in this build.
pub fn device(kind: DeviceKind) -> Result<Device, DeviceError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::flex()),
        DeviceKind::Wgpu => wgpu_device(),
        DeviceKind::Cuda => cuda_device(),
    }
}

#[cfg(any(feature = "wgpu", feature = "webgpu"))]
fn wgpu_device() -> Result<Device, DeviceError> {
    // Lazy: the adapter is chosen (and in a browser must be initialised asynchronously with
    // `Device::wgpu_options().init_async()`) before the first tensor is created.
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(any(feature = "wgpu", feature = "webgpu")))]
fn wgpu_device() -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        kind: DeviceKind::Wgpu,
        feature: if cfg!(target_arch = "wasm32") {
            "webgpu"
        } else {
            "wgpu"
        },
    })
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, DeviceError> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        kind: DeviceKind::Cuda,
        feature: "cuda",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_kind() {
        for kind in DeviceKind::ALL {
            assert_eq!(kind.name().parse::<DeviceKind>(), Ok(kind));
        }
        assert_eq!("FLEX".parse::<DeviceKind>(), Ok(DeviceKind::Cpu));
    }

    #[test]
    fn unknown_name_is_an_error_naming_it() {
        let err = "tpu".parse::<DeviceKind>().unwrap_err();
        assert_eq!(err, DeviceError::Unknown("tpu".into()));
        assert!(err.to_string().contains("`tpu`"));
    }

    #[test]
    fn cpu_is_always_available() {
        let dev = device(DeviceKind::Cpu).unwrap();
        assert!(!dev.is_autodiff());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_names_the_feature_to_enable() {
        let err = device(DeviceKind::Cuda).unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
        assert!(!DeviceKind::Cuda.is_compiled());
    }
}
