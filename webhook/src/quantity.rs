//! Kubernetes resource quantities (`100Mi`, `0.05`, `500m`, `1e3`), exactly, as integers of
//! nano-units, so that sums and comparisons never round.

use std::cmp::Ordering;
use std::fmt;

/// A quantity, e.g. `Quantity::parse("100Mi")` = 104,857,600 (in units of 10⁻⁹).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity {
    /// The value in nano-units (`1` is 1,000,000,000), rounded up to a whole nano-unit.
    nanos: i128,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses Kubernetes' quantity syntax: a signed decimal number and a suffix, binary
    /// (`Ki` … `Ei`), decimal (`n u m k M G T P E`) or an exponent (`e3`, `E-2`).
    pub fn parse(text: &str) -> Result<Quantity, String> {
        let bad = || format!("invalid quantity {text:?} (e.g. 100m, 0.5, 128Mi)");
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(bad());
        }
        // value = digits × 10^(exponent10 - fraction.len()) × 2^exponent2
        let (exponent10, exponent2): (i32, u32) = match suffix {
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "" => (0, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            s if s.starts_with(['e', 'E']) => {
                let exponent: i32 = s[1..].parse().map_err(|_| bad())?;
                if !(-40..=40).contains(&exponent) {
                    return Err(bad());
                }
                (exponent, 0)
            }
            _ => return Err(bad()),
        };
        let digits = format!("{whole}{fraction}");
        if digits.len() > 30 {
            return Err(bad());
        }
        let mut value: i128 = digits.parse().map_err(|_| bad())?;
        value = value.checked_mul(1 << exponent2).ok_or_else(bad)?;
        // Scale to nano-units: × 10^(9 + exponent10 - fraction digits), rounding up.
        let scale = 9 + exponent10 - fraction.len() as i32;
        if scale >= 0 {
            value = value
                .checked_mul(10i128.checked_pow(scale as u32).ok_or_else(bad)?)
                .ok_or_else(bad)?;
        } else {
            let divisor = 10i128.checked_pow((-scale) as u32).unwrap_or(i128::MAX);
            value = (value + divisor - 1) / divisor;
        }
        Ok(Quantity {
            nanos: if negative { -value } else { value },
        })
    }

    /// The sum of two quantities.
    pub fn plus(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
        }
    }

    /// Canonical text with binary suffixes where exact, for memory: `128Mi`, `1Gi`, `1000`.
    pub fn binary(self) -> String {
        if self.nanos % NANO == 0 {
            let bytes = self.nanos / NANO;
            for (suffix, shift) in [
                ("Ei", 60),
                ("Pi", 50),
                ("Ti", 40),
                ("Gi", 30),
                ("Mi", 20),
                ("Ki", 10),
            ] {
                if bytes != 0 && bytes % (1i128 << shift) == 0 {
                    return format!("{}{suffix}", bytes >> shift);
                }
            }
        }
        self.to_string()
    }

    /// Whether the quantity is above zero.
    pub fn is_positive(self) -> bool {
        self.nanos > 0
    }
}

impl fmt::Display for Quantity {
    /// Canonical text: `2`, `1500m`, `250n`; memory in bytes (`104857600`).
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let n = self.nanos;
        if n % NANO == 0 {
            write!(f, "{}", n / NANO)
        } else if n % 1_000_000 == 0 {
            write!(f, "{}m", n / 1_000_000)
        } else {
            write!(f, "{n}n")
        }
    }
}

/// Orders quantities by value.
pub fn max(a: Quantity, b: Quantity) -> Quantity {
    match a.cmp(&b) {
        Ordering::Less => b,
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap()
    }

    #[test]
    fn parses_every_suffix_kind() {
        assert_eq!(q("100Mi"), q("104857600"));
        assert_eq!(q("0.05"), q("50m"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("500u"), q("0.5m"));
        assert_eq!(q("+2"), q("2000m"));
        assert!(q("-1") < Quantity::ZERO);
        assert_eq!(q("12E-3"), q("12m"));
        assert_eq!(q("1n").to_string(), "1n");
    }

    #[test]
    fn refuses_what_kubernetes_refuses() {
        for bad in [
            "", "Mi", "1.2.3", "1 Mi", "1mi", "1e", "1e999", "0x10", "1.5Xi", ".",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sums_and_prints_canonically() {
        assert_eq!(q("250m").plus(q("0.75")).to_string(), "1");
        assert_eq!(q("100Mi").plus(q("28Mi")).to_string(), "134217728");
        assert_eq!(q("50m").plus(q("1m")).to_string(), "51m");
        assert_eq!(max(q("1"), q("999m")), q("1"));
        assert_eq!(q("100Mi").plus(q("28Mi")).binary(), "128Mi");
        assert_eq!(q("1000").binary(), "1000");
        assert_eq!(q("2048").binary(), "2Ki");
    }

    #[test]
    fn rounds_sub_nano_values_up() {
        assert_eq!(q("0.0000000001"), q("1n"));
    }
}
