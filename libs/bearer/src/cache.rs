//! Keys that are read again now and then: the value last read, when it was last attempted,
//! and a gate so that many requests wanting a reload at once cause one read.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub(crate) struct Reloading<T> {
    current: RwLock<Option<Arc<T>>>,
    attempted: Mutex<Option<Instant>>,
    /// The last attempt failed (the previous value, if any, stays in use).
    failed: AtomicBool,
    /// Counts reads, so a caller can tell whether the keys changed since it took them.
    generation: AtomicU64,
    gate: tokio::sync::Mutex<()>,
}

impl<T> Reloading<T> {
    pub fn new() -> Self {
        Reloading {
            current: RwLock::new(None),
            attempted: Mutex::new(None),
            failed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Option<Arc<T>> {
        self.current.read().expect("keys lock").clone()
    }

    /// The cached value and the read it came from.
    pub fn get_with_generation(&self) -> (Option<Arc<T>>, u64) {
        let generation = self.generation.load(Ordering::Acquire);
        (self.get(), generation)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn attempted_within(&self, gap: Duration) -> bool {
        self.attempted.lock().expect("keys lock").is_some_and(|at| at.elapsed() < gap)
    }

    /// Reads again, for a caller whose value (of read `seen`) did not do: unless another read
    /// has happened since `seen` (then its value is the answer). Reads are at least `gap`
    /// apart: a caller that comes sooner waits for the rest of the gap (a key rotated in just
    /// after a read is found on the next one, not refused), and callers that queue meanwhile
    /// share that read.
    pub async fn reload_since<F, Fut, E>(&self, seen: u64, gap: Duration, what: &str, fetch: &F) -> Option<Arc<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: std::fmt::Display,
    {
        let _gate = self.gate.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return self.get();
        }
        let wait = self.attempted.lock().expect("keys lock").map(|at| gap.saturating_sub(at.elapsed()));
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
        self.read(what, fetch).await;
        self.get()
    }

    /// The periodic read: only when `every` has passed, and only by a request that finds no
    /// other read in progress (the others go on with the cached value).
    pub async fn refresh_if_due<F, Fut, E>(&self, every: Duration, what: &str, fetch: &F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: std::fmt::Display,
    {
        if self.get().is_none() || self.attempted_within(every) {
            return;
        }
        if let Ok(_gate) = self.gate.try_lock() {
            if !self.attempted_within(every) {
                self.read(what, fetch).await;
            }
        }
    }

    async fn read<F, Fut, E>(&self, what: &str, fetch: &F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: std::fmt::Display,
    {
        *self.attempted.lock().expect("keys lock") = Some(Instant::now());
        let fetched = fetch().await;
        self.generation.fetch_add(1, Ordering::AcqRel);
        match fetched {
            Ok(value) => {
                self.failed.store(false, Ordering::Relaxed);
                *self.current.write().expect("keys lock") = value.map(Arc::new);
            }
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, "{what} could not be read; the keys read before stay in use");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn reloads_are_rate_limited_and_failures_keep_the_old_value() {
        let cache: Reloading<u32> = Reloading::new();
        let reads = AtomicUsize::new(0);
        let answer = Mutex::new(Ok::<_, String>(Some(1)));
        let fetch = || {
            reads.fetch_add(1, Ordering::SeqCst);
            let value = answer.lock().unwrap().clone();
            async move { value }
        };
        let gap = Duration::from_millis(200);
        let (_, seen) = cache.get_with_generation();
        assert_eq!(cache.reload_since(seen, gap, "k", &fetch).await.as_deref(), Some(&1));
        // Someone else read since `seen`: its value, no read.
        assert_eq!(cache.reload_since(seen, gap, "k", &fetch).await.as_deref(), Some(&1));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Too soon after the last read: waits for the gap, then reads.
        *answer.lock().unwrap() = Ok(Some(2));
        let (_, seen) = cache.get_with_generation();
        let started = Instant::now();
        assert_eq!(cache.reload_since(seen, gap, "k", &fetch).await.as_deref(), Some(&2));
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
        *answer.lock().unwrap() = Err("down".into());
        let (_, seen) = cache.get_with_generation();
        assert_eq!(cache.reload_since(seen, Duration::ZERO, "k", &fetch).await.as_deref(), Some(&2), "kept");
        assert!(cache.failed());
        cache.refresh_if_due(Duration::from_secs(60), "k", &fetch).await;
        assert_eq!(reads.load(Ordering::SeqCst), 3, "not due");
    }
}
