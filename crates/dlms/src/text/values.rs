//! The text forms of COSEM values, one syntax for every command that reads or writes
//! them (`dlms get|set|action`, `handy`):
//!
//! - typed JSON, one key named after the Green Book / Gurux type (`{"UInt32": 1800}`,
//!   `{"OctetString": "07EA0B19"}`, `{"Structure": [...]}`): exact, round-trips;
//! - plain: numbers, strings, `@HEX` octet strings, ISO 8601 timestamps for clock values;
//! - command-line words: typed JSON, `@HEX`, an ISO date-time, `true`/`false`/`null`, a
//!   number (in the attribute's current type when known) or text.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{json, Map, Value};

use crate::{CosemDateTime, Data};

/// A value or time that does not parse: the text and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value `{text}`: {why}")]
pub struct ValueError {
    /// What was given.
    pub text: String,
    /// Why it is not a value.
    pub why: String,
}

fn value_error(text: &str, why: &str) -> ValueError {
    ValueError {
        text: text.to_owned(),
        why: why.to_owned(),
    }
}

/// JST (UTC+9), the deviation −540 of the IoT route.
#[must_use]
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("0"))
}

/// ISO 8601 with offset, or without (JST); a date alone is its midnight.
///
/// # Errors
/// Text that is none of these.
pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, ValueError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t);
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    naive
        .and_then(|n| jst().from_local_datetime(&n).single())
        .ok_or_else(|| value_error(s, "not an ISO 8601 date-time"))
}

