//! Workspaces in the object store, so a python environment's files outlive the worker that
//! has them: after a restart, or on another worker once that one is gone, the environment is
//! re-created from its frozen specification and its workspace from here.
//!
//! ```text
//! tenants/{tenant}/workspaces/{env_id}/manifest.json   path → object, size, mtime, mode
//! tenants/{tenant}/workspaces/{env_id}/f/{sha256(path)} a file's bytes
//! ```
//!
//! Objects are named by a digest of the path, not the path itself, so every name a workspace
//! may hold (`notes~`, `data[1].csv`) is kept as it is: an object key refuses such characters.
//!
//! When: every call naming an environment (its id, or a REPL's or process's), except calls of
//! the tools declared read-only, saves the workspace before the call is answered
//! ([`WorkspaceSync::save`]): a run, a REPL execution or a process may have changed files, so
//! what a caller was answered is what a restart finds.
//! Only files whose size or modification time changed since the last save are uploaded; the
//! manifest is written after them and replaces the previous one whole (the point at which a
//! save counts), and objects of removed files are deleted last, so a save cut short by a crash
//! leaves the previous manifest's files readable. Saves of one environment take turns.
//! Regular files only: symlinks and special files are not kept (a symlink's target is never
//! read: the walk does not follow them and files are opened beneath the workspace).

use canopy_blobs::{BlobKey, BlobPrefix, BlobStore};
use canopy_domain::TenantId;
use canopy_pyenv::{Engine, EnvId, RegularFile};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The saved state of one workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// `canopy.workspace/v1`.
    format: String,
    files: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    modified_ns: i128,
    mode: u32,
}

const FORMAT: &str = "canopy.workspace/v1";

/// Saves and restores workspaces; one per python server.
pub struct WorkspaceSync {
    blobs: BlobStore,
    /// Per environment: what its last save (or restore) left in the store, behind the lock
    /// its saves take turns on. Not known (a restart): the manifest is read first.
    saved: Mutex<HashMap<EnvId, Arc<tokio::sync::Mutex<Option<Manifest>>>>>,
    /// The largest file uploaded (the workspace quota: no file of a workspace is larger).
    max_file_bytes: u64,
}

fn key(tenant: &TenantId, env: &EnvId, name: &str) -> Result<BlobKey, String> {
    BlobKey::new(tenant, &["workspaces", env.as_str(), name]).map_err(|e| format!("workspace object key: {e}"))
}

