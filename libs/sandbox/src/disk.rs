//! How much disk a workspace uses, for the workspace bound. A host directory cannot be
//! given a quota without a filesystem that has them, so the supervisor measures it every
//! 250 ms while the sandbox runs and stops it past the bound; `RLIMIT_FSIZE` bounds each
//! file meanwhile, so the overshoot of one check is at most what the sandbox writes in 250 ms.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes of disk the files under `dir` occupy (allocated blocks, so sparse files count for
/// what they hold). Symlinks are not followed; unreadable entries count as zero.
pub fn used_bytes(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}
