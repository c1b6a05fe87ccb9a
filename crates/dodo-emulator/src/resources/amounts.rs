//! Exact decimal amounts as the credit and usage routes carry them: strings such as `"12.5"`.
//!
//! A [`Fixed`] is an integer count of `10^-scale` units in an `i128`, so credits with up to 10
//! decimal places (a credit entitlement's `precision`) and per-unit prices with up to 12 add,
//! subtract and multiply without rounding. Every operation is checked: a result outside `i128`
//! is an error the handlers answer 400 `OUT_OF_RANGE`, never a wrapped or saturated number.

use std::cmp::Ordering;

/// Largest scale (decimal places) this module accepts.
pub const MAX_SCALE: u32 = 18;

/// An exact decimal: `units × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    /// The value in `10^-scale` units.
    pub units: i128,
    /// Decimal places.
    pub scale: u32,
}

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain decimal number (`"12"`, `"-0.5"`; no exponent, no spaces).
    Malformed,
    /// More decimal places than allowed.
    TooPrecise(u32),
    /// Too large to compute with.
    Overflow,
}

impl std::fmt::Display for AmountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AmountError::Malformed => f.write_str("expected a decimal number such as \"12.5\""),
            AmountError::TooPrecise(p) => write!(f, "has more than {p} decimal places"),
            AmountError::Overflow => f.write_str("is too large to compute with"),
        }
    }
}

fn pow10(n: u32) -> Result<i128, AmountError> {
    10i128.checked_pow(n).ok_or(AmountError::Overflow)
}

impl Fixed {
    /// Zero at `scale`.
    pub fn zero(scale: u32) -> Self {
        Self { units: 0, scale }
    }

    /// Parses `s` with at most `scale` decimal places, stored at `scale`.
    pub fn parse(s: &str, scale: u32) -> Result<Self, AmountError> {
        let scale = scale.min(MAX_SCALE);
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        let ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !ok(int) || !ok(frac) || digits.ends_with('.') {
            return Err(AmountError::Malformed);
        }
        let frac = frac.trim_end_matches('0');
        let frac_len = u32::try_from(frac.len()).map_err(|_| AmountError::TooPrecise(scale))?;
        if frac_len > scale {
            return Err(AmountError::TooPrecise(scale));
        }
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i128::from(b - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        units = units
            .checked_mul(pow10(scale - frac_len)?)
            .ok_or(AmountError::Overflow)?;
        Ok(Self {
            units: if neg { -units } else { units },
            scale,
        })
    }

    /// An integer at `scale`.
    pub fn from_int(n: i128, scale: u32) -> Result<Self, AmountError> {
        Ok(Self {
            units: n.checked_mul(pow10(scale)?).ok_or(AmountError::Overflow)?,
            scale,
        })
    }

    /// `self + other` (same scale).
    pub fn checked_add(self, other: Self) -> Result<Self, AmountError> {
        debug_assert_eq!(self.scale, other.scale);
        Ok(Self {
            units: self
                .units
                .checked_add(other.units)
                .ok_or(AmountError::Overflow)?,
            scale: self.scale,
        })
    }

    /// `self - other` (same scale).
    pub fn checked_sub(self, other: Self) -> Result<Self, AmountError> {
        debug_assert_eq!(self.scale, other.scale);
        Ok(Self {
            units: self
                .units
                .checked_sub(other.units)
                .ok_or(AmountError::Overflow)?,
            scale: self.scale,
        })
    }

    /// `self × other`, rounded half away from zero to an integer.
    pub fn mul_round(self, other: Self) -> Result<i128, AmountError> {
        let product = self
            .units
            .checked_mul(other.units)
            .ok_or(AmountError::Overflow)?;
        let div = pow10(
            self.scale
                .checked_add(other.scale)
                .ok_or(AmountError::Overflow)?,
        )?;
        let q = product / div;
        let r = product % div;
        let twice = r
            .checked_abs()
            .and_then(|r| r.checked_mul(2))
            .ok_or(AmountError::Overflow)?;
        Ok(if twice >= div {
            q + product.signum()
        } else {
            q
        })
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.units < 0
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.units == 0
    }

    /// The smaller of two values (same scale).
    pub fn min(self, other: Self) -> Self {
        if self.cmp_value(other) == Ordering::Greater {
            other
        } else {
            self
        }
    }

    /// The value, or zero when it is negative.
    pub fn max_zero(self) -> Self {
        if self.units < 0 {
            Self::zero(self.scale)
        } else {
            self
        }
    }

    /// Compares two values of the same scale.
    pub fn cmp_value(self, other: Self) -> Ordering {
        self.units.cmp(&other.units)
    }

    /// The canonical string: no trailing fractional zeros, no `-0`.
    pub fn to_plain(self) -> String {
        let neg = self.units < 0;
        let abs = self.units.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let (int, frac) = if abs.len() > scale {
            abs.split_at(abs.len() - scale)
        } else {
            ("", abs.as_str())
        };
        let frac = format!("{frac:0>scale$}");
        let frac = frac.trim_end_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let sign = if neg && self.units != 0 { "-" } else { "" };
        if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let a = Fixed::parse("12.50", 2).unwrap();
        assert_eq!(a.units, 1250);
        assert_eq!(a.to_plain(), "12.5");
        assert_eq!(Fixed::parse("7", 0).unwrap().to_plain(), "7");
        assert_eq!(Fixed::parse("-0.05", 3).unwrap().to_plain(), "-0.05");
        assert_eq!(Fixed::parse("0.000", 0).unwrap().to_plain(), "0");
        assert_eq!(Fixed::parse("1.25", 1), Err(AmountError::TooPrecise(1)));
        for bad in ["", ".", "1.", "1e5", "1,5", " 1", "--1", "0x10"] {
            assert_eq!(Fixed::parse(bad, 4), Err(AmountError::Malformed), "{bad}");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Fixed::parse(&i128::MAX.to_string(), 0).unwrap();
        let one = Fixed::from_int(1, 0).unwrap();
        assert_eq!(max.checked_add(one), Err(AmountError::Overflow));
        assert_eq!(
            Fixed::parse("170141183460469231731687303715884105728", 0),
            Err(AmountError::Overflow)
        );
        assert_eq!(Fixed::parse("1", 40).map(|f| f.scale), Ok(MAX_SCALE));
    }

    #[test]
    fn multiplication_rounds_half_away_from_zero() {
        let units = Fixed::parse("3", 0).unwrap();
        let price = Fixed::parse("10.5", 12).unwrap();
        assert_eq!(units.mul_round(price).unwrap(), 32);
        let small = Fixed::parse("0.4", 1).unwrap();
        assert_eq!(small.mul_round(Fixed::parse("1", 0).unwrap()).unwrap(), 0);
    }
}
