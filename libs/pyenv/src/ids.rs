//! Typed ids for environments, REPL sessions and spawned processes, so one is never passed
//! where another is meant. 128 random bits from the kernel, as hex; serde makes each the
//! same bytes as a string on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (`env_`, `repl_` or `proc_` and 32 hex digits).
            pub fn random() -> Self {
                $name(format!(concat!($prefix, "{}"), random_hex()))
            }

            /// An id given by a caller (a restore on another worker keeps its id). Only
            /// `[A-Za-z0-9_-]`, 1 to 64 characters: it names a directory.
            pub fn parse(s: &str) -> Option<Self> {
                let ok = !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                ok.then(|| $name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(EnvId, "env_");
id_type!(SessionId, "repl_");
id_type!(ProcessId, "proc_");

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: getrandom(2) writes at most the given length into the buffer.
        let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
