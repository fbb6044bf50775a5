//! HTTPS without a proxy: the listener's TLS (rustls with the aws-lc-rs provider the tree
//! already links), from a PEM certificate chain and key (`http.tls_cert_file`,
//! `http.tls_key_file`, `--tls-cert`, `--tls-key`), reloaded when the files change.
//!
//! The certificate is chosen per handshake by [`ReloadingCert`], a `ResolvesServerCert` holding
//! the current pair; [`watch`] looks at both files' modification time, size and inode every
//! few seconds and, when either changed, loads the pair again. A pair that loads (certificates
//! parse, the key parses and matches the first certificate) replaces the current one for every
//! new connection; one that does not (half written, mismatched, garbage) keeps the current one,
//! with a warning naming the file and the reason (never the file's content), and is tried again
//! when a file changes once more. Connections already open keep the certificate they began with.

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the certificate and key files are looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The certificate the listener presents: the last pair of files that loaded.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    /// Loads the pair once; an error names the setting and the file (start-up fails with it).
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = load_pair(cert_file, key_file, &provider)?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The pair presented to new connections now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, pair: CertifiedKey) {
        let pair = Arc::new(pair);
        match self.current.write() {
            Ok(mut current) => *current = pair,
            Err(poisoned) => *poisoned.into_inner() = pair,
        }
    }

    /// The rustls server configuration choosing this certificate at each handshake, HTTP/1.1
    /// only (what the listener speaks), TLS 1.2 and 1.3.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Loads the files again: true if the pair was replaced.
    fn reload(&self) -> bool {
        match load_pair(&self.cert_file, &self.key_file, &self.provider) {
            Ok(pair) => {
                self.replace(pair);
                tracing::info!(
                    cert = %self.cert_file.display(),
                    key = %self.key_file.display(),
                    "TLS certificate reloaded; new connections get the new one"
                );
                true
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "TLS certificate files changed but do not load; keeping the current certificate");
                false
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reads a PEM certificate chain and its private key and checks they belong together. Errors
/// name the setting and the path, never what the file holds.
fn load_pair(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_setting = "http.tls_cert_file (CANOPY_TLS_CERT_FILE, --tls-cert)";
    let key_setting = "http.tls_key_file (CANOPY_TLS_KEY_FILE, --tls-key)";
    let pem =
        std::fs::read(cert_file).with_context(|| format!("{cert_setting}: cannot read '{}'", cert_file.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{cert_setting}: '{}' is not PEM certificates: {e}", cert_file.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "{cert_setting}: '{}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert_file.display()
        );
    }
    let pem =
        std::fs::read(key_file).with_context(|| format!("{key_setting}: cannot read '{}'", key_file.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{key_setting}: '{}' holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key_file.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        anyhow::anyhow!(
            "{key_setting}: the key in '{}' does not fit the certificate in '{}': {e}",
            key_file.display(),
            cert_file.display()
        )
    })
}

/// What tells a file changed: modification time, size and (on Unix) inode, so a file replaced
/// by a rename or a Kubernetes secret's symlink swap counts even with an equal mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(SystemTime, u64, u64)>);

fn stamp(path: &Path) -> Stamp {
    Stamp(std::fs::metadata(path).ok().map(|m| {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), inode)
    }))
}

/// Looks at the files every `interval` until `stop`, loading them again when either changed.
pub async fn watch(cert: Arc<ReloadingCert>, interval: Duration, stop: CancellationToken) {
    let stamps = || (stamp(&cert.cert_file), stamp(&cert.key_file));
    // The files as last tried: a pair that failed is tried again only once a file changes.
    let mut tried = stamps();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        let now = stamps();
        if now != tried {
            cert.reload();
            tried = now;
        }
    }
}
