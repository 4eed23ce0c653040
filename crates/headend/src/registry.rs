//! The registry of device points (機器点): which terminal, behind which smart meter,
//! serves which supply point for which retailer. Imported from and exported to CSV with
//! the header [`HEADER`]; an import is checked whole before anything is kept, so that a
//! bad row (named by its line) leaves the registry as it was.

use std::collections::{BTreeMap, BTreeSet};

use nodes::terminal::slots::Interval;
use wisun::mac::Eui64;
use wisun::pairing_id::PairingId;

use crate::point::{RetailerCode, SupplyPoint};

/// The CSV header, in this order.
pub const HEADER: [&str; 7] = [
    "supply_point",
    "terminal_id",
    "pairing_id",
    "smart_meter",
    "meter_id",
    "interval_min",
    "retailer",
];

/// Terminals one smart meter serves at most (SYS-03: about 4; ours: 4).
pub const TERMINALS_PER_SMART_METER: usize = 4;

/// Longest meter ID (0xD1) kept, bytes.
const METER_ID_MAX: usize = 32;

/// One device point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePoint {
    /// The supply point it is metered for.
    pub supply_point: SupplyPoint,
    /// The wireless terminal's EUI-64.
    pub terminal_id: Eui64,
    /// The Pairing ID the terminal and its smart meter share (CON-03).
    pub pairing_id: PairingId,
    /// The smart meter's EUI-64.
    pub smart_meter: Eui64,
    /// The special-case meter's ID (0xD1) registered for the point (SEC-07); `None`:
    /// the terminal registers the first one it reads.
    pub meter_id: Option<Vec<u8>>,
    /// The reading interval.
    pub interval: Interval,
    /// The retailer the point's data goes to.
    pub retailer: RetailerCode,
}

/// Why a registry file was refused; `line` is the file's line (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Not CSV, or the wrong header.
    #[error("line {line}: {why}")]
    Format {
        /// Where.
        line: u64,
        /// What.
        why: String,
    },
    /// A field is not what its column holds.
    #[error("line {line}, {column}: {why}")]
    Field {
        /// Where.
        line: u64,
        /// Which column.
        column: &'static str,
        /// What.
        why: String,
    },
    /// The row contradicts another (in the file or the registry).
    #[error("line {line}: {why}")]
    Conflict {
        /// Where.
        line: u64,
        /// What.
        why: String,
    },
}

impl RegistryError {
    /// The line named.
    #[must_use]
    pub const fn line(&self) -> u64 {
        match self {
            Self::Format { line, .. } | Self::Field { line, .. } | Self::Conflict { line, .. } => {
                *line
            }
        }
    }
}

/// An EUI-64 as the registry writes it: 16 hex digits (`:` or `-` between bytes taken
/// too).
///
/// # Errors
/// What is wrong, for the caller to name the field.
pub fn parse_eui64(s: &str) -> Result<Eui64, String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    if hex.len() != 16 {
        return Err(format!("{s:?}: an EUI-64 is 16 hex digits"));
    }
    let bytes = dlms::hex::decode(&hex).map_err(|e| format!("{s:?}: {e}"))?;
    <[u8; 8]>::try_from(bytes.as_slice())
        .map(Eui64)
        .map_err(|_| format!("{s:?}: an EUI-64 is 8 bytes"))
}

/// An EUI-64 as the registry writes it: 16 upper-case hex digits, as the MDMS's export
/// and the rest of the project print them.
#[must_use]
pub fn eui64_text(eui: Eui64) -> String {
    dlms::hex::encode(&eui.0)
}

/// The device points of a CSV file, checked: every field, the header, no supply point
/// or terminal twice, one Pairing ID per smart meter, at most
/// [`TERMINALS_PER_SMART_METER`] terminals per smart meter.
///
/// # Errors
/// [`RegistryError`] naming the first bad line.
pub fn parse_csv(text: &[u8]) -> Result<Vec<DevicePoint>, RegistryError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let header = reader.headers().map_err(|e| RegistryError::Format {
        line: 1,
        why: e.to_string(),
    })?;
    if header.iter().ne(HEADER) {
        return Err(RegistryError::Format {
            line: 1,
            why: format!("header must be `{}`", HEADER.join(",")),
        });
    }
    let mut points = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| RegistryError::Format {
            line: e.position().map_or(0, csv::Position::line),
            why: e.to_string(),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        points.push((line, row(line, &record)?));
    }
    check_together(&points, &[])?;
    Ok(points.into_iter().map(|(_, p)| p).collect())
}

