//! Where tensors live: the backend is picked at run time, by name.
//!
//! flex (burn's pure-Rust CPU backend) is always compiled in and is the default everywhere,
//! the browser included. wgpu (Vulkan/Metal/DX12, and WebGPU in wasm) and CUDA are cargo
//! features of this crate (`wgpu`, `webgpu`, `cuda`): asking for one that this build does not
//! contain is an error that says which feature to turn on, never a silent CPU fallback.
//!
//! A run on several devices of one machine takes a list (`--devices cuda:0,cuda:1`):
//! [`parse_devices`] checks its form, [`devices`] that the machine has them
//! (see [`train::multi`](crate::train::multi)).
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
    /// A `--devices` entry that is not `KIND:INDEX`.
    #[error("`{0}` is not a device: expected KIND:INDEX, such as cuda:0 or cpu:1")]
    BadSpec(String),
    /// An empty `--devices` list.
    #[error("no device given: expected a list such as cuda:0,cuda:1")]
    Empty,
    /// A `--devices` list naming two backends.
    #[error(
        "the devices mix {first} and {other}: every device of a run must be of one kind, such as cuda:0,cuda:1"
    )]
    MixedKinds {
        /// The first entry's backend.
        first: DeviceKind,
        /// Another entry's.
        other: DeviceKind,
    },
    /// A device listed twice.
    #[error("device {0} is listed twice")]
    Duplicate(DeviceSpec),
    /// An index this machine does not have.
    #[error("device {spec} does not exist: this machine has {available} {kind} device{s}{range}{hint}",
        kind = spec.kind,
        s = if *available == 1 { "" } else { "s" },
        range = if *available == 0 {
            String::new()
        } else {
            format!(" ({}:0 to {}:{})", spec.kind, spec.kind, available - 1)
        },
        hint = if spec.kind == DeviceKind::Cpu {
            "; cpu:N are replicas of the model on the CPU, at most one per core"
        } else {
            ""
        })]
    OutOfRange {
        /// The entry.
        spec: DeviceSpec,
        /// How many devices of its kind there are.
        available: usize,
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

/// One device of a `--devices` list: a backend and the index of one of its devices
/// (`cuda:1`, `wgpu:0`, `cpu:0`).
///
/// `cuda:N` is CUDA device N, `wgpu:N` the N-th adapter burn enumerates (natively). The CPU has
/// one device (flex) that uses every core: `cpu:0,cpu:1` are two replicas of the model on it,
/// which run the multi-device path (sharding, gathering gradients) without adding compute; at
/// most one per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    /// The backend.
    pub kind: DeviceKind,
    /// Which of its devices.
    pub index: usize,
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.index)
    }
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    /// `KIND:INDEX`, or `KIND` alone for index 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (kind, index) = match s.split_once(':') {
            Some((kind, index)) => {
                let index = index
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| DeviceError::BadSpec(s.to_string()))?;
                (kind, index)
            }
            None => (s, 0),
        };
        if kind.trim().is_empty() {
            return Err(DeviceError::BadSpec(s.to_string()));
        }
        Ok(DeviceSpec {
            kind: kind.parse()?,
            index,
        })
    }
}

/// Parses a `--devices` list (`cuda:0,cuda:1`): one backend, each device once, a backend this
/// build contains. Whether the indices exist is checked by [`devices`], on the machine.
///
/// # Errors
/// [`DeviceError::BadSpec`], [`DeviceError::Unknown`], [`DeviceError::Empty`],
/// [`DeviceError::MixedKinds`], [`DeviceError::Duplicate`], [`DeviceError::NotCompiled`].
pub fn parse_devices(list: &str) -> Result<Vec<DeviceSpec>, DeviceError> {
    let specs = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse::<DeviceSpec>)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = specs.first().copied() else {
        return Err(DeviceError::Empty);
    };
    for (i, spec) in specs.iter().enumerate() {
        if spec.kind != first.kind {
            return Err(DeviceError::MixedKinds {
                first: first.kind,
                other: spec.kind,
            });
        }
        if specs[..i].contains(spec) {
            return Err(DeviceError::Duplicate(*spec));
        }
    }
    if !first.kind.is_compiled() {
        return Err(not_compiled(first.kind));
    }
    Ok(specs)
}

/// A parsed `--devices` list ([`parse_devices`]), for argument parsers that take `FromStr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList(pub Vec<DeviceSpec>);

impl DeviceList {
    /// The backend of every device of the list.
    pub fn kind(&self) -> DeviceKind {
        self.0.first().map_or(DeviceKind::Cpu, |s| s.kind)
    }
}

impl FromStr for DeviceList {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_devices(s).map(DeviceList)
    }
}

impl fmt::Display for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, spec) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{spec}")?;
        }
        Ok(())
    }
}

/// How many devices of `kind` this machine has (CPU: its cores, the most replicas allowed).
/// Opens the GPU backend to count its devices.
///
/// # Errors
/// [`DeviceError::NotCompiled`] when the backend's cargo feature is off in this build.
pub fn device_count(kind: DeviceKind) -> Result<usize, DeviceError> {
    match kind {
        DeviceKind::Cpu => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        DeviceKind::Wgpu => wgpu_devices().map(|d| d.len()),
        DeviceKind::Cuda => cuda_count(),
    }
}

