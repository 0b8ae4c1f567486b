//! Validity periods: `90d`, `12h`, `2w`, `10y` (a year is 365 days).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::error::{Error, Field, Result};

/// How far `notBefore` is set back from the moment of issuance, to absorb clock skew
/// between the CA and the verifiers.
pub const BACKDATE: Duration = Duration::hours(1);

/// The longest validity fedca accepts (100 years).
const MAX_SECONDS: i64 = 100 * 365 * 86_400;

/// The longest a leaf certificate may be valid, in days: the CA/Browser Forum limit
/// that Apple's and Chrome's verifiers enforce. fedca's lint refuses longer leaves.
pub const MAX_LEAF_DAYS: i64 = 398;

/// A validity period, written as a number and a unit (`h`, `d`, `w`, `y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Validity {
    seconds: i64,
    text_unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Hours,
    Days,
    Weeks,
    Years,
}

impl Unit {
    fn seconds(self) -> i64 {
        match self {
            Unit::Hours => 3600,
            Unit::Days => 86_400,
            Unit::Weeks => 7 * 86_400,
            Unit::Years => 365 * 86_400,
        }
    }
    fn suffix(self) -> char {
        match self {
            Unit::Hours => 'h',
            Unit::Days => 'd',
            Unit::Weeks => 'w',
            Unit::Years => 'y',
        }
    }
}

impl Validity {
    /// A validity of `n` days.
    pub const fn days(n: i64) -> Self {
        Validity {
            seconds: n * 86_400,
            text_unit: Unit::Days,
        }
    }

    /// The period as a duration.
    pub fn duration(&self) -> Duration {
        Duration::seconds(self.seconds)
    }

    /// Parses `90d`, `12h`, `2w`, `10y`; a bare number means days.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |rule: &str| Error::invalid(Field::AnyValidity, input, rule);
        let s = input.trim();
        let (digits, unit) = match s.char_indices().last() {
            Some((i, 'h')) => (&s[..i], Unit::Hours),
            Some((i, 'd')) => (&s[..i], Unit::Days),
            Some((i, 'w')) => (&s[..i], Unit::Weeks),
            Some((i, 'y')) => (&s[..i], Unit::Years),
            Some((_, c)) if c.is_ascii_digit() => (s, Unit::Days),
            _ => {
                return Err(bad(
                    "must be a number followed by h, d, w or y (e.g. 90d, 10y)",
                ))
            }
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "must be a number followed by h, d, w or y (e.g. 90d, 10y)",
            ));
        }
        let n: i64 = digits.parse().map_err(|_| bad("the number is too large"))?;
        if n == 0 {
            return Err(bad("must be longer than zero"));
        }
        let seconds = n
            .checked_mul(unit.seconds())
            .filter(|s| *s <= MAX_SECONDS)
            .ok_or_else(|| bad("is longer than 100 years"))?;
        Ok(Validity {
            seconds,
            text_unit: unit,
        })
    }
}

/// Parses the validity of a leaf given as `option` (`--validity`, `--leaf-validity`):
/// bad input names the option and the value as given, and anything longer than
/// [`MAX_LEAF_DAYS`] is refused here, not when the certificate is linted.
pub fn parse_leaf(input: &str, option: impl Into<Field>) -> Result<Validity> {
    let option = option.into();
    let v = Validity::parse(input).map_err(|e| match e {
        Error::InvalidValue { rule, .. } => Error::invalid(option.clone(), input, rule),
        other => other,
    })?;
    v.check_leaf(option, input)?;
    Ok(v)
}

impl Validity {
    /// Refuses a leaf validity longer than [`MAX_LEAF_DAYS`], naming `what` and `given`.
    pub fn check_leaf(&self, what: impl Into<Field>, given: &str) -> Result<()> {
        if self.seconds > MAX_LEAF_DAYS * 86_400 {
            return Err(Error::invalid(
                what,
                given,
                format!(
                    "a leaf may be valid at most {MAX_LEAF_DAYS} days (398d, 56w or 9552h: the CA/Browser Forum limit that Apple's and Chrome's verifiers enforce)"
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            self.seconds / self.text_unit.seconds(),
            self.text_unit.suffix()
        )
    }
}

impl FromStr for Validity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Validity::parse(s)
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Validity::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (t, secs) in [
            ("90d", 90 * 86_400),
            ("12h", 12 * 3600),
            ("2w", 14 * 86_400),
            ("10y", 3650 * 86_400),
            ("7", 7 * 86_400),
        ] {
            let v = Validity::parse(t).unwrap();
            assert_eq!(v.duration().whole_seconds(), secs, "{t}");
        }
        assert_eq!(Validity::parse("10y").unwrap().to_string(), "10y");
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "1.5d",
            "10m",
            "101y",
            "99999999999999999999d",
            "1 d",
        ] {
            assert!(Validity::parse(bad).is_err(), "{bad}");
        }
        for good in ["398d", "56w", "9552h", "1y"] {
            assert!(
                parse_leaf(good, crate::error::Field::Validity).is_ok(),
                "{good}"
            );
        }
        for long in ["399d", "57w", "2y", "9553h"] {
            let e = parse_leaf(long, crate::error::Field::Validity).unwrap_err();
            // The library names the domain field; the command line names the option.
            let lib = e.to_string();
            assert!(
                lib.starts_with(&format!("invalid validity \"{long}\"")),
                "{lib}"
            );
            assert!(!lib.contains("--"), "{lib}");
            let cli = e.cli_message();
            assert!(
                cli.starts_with(&format!("invalid --validity \"{long}\"")),
                "{cli}"
            );
        }
    }
}