fn row(line: u64, r: &csv::StringRecord) -> Result<DevicePoint, RegistryError> {
    let field = |i: usize| r.get(i).unwrap_or_default();
    let bad = |column: &'static str| move |why: String| RegistryError::Field { line, column, why };
    if r.len() != HEADER.len() {
        return Err(RegistryError::Format {
            line,
            why: format!("{} fields, {} expected", r.len(), HEADER.len()),
        });
    }
    let meter_id = match field(4) {
        "" => None,
        hex => {
            let id = dlms::hex::decode(hex).map_err(|e| bad("meter_id")(e.to_string()))?;
            if id.is_empty() || id.len() > METER_ID_MAX {
                return Err(bad("meter_id")(format!("1 to {METER_ID_MAX} bytes")));
            }
            Some(id)
        }
    };
    Ok(DevicePoint {
        supply_point: field(0)
            .parse()
            .map_err(|e: mdms::IdError| bad("supply_point")(e.to_string()))?,
        terminal_id: parse_eui64(field(1)).map_err(bad("terminal_id"))?,
        pairing_id: PairingId::from_bytes(field(2).as_bytes())
            .map_err(|e| bad("pairing_id")(e.to_string()))?,
        smart_meter: parse_eui64(field(3)).map_err(bad("smart_meter"))?,
        meter_id,
        interval: field(5)
            .parse::<u8>()
            .ok()
            .and_then(Interval::from_minutes)
            .ok_or_else(|| bad("interval_min")(format!("{:?}: 15 or 30", field(5))))?,
        retailer: field(6)
            .parse()
            .map_err(|e: crate::point::RetailerError| bad("retailer")(e.to_string()))?,
    })
}

/// `new` (with their lines) checked against each other and against `kept` (the
/// registry as it is, whose points `new` replaces by supply point).
///
/// # Errors
/// [`RegistryError::Conflict`] naming the first row that breaks a rule.
pub fn check_together(
    new: &[(u64, DevicePoint)],
    kept: &[DevicePoint],
) -> Result<(), RegistryError> {
    let replaced: BTreeSet<&SupplyPoint> = new.iter().map(|(_, p)| &p.supply_point).collect();
    let mut points: BTreeMap<&SupplyPoint, u64> = BTreeMap::new();
    let mut terminals: BTreeMap<Eui64, String> = BTreeMap::new();
    let mut meters: BTreeMap<Eui64, (PairingId, usize)> = BTreeMap::new();
    let mut take = |p: &DevicePoint, at: &str| -> Result<(), String> {
        if let Some(other) = terminals.insert(p.terminal_id, at.to_owned()) {
            return Err(format!(
                "terminal {} is already the one of {other}",
                eui64_text(p.terminal_id)
            ));
        }
        let (pairing, n) = meters.entry(p.smart_meter).or_insert((p.pairing_id, 0));
        if *pairing != p.pairing_id {
            return Err(format!(
                "smart meter {} pairs with {pairing}, not {}",
                eui64_text(p.smart_meter),
                p.pairing_id
            ));
        }
        *n += 1;
        if *n > TERMINALS_PER_SMART_METER {
            return Err(format!(
                "smart meter {} would serve more than {TERMINALS_PER_SMART_METER} terminals (SYS-03)",
                eui64_text(p.smart_meter)
            ));
        }
        Ok(())
    };
    for p in kept.iter().filter(|p| !replaced.contains(&p.supply_point)) {
        // The registry was checked when it was written: line 0 only if it was not.
        take(p, &format!("supply point {}", p.supply_point))
            .map_err(|why| RegistryError::Conflict { line: 0, why })?;
    }
    for (line, p) in new {
        if let Some(first) = points.insert(&p.supply_point, *line) {
            return Err(RegistryError::Conflict {
                line: *line,
                why: format!("supply point {} is on line {first} too", p.supply_point),
            });
        }
        take(p, &format!("line {line}"))
            .map_err(|why| RegistryError::Conflict { line: *line, why })?;
    }
    Ok(())
}

/// The registry as CSV, [`HEADER`] first, ordered by supply point.
#[must_use]
pub fn to_csv(points: &[DevicePoint]) -> String {
    let mut sorted: Vec<&DevicePoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.supply_point.cmp(&b.supply_point));
    let mut out = HEADER.join(",");
    out.push('\n');
    for p in sorted {
        let fields = [
            p.supply_point.to_string(),
            eui64_text(p.terminal_id),
            p.pairing_id.to_string(),
            eui64_text(p.smart_meter),
            p.meter_id
                .as_deref()
                .map(dlms::hex::encode)
                .unwrap_or_default(),
            p.interval.minutes().to_string(),
            p.retailer.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
