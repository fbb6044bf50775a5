//! Credits and maintenance. A tenant reads its own credits; the platform operator grants a
//! tenant credits (the tenant's ledger aggregate) and turns maintenance on and off (the
//! platform settings aggregate: recorded with who and when, the same on every replica, on the
//! bus like any change). Maintenance refuses new submits (`MAINTENANCE_ACTIVE`); queued and
//! running jobs go on.

use crate::error::JobsError;
use crate::routing::amount;
use crate::views::time;
use crate::{Caller, Jobs};
use canopy_api_types::jobs::{CreditsView, MaintenanceView};
use canopy_domain::ledger::{CreditPolicy, LedgerCommand};
use canopy_domain::platform_settings::{PlatformSettings, PlatformSettingsCommand, DEPLOYMENT};
use canopy_domain::{Credits, TenantId};
use canopy_eventstore::CommandContext;
use canopy_policy::{Action, Decision, Target};

/// `"100"`, `"2.5"`, `"0.000001"`: a decimal number of credits with at most six decimals.
pub fn parse_credits(text: &str) -> Result<Credits, JobsError> {
    let bad = || JobsError::invalid("credits", format!("'{text}' is not a number of credits like 100 or 2.5"));
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(Credits::MICROS_PER_CREDIT)
        .and_then(|w| w.checked_add(fraction))
        .map(Credits::from_micros)
        .ok_or_else(bad)
}

impl Caller {
    fn require_operator(&self) -> Result<(), JobsError> {
        match canopy_policy::decide(&self.principal, &self.tenant, Action::Manage, &Target::Platform, &self.view) {
            Decision::Allow => Ok(()),
            Decision::Deny(denial) => Err(JobsError::denied(denial, || JobsError::not_found("the platform"))),
        }
    }
}

impl Jobs {
    /// The caller's tenant's credits.
    pub async fn credits(&self, caller: &Caller) -> Result<CreditsView, JobsError> {
        match canopy_policy::decide(&caller.principal, &caller.tenant, Action::Discover, &Target::Tenant, &caller.view)
        {
            Decision::Allow => {}
            Decision::Deny(denial) => return Err(JobsError::denied(denial, || JobsError::not_found("the tenant"))),
        }
        self.credits_of(&caller.tenant).await
    }

    async fn credits_of(&self, tenant: &TenantId) -> Result<CreditsView, JobsError> {
        let ledger = canopy_readmodels::get_ledger(self.pool(), tenant).await?;
        Ok(CreditsView {
            tenant: tenant.to_string(),
            granted: amount(ledger.granted),
            held: amount(ledger.held),
            spent: amount(ledger.spent),
            available: amount(ledger.available()),
            policy: match self.settings().credit_policy {
                CreditPolicy::Enforced => "enforced",
                CreditPolicy::Unlimited => "unlimited",
            }
            .into(),
        })
    }

    /// The operator grants `tenant` credits (`{"credits": "100", "note": "..."}`).
    pub async fn grant_credits(
        &self,
        caller: &Caller,
        tenant: &str,
        arguments: &serde_json::Value,
    ) -> Result<CreditsView, JobsError> {
        caller.require_operator()?;
        let args = crate::args::object(arguments)?;
        let credits = parse_credits(crate::args::required(args, "credits", None)?)?;
        let note = crate::args::string(args, "note", None)?.unwrap_or_default().to_string();
        let unknown = || JobsError::not_found(format!("tenant '{tenant}'"));
        let tenant = TenantId::parse(tenant).map_err(|_| unknown())?;
        if tenant.as_str() == TenantId::PLATFORM
            || canopy_readmodels::get_tenant(self.pool(), tenant.as_str()).await?.is_none()
        {
            return Err(unknown());
        }
        let ctx = CommandContext::new(tenant.clone(), caller.principal.subject.clone());
        self.write_ledger(&ctx, LedgerCommand::Grant { amount: credits, note }).await.map_err(JobsError::execute)?;
        self.credits_of(&tenant).await
    }

    /// Whether maintenance is on (the operator's view).
    pub async fn maintenance(&self, caller: &Caller) -> Result<MaintenanceView, JobsError> {
        caller.require_operator()?;
        self.maintenance_view().await
    }

    async fn maintenance_view(&self) -> Result<MaintenanceView, JobsError> {
        Ok(match canopy_readmodels::maintenance(self.pool()).await? {
            Some((message, since)) => MaintenanceView {
                active: true,
                message: Some(message).filter(|m| !m.is_empty()),
                since: Some(time(since)),
            },
            None => MaintenanceView { active: false, message: None, since: None },
        })
    }

    /// The operator turns maintenance on (`{"active": true, "message": "..."}`) or off.
    pub async fn set_maintenance(
        &self,
        caller: &Caller,
        active: bool,
        message: &str,
    ) -> Result<MaintenanceView, JobsError> {
        caller.require_operator()?;
        let ctx = CommandContext::new(TenantId::platform(), caller.principal.subject.clone());
        let command = PlatformSettingsCommand::SetMaintenance { active, message: message.to_string() };
        self.executor().execute::<PlatformSettings>(&ctx, DEPLOYMENT, &command).await.map_err(JobsError::execute)?;
        self.maintenance_view().await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_credits;

    #[test]
    fn credits_parse_exactly() {
        for (text, micros) in [("100", 100_000_000), ("2.5", 2_500_000), ("0.000001", 1), (" 3 ", 3_000_000)] {
            assert_eq!(parse_credits(text).unwrap().micros(), micros, "{text}");
        }
        for bad in ["", "-1", "1.0000001", "1e3", "abc", ".5", "99999999999999999999"] {
            let err = parse_credits(bad).unwrap_err().to_string();
            assert!(err.starts_with("credits "), "{bad}: {err}");
        }
    }
}
