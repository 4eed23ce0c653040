//! The export: slots as CSV or JSON, in the column order of [`COLUMNS`]. Times are RFC
//! 3339 in JST (+09:00, the utilities' time; JST has no daylight saving), energies kWh
//! with exactly three decimals (1 Wh, TRM-05), formatted from integer Wh so that no
//! float ever rounds a value.

use std::io::Write;

use crate::slot::Slot;

/// The columns, in order: the CSV header and the JSON keys.
pub const COLUMNS: [&str; 10] = [
    "supply_point",
    "terminal_id",
    "slot_start",
    "interval_min",
    "in_kwh",
    "out_kwh",
    "cum_in_kwh",
    "cum_out_kwh",
    "quality",
    "received_at",
];

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A header line, then one line per slot; no value holds a comma or a quote, so
    /// none is quoted.
    Csv,
    /// An array of objects with the CSV's keys in its order, every value a string (an
    /// energy stays `"1.500"`, not a float a reader might round).
    Json,
}

/// The export's time and energy: the EDI files' own (`edi::message`), so the files a
/// retailer gets and the export can never disagree on a digit.
pub use edi::message::{jst, kwh};

/// The slot's values, in [`COLUMNS`] order.
fn values(s: &Slot) -> [String; 10] {
    [
        s.point.to_string(),
        s.terminal.to_string(),
        jst(s.start),
        s.minutes.to_string(),
        kwh(s.in_wh),
        kwh(s.out_wh),
        kwh(s.cum_in),
        kwh(s.cum_out),
        s.quality.to_string(),
        s.received_at.map(jst).unwrap_or_default(),
    ]
}

/// Writes slots one at a time, so that an export of any size needs no more memory than
/// a row.
pub(crate) struct Writer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    rows: u64,
}

impl<'a> Writer<'a> {
    /// Start: the CSV header, or the JSON array's opening.
    pub fn start(out: &'a mut dyn Write, format: Format) -> std::io::Result<Self> {
        match format {
            Format::Csv => writeln!(out, "{}", COLUMNS.join(","))?,
            Format::Json => write!(out, "[")?,
        }
        Ok(Self {
            out,
            format,
            rows: 0,
        })
    }

    /// One slot.
    pub fn row(&mut self, slot: &Slot) -> std::io::Result<()> {
        let values = values(slot);
        match self.format {
            Format::Csv => writeln!(self.out, "{}", values.join(","))?,
            Format::Json => {
                let sep = if self.rows == 0 { "\n" } else { ",\n" };
                write!(self.out, "{sep}{{")?;
                for (i, (k, v)) in COLUMNS.iter().zip(&values).enumerate() {
                    let comma = if i == 0 { "" } else { "," };
                    // Keys and values through serde_json: every string escaped as JSON wants.
                    write!(
                        self.out,
                        "{comma}{}:{}",
                        serde_json::Value::from(*k),
                        serde_json::Value::from(v.as_str())
                    )?;
                }
                write!(self.out, "}}")?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Close the JSON array; how many rows were written.
    pub fn finish(self) -> std::io::Result<u64> {
        if self.format == Format::Json {
            let end = if self.rows == 0 { "]\n" } else { "\n]\n" };
            write!(self.out, "{end}")?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn energies_have_exactly_three_decimals_and_times_are_jst() {
        assert_eq!(kwh(0), "0.000");
        assert_eq!(kwh(1), "0.001");
        assert_eq!(kwh(1500), "1.500");
        assert_eq!(kwh(99_999_999), "99999.999");
        let t = Utc.with_ymd_and_hms(2026, 12, 4, 15, 30, 0).unwrap();
        assert_eq!(jst(t), "2026-12-05T00:30:00+09:00");
    }
}
