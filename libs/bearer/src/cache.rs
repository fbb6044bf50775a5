//! Keys that are read again now and then: the value last read, when it was last attempted,
//! and a gate so that many requests wanting a reload at once cause one read.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub(crate) struct Reloading<T> {
    current: RwLock<Option<Arc<T>>>,
    attempted: Mutex<Option<Instant>>,
    /// The last attempt failed (the previous value, if any, stays in use).
    failed: AtomicBool,
    gate: tokio::sync::Mutex<()>,
}

impl<T> Reloading<T> {
    pub fn new() -> Self {
        Reloading {
            current: RwLock::new(None),
            attempted: Mutex::new(None),
            failed: AtomicBool::new(false),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Option<Arc<T>> {
        self.current.read().expect("keys lock").clone()
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn attempted_within(&self, gap: Duration) -> bool {
        self.attempted.lock().expect("keys lock").is_some_and(|at| at.elapsed() < gap)
    }

    /// Reads again unless the last attempt was less than `gap` ago (waiting for a read in
    /// progress), and answers what is cached then.
    pub async fn reload<F, Fut, E>(&self, gap: Duration, what: &str, fetch: &F) -> Option<Arc<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: std::fmt::Display,
    {
        let _gate = self.gate.lock().await;
        if !self.attempted_within(gap) {
            self.read(what, fetch).await;
        }
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
        match fetch().await {
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
        assert_eq!(cache.reload(Duration::from_secs(60), "k", &fetch).await.as_deref(), Some(&1));
        *answer.lock().unwrap() = Ok(Some(2));
        assert_eq!(cache.reload(Duration::from_secs(60), "k", &fetch).await.as_deref(), Some(&1), "too soon");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.reload(Duration::ZERO, "k", &fetch).await.as_deref(), Some(&2));
        *answer.lock().unwrap() = Err("down".into());
        assert_eq!(cache.reload(Duration::ZERO, "k", &fetch).await.as_deref(), Some(&2), "kept");
        assert!(cache.failed());
        cache.refresh_if_due(Duration::from_secs(60), "k", &fetch).await;
        assert_eq!(reads.load(Ordering::SeqCst), 3, "not due");
    }
}
