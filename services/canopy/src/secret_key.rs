//! Finding the key that seals upstream secrets: configured, or in development mode generated
//! once into the state folder and reused.

use canopy_config::{Config, Mode};
use canopy_secrets::Sealer;
use std::io::Write;

pub fn resolve(config: &Config) -> anyhow::Result<Sealer> {
    if !config.secrets.key.is_empty() {
        return Sealer::from_base64(&config.secrets.key)
            .map_err(|e| anyhow::anyhow!("secrets.key (CANOPY_SECRET_KEY): {e}"));
    }
    anyhow::ensure!(config.mode == Mode::Development, "secrets.key (CANOPY_SECRET_KEY) is required in enterprise mode");
    let path = config.state_dir.join("secret.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Sealer::from_base64(&existing).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        anyhow::anyhow!("cannot create state_dir {} (CANOPY_STATE_DIR): {e}", config.state_dir.display())
    })?;
    let key = Sealer::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(key.as_bytes())?;
            tracing::info!(path = %path.display(), "generated the development secret key");
            Sealer::from_base64(&key).map_err(Into::into)
        }
        // Another process of this deployment created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let existing = std::fs::read_to_string(&path)?;
            Sealer::from_base64(&existing).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}
