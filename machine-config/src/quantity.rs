//! Kubernetes resource quantities (`50Mi`, `10G`, `8192`), as
//! ContainerRuntimeConfig's `logSizeMax` and `overlaySize` use them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A quantity as written (a YAML string or number), parsed on demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Str(String),
        }
        let q = match Raw::deserialize(d)? {
            Raw::Int(i) => Quantity(i.to_string()),
            Raw::Float(f) => Quantity(f.to_string()),
            Raw::Str(s) => Quantity(s.trim().to_string()),
        };
        q.value().map_err(serde::de::Error::custom)?;
        Ok(q)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Quantity {
    /// The value in base units (bytes), rounded up to an integer as
    /// Kubernetes' `Quantity.Value()` does. Suffixes: binary `Ki Mi Gi Ti Pi
    /// Ei`, decimal `n u m k M G T P E`, or an exponent `e3`/`E3`.
    pub fn value(&self) -> Result<i64, String> {
        parse(&self.0).ok_or_else(|| format!("invalid quantity {:?}", self.0))
    }
}

fn parse(s: &str) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return None;
    }
    // mantissa = digits / 10^frac_len
    let digits = format!("{int_part}{frac_part}");
    let mantissa: u128 = digits.parse().ok()?;
    let frac_len = frac_part.len() as u32;
    // value = mantissa * base^exp / 10^frac_len, as (numerator, denominator)
    let (mut num, mut den) = (mantissa, 10u128.checked_pow(frac_len)?);
    let binary = |p: u32| 1024u128.checked_pow(p);
    let decimal = |p: i32| 10u128.checked_pow(p.unsigned_abs()).map(|m| (m, p < 0));
    let scale: (u128, bool) = match suffix {
        "" => (1, false),
        "Ki" => (binary(1)?, false),
        "Mi" => (binary(2)?, false),
        "Gi" => (binary(3)?, false),
        "Ti" => (binary(4)?, false),
        "Pi" => (binary(5)?, false),
        "Ei" => (binary(6)?, false),
        "n" => decimal(-9)?,
        "u" => decimal(-6)?,
        "m" => decimal(-3)?,
        "k" => decimal(3)?,
        "M" => decimal(6)?,
        "G" => decimal(9)?,
        "T" => decimal(12)?,
        "P" => decimal(15)?,
        "E" => decimal(18)?,
        e if e.starts_with(['e', 'E']) => decimal(e[1..].parse::<i32>().ok()?)?,
        _ => return None,
    };
    if scale.1 {
        den = den.checked_mul(scale.0)?;
    } else {
        num = num.checked_mul(scale.0)?;
    }
    let value = i64::try_from(num.div_ceil(den)).ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_quantities() {
        let cases = [
            ("8192", Some(8192)),
            ("50Mi", Some(50 * 1024 * 1024)),
            ("10G", Some(10_000_000_000)),
            ("1.5Gi", Some(1_610_612_736)),
            ("1e3", Some(1000)),
            ("-1", Some(-1)),
            ("100m", Some(1)),
            ("0", Some(0)),
            ("10GB", None),
            ("abc", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), want, "{s}");
        }
    }
}
