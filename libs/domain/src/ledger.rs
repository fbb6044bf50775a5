//! A tenant's credit ledger: one stream per tenant. The operator grants credits; a submit holds
//! the estimate's upper bound (refused with `INSUFFICIENT_FUNDS` when it does not fit); the end
//! of the job settles what it actually cost and releases the rest of its hold. Holds and
//! settlements are keyed by job id, so a redelivered hold or settlement changes nothing.
//!
//! A job is never charged more than it held: the hold is the price the caller accepted at
//! submit, and an overrun is the estimate's error, recorded (`actual` above `charged`) but not
//! billed. Under [`CreditPolicy::Unlimited`] (development) holds are recorded but never refused,
//! so usage is still visible; the balance may then go below zero.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::credits::Credits;
use crate::error_code::{ErrorCode, HasErrorCode};
use crate::ids::JobId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const GRANT_NOTE_MAX_CHARS: usize = 256;

/// Whether holds must fit the balance; the caller picks it from the deployment's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditPolicy {
    Enforced,
    /// Development: credits never run out.
    Unlimited,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LedgerCommand {
    Grant { amount: Credits, note: String },
    Hold { job: JobId, amount: Credits, policy: CreditPolicy },
    Settle { job: JobId, actual: Credits },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LedgerEvent {
    Granted {
        amount: Credits,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    HoldPlaced {
        job: JobId,
        amount: Credits,
        /// Placed under [`CreditPolicy::Unlimited`], without checking the balance.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unlimited: bool,
    },
    /// `charged` = min(`actual`, `held`); `held - charged` goes back to the balance.
    Settled { job: JobId, held: Credits, actual: Credits, charged: Credits },
}

const LEDGER_EVENT_TYPES: &[&str] = &["ledger.granted", "ledger.hold_placed", "ledger.settled"];

impl DomainEvent for LedgerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            LedgerEvent::Granted { .. } => LEDGER_EVENT_TYPES[0],
            LedgerEvent::HoldPlaced { .. } => LEDGER_EVENT_TYPES[1],
            LedgerEvent::Settled { .. } => LEDGER_EVENT_TYPES[2],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(LEDGER_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a grant must be more than zero credits")]
    ZeroGrant,
    #[error("the grant note must be at most {GRANT_NOTE_MAX_CHARS} characters")]
    NoteTooLong,
    #[error("the amount is too large")]
    Overflow,
    #[error("insufficient funds: the job needs {needed} and {available} are available")]
    InsufficientFunds { needed: Credits, available: Credits },
    #[error("job '{job}' already holds {held}; a hold of {requested} cannot replace it")]
    HoldConflict { job: JobId, held: Credits, requested: Credits },
    #[error("job '{0}' was already settled")]
    AlreadySettled(JobId),
    #[error("job '{job}' was already settled at {charged}")]
    SettleConflict { job: JobId, charged: Credits },
    #[error("job '{0}' holds no credits to settle")]
    NoHold(JobId),
}

impl HasErrorCode for LedgerError {
    fn code(&self) -> ErrorCode {
        match self {
            LedgerError::ZeroGrant | LedgerError::NoteTooLong | LedgerError::Overflow => ErrorCode::InvalidRequest,
            LedgerError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
            LedgerError::HoldConflict { .. }
            | LedgerError::AlreadySettled(_)
            | LedgerError::SettleConflict { .. }
            | LedgerError::NoHold(_) => ErrorCode::Conflict,
        }
    }
}

/// A settled job: what it held and what it was charged, kept so a redelivered settlement is
/// recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub held: Credits,
    pub actual: Credits,
    pub charged: Credits,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub granted: Credits,
    /// Sum of the open holds.
    pub held: Credits,
    /// Sum of what settled jobs were charged.
    pub spent: Credits,
    pub open_holds: BTreeMap<JobId, Credits>,
    pub settled: BTreeMap<JobId, Settlement>,
}

impl Ledger {
    /// What a new hold may take: granted, less open holds and spending; zero when overdrawn.
    pub fn available(&self) -> Credits {
        self.granted.saturating_sub(self.committed())
    }

    /// How far unlimited holds and spending went beyond the grants.
    pub fn overdrawn(&self) -> Credits {
        self.committed().saturating_sub(self.granted)
    }

    /// Jobs that held credits and are not settled yet (for a reconciler after a crash).
    pub fn unsettled_jobs(&self) -> BTreeSet<&JobId> {
        self.open_holds.keys().collect()
    }

    fn committed(&self) -> Credits {
        // Both sums are bounded by checked additions in `decide`; saturate rather than wrap.
        self.held.checked_add(self.spent).unwrap_or(Credits::from_micros(u64::MAX))
    }
}

impl Aggregate for Ledger {
    const TYPE: &'static str = "ledger";
    type Command = LedgerCommand;
    type Event = LedgerEvent;
    type Error = LedgerError;

    fn decide(&self, command: &LedgerCommand) -> Result<Vec<LedgerEvent>, LedgerError> {
        match command {
            LedgerCommand::Grant { amount, note } => {
                if *amount == Credits::ZERO {
                    return Err(LedgerError::ZeroGrant);
                }
                if note.chars().count() > GRANT_NOTE_MAX_CHARS {
                    return Err(LedgerError::NoteTooLong);
                }
                self.granted.checked_add(*amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![LedgerEvent::Granted { amount: *amount, note: note.trim().to_string() }])
            }
            LedgerCommand::Hold { job, amount, policy } => {
                if let Some(held) = self.open_holds.get(job) {
                    return if held == amount {
                        Ok(vec![])
                    } else {
                        Err(LedgerError::HoldConflict { job: job.clone(), held: *held, requested: *amount })
                    };
                }
                if self.settled.contains_key(job) {
                    return Err(LedgerError::AlreadySettled(job.clone()));
                }
                self.held.checked_add(*amount).and_then(|h| h.checked_add(self.spent)).ok_or(LedgerError::Overflow)?;
                let unlimited = *policy == CreditPolicy::Unlimited;
                if !unlimited && *amount > self.available() {
                    return Err(LedgerError::InsufficientFunds { needed: *amount, available: self.available() });
                }
                Ok(vec![LedgerEvent::HoldPlaced { job: job.clone(), amount: *amount, unlimited }])
            }
            LedgerCommand::Settle { job, actual } => {
                if let Some(done) = self.settled.get(job) {
                    return if done.actual == *actual {
                        Ok(vec![])
                    } else {
                        Err(LedgerError::SettleConflict { job: job.clone(), charged: done.charged })
                    };
                }
                let Some(held) = self.open_holds.get(job) else {
                    return Err(LedgerError::NoHold(job.clone()));
                };
                let charged = (*actual).min(*held);
                Ok(vec![LedgerEvent::Settled { job: job.clone(), held: *held, actual: *actual, charged }])
            }
        }
    }

    fn apply(mut self, event: &LedgerEvent) -> Ledger {
        // Sums saturate: `decide` refuses what would overflow, so saturation never happens
        // on a history this code wrote.
        let add = |a: Credits, b: Credits| a.checked_add(b).unwrap_or(Credits::from_micros(u64::MAX));
        match event {
            LedgerEvent::Granted { amount, .. } => self.granted = add(self.granted, *amount),
            LedgerEvent::HoldPlaced { job, amount, .. } => {
                self.held = add(self.held, *amount);
                self.open_holds.insert(job.clone(), *amount);
            }
            LedgerEvent::Settled { job, held, actual, charged } => {
                if let Some(open) = self.open_holds.remove(job) {
                    self.held = self.held.saturating_sub(open);
                } else {
                    self.held = self.held.saturating_sub(*held);
                }
                self.spent = add(self.spent, *charged);
                self.settled.insert(job.clone(), Settlement { held: *held, actual: *actual, charged: *charged });
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(micros: u64) -> Credits {
        Credits::from_micros(micros)
    }
    fn job(n: u32) -> JobId {
        JobId::parse(format!("job_{n}")).unwrap()
    }
    fn grant(micros: u64) -> LedgerCommand {
        LedgerCommand::Grant { amount: c(micros), note: "welcome".into() }
    }
    fn hold(n: u32, micros: u64) -> LedgerCommand {
        LedgerCommand::Hold { job: job(n), amount: c(micros), policy: CreditPolicy::Enforced }
    }
    fn settle(n: u32, micros: u64) -> LedgerCommand {
        LedgerCommand::Settle { job: job(n), actual: c(micros) }
    }

    /// Runs commands in order; each must be accepted.
    fn run(commands: &[LedgerCommand]) -> Ledger {
        commands.iter().fold(Ledger::default(), |ledger, command| {
            let events = ledger.decide(command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
            events.iter().fold(ledger, |l, e| l.apply(e))
        })
    }

    /// (granted, held, spent, available) after the commands.
    fn check(commands: &[LedgerCommand], expected: (u64, u64, u64, u64)) {
        let l = run(commands);
        assert_eq!((l.granted.micros(), l.held.micros(), l.spent.micros(), l.available().micros()), expected);
    }

    #[test]
    fn arithmetic() {
        check(&[grant(100)], (100, 0, 0, 100));
        check(&[grant(100), hold(1, 30)], (100, 30, 0, 70));
        check(&[grant(100), hold(1, 30), settle(1, 12)], (100, 0, 12, 88));
        check(&[grant(100), hold(1, 30), hold(2, 70)], (100, 100, 0, 0));
        check(&[grant(100), hold(1, 30), hold(2, 70), settle(2, 0), hold(3, 70)], (100, 100, 0, 0));
        check(&[grant(100), hold(1, 30), settle(1, 30), grant(5)], (105, 0, 30, 75));
        // Never charged more than held: the overrun is recorded, not billed.
        check(&[grant(100), hold(1, 30), settle(1, 45)], (100, 0, 30, 70));
        let l = run(&[grant(100), hold(1, 30), settle(1, 45)]);
        assert_eq!(l.settled[&job(1)], Settlement { held: c(30), actual: c(45), charged: c(30) });
    }

    #[test]
    fn a_hold_that_does_not_fit_is_insufficient_funds() {
        let l = run(&[grant(100), hold(1, 60)]);
        let err = l.decide(&hold(2, 41)).unwrap_err();
        assert_eq!(err, LedgerError::InsufficientFunds { needed: c(41), available: c(40) });
        assert_eq!(err.code(), ErrorCode::InsufficientFunds);
        assert_eq!(
            err.to_string(),
            "insufficient funds: the job needs 0.000041 credits and 0.000040 credits are available"
        );
        assert!(l.decide(&hold(2, 40)).is_ok(), "an exact fit is accepted");
        assert!(Ledger::default().decide(&hold(1, 1)).is_err(), "no grant, no credit");
        assert_eq!(Ledger::default().decide(&hold(1, 0)).map(|e| e.len()), Ok(1), "a free job holds nothing");
    }

    #[test]
    fn holds_and_settlements_are_idempotent_per_job() {
        let held = run(&[grant(100), hold(1, 30)]);
        assert_eq!(held.decide(&hold(1, 30)), Ok(vec![]), "the same hold again");
        assert_eq!(
            held.decide(&hold(1, 31)),
            Err(LedgerError::HoldConflict { job: job(1), held: c(30), requested: c(31) })
        );
        let settled = run(&[grant(100), hold(1, 30), settle(1, 10)]);
        assert_eq!(settled.decide(&settle(1, 10)), Ok(vec![]), "the same settlement again");
        assert_eq!(settled.decide(&settle(1, 11)), Err(LedgerError::SettleConflict { job: job(1), charged: c(10) }));
        assert_eq!(settled.decide(&hold(1, 30)), Err(LedgerError::AlreadySettled(job(1))), "no second life");
        assert_eq!(held.decide(&settle(2, 0)), Err(LedgerError::NoHold(job(2))));
        for e in [LedgerError::NoHold(job(2)), LedgerError::AlreadySettled(job(1))] {
            assert_eq!(e.code(), ErrorCode::Conflict);
        }
    }

    #[test]
    fn unlimited_never_refuses_and_still_counts() {
        let unlimited =
            |n, micros| LedgerCommand::Hold { job: job(n), amount: c(micros), policy: CreditPolicy::Unlimited };
        let l = run(&[unlimited(1, 50), unlimited(2, 70), settle(1, 20)]);
        assert_eq!((l.held, l.spent, l.available(), l.overdrawn()), (c(70), c(20), Credits::ZERO, c(90)));
        assert_eq!(l.unsettled_jobs().into_iter().collect::<Vec<_>>(), vec![&job(2)]);
        assert!(l.decide(&hold(3, 1)).is_err(), "an enforced hold still needs credit");
    }

    #[test]
    fn grants_are_checked() {
        assert_eq!(Ledger::default().decide(&grant(0)), Err(LedgerError::ZeroGrant));
        let long = LedgerCommand::Grant { amount: c(1), note: "x".repeat(257) };
        assert_eq!(Ledger::default().decide(&long), Err(LedgerError::NoteTooLong));
        let full = run(&[grant(u64::MAX)]);
        assert_eq!(full.decide(&grant(1)), Err(LedgerError::Overflow));
        assert_eq!(LedgerError::Overflow.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn events_round_trip() {
        let events = vec![
            LedgerEvent::Granted { amount: c(1_000_000), note: "welcome".into() },
            LedgerEvent::Granted { amount: c(1), note: String::new() },
            LedgerEvent::HoldPlaced { job: job(1), amount: c(5), unlimited: false },
            LedgerEvent::HoldPlaced { job: job(2), amount: c(5), unlimited: true },
            LedgerEvent::Settled { job: job(1), held: c(5), actual: c(7), charged: c(5) },
        ];
        for e in &events {
            let v = serde_json::to_value(e).unwrap();
            let back: LedgerEvent = serde_json::from_value(LedgerEvent::upcast(e.event_type(), 1, v).unwrap()).unwrap();
            assert_eq!(&back, e);
        }
        assert_eq!(
            serde_json::to_value(&events[2]).unwrap(),
            serde_json::json!({"type": "hold_placed", "job": "job_1", "amount": 5})
        );
        assert!(matches!(
            LedgerEvent::upcast("ledger.settled", 2, serde_json::json!({})),
            Err(UpcastError::FromTheFuture { .. })
        ));
    }
}