/// The devices of a parsed `--devices` list, in its order, without autodiff.
///
/// # Errors
/// [`DeviceError::OutOfRange`] for an index this machine does not have, and the errors of
/// [`parse_devices`] for a list that did not come from it.
pub fn devices(specs: &[DeviceSpec]) -> Result<Vec<Device>, DeviceError> {
    let Some(first) = specs.first() else {
        return Err(DeviceError::Empty);
    };
    if !first.kind.is_compiled() {
        return Err(not_compiled(first.kind));
    }
    let count = device_count(first.kind)?;
    if let Some(spec) = specs.iter().find(|s| s.index >= count) {
        return Err(DeviceError::OutOfRange {
            spec: *spec,
            available: count,
        });
    }
    let wgpu = if first.kind == DeviceKind::Wgpu {
        wgpu_devices()?
    } else {
        Vec::new()
    };
    specs
        .iter()
        .map(|spec| match spec.kind {
            DeviceKind::Cpu => Ok(Device::flex()),
            DeviceKind::Wgpu => Ok(wgpu[spec.index].clone()),
            DeviceKind::Cuda => cuda_device_at(spec.index),
        })
        .collect()
}

fn not_compiled(kind: DeviceKind) -> DeviceError {
    DeviceError::NotCompiled {
        kind,
        feature: match kind {
            DeviceKind::Wgpu if cfg!(target_arch = "wasm32") => "webgpu",
            DeviceKind::Wgpu => "wgpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Cpu => "flex",
        },
    }
}

/// The wgpu adapters burn finds natively; in the browser, the one WebGPU device.
#[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
fn wgpu_devices() -> Result<Vec<Device>, DeviceError> {
    Ok(Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec())
}

#[cfg(not(all(feature = "wgpu", not(target_family = "wasm"))))]
fn wgpu_devices() -> Result<Vec<Device>, DeviceError> {
    wgpu_device().map(|d| vec![d])
}

#[cfg(feature = "cuda")]
fn cuda_count() -> Result<usize, DeviceError> {
    Ok(Device::enumerate(burn::tensor::DeviceType::Cuda).len())
}

#[cfg(not(feature = "cuda"))]
fn cuda_count() -> Result<usize, DeviceError> {
    Err(not_compiled(DeviceKind::Cuda))
}

#[cfg(feature = "cuda")]
fn cuda_device_at(index: usize) -> Result<Device, DeviceError> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device_at(_index: usize) -> Result<Device, DeviceError> {
    Err(not_compiled(DeviceKind::Cuda))
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

    #[test]
    fn device_lists_parse_in_order() {
        let specs = parse_devices("cpu:0, cpu:1").unwrap();
        assert_eq!(
            specs,
            [
                DeviceSpec {
                    kind: DeviceKind::Cpu,
                    index: 0
                },
                DeviceSpec {
                    kind: DeviceKind::Cpu,
                    index: 1
                }
            ]
        );
        assert_eq!(specs[1].to_string(), "cpu:1");
        // A bare kind is its device 0; flex is cpu.
        assert_eq!(parse_devices("flex").unwrap(), [specs[0]]);
    }

    #[test]
    fn bad_device_lists_say_what_is_wrong() {
        let err = |s: &str| parse_devices(s).unwrap_err();
        assert_eq!(err(""), DeviceError::Empty);
        assert_eq!(err(" , "), DeviceError::Empty);
        assert_eq!(err("cpu:x"), DeviceError::BadSpec("cpu:x".into()));
        assert_eq!(err(":1"), DeviceError::BadSpec(":1".into()));
        assert_eq!(err("tpu:0"), DeviceError::Unknown("tpu".into()));
        assert_eq!(
            err("cpu:0,wgpu:0"),
            DeviceError::MixedKinds {
                first: DeviceKind::Cpu,
                other: DeviceKind::Wgpu
            }
        );
        let dup = err("cpu:1,cpu:0,cpu:1");
        assert_eq!(dup.to_string(), "device cpu:1 is listed twice");
    }

    #[test]
    fn cpu_replicas_are_one_per_core_at_most() {
        let cores = device_count(DeviceKind::Cpu).unwrap();
        assert!(cores >= 1);
        let ok = devices(&parse_devices("cpu:0").unwrap()).unwrap();
        assert_eq!(ok, [Device::flex()]);
        let err = devices(&parse_devices(&format!("cpu:0,cpu:{cores}")).unwrap()).unwrap_err();
        assert!(
            matches!(err, DeviceError::OutOfRange { available, .. } if available == cores),
            "{err}"
        );
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    /// Natively, wgpu adapters are enumerated; the first index past them is refused.
    #[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
    #[test]
    fn wgpu_adapters_are_counted_and_an_index_past_them_refused() {
        let count = device_count(DeviceKind::Wgpu).unwrap();
        eprintln!("wgpu adapters found: {count}");
        let past = DeviceSpec {
            kind: DeviceKind::Wgpu,
            index: count,
        };
        assert_eq!(
            devices(&[past]).unwrap_err(),
            DeviceError::OutOfRange {
                spec: past,
                available: count
            }
        );
        if count > 0 {
            let first = DeviceSpec { index: 0, ..past };
            assert_eq!(devices(&[first]).unwrap().len(), 1);
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_device_list_of_a_missing_backend_names_the_feature() {
        let err = parse_devices("cuda:0,cuda:1").unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_names_the_feature_to_enable() {
        let err = device(DeviceKind::Cuda).unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
        assert!(!DeviceKind::Cuda.is_compiled());
    }
}