/// The typed form: one key, the type's Green Book / Gurux name.
pub fn typed(v: &Data) -> Value {
    let inner = match v {
        Data::Null | Data::DontCare => Value::Null,
        Data::Array(a) | Data::Structure(a) => Value::Array(a.iter().map(typed).collect()),
        Data::Boolean(b) => json!(b),
        Data::BitString { bits, bytes } => json!((0..*bits)
            .map(|i| {
                let byte = bytes.get(i / 8).copied().unwrap_or(0);
                if byte & (0x80 >> (i % 8)) != 0 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect::<String>()),
        Data::OctetString(b) => json!(crate::hex::encode(b)),
        Data::VisibleString(b) | Data::Utf8String(b) => json!(String::from_utf8_lossy(b)),
        Data::Float32(f) => json!(f),
        Data::Float64(f) => json!(f),
        Data::DateTime(d) => json!(crate::hex::encode(&d.to_bytes())),
        Data::Date(d) => json!(crate::hex::encode(&d.to_bytes())),
        Data::Time(d) => json!(crate::hex::encode(&d.to_bytes())),
        Data::Bcd(n) => json!(n),
        other => json!(other
            .as_i128()
            .map(|n| n.to_string())
            .and_then(|s| s.parse::<serde_json::Number>().ok())),
    };
    let mut o = Map::new();
    o.insert(v.type_name().into(), inner);
    Value::Object(o)
}

/// The plain form: numbers, strings, `@HEX`, ISO timestamps (for clock values).
pub fn plain(v: &Data, clock: bool) -> Value {
    match v {
        Data::Null | Data::DontCare => Value::Null,
        Data::Array(a) | Data::Structure(a) => {
            Value::Array(a.iter().map(|x| plain(x, false)).collect())
        }
        Data::OctetString(b) if clock => match v.as_date_time().and_then(|d| iso(&d)) {
            Some(s) => json!(s),
            None => json!(format!("@{}", crate::hex::encode(b))),
        },
        Data::DateTime(d) => match iso(d) {
            Some(s) => json!(s),
            None => json!(format!("@{}", crate::hex::encode(&d.to_bytes()))),
        },
        Data::OctetString(b) => json!(format!("@{}", crate::hex::encode(b))),
        Data::Date(d) => json!(format!("@{}", crate::hex::encode(&d.to_bytes()))),
        Data::Time(d) => json!(format!("@{}", crate::hex::encode(&d.to_bytes()))),
        other => match typed(other) {
            Value::Object(mut o) => o.remove(other.type_name()).unwrap_or(Value::Null),
            x => x,
        },
    }
}

/// ISO 8601 with offset; a date-time without deviation is taken as JST.
fn iso(d: &CosemDateTime) -> Option<String> {
    d.to_chrono_or(crate::datetime::JST_DEVIATION)
        .map(|t| t.to_rfc3339())
}

/// Parse the typed JSON form.
pub fn from_typed(v: &Value) -> Result<Data, String> {
    let Value::Object(o) = v else {
        return Err(format!(
            "{v} is not a typed value such as {{\"UInt32\": 1}}"
        ));
    };
    let (Some((tag, inner)), 1) = (o.iter().next(), o.len()) else {
        return Err("a typed value has exactly one key, its type".into());
    };
    let int = || -> Result<i128, String> {
        inner
            .as_i64()
            .map(i128::from)
            .or_else(|| inner.as_u64().map(i128::from))
            .or_else(|| inner.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("{tag}: {inner} is not an integer"))
    };
    let fit = |n: i128| format!("{tag}: {n} out of range");
    let bytes = || -> Result<Vec<u8>, String> {
        let s = inner
            .as_str()
            .ok_or_else(|| format!("{tag}: hex string expected"))?;
        crate::hex::decode(s.strip_prefix('@').unwrap_or(s)).map_err(|e| format!("{tag}: {e}"))
    };
    let list = || -> Result<Vec<Data>, String> {
        inner
            .as_array()
            .ok_or_else(|| format!("{tag}: a list expected"))?
            .iter()
            .map(from_typed)
            .collect()
    };
    let text = || -> Result<Vec<u8>, String> {
        Ok(inner
            .as_str()
            .ok_or_else(|| format!("{tag}: a string expected"))?
            .as_bytes()
            .to_vec())
    };
    macro_rules! n {
        ($variant:ident, $t:ty) => {{
            let n = int()?;
            Data::$variant(<$t>::try_from(n).map_err(|_| fit(n))?)
        }};
    }
    Ok(match tag.as_str() {
        "NullData" => Data::Null,
        "DontCare" => Data::DontCare,
        "Array" => Data::Array(list()?),
        "Structure" => Data::Structure(list()?),
        "Boolean" => Data::Boolean(
            inner
                .as_bool()
                .ok_or_else(|| format!("{tag}: true or false expected"))?,
        ),
        "BitString" => {
            let s = inner
                .as_str()
                .ok_or_else(|| format!("{tag}: a string of 0 and 1 expected"))?;
            let mut bytes = vec![0u8; s.len().div_ceil(8)];
            for (i, c) in s.chars().enumerate() {
                match c {
                    '1' => {
                        if let Some(b) = bytes.get_mut(i / 8) {
                            *b |= 0x80 >> (i % 8);
                        }
                    }
                    '0' => {}
                    _ => return Err(format!("{tag}: only 0 and 1")),
                }
            }
            Data::BitString {
                bits: s.len(),
                bytes,
            }
        }
        "Int8" => n!(Integer, i8),
        "Int16" => n!(Long, i16),
        "Int32" => n!(DoubleLong, i32),
        "Int64" => n!(Long64, i64),
        "UInt8" => n!(Unsigned, u8),
        "UInt16" => n!(LongUnsigned, u16),
        "UInt32" => n!(DoubleLongUnsigned, u32),
        "UInt64" => n!(Long64Unsigned, u64),
        "Enum" => n!(Enum, u8),
        "Bcd" => n!(Bcd, i8),
        "DeltaInt8" => n!(DeltaInteger, i8),
        "DeltaInt16" => n!(DeltaLong, i16),
        "DeltaInt32" => n!(DeltaDoubleLong, i32),
        "DeltaUInt8" => n!(DeltaUnsigned, u8),
        "DeltaUInt16" => n!(DeltaLongUnsigned, u16),
        "DeltaUInt32" => n!(DeltaDoubleLongUnsigned, u32),
        "Float32" => Data::Float32(
            inner
                .as_f64()
                .ok_or_else(|| format!("{tag}: a number expected"))? as f32,
        ),
        "Float64" => Data::Float64(
            inner
                .as_f64()
                .ok_or_else(|| format!("{tag}: a number expected"))?,
        ),
        "OctetString" => Data::OctetString(bytes()?),
        "String" => Data::VisibleString(text()?),
        "StringUTF8" => Data::Utf8String(text()?),
        "DateTime" => {
            let b = bytes()?;
            Data::DateTime(
                CosemDateTime::from_slice(&b).ok_or_else(|| format!("{tag}: 12 bytes expected"))?,
            )
        }
        "Date" => {
            let b: [u8; 5] = bytes()?
                .try_into()
                .map_err(|_| format!("{tag}: 5 bytes expected"))?;
            Data::Date(crate::CosemDate::from_bytes(b))
        }
        "Time" => {
            let b: [u8; 4] = bytes()?
                .try_into()
                .map_err(|_| format!("{tag}: 4 bytes expected"))?;
            Data::Time(crate::CosemTime::from_bytes(b))
        }
        other => return Err(format!("unknown type `{other}`")),
    })
}

/// The smallest signed integer type holding `n`.
fn smallest_signed(n: i128) -> Option<Data> {
    if let Ok(v) = i8::try_from(n) {
        Some(Data::Integer(v))
    } else if let Ok(v) = i16::try_from(n) {
        Some(Data::Long(v))
    } else if let Ok(v) = i32::try_from(n) {
        Some(Data::DoubleLong(v))
    } else if let Ok(v) = i64::try_from(n) {
        Some(Data::Long64(v))
    } else {
        u64::try_from(n).ok().map(Data::Long64Unsigned)
    }
}

/// An integer in the type of `like`.
fn integer_like(n: i128, like: &Data) -> Option<Data> {
    Some(match like {
        Data::Integer(_) => Data::Integer(i8::try_from(n).ok()?),
        Data::Long(_) => Data::Long(i16::try_from(n).ok()?),
        Data::DoubleLong(_) => Data::DoubleLong(i32::try_from(n).ok()?),
        Data::Long64(_) => Data::Long64(i64::try_from(n).ok()?),
        Data::Unsigned(_) => Data::Unsigned(u8::try_from(n).ok()?),
        Data::LongUnsigned(_) => Data::LongUnsigned(u16::try_from(n).ok()?),
        Data::DoubleLongUnsigned(_) => Data::DoubleLongUnsigned(u32::try_from(n).ok()?),
        Data::Long64Unsigned(_) => Data::Long64Unsigned(u64::try_from(n).ok()?),
        Data::Enum(_) => Data::Enum(u8::try_from(n).ok()?),
        Data::Float32(_) => Data::Float32(n as f32),
        Data::Float64(_) => Data::Float64(n as f64),
        _ => return None,
    })
}

/// Parse a command-line value; `like` is the attribute's current value when known.
pub fn parse_value(text: &str, like: Option<&Data>) -> Result<Data, ValueError> {
    let t = text.trim();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|e| value_error(text, &e.to_string()))?;
        return from_typed(&v).map_err(|e| value_error(text, &e));
    }
    if let Some(h) = t.strip_prefix('@') {
        return crate::hex::decode(h)
            .map(Data::OctetString)
            .map_err(|e| value_error(text, &e.to_string()));
    }
    match t {
        "true" => return Ok(Data::Boolean(true)),
        "false" => return Ok(Data::Boolean(false)),
        "null" => return Ok(Data::Null),
        _ => {}
    }
    if let Ok(n) = t.parse::<i128>() {
        return match like.and_then(|l| integer_like(n, l)) {
            Some(d) => Ok(d),
            None if like.is_some_and(|l| l.as_i128().is_some()) => Err(value_error(
                text,
                &format!("out of range for {}", like.map_or("", Data::type_name)),
            )),
            None => smallest_signed(n).ok_or_else(|| value_error(text, "out of range")),
        };
    }
    if let Ok(f) = t.parse::<f64>() {
        return Ok(match like {
            Some(Data::Float32(_)) => Data::Float32(f as f32),
            _ => Data::Float64(f),
        });
    }
    if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') {
        if let Ok(time) = parse_time(t) {
            let d = CosemDateTime::from_chrono(&time);
            return Ok(match like {
                Some(Data::DateTime(_)) => Data::DateTime(d),
                _ => Data::clock_octet_string(&d),
            });
        }
    }
    Ok(match like {
        Some(Data::OctetString(_)) => Data::OctetString(t.as_bytes().to_vec()),
        Some(Data::Utf8String(_)) => Data::Utf8String(t.as_bytes().to_vec()),
        _ => Data::VisibleString(t.as_bytes().to_vec()),
    })
}

