//! The IoT-route COSEM object model (issue 5): the objects the wireless terminal
//! (無線端末) serves to the smart meter (電力SM) and to the handy terminal, with their
//! state and behaviour. `docs/iot-route-cosem.md` is the published description; this
//! module is its implementation.
//!
//! The utilities' IoT route application interface specification (IoTルート
//! Applicationインタフェース仕様書) is not public, so the model is ours, built from
//! standard OBIS codes and interface classes. The upstream crate carries classes only as
//! metadata; the behaviour (values, access rights per association, selective access,
//! clock arithmetic, capture) is written here.
//!
//! Sans-IO: nothing here reads a clock. The caller passes `now` into
//! [`IotRouteModel::set_now`] before serving a request, and into every capture.
//!
//! Values are our owned [`Value`] (`crate::data::Data`), names our [`Obis`]; the upstream
//! types appear only where the upstream engine's `ObjectStore` seam hands them in
//! (the borrowed request value, the selective-access descriptor, the writer).

pub mod access;
pub mod association;
pub mod clock;
pub mod codes;
pub mod data;
pub mod image;
pub mod model;
pub mod profile;
pub mod push;
pub mod register;
pub mod security;

pub use access::{AccessMode, Association};
pub use model::{AccessCode, EventCode, IotRouteModel, ModelChange, ModelConfig, ModelState};
pub use profile::{range_selector, ProfileGeneric, ProfileRow, RowSource, SourceError};

pub use crate::apdu::{ActionResult, DataAccessResult};
/// An owned A-XDR value (our `crate::data::Data`), what attributes hold and rows carry.
pub use crate::data::Data as Value;
pub use crate::datetime::CosemDateTime;
pub use crate::obis::Obis;
pub use profile::CaptureDef;

use crate::apdu::{DataRef as Data, SelectiveAccess};
use crate::datetime::{ClockStatus, DEVIATION_NOT_SPECIFIED};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use dlms_cosem_rs::codec::Writer;

/// What a GET or SET answers: a value, or the Data-Access-Result the client is told.
pub type AccessResult<T> = Result<T, DataAccessResult>;

/// The deviation of Japan Standard Time in a COSEM date-time: −540 minutes
/// (local = UTC − deviation), as the Blue Book and Gurux write it.
pub const JST_DEVIATION: i16 = -540;

