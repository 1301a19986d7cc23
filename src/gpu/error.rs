//! Errors of the CUDA path.

use cudarc::driver::DriverError;

/// What went wrong on the CUDA path.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// A CUDA driver call failed (`what` names the step).
    #[error("CUDA {what}: {source}")]
    Driver {
        what: String,
        #[source]
        source: DriverError,
    },
    /// The inputs or statistics options cannot run on this kernel.
    #[error("{0}")]
    Unsupported(String),
    /// An error of the CPU side (statistics options, the CPU reference).
    #[error(transparent)]
    Lib(#[from] crate::Error),
}

/// Result of the CUDA path.
pub type GpuResult<T> = std::result::Result<T, GpuError>;

/// Adds the step's name to a driver error.
pub(crate) trait DriverContext<T> {
    fn ctx(self, what: &str) -> GpuResult<T>;
}

impl<T> DriverContext<T> for std::result::Result<T, DriverError> {
    fn ctx(self, what: &str) -> GpuResult<T> {
        self.map_err(|source| GpuError::Driver {
            what: what.to_string(),
            source,
        })
    }
}
