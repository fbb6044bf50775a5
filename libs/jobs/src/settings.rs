//! What the jobs service is configured with, read once from `[jobs]`: the credit policy, the
//! backends' price table, per-tenant quotas, URL lifetimes, lease and follow limits.

use canopy_config::Config;
use canopy_domain::ledger::CreditPolicy;
use canopy_domain::{Credits, TenantId};
use std::collections::BTreeMap;
use std::time::Duration;

/// One execution backend the router may choose, with its prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// `local`, `ray`, ...
    pub name: String,
    pub per_hour: Credits,
    pub start_fee: Credits,
    /// How long it takes to start a job (what `speed` routing compares).
    pub startup: Duration,
    /// Image patterns it runs; `*` matches any run of characters.
    pub images: Vec<String>,
}

impl Backend {
    pub fn runs_image(&self, image: &str) -> bool {
        self.images.iter().any(|pattern| glob_match(pattern, image))
    }
}

/// A tenant's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Jobs held by runners at once; more wait queued.
    pub max_concurrent_jobs: u64,
    /// The longest a job may run (the poller's bound, and the estimate's upper bound).
    pub max_job_duration: Duration,
    pub max_upload_bytes: u64,
}

impl From<canopy_config::JobQuotas> for Quotas {
    fn from(q: canopy_config::JobQuotas) -> Self {
        Quotas {
            max_concurrent_jobs: q.max_concurrent_jobs,
            max_job_duration: Duration::from_secs(q.max_job_duration_secs),
            max_upload_bytes: q.max_upload_bytes,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobsSettings {
    pub credit_policy: CreditPolicy,
    /// The enabled backends, in name order.
    pub backends: Vec<Backend>,
    pub quotas: Quotas,
    pub tenant_quotas: BTreeMap<String, Quotas>,
    pub url_ttl: Duration,
    pub follow_max: Duration,
    pub lease: Duration,
    pub capacity_stale: Duration,
    /// Canopy's public base URL (for `complete_url`), without a trailing slash.
    pub public_base: String,
}

impl JobsSettings {
    pub fn from_config(config: &Config) -> Self {
        let jobs = &config.jobs;
        let credits = |c: f64| Credits::from_micros((c * Credits::MICROS_PER_CREDIT as f64).round() as u64);
        let backends = jobs
            .backends
            .iter()
            .filter(|(_, b)| b.enabled)
            .map(|(name, b)| Backend {
                name: name.clone(),
                per_hour: credits(b.credits_per_hour),
                start_fee: credits(b.start_fee_credits),
                startup: Duration::from_secs(b.startup_secs),
                images: b.images.clone(),
            })
            .collect();
        JobsSettings {
            credit_policy: if config.credits_enforced() { CreditPolicy::Enforced } else { CreditPolicy::Unlimited },
            backends,
            quotas: jobs.quotas.into(),
            tenant_quotas: jobs.tenants.keys().map(|t| (t.clone(), jobs.quotas_for(t).into())).collect(),
            url_ttl: Duration::from_secs(jobs.url_ttl_secs),
            follow_max: Duration::from_secs(jobs.follow_max_secs),
            lease: Duration::from_secs(jobs.lease_secs),
            capacity_stale: Duration::from_secs(jobs.capacity_stale_secs),
            public_base: config.public_base(),
        }
    }

    pub fn quotas(&self, tenant: &TenantId) -> Quotas {
        self.tenant_quotas.get(tenant.as_str()).copied().unwrap_or(self.quotas)
    }

    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Every image pattern an enabled backend runs, for the refusal of one none runs.
    pub fn runnable_images(&self) -> Vec<String> {
        let mut images: Vec<String> = self.backends.iter().flat_map(|b| b.images.iter().cloned()).collect();
        images.sort();
        images.dedup();
        images
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("python:3.*", "python:3.11-slim", true),
            ("python:3.*", "python:3.", true),
            ("python:3.*", "python:2.7", false),
            ("python:3.*", "xpython:3.1", false),
            ("*", "anything", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ubuntu", "ubuntu", true),
            ("ubuntu", "ubuntu:22.04", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
        }
    }
}