/// Errors of the Rust-side API of the model (the network side answers with
/// [`DataAccessResult`] / [`ActionResult`] instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosemError {
    /// A captured row does not have one value per non-clock capture object.
    #[error("profile {profile}: {got} value(s) captured, {expected} expected")]
    ColumnCount {
        /// The profile's logical name, printed.
        profile: String,
        /// Values the capture objects call for (clock excluded).
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A captured value that has no A-XDR encoding (a bit-string whose bytes do not
    /// match its bit count): the profile keeps its rows encoded, so it cannot be kept.
    #[error("profile {profile}: a captured value has no A-XDR encoding")]
    Unencodable {
        /// The profile's logical name, printed.
        profile: String,
    },
    /// A write to a profile that shows another's rows (the terminal's load profile over
    /// its store): its rows are written by the store's owner, never through the profile.
    #[error("profile {profile} is a view: its rows are written where they are kept")]
    ProfileIsView {
        /// The profile's logical name, printed.
        profile: String,
    },
    /// A view's source could not give its rows.
    #[error(transparent)]
    Source(#[from] profile::SourceError),
    /// A capture period outside what the profile allows (TRM-11: 1800 or 900 s).
    #[error("capture period {0} s not allowed (1800 or 900)")]
    CapturePeriod(u32),
    /// A Pairing ID that is not 8 characters of 0-9 A-Z (CON-03).
    #[error("Pairing ID must be 8 characters of 0-9 A-Z")]
    PairingId,
    /// A profile that can hold no entry.
    #[error("profile_entries must be at least 1 and at most {max}")]
    ProfileEntries {
        /// The largest accepted.
        max: u32,
    },
    /// An identifier longer than the model accepts.
    #[error("{what} longer than {max} bytes")]
    TooLong {
        /// Which identifier.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// One COSEM object: its class, version and logical name, and the attributes and
/// methods it serves by itself.
///
/// Access rights are not the object's business (they depend on the association, see
/// [`access`]); an object answers whatever it is asked and refuses only values it cannot
/// hold. Objects whose answers depend on others (the association's `object_list`, the
/// profile's capture method) are completed by [`IotRouteModel`].
pub trait CosemObject: std::fmt::Debug + Send {
    /// The interface class.
    fn class_id(&self) -> u16;
    /// The class version this object implements.
    fn version(&self) -> u8;
    /// The logical name.
    fn logical_name(&self) -> Obis;
    /// How many attributes the class has (attribute 1 is always `logical_name`).
    fn attribute_count(&self) -> i8;
    /// How many methods the class has.
    fn method_count(&self) -> i8 {
        0
    }
    /// Write attribute `attribute` into `w` as A-XDR.
    ///
    /// # Errors
    /// The Data-Access-Result for the client.
    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()>;
    /// Write an attribute.
    ///
    /// # Errors
    /// The Data-Access-Result for the client; the default refuses.
    fn set(&mut self, _attribute: i8, _value: &Data<'_>) -> AccessResult<()> {
        Err(DataAccessResult::ReadWriteDenied)
    }
    /// Invoke a method; `Ok(true)` when a return value was written into `w`.
    ///
    /// # Errors
    /// The Action-Result for the client; the default says the method does not exist.
    fn invoke(
        &mut self,
        _method: i8,
        _parameters: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        Err(ActionResult::ObjectUndefined)
    }
}

/// Encode a value, turning a full buffer into a refusal (and a log line saying why:
/// the server's value buffer is too small for this attribute).
///
/// The common types are written straight into `w` (no allocation: a load profile of
/// thousands of rows is served from here); the rest go through the codec's encoder.
pub(crate) fn put(w: &mut dyn Writer, value: &Value) -> AccessResult<()> {
    match write_direct(w, value) {
        Ok(true) => Ok(()),
        Ok(false) => {
            let bytes = value.encode().map_err(|e| {
                tracing::error!(error = %e, "COSEM value cannot be encoded");
                DataAccessResult::OtherReason
            })?;
            put_raw(w, &bytes)
        }
        Err(e) => {
            tracing::warn!(error = %e, "COSEM value does not fit the response buffer");
            Err(DataAccessResult::OtherReason)
        }
    }
}

/// A-XDR of the fixed-size and string types and of arrays/structures of them, written
/// directly; `Ok(false)` (nothing written) for a type left to the codec.
fn write_direct(w: &mut dyn Writer, value: &Value) -> dlms_cosem_rs::codec::Result<bool> {
    if !directly_writable(value) {
        return Ok(false);
    }
    match value {
        Value::Null => w.write_u8(0x00)?,
        Value::Boolean(b) => w.write_bytes(&[0x03, u8::from(*b)])?,
        Value::DoubleLong(x) => {
            w.write_u8(0x05)?;
            w.write_bytes(&x.to_be_bytes())?;
        }
        Value::DoubleLongUnsigned(x) => {
            w.write_u8(0x06)?;
            w.write_u32(*x)?;
        }
        Value::OctetString(b) | Value::VisibleString(b) | Value::Utf8String(b) => {
            w.write_u8(match value {
                Value::OctetString(_) => 0x09,
                Value::VisibleString(_) => 0x0A,
                _ => 0x0C,
            })?;
            w.write_length(b.len())?;
            w.write_bytes(b)?;
        }
        Value::Integer(x) => w.write_bytes(&[0x0F, x.to_be_bytes()[0]])?,
        Value::Long(x) => {
            w.write_u8(0x10)?;
            w.write_bytes(&x.to_be_bytes())?;
        }
        Value::Unsigned(x) => w.write_bytes(&[0x11, *x])?,
        Value::LongUnsigned(x) => {
            w.write_u8(0x12)?;
            w.write_u16(*x)?;
        }
        Value::Long64(x) => {
            w.write_u8(0x14)?;
            w.write_bytes(&x.to_be_bytes())?;
        }
        Value::Long64Unsigned(x) => {
            w.write_u8(0x15)?;
            w.write_u64(*x)?;
        }
        Value::Enum(x) => w.write_bytes(&[0x16, *x])?,
        Value::Array(items) | Value::Structure(items) => {
            w.write_u8(if matches!(value, Value::Array(_)) {
                0x01
            } else {
                0x02
            })?;
            w.write_length(items.len())?;
            for item in items {
                write_direct(w, item)?;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// True when [`write_direct`] writes all of `value` (checked first, so that a tree is
/// never left half-written when one leaf needs the codec).
fn directly_writable(value: &Value) -> bool {
    match value {
        Value::Null
        | Value::Boolean(_)
        | Value::DoubleLong(_)
        | Value::DoubleLongUnsigned(_)
        | Value::OctetString(_)
        | Value::VisibleString(_)
        | Value::Utf8String(_)
        | Value::Integer(_)
        | Value::Long(_)
        | Value::Unsigned(_)
        | Value::LongUnsigned(_)
        | Value::Long64(_)
        | Value::Long64Unsigned(_)
        | Value::Enum(_) => true,
        Value::Array(items) | Value::Structure(items) => items.iter().all(directly_writable),
        _ => false,
    }
}

/// Raw A-XDR bytes into `w`, with the same refusal as [`put`].
pub(crate) fn put_raw(w: &mut dyn Writer, bytes: &[u8]) -> AccessResult<()> {
    w.write_bytes(bytes).map_err(|e| {
        tracing::warn!(error = %e, "COSEM value does not fit the response buffer");
        DataAccessResult::OtherReason
    })
}

/// Refuse selective access on an attribute that has none (only a profile's buffer
/// does): answered `scope-of-access-violated`, never by ignoring the selector and
/// returning the whole value.
pub(crate) fn no_selector(selective: Option<&SelectiveAccess<'_>>) -> AccessResult<()> {
    match selective {
        None => Ok(()),
        Some(_) => Err(DataAccessResult::ScopeOfAccessViolated),
    }
}

/// An octet string value.
pub(crate) fn octets(bytes: &[u8]) -> Value {
    Value::OctetString(bytes.to_vec())
}

/// The logical-name attribute (attribute 1 of every class).
pub(crate) fn logical_name_value(ln: Obis) -> Value {
    octets(ln.as_bytes())
}

/// A UTC instant as the 12-byte COSEM date-time of local time at `deviation`
/// (−540 for JST).
///
/// Hundredths are written (0 when whole seconds), as Gurux does, and the day of week is
/// computed, so that a range read compares complete timestamps.
#[must_use]
pub fn to_cosem(t: DateTime<Utc>, deviation: i16, status: u8) -> CosemDateTime {
    let local = t
        .checked_sub_signed(Duration::minutes(i64::from(deviation)))
        .unwrap_or(t);
    CosemDateTime {
        year: u16::try_from(local.year()).unwrap_or(0xFFFF),
        month: u8::try_from(local.month()).unwrap_or(0xFF),
        day_of_month: u8::try_from(local.day()).unwrap_or(0xFF),
        day_of_week: u8::try_from(local.weekday().number_from_monday()).unwrap_or(0xFF),
        hour: u8::try_from(local.hour()).unwrap_or(0xFF),
        minute: u8::try_from(local.minute()).unwrap_or(0xFF),
        second: u8::try_from(local.second()).unwrap_or(0xFF),
        hundredths: u8::try_from(local.timestamp_subsec_millis() / 10).unwrap_or(0),
        deviation,
        status: ClockStatus(status),
    }
}

/// A COSEM date-time as a UTC instant; a missing deviation is read as `default_deviation`
/// (our own time zone), since a client that leaves it out means the server's local time.
///
/// `None` for wildcards and impossible dates. Hundredths are ignored: the model works in
/// whole seconds.
#[must_use]
pub fn from_cosem(dt: &CosemDateTime, default_deviation: i16) -> Option<DateTime<Utc>> {
    let mut dt = *dt;
    if dt.deviation == DEVIATION_NOT_SPECIFIED {
        dt.deviation = default_deviation;
    }
    let up: dlms_cosem_rs::axdr::DateTime = dt.into();
    let secs = up.to_unix_seconds()?;
    Utc.timestamp_opt(secs, 0).single()
}

/// A date-time value as a client sends it: octet-string(12) (Gurux, and the Blue Book's
/// type for clock and profile columns) or the `date-time` tag.
pub(crate) fn datetime_of(value: &Data<'_>) -> Option<CosemDateTime> {
    match value {
        Data::DateTime(dt) => Some((*dt).into()),
        Data::OctetString(b) => {
            let bytes: [u8; 12] = (*b).try_into().ok()?;
            Some(CosemDateTime::from_bytes(bytes))
        }
        _ => None,
    }
}

/// Floor `t` to a multiple of `period_s` seconds since the epoch (slots are aligned to
/// :00 and :30 in JST, which is UTC+9 h, so UTC alignment is the same).
#[must_use]
pub fn floor_to_period(t: DateTime<Utc>, period_s: u32) -> DateTime<Utc> {
    let p = i64::from(period_s.max(1));
    let secs = t.timestamp().div_euclid(p) * p;
    Utc.timestamp_opt(secs, 0).single().unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_date_time_round_trips_with_deviation_minus_540() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 0).unwrap();
        let dt = to_cosem(t, JST_DEVIATION, 0);
        // 2026-11-25 00:30 JST, a Wednesday.
        assert_eq!(
            (dt.year, dt.month, dt.day_of_month, dt.day_of_week),
            (2026, 11, 25, 3)
        );
        assert_eq!(
            (dt.hour, dt.minute, dt.second, dt.hundredths),
            (0, 30, 0, 0)
        );
        assert_eq!(&dt.to_bytes()[9..11], &[0xFD, 0xE4]);
        assert_eq!(from_cosem(&dt, 0), Some(t));
    }

    #[test]
    fn a_missing_deviation_is_read_as_our_time_zone() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 0).unwrap();
        let mut dt = to_cosem(t, JST_DEVIATION, 0);
        dt.deviation = DEVIATION_NOT_SPECIFIED;
        assert_eq!(from_cosem(&dt, JST_DEVIATION), Some(t));
        dt.hour = 0xFF;
        assert_eq!(
            from_cosem(&dt, JST_DEVIATION),
            None,
            "a wildcard is not an instant"
        );
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Boolean),
            any::<i8>().prop_map(Value::Integer),
            any::<i16>().prop_map(Value::Long),
            any::<i32>().prop_map(Value::DoubleLong),
            any::<i64>().prop_map(Value::Long64),
            any::<u8>().prop_map(Value::Unsigned),
            any::<u16>().prop_map(Value::LongUnsigned),
            any::<u32>().prop_map(Value::DoubleLongUnsigned),
            any::<u64>().prop_map(Value::Long64Unsigned),
            any::<u8>().prop_map(Value::Enum),
            any::<f32>().prop_map(Value::Float32),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::VisibleString),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Utf8String),
        ];
        leaf.prop_recursive(3, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec(inner, 0..8).prop_map(Value::Structure),
            ]
        })
    }

    proptest::proptest! {
        /// The direct writer and the codec's encoder agree byte for byte.
        #[test]
        fn direct_writing_is_the_codec_encoding(v in value()) {
            let mut direct = Vec::new();
            put(&mut direct, &v).unwrap();
            proptest::prop_assert_eq!(direct, v.encode().unwrap());
        }
    }

    #[test]
    fn slots_are_aligned_to_the_half_hour_in_jst() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 3, 29, 59).unwrap();
        assert_eq!(
            floor_to_period(t, 1800),
            Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
        );
        assert_eq!(
            floor_to_period(t, 900),
            Utc.with_ymd_and_hms(2026, 11, 25, 3, 15, 0).unwrap()
        );
        assert_eq!(
            floor_to_period(t, 0),
            Utc.with_ymd_and_hms(2026, 11, 25, 3, 29, 59).unwrap()
        );
    }
}
