//! Money on the jobs surface: an amount of credits held as whole micro-credits, so sums,
//! holds and settlements are exact (no floats) and the same on every replica.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of credits, in micro-credits (1 credit = 1 000 000). On the wire it is the integer
/// number of micro-credits; [`Credits::to_decimal_string`] is the form for people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credits(u64);

impl Credits {
    pub const ZERO: Credits = Credits(0);
    pub const MICROS_PER_CREDIT: u64 = 1_000_000;

    pub const fn from_micros(micros: u64) -> Self {
        Credits(micros)
    }

    /// Whole credits; `None` when the amount does not fit.
    pub fn from_credits(credits: u64) -> Option<Self> {
        credits.checked_mul(Self::MICROS_PER_CREDIT).map(Credits)
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }

    pub fn saturating_sub(self, other: Credits) -> Credits {
        Credits(self.0.saturating_sub(other.0))
    }

    /// `12.500000`: six decimals, exact.
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:06}", self.0 / Self::MICROS_PER_CREDIT, self.0 % Self::MICROS_PER_CREDIT)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} credits", self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_exact_micro_credits() {
        assert_eq!(Credits::from_credits(3).unwrap().micros(), 3_000_000);
        assert_eq!(Credits::from_micros(12_500_000).to_string(), "12.500000 credits");
        assert_eq!(Credits::from_micros(7).to_decimal_string(), "0.000007");
        assert_eq!(Credits::from_credits(u64::MAX), None);
        assert_eq!(Credits::from_micros(u64::MAX).checked_add(Credits::from_micros(1)), None);
        assert_eq!(Credits::from_micros(1).saturating_sub(Credits::from_micros(2)), Credits::ZERO);
        assert_eq!(serde_json::to_string(&Credits::from_micros(42)).unwrap(), "42");
    }
}
