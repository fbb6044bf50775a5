//! What the api's test binaries share (each test file is a crate of its own: `mod support;`).

pub mod console;

use canopy_bus::Bus;
use canopy_eventstore::CommandExecutor;
use canopy_readmodels::CanopyProjector;

/// The jobs service an `ApiState` of a test holds: the default configuration, blobs in a
/// folder under the system's temporary directory, a fixed sealing key.
pub fn jobs(executor: &CommandExecutor<CanopyProjector>, bus: &Bus) -> canopy_jobs::Jobs {
    let blobs = std::env::temp_dir().join("canopy-test-blobs").display().to_string();
    let config = canopy_config::Config::from_layers(None, &[("CANOPY_BLOBS_DIR".into(), blobs)]).unwrap();
    let sealer = canopy_secrets::Sealer::from_bytes(&[1u8; 32]).unwrap();
    canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer).unwrap()
}