fn file_key(tenant: &TenantId, env: &EnvId, path: &str) -> Result<BlobKey, String> {
    let digest = hex(&Sha256::digest(path.as_bytes()));
    BlobKey::new(tenant, &["workspaces", env.as_str(), "f", &digest]).map_err(|e| format!("workspace object key: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl WorkspaceSync {
    pub fn new(blobs: BlobStore, max_file_bytes: u64) -> Self {
        Self { blobs, saved: Mutex::default(), max_file_bytes }
    }

    fn turn(&self, env: &EnvId) -> Arc<tokio::sync::Mutex<Option<Manifest>>> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).entry(env.clone()).or_default().clone()
    }

    async fn read_manifest(&self, tenant: &TenantId, env: &EnvId) -> Result<Manifest, String> {
        let read = match self.blobs.get_stream(&key(tenant, env, "manifest.json")?).await {
            Ok(read) => read,
            Err(canopy_blobs::BlobError::NotFound) => return Ok(Manifest::default()),
            Err(e) => return Err(format!("reading the workspace's manifest failed: {e}")),
        };
        let mut bytes = Vec::new();
        let mut body = read.body;
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| format!("reading the workspace's manifest failed: {e}"))?);
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| format!("the workspace's manifest is not readable: {e}"))?;
        if manifest.format != FORMAT {
            return Err(format!("the workspace's manifest has format {:?}, not {FORMAT}", manifest.format));
        }
        Ok(manifest)
    }

    /// Saves environment `env`'s workspace (see the module doc); what changed since the last save.
    pub async fn save(&self, engine: &Engine, tenant: &TenantId, env: &EnvId) -> Result<(), String> {
        let turn = self.turn(env);
        let mut saved = turn.lock().await;
        if saved.is_none() {
            *saved = Some(self.read_manifest(tenant, env).await?);
        }
        let before = saved.as_ref().expect("read above");
        let (walker, id) = (engine.clone(), env.clone());
        let files = tokio::task::spawn_blocking(move || walker.workspace_files(&id))
            .await
            .map_err(|e| format!("listing the workspace failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let mut after = Manifest { format: FORMAT.into(), files: BTreeMap::new() };
        for RegularFile { path, size, modified_ns, mode } in files {
            let entry = Entry { size, modified_ns, mode };
            if before.files.get(&path) != Some(&entry) {
                match self.upload(engine, tenant, env, &path).await {
                    Ok(()) => {}
                    // Gone or replaced by something else since the walk: the next save sees it.
                    Err(Upload::Vanished) => continue,
                    Err(Upload::Failed(e)) => return Err(e),
                }
            }
            after.files.insert(path, entry);
        }
        if after.files != before.files || before.format != FORMAT {
            let manifest = serde_json::to_vec(&after).expect("manifests serialise");
            self.blobs
                .put_bytes(&key(tenant, env, "manifest.json")?, Some("application/json"), manifest.into())
                .await
                .map_err(|e| format!("saving the workspace's manifest failed: {e}"))?;
            for gone in before.files.keys().filter(|path| !after.files.contains_key(*path)) {
                if let Err(e) = self.blobs.delete(&file_key(tenant, env, gone)?).await {
                    tracing::warn!(env = %env, error = %e, "a removed workspace file's object was not deleted");
                }
            }
        }
        *saved = Some(after);
        Ok(())
    }

    async fn upload(&self, engine: &Engine, tenant: &TenantId, env: &EnvId, path: &str) -> Result<(), Upload> {
        let file = match engine.open_workspace_file(env, path) {
            Ok(file) => file,
            Err(canopy_pyenv::WorkspaceError::NotFound { .. } | canopy_pyenv::WorkspaceError::WrongKind { .. }) => {
                return Err(Upload::Vanished)
            }
            Err(e) => return Err(Upload::Failed(format!("saving workspace file {path:?} failed: {e}"))),
        };
        let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
        let key = file_key(tenant, env, path).map_err(Upload::Failed)?;
        self.blobs
            .put_stream(&key, None, body, self.max_file_bytes)
            .await
            .map(drop)
            .map_err(|e| Upload::Failed(format!("saving workspace file {path:?} failed: {e}")))
    }

    /// Puts the saved files of environment `env` (just re-created, its workspace empty) back
    /// in its workspace; how many.
    pub async fn restore(&self, engine: &Engine, tenant: &TenantId, env: &EnvId) -> Result<usize, String> {
        let turn = self.turn(env);
        let mut saved = turn.lock().await;
        let manifest = self.read_manifest(tenant, env).await?;
        let mut restored = Manifest { format: FORMAT.into(), files: BTreeMap::new() };
        for (path, entry) in &manifest.files {
            let read = self
                .blobs
                .get_stream(&file_key(tenant, env, path)?)
                .await
                .map_err(|e| format!("restoring workspace file {path:?} failed: {e}"))?;
            let file = engine
                .create_workspace_file(env, path)
                .map_err(|e| format!("restoring workspace file {path:?} failed: {e}"))?;
            let mut file = tokio::fs::File::from_std(file);
            let mut body = read.body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("restoring workspace file {path:?} failed: {e}"))?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(|e| format!("restoring workspace file {path:?} failed: {e}"))?;
            }
            let file = file.into_std().await;
            let _ = file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(entry.mode));
            let meta = file.metadata().map_err(|e| format!("restoring workspace file {path:?} failed: {e}"))?;
            let modified_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            restored.files.insert(path.clone(), Entry { size: meta.len(), modified_ns, mode: entry.mode });
        }
        // The store holds these files already: the next save uploads only what changes after.
        *saved = Some(restored);
        Ok(manifest.files.len())
    }

    /// Deletes everything saved of environment `env` (it was destroyed).
    pub async fn forget(&self, tenant: &TenantId, env: &EnvId) -> Result<(), String> {
        let turn = self.turn(env);
        let mut saved = turn.lock().await;
        let prefix = BlobPrefix::new(tenant, &["workspaces", env.as_str()]).map_err(|e| e.to_string())?;
        let mut objects = self.blobs.list(&prefix);
        while let Some(object) = objects.next().await {
            let object = object.map_err(|e| format!("listing the saved workspace failed: {e}"))?;
            self.blobs.delete(&object.key).await.map_err(|e| format!("deleting the saved workspace failed: {e}"))?;
        }
        *saved = Some(Manifest { format: FORMAT.into(), files: BTreeMap::new() });
        drop(saved);
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).remove(env);
        Ok(())
    }
}

enum Upload {
    Vanished,
    Failed(String),
}
