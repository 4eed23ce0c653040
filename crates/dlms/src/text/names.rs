//! Names and exact decimals for what a server answers: units, access results, scaled
//! register values.

use serde_json::{json, Value};

use crate::Data;

/// `{"scaler", "unit", "unit_name"}` from a register's attribute 3; null when malformed.
pub fn scaler_unit(su: &Data) -> Value {
    let e = su.elements().unwrap_or(&[]);
    match (
        e.first().and_then(Data::as_i128),
        e.get(1).and_then(Data::as_i128),
    ) {
        (Some(scaler), Some(unit)) => {
            json!({"scaler": scaler, "unit": unit, "unit_name": unit_name(unit)})
        }
        _ => Value::Null,
    }
}

/// `raw × 10^scaler` written exactly as a decimal.
pub fn decimal(raw: i128, scaler: i128) -> String {
    if scaler >= 0 {
        let zeros = usize::try_from(scaler.min(40)).unwrap_or(0);
        return format!("{raw}{}", "0".repeat(zeros));
    }
    let places = usize::try_from((-scaler).min(40)).unwrap_or(0);
    let digits = format!("{:0>width$}", raw.unsigned_abs(), width = places + 1);
    let (int, frac) = digits.split_at(digits.len() - places);
    let sign = if raw < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// Blue Book unit names for the units a meter commonly uses.
pub fn unit_name(code: i128) -> Option<&'static str> {
    Some(match code {
        1 => "a",
        2 => "mo",
        3 => "wk",
        4 => "d",
        5 => "h",
        6 => "min",
        7 => "s",
        9 => "°C",
        27 => "W",
        28 => "VA",
        29 => "var",
        30 => "Wh",
        31 => "VAh",
        32 => "varh",
        33 => "A",
        35 => "V",
        44 => "Hz",
        56 => "%",
        255 => "count",
        _ => return None,
    })
}

/// Data-Access-Result / Action-Result names (Green Book).
pub fn result_name(code: u8) -> String {
    match code {
        0 => "success",
        1 => "hardware-fault",
        2 => "temporary-failure",
        3 => "read-write-denied",
        4 => "object-undefined",
        9 => "object-class-inconsistent",
        11 => "object-unavailable",
        12 => "type-unmatched",
        13 => "scope-of-access-violated",
        14 => "data-block-unavailable",
        15 => "long-get-aborted",
        16 => "no-long-get-in-progress",
        17 => "long-set-aborted",
        18 => "no-long-set-in-progress",
        19 => "data-block-number-invalid",
        250 => "other-reason",
        c => return format!("result-{c}"),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trm05_register_scaling_is_exact() {
        assert_eq!(decimal(12_345_678, -3), "12345.678");
        assert_eq!(decimal(5, -3), "0.005");
        assert_eq!(decimal(-5, -1), "-0.5");
        assert_eq!(decimal(12, 2), "1200");
    }
}
