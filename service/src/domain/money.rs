//! Money as integer cents. PostgreSQL keeps Django's `numeric(10,2)` columns;
//! queries read them as cents (`(price * 100)::int8`) so no float or decimal
//! type ever touches an amount. The wire format is the legacy one: a string
//! with exactly two decimals (`"3.50"`, `"0.00"`).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Mul};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// `"3.50"`: what the storefront `parseFloat`s.
    pub fn to_decimal_string(self) -> String {
        self.to_string()
    }

    /// Exact conversion from a `numeric(10,2)` rendered as text (e.g. `"19.99"`).
    pub fn parse_decimal(text: &str) -> Option<Cents> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
        {
            return None;
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().ok()? * 10,
            _ => frac.parse().ok()?,
        };
        let cents = whole.checked_mul(100)?.checked_add(frac)?;
        Some(Cents(if negative { -cents } else { cents }))
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl Mul<i64> for Cents {
    type Output = Cents;
    fn mul(self, rhs: i64) -> Cents {
        Cents(self.0 * rhs)
    }
}

impl Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_two_decimals_always() {
        assert_eq!(Cents(350).to_string(), "3.50");
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!(Cents(1656).to_string(), "16.56");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-120).to_string(), "-1.20");
    }

    #[test]
    fn parses_prices_a_float_would_truncate_exactly() {
        for (text, cents) in [("19.99", 1999), ("0.29", 29), ("1.15", 115), ("2.01", 201)] {
            assert_eq!(Cents::parse_decimal(text), Some(Cents(cents)), "{text}");
        }
        assert_eq!(Cents::parse_decimal("3.5"), Some(Cents(350)));
        assert_eq!(Cents::parse_decimal("12"), Some(Cents(1200)));
        assert_eq!(Cents::parse_decimal("1.234"), None);
        assert_eq!(Cents::parse_decimal("abc"), None);
        assert_eq!(Cents::parse_decimal(""), None);
    }

    #[test]
    fn sums_and_multiplies_in_cents() {
        // Seed SKU 1 (3.50) x 2 + USPSRetailGround (9.56) = 16.56.
        let total: Cents = [Cents(350) * 2, Cents(956)].into_iter().sum();
        assert_eq!(total.to_string(), "16.56");
    }
}