/// Whether the value's type is fixed by its own syntax (no need to read the attribute).
pub fn self_typed(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('{') || t.starts_with('@') || matches!(t, "true" | "false" | "null")
}

// ---------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_typed_values_round_trip() {
        let v = Data::Structure(vec![
            Data::DoubleLongUnsigned(1800),
            Data::OctetString(vec![1, 2]),
            Data::VisibleString(b"IOT00901".to_vec()),
            Data::BitString {
                bits: 10,
                bytes: vec![0xA5, 0x80],
            },
            Data::Long64(-5),
            Data::Null,
            Data::Enum(30),
        ]);
        assert_eq!(from_typed(&typed(&v)).unwrap(), v);
    }

    #[test]
    fn rad01_plain_values_take_the_attribute_type() {
        assert_eq!(
            parse_value("-540", Some(&Data::Long(0))).unwrap(),
            Data::Long(-540)
        );
        assert_eq!(parse_value("0", None).unwrap(), Data::Integer(0));
        assert_eq!(
            parse_value("@0102", None).unwrap(),
            Data::OctetString(vec![1, 2])
        );
        let d = parse_value("2026-11-25T09:30:00", None).unwrap();
        let dt = d.as_date_time().unwrap();
        assert_eq!(
            iso(&dt).unwrap(),
            "2026-11-25T09:30:00+09:00",
            "without offset: JST"
        );
        assert!(parse_value("70000", Some(&Data::LongUnsigned(0))).is_err());
    }
}
