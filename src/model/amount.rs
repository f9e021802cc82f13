//! Decimal amounts (X12 type `R`), exact, never floating point.

use std::fmt;
use std::ops::{Add, Sub};

/// How many decimal places an [`Amount`] keeps.
const SCALE_DIGITS: u32 = 6;
const SCALE: i64 = 10i64.pow(SCALE_DIGITS);

/// An exact decimal: millionths in an `i64`, plenty for money (at most
/// `99999999.99`) and quantities.
///
/// ```
/// use scrub837::model::Amount;
/// let a = Amount::parse(b"100.00").unwrap();
/// let b = Amount::parse(b"12.5").unwrap();
/// assert_eq!((a + b).to_string(), "112.5");
/// assert_eq!(Amount::parse(b"300").unwrap().to_string(), "300");
/// assert_eq!(Amount::parse(b".5").unwrap().to_string(), "0.5");
/// assert!(Amount::parse(b"1e3").is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// Parses an X12 `R` value: optional `-`, digits, optional `.` and
    /// digits (at most six decimals, at most 12 whole digits).
    #[inline]
    pub fn parse(v: &[u8]) -> Option<Amount> {
        // A service line's units are nearly always one digit: no loops, and
        // no call.
        if let [b] = v {
            let d = b.wrapping_sub(b'0');
            return (d <= 9).then(|| Amount(i64::from(d) * SCALE));
        }
        Amount::parse_long(v)
    }

    /// [`Amount::parse`] of any value but one byte.
    #[inline(never)]
    fn parse_long(v: &[u8]) -> Option<Amount> {
        // One pass over the bytes: amounts are on every claim and line, and
        // this runs several times faster than a combinator chain.
        let (neg, v) = match v.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, v),
        };
        let mut i = 0;
        let mut n: i64 = 0;
        while let Some(&b) = v.get(i) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // Wrapping: more than 12 digits are refused below.
            n = n.wrapping_mul(10).wrapping_add(i64::from(d));
            i += 1;
        }
        let whole = i;
        if whole > 12 {
            return None;
        }
        let mut f: i64 = 0;
        let mut frac_digits = 0;
        if i < v.len() {
            if v[i] != b'.' {
                return None;
            }
            i += 1;
            for &b in &v[i..] {
                let d = b.wrapping_sub(b'0');
                if d > 9 || frac_digits == SCALE_DIGITS as usize {
                    return None;
                }
                f = f * 10 + i64::from(d);
                frac_digits += 1;
            }
            if frac_digits == 0 {
                return None;
            }
        } else if whole == 0 {
            return None;
        }
        const POW10: [i64; 7] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
        let value = n * SCALE + f * POW10[frac_digits];
        Some(Amount(if neg { -value } else { value }))
    }

    /// An amount from whole units.
    pub fn from_units(n: i64) -> Amount {
        Amount(n * SCALE)
    }

    /// The amount in millionths.
    pub fn millionths(self) -> i64 {
        self.0
    }

    /// Whether the amount is exactly `n` units.
    pub fn is_units(self, n: i64) -> bool {
        self.0 == n * SCALE
    }
}

impl Add for Amount {
    type Output = Amount;
    fn add(self, o: Amount) -> Amount {
        Amount(self.0.saturating_add(o.0))
    }
}

impl Sub for Amount {
    type Output = Amount;
    fn sub(self, o: Amount) -> Amount {
        Amount(self.0.saturating_sub(o.0))
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, Add::add)
    }
}

/// The shortest decimal form: `300`, `12.5`, `-0.25`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE as u64;
        let mut frac = abs % SCALE as u64;
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let mut width = SCALE_DIGITS as usize;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, "{sign}{whole}.{frac:0width$}")
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_print() {
        for (input, out) in [
            ("0", "0"),
            ("100.00", "100"),
            ("-3.250", "-3.25"),
            ("0.000001", "0.000001"),
            ("99999999.99", "99999999.99"),
        ] {
            assert_eq!(
                Amount::parse(input.as_bytes()).unwrap().to_string(),
                out,
                "{input}"
            );
        }
        for bad in [
            "",
            "-",
            ".",
            "1.",
            "1.2.3",
            "+1",
            "1,000",
            "0.0000001",
            "1234567890123",
        ] {
            assert!(Amount::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        // One byte (the quick path): a digit, else nothing.
        for b in 0..=255u8 {
            let want = b
                .is_ascii_digit()
                .then(|| Amount::from_units(i64::from(b - b'0')));
            assert_eq!(Amount::parse(&[b]), want, "{b}");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(m in -10_000_000_000_000i64..10_000_000_000_000i64) {
            let a = Amount(m);
            prop_assert_eq!(Amount::parse(a.to_string().as_bytes()), Some(a));
        }
    }
}
