//! Profile generic (class 7, version 1): the load profile (TRM-06, TRM-11) and the event
//! log (SEC-09).
//!
//! Our profiles always have the clock as their first capture object and are sorted FIFO
//! by it (`sort_method` 1): every row is a timestamped capture, which is what a range
//! read by time needs. The clock column is sent as **octet-string(12)** (tag `09 0C`),
//! the Blue Book's type and what Gurux expects; a range read accepts from/to as
//! octet-string(12) (what Gurux sends) or as the `date-time` tag.
//!
//! The buffer is bounded by `profile_entries`: a capture into a full buffer drops the
//! oldest row (FIFO), so the terminal keeps the most recent data for backfill (TRM-06).
//!
//! A profile either keeps its rows (the event and access logs, `dlms serve`'s demo load
//! profile) or shows another's ([`RowSource`]): the terminal's load profile is a view of
//! its reading store, which is the truth (TRM-06), so the rows are kept once, not again
//! in the profile, and a read shows what the store holds at that moment.

use std::collections::VecDeque;
use std::sync::Arc;

use smallvec::SmallVec;

use super::{
    datetime_of, from_cosem, logical_name_value, put, to_cosem, AccessResult, CosemError,
    CosemObject, Obis, Value, JST_DEVIATION,
};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use chrono::{DateTime, Utc};
use dlms_cosem_rs::codec::Writer;

/// The parameters of selective access by range (selector 1) on a profile whose first
/// column is the clock: rows from `from` to `to` inclusive, both bounds as
/// octet-string(12) (what Gurux sends, and what every server we met accepts), all
/// columns. What a client (the smart meter, `dlms get --from --to`) reads a profile with.
#[must_use]
pub fn range_selector(
    from: &DateTime<chrono::FixedOffset>,
    to: &DateTime<chrono::FixedOffset>,
) -> Value {
    Value::Structure(vec![
        Value::Structure(vec![
            Value::LongUnsigned(8),
            Value::OctetString(super::codes::CLOCK.as_bytes().to_vec()),
            Value::Integer(2),
            Value::LongUnsigned(0),
        ]),
        Value::clock_octet_string(&crate::CosemDateTime::from_chrono_gurux(from)),
        Value::clock_octet_string(&crate::CosemDateTime::from_chrono_gurux(to)),
        Value::Array(Vec::new()),
    ])
}

/// `sort_method` 1: FIFO.
pub const SORT_FIFO: u8 = 1;
/// The most entries a profile may be configured to hold (ours): 96 days of 30-minute
/// slots, 48 of 15-minute ones. Bounded so that an unfiltered read of the whole load
/// profile (28 bytes a row, 129,028 bytes at this depth) fits the maintenance engine's value buffer
/// (`server::terminal::VALUE_BUFFER`); a larger value could not be sent.
pub const PROFILE_ENTRIES_MAX: u32 = 4608;

/// A capture object definition: `{class_id, logical_name, attribute_index,
/// data_index}` (the element of `capture_objects`, `push_object_list`, and the
/// restricting object of a range read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureDef {
    /// The captured object's class.
    pub class_id: u16,
    /// Its logical name.
    pub logical_name: Obis,
    /// Which attribute.
    pub attribute_index: i8,
    /// Which element of a structured attribute; 0 for all of it.
    pub data_index: u16,
}

impl CaptureDef {
    /// A definition.
    #[must_use]
    pub const fn new(
        class_id: u16,
        logical_name: Obis,
        attribute_index: i8,
        data_index: u16,
    ) -> Self {
        Self {
            class_id,
            logical_name,
            attribute_index,
            data_index,
        }
    }

    /// The clock's time, the first column of every profile of ours.
    #[must_use]
    pub const fn clock() -> Self {
        Self::new(8, super::codes::CLOCK, 2, 0)
    }

    /// As an A-XDR structure.
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Structure(vec![
            Value::LongUnsigned(self.class_id),
            Value::OctetString(self.logical_name.as_bytes().to_vec()),
            Value::Integer(self.attribute_index),
            Value::LongUnsigned(self.data_index),
        ])
    }

    /// From a request's structure; `None` when it is not one.
    #[must_use]
    pub fn from_ref(v: &Data<'_>) -> Option<Self> {
        let s = v.as_structure()?;
        let class_id = u16::try_from(s.get(0).ok()?.as_u64()?).ok()?;
        let logical_name = Obis::from_slice(s.get(1).ok()?.as_bytes()?).ok()?;
        let attribute_index = i8::try_from(s.get(2).ok()?.as_i64()?).ok()?;
        let data_index = u16::try_from(s.get(3).ok()?.as_u64()?).ok()?;
        Some(Self {
            class_id,
            logical_name,
            attribute_index,
            data_index,
        })
    }

    /// Same column (the data index is not compared: we capture whole attributes).
    fn same_column(&self, other: &Self) -> bool {
        self.class_id == other.class_id
            && self.logical_name == other.logical_name
            && self.attribute_index == other.attribute_index
    }
}

/// One captured row: the clock column and the other columns' values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileRow {
    /// When the row was captured (the clock column), UTC.
    pub time: DateTime<Utc>,
    /// The clock status written into the clock column.
    pub clock_status: u8,
    /// One value per capture object after the clock.
    pub values: Vec<Value>,
}

/// A row as the buffer keeps it: its values A-XDR encoded back to back, as a read
/// sends them. A load-profile row's three values are 12 bytes, kept inline (a row is 40
/// bytes); as a [`ProfileRow`] they were a `Vec` of three 32-byte [`Value`]s on the
/// heap, about 150 bytes a row, and a large simulated run holds a profile per terminal.
#[derive(Debug, Clone, PartialEq)]
struct StoredRow {
    time: DateTime<Utc>,
    clock_status: u8,
    cells: SmallVec<[u8; 16]>,
}

impl StoredRow {
    /// `row` encoded; `None` for a value that has no A-XDR encoding.
    fn of(row: &ProfileRow) -> Option<Self> {
        let mut bytes = Vec::new();
        for v in &row.values {
            v.encode_into(&mut bytes).ok()?;
        }
        Some(Self {
            time: row.time,
            clock_status: row.clock_status,
            cells: SmallVec::from_vec(bytes),
        })
    }

    /// The encoded values, one slice each, in column order.
    fn cells(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest: &[u8] = &self.cells;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Our own encoding: it decodes; were it not to, the row ends here (logged).
            let used = match Value::decode_prefix(rest) {
                Ok((_, used)) => used,
                Err(e) => {
                    tracing::error!(error = %e, "profile row cannot be decoded");
                    rest.len()
                }
            };
            let (cell, after) = rest.split_at(used);
            rest = after;
            Some(cell)
        })
    }

    /// The row with its values decoded.
    fn row(&self) -> ProfileRow {
        ProfileRow {
            time: self.time,
            clock_status: self.clock_status,
            values: self.cells().filter_map(|c| Value::decode(c).ok()).collect(),
        }
    }
}

/// Why a [`RowSource`] could not give its rows (the store's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the profile's rows cannot be read: {0}")]
pub struct SourceError(pub String);

/// Rows a profile shows but does not keep: the terminal's reading store, of which the
/// load profile is a view (TRM-06). Read at every read of the buffer, with the range a
/// client asks for, so that a read of a few slots does not fetch every row kept; never
/// written through the profile (the store's owner writes it).
pub trait RowSource: Send + Sync {
    /// The rows captured between `from` and `to`, both inclusive, oldest first, one per
    /// time; and how many rows are newer than `to` (which decides which of them are
    /// among the newest `profile_entries`).
    ///
    /// # Errors
    /// [`SourceError`] when the rows cannot be read.
    fn rows_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<ProfileRow>, usize), SourceError>;

    /// When the newest row was captured.
    ///
    /// # Errors
    /// [`SourceError`] when the rows cannot be read.
    fn last_time(&self) -> Result<Option<DateTime<Utc>>, SourceError>;
}

/// Where a profile's rows are.
#[derive(Clone)]
enum Rows {
    /// Kept by the profile, in capture order.
    Kept(VecDeque<StoredRow>),
    /// Another's (the terminal's store), ordered by time.
    Viewed(Arc<dyn RowSource>),
}

impl core::fmt::Debug for Rows {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Kept(rows) => write!(f, "Kept({} rows)", rows.len()),
            Self::Viewed(_) => f.write_str("Viewed"),
        }
    }
}

/// The rows a read looks at: the profile's own, or those its source gave for the read.
enum Visible<'a> {
    Kept(&'a VecDeque<StoredRow>),
    Fetched(Vec<StoredRow>),
}

impl Visible<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Kept(rows) => rows.len(),
            Self::Fetched(rows) => rows.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&StoredRow> {
        match self {
            Self::Kept(rows) => rows.get(i),
            Self::Fetched(rows) => rows.get(i),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &StoredRow> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// A profile generic object.
#[derive(Debug, Clone)]
pub struct ProfileGeneric {
    logical_name: Obis,
    capture_objects: Vec<CaptureDef>,
    capture_period: u32,
    allowed_periods: Vec<u32>,
    profile_entries: u32,
    rows: Rows,
    deviation: i16,
}

/// Most rows a full buffer grows by: eight hours of 30-minute slots.
const ROWS_GROWTH: usize = 16;

/// Fewest rows a full buffer grows by: an event or access log holds a few rows a day,
/// and every terminal of a simulation has one of each.
const ROWS_GROWTH_MIN: usize = 4;

/// How many rows a full buffer of `len` rows grows by: half its rows, between
/// [`ROWS_GROWTH_MIN`] and [`ROWS_GROWTH`] ([`ProfileGeneric`]'s buffer; the terminal's
/// store, whose rows the load profile shows, grows the same way).
#[must_use]
pub fn rows_growth(len: usize) -> usize {
    (len / 2).clamp(ROWS_GROWTH_MIN, ROWS_GROWTH)
}

/// Room for one more row in a full buffer: by half its rows, between
/// [`ROWS_GROWTH_MIN`] and [`ROWS_GROWTH`]. Doubling, a terminal's buffer a few rows past
/// a power of two held nearly twice its rows; sixteen at a time, its event and access
/// logs held room for sixteen for the few rows each (a simulation's million terminals
/// each).
fn make_room(rows: &mut VecDeque<StoredRow>) {
    let len = rows.len();
    if len == rows.capacity() {
        rows.reserve_exact(rows_growth(len));
    }
}

/// Which rows and columns a selective access picked.
struct Selection {
    rows: Vec<usize>,
    columns: Vec<usize>,
}

impl ProfileGeneric {
    /// A profile whose first column is the clock and whose other columns are
    /// `columns`. `allowed_periods` lists the capture periods a client may set (empty:
    /// the period is fixed).
    ///
    /// # Errors
    /// [`CosemError::ProfileEntries`] when `profile_entries` is 0 or too large.
    pub fn new(
        logical_name: Obis,
        columns: Vec<CaptureDef>,
        capture_period: u32,
        allowed_periods: Vec<u32>,
        profile_entries: u32,
    ) -> Result<Self, CosemError> {
        if profile_entries == 0 || profile_entries > PROFILE_ENTRIES_MAX {
            return Err(CosemError::ProfileEntries {
                max: PROFILE_ENTRIES_MAX,
            });
        }
        let mut capture_objects = vec![CaptureDef::clock()];
        capture_objects.extend(columns);
        Ok(Self {
            logical_name,
            capture_objects,
            capture_period,
            allowed_periods,
            profile_entries,
            rows: Rows::Kept(VecDeque::new()),
            deviation: JST_DEVIATION,
        })
    }

    /// Show `source`'s rows from now on (the rows kept so far are dropped): the
    /// terminal's load profile over its store (TRM-06).
    pub fn view(&mut self, source: Arc<dyn RowSource>) {
        self.rows = Rows::Viewed(source);
    }

    /// Whether the rows are another's ([`ProfileGeneric::view`]).
    #[must_use]
    pub const fn is_view(&self) -> bool {
        matches!(self.rows, Rows::Viewed(_))
    }

    /// The capture objects, clock first.
    #[must_use]
    pub fn capture_objects(&self) -> &[CaptureDef] {
        &self.capture_objects
    }

    /// The capture period in seconds (0: asynchronous, as for the event log).
    #[must_use]
    pub const fn capture_period(&self) -> u32 {
        self.capture_period
    }

    /// Set the capture period (TRM-11: the reading interval, 1800 or 900 s for the load
    /// profile). Rows already captured are kept: each carries its own timestamp.
    ///
    /// # Errors
    /// [`CosemError::CapturePeriod`] when the profile does not allow it.
    pub fn set_capture_period(&mut self, seconds: u32) -> Result<(), CosemError> {
        if !self.allowed_periods.contains(&seconds) {
            return Err(CosemError::CapturePeriod(seconds));
        }
        self.capture_period = seconds;
        Ok(())
    }

    /// How many rows the buffer holds at most.
    #[must_use]
    pub const fn profile_entries(&self) -> u32 {
        self.profile_entries
    }

    /// Change the bound, dropping the oldest rows if the buffer is over it.
    ///
    /// # Errors
    /// [`CosemError::ProfileEntries`] for 0 or more than [`PROFILE_ENTRIES_MAX`].
    pub fn set_profile_entries(&mut self, entries: u32) -> Result<(), CosemError> {
        if entries == 0 || entries > PROFILE_ENTRIES_MAX {
            return Err(CosemError::ProfileEntries {
                max: PROFILE_ENTRIES_MAX,
            });
        }
        self.profile_entries = entries;
        self.trim();
        Ok(())
    }

    /// The rows it shows, oldest first (a view's: what its source holds now).
    ///
    /// # Errors
    /// [`CosemError::Source`] when a view's source fails.
    pub fn rows(&self) -> Result<Vec<ProfileRow>, CosemError> {
        Ok(self.fetch(None)?.iter().map(StoredRow::row).collect())
    }

    /// The rows it keeps itself, oldest first: what a restart must put back (none for a
    /// view: its source keeps them).
    #[must_use]
    pub fn kept_rows(&self) -> Vec<ProfileRow> {
        match &self.rows {
            Rows::Kept(rows) => rows.iter().map(StoredRow::row).collect(),
            Rows::Viewed(_) => Vec::new(),
        }
    }

    /// The rows captured between `from` and `to`, both inclusive (what a range read
    /// selects), oldest first.
    ///
    /// # Errors
    /// [`CosemError::Source`] when a view's source fails.
    pub fn rows_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProfileRow>, CosemError> {
        Ok(self
            .fetch(Some((from, to)))?
            .iter()
            .filter(|r| r.time >= from && r.time <= to)
            .map(StoredRow::row)
            .collect())
    }

    /// How many rows are in use (`entries_in_use`).
    ///
    /// # Errors
    /// [`CosemError::Source`] when a view's source fails.
    pub fn entries_in_use(&self) -> Result<usize, CosemError> {
        Ok(self.fetch(None)?.len())
    }

    /// The newest row.
    ///
    /// # Errors
    /// [`CosemError::Source`] when a view's source fails.
    pub fn last(&self) -> Result<Option<ProfileRow>, CosemError> {
        let rows = self.fetch(None)?;
        Ok(rows.get(rows.len().wrapping_sub(1)).map(StoredRow::row))
    }

    /// When the newest row was captured (a view asks its source for that only).
    ///
    /// # Errors
    /// [`CosemError::Source`] when a view's source fails.
    pub fn last_time(&self) -> Result<Option<DateTime<Utc>>, CosemError> {
        match &self.rows {
            Rows::Kept(rows) => Ok(rows.back().map(|r| r.time)),
            Rows::Viewed(source) => Ok(source.last_time()?),
        }
    }

    /// [`ProfileGeneric::fetch`] for a client's read: a source that fails is a
    /// temporary failure to the client (logged).
    fn fetched(&self, range: Option<(DateTime<Utc>, DateTime<Utc>)>) -> AccessResult<Visible<'_>> {
        self.fetch(range).map_err(|e| {
            tracing::error!(profile = %self.logical_name, error = %e, "profile rows not read");
            DataAccessResult::TemporaryFailure
        })
    }

    /// The rows a read looks at: the profile's own, or those of its source between
    /// `range`'s ends (every row without one) that are among its newest
    /// `profile_entries`, encoded as the buffer keeps them.
    fn fetch(
        &self,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Visible<'_>, CosemError> {
        let source = match &self.rows {
            Rows::Kept(rows) => return Ok(Visible::Kept(rows)),
            Rows::Viewed(source) => source,
        };
        let (from, to) = range.unwrap_or((DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC));
        let (rows, newer) = source.rows_between(from, to)?;
        let entries = usize::try_from(self.profile_entries).unwrap_or(usize::MAX);
        // A row is shown when fewer than `profile_entries` rows are newer than it.
        let shown = entries.saturating_sub(newer).min(rows.len());
        let expected = self.capture_objects.len().saturating_sub(1);
        let mut kept = Vec::with_capacity(shown);
        for row in &rows[rows.len() - shown..] {
            if row.values.len() != expected {
                tracing::error!(profile = %self.logical_name, time = %row.time,
                    "source row with the wrong number of values: not shown");
                continue;
            }
            kept.push(self.stored(row)?);
        }
        Ok(Visible::Fetched(kept))
    }

    /// Append a row captured at `now` with clock status 0.
    ///
    /// # Errors
    /// [`CosemError::ColumnCount`] unless there is one value per non-clock column;
    /// [`CosemError::Unencodable`] for a value with no A-XDR encoding.
    pub fn capture(&mut self, now: DateTime<Utc>, values: Vec<Value>) -> Result<(), CosemError> {
        self.capture_with_status(now, 0, values)
    }

    /// Append a row with an explicit clock status; a full buffer drops its oldest row.
    ///
    /// # Errors
    /// [`CosemError::ColumnCount`] unless there is one value per non-clock column;
    /// [`CosemError::Unencodable`] for a value with no A-XDR encoding.
    pub fn capture_with_status(
        &mut self,
        now: DateTime<Utc>,
        clock_status: u8,
        values: Vec<Value>,
    ) -> Result<(), CosemError> {
        let expected = self.capture_objects.len().saturating_sub(1);
        if values.len() != expected {
            return Err(CosemError::ColumnCount {
                profile: self.logical_name.to_string(),
                expected,
                got: values.len(),
            });
        }
        let row = self.stored(&ProfileRow {
            time: now,
            clock_status,
            values,
        })?;
        let rows = self.kept_mut()?;
        make_room(rows);
        rows.push_back(row);
        self.trim();
        Ok(())
    }

    /// The rows it keeps, to write; a view's are its source's, never written here.
    fn kept_mut(&mut self) -> Result<&mut VecDeque<StoredRow>, CosemError> {
        match &mut self.rows {
            Rows::Kept(rows) => Ok(rows),
            Rows::Viewed(_) => {
                tracing::error!(profile = %self.logical_name, "a view's rows are written by its source's owner");
                Err(CosemError::ProfileIsView {
                    profile: self.logical_name.to_string(),
                })
            }
        }
    }

    /// Put back rows saved earlier (a restart), oldest first, keeping the newest
    /// `profile_entries`; rows with the wrong number of values are skipped.
    ///
    /// # Errors
    /// [`CosemError::ProfileIsView`]: a view's rows are its source's.
    pub fn restore_rows(&mut self, rows: Vec<ProfileRow>) -> Result<(), CosemError> {
        let expected = self.capture_objects.len().saturating_sub(1);
        let logical_name = self.logical_name;
        *self.kept_mut()? = rows
            .into_iter()
            .filter(|r| r.values.len() == expected)
            .filter_map(|r| {
                let kept = StoredRow::of(&r);
                if kept.is_none() {
                    tracing::warn!(profile = %logical_name, time = %r.time,
                        "saved profile row with a value that has no encoding: not restored");
                }
                kept
            })
            .collect();
        self.trim();
        Ok(())
    }

    /// Put `row` in its place by time: a row with the same time is replaced (a value
    /// recovered later for a slot first captured as not valid), a new one goes in time
    /// order; the buffer keeps its newest `profile_entries` rows.
    ///
    /// # Errors
    /// [`CosemError::ColumnCount`] unless there is one value per non-clock column;
    /// [`CosemError::Unencodable`] for a value with no A-XDR encoding;
    /// [`CosemError::ProfileIsView`]: a view's rows are its source's.
    pub fn upsert_row(&mut self, row: ProfileRow) -> Result<(), CosemError> {
        let expected = self.capture_objects.len().saturating_sub(1);
        if row.values.len() != expected {
            return Err(CosemError::ColumnCount {
                profile: self.logical_name.to_string(),
                expected,
                got: row.values.len(),
            });
        }
        let row = self.stored(&row)?;
        let rows = self.kept_mut()?;
        match rows.binary_search_by(|r| r.time.cmp(&row.time)) {
            Ok(i) => rows[i] = row,
            Err(i) => {
                make_room(rows);
                rows.insert(i, row);
            }
        }
        self.trim();
        Ok(())
    }

    /// `row` as the buffer keeps it.
    fn stored(&self, row: &ProfileRow) -> Result<StoredRow, CosemError> {
        StoredRow::of(row).ok_or_else(|| {
            tracing::error!(profile = %self.logical_name, "captured value has no A-XDR encoding");
            CosemError::Unencodable {
                profile: self.logical_name.to_string(),
            }
        })
    }

    /// Empty the buffer (method 1, `reset`).
    ///
    /// # Errors
    /// [`CosemError::ProfileIsView`]: a view's rows are its source's.
    pub fn reset(&mut self) -> Result<(), CosemError> {
        self.kept_mut()?.clear();
        Ok(())
    }

    /// Keep the newest `profile_entries` rows (a view shows no more than that).
    fn trim(&mut self) {
        let max = usize::try_from(self.profile_entries).unwrap_or(usize::MAX);
        if let Rows::Kept(rows) = &mut self.rows {
            while rows.len() > max {
                rows.pop_front();
            }
        }
    }

    /// Resolve a selective access into rows and columns.
    fn select(
        &self,
        selective: Option<&SelectiveAccess<'_>>,
    ) -> AccessResult<(Visible<'_>, Selection)> {
        let all_columns: Vec<usize> = (0..self.capture_objects.len()).collect();
        let Some(sa) = selective else {
            let rows = self.fetched(None)?;
            let selection = Selection {
                rows: (0..rows.len()).collect(),
                columns: all_columns,
            };
            return Ok((rows, selection));
        };
        let s = sa
            .parameters
            .as_structure()
            .ok_or(DataAccessResult::TypeUnmatched)?;
        match sa.selector {
            // range_descriptor { restricting_object, from_value, to_value, selected_values }
            1 => {
                let field = |i: usize| s.get(i).map_err(|_| DataAccessResult::TypeUnmatched);
                let restricting =
                    CaptureDef::from_ref(&field(0)?).ok_or(DataAccessResult::TypeUnmatched)?;
                // Only the clock column is a sort key here; a range on another column is
                // refused rather than answered with everything.
                if !restricting.same_column(&CaptureDef::clock()) {
                    return Err(DataAccessResult::ScopeOfAccessViolated);
                }
                let bound = |v: Data<'_>| {
                    datetime_of(&v)
                        .and_then(|dt| from_cosem(&dt, self.deviation))
                        .ok_or(DataAccessResult::TypeUnmatched)
                };
                let from = bound(field(1)?)?;
                let to = bound(field(2)?)?;
                let columns = match s.get(3) {
                    Ok(v) => self.columns_by_object(&v)?,
                    Err(_) => all_columns,
                };
                // Both ends inclusive, as Gurux's server and client count them.
                let visible = self.fetched(Some((from, to)))?;
                let rows = visible
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.time >= from && r.time <= to)
                    .map(|(i, _)| i)
                    .collect();
                Ok((visible, Selection { rows, columns }))
            }
            // entry_descriptor { from_entry, to_entry, from_selected_value, to_selected_value }
            2 => {
                let num = |i: usize| -> AccessResult<u64> {
                    s.get(i)
                        .ok()
                        .and_then(|v| v.as_u64())
                        .ok_or(DataAccessResult::TypeUnmatched)
                };
                let visible = self.fetched(None)?;
                let len = visible.len() as u64;
                // Entries count from 1; 0 is read as 1 (lenient: some clients count from
                // 0), and to_entry 0 means "to the last".
                let from = num(0)?.max(1);
                let to = match num(1)? {
                    0 => len,
                    n => n.min(len),
                };
                let ncols = self.capture_objects.len() as u64;
                let from_col = num(2)?.max(1);
                let to_col = match num(3)? {
                    0 => ncols,
                    n => n.min(ncols),
                };
                let rows = if from > to {
                    Vec::new()
                } else {
                    (from - 1..to)
                        .filter_map(|i| usize::try_from(i).ok())
                        .collect()
                };
                let columns = if from_col > to_col {
                    Vec::new()
                } else {
                    (from_col - 1..to_col)
                        .filter_map(|i| usize::try_from(i).ok())
                        .collect()
                };
                Ok((visible, Selection { rows, columns }))
            }
            _ => Err(DataAccessResult::ScopeOfAccessViolated),
        }
    }

    /// `selected_values` of a range read: capture object definitions naming columns; an
    /// empty array means every column.
    fn columns_by_object(&self, v: &Data<'_>) -> AccessResult<Vec<usize>> {
        let list = v.as_array().ok_or(DataAccessResult::TypeUnmatched)?;
        if list.is_empty() {
            return Ok((0..self.capture_objects.len()).collect());
        }
        let mut columns = Vec::new();
        for item in list.iter() {
            let item = item.map_err(|_| DataAccessResult::TypeUnmatched)?;
            let co = CaptureDef::from_ref(&item).ok_or(DataAccessResult::TypeUnmatched)?;
            let i = self
                .capture_objects
                .iter()
                .position(|c| c.same_column(&co))
                .ok_or(DataAccessResult::ScopeOfAccessViolated)?;
            columns.push(i);
        }
        Ok(columns)
    }

    /// Write the (selected) buffer straight into `w`, row by row, so a large buffer is
    /// never built twice.
    fn write_buffer(
        &self,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        let (visible, sel) = self.select(selective)?;
        let full = |e| {
            tracing::warn!(error = %e, "profile buffer does not fit the response buffer");
            DataAccessResult::OtherReason
        };
        w.write_u8(0x01).map_err(full)?;
        w.write_length(sel.rows.len()).map_err(full)?;
        for &ri in &sel.rows {
            let row = visible.get(ri).ok_or(DataAccessResult::OtherReason)?;
            w.write_u8(0x02).map_err(full)?;
            w.write_length(sel.columns.len()).map_err(full)?;
            for &c in &sel.columns {
                if c == 0 {
                    // The clock column, octet-string(12), written in place.
                    let dt = to_cosem(row.time, self.deviation, row.clock_status);
                    w.write_bytes(&[0x09, 0x0C]).map_err(full)?;
                    w.write_bytes(&dt.to_bytes()).map_err(full)?;
                } else {
                    match row.cells().nth(c - 1) {
                        Some(cell) => w.write_bytes(cell).map_err(full)?,
                        None => w.write_u8(0x00).map_err(full)?,
                    }
                }
            }
        }
        Ok(())
    }

    /// The rows a selective access selects (all columns), without encoding them: for
    /// the CLI's local reads and for tests.
    ///
    /// # Errors
    /// The Data-Access-Result a client would get.
    pub fn select_rows(
        &self,
        selective: Option<&SelectiveAccess<'_>>,
    ) -> AccessResult<Vec<ProfileRow>> {
        let (visible, sel) = self.select(selective)?;
        Ok(sel
            .rows
            .iter()
            .filter_map(|&i| visible.get(i))
            .map(StoredRow::row)
            .collect())
    }
}

impl CosemObject for ProfileGeneric {
    fn class_id(&self) -> u16 {
        7
    }
    fn version(&self) -> u8 {
        1
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        8
    }
    fn method_count(&self) -> i8 {
        2
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        if attribute != 2 && selective.is_some() {
            return Err(DataAccessResult::ScopeOfAccessViolated);
        }
        match attribute {
            1 => put(w, &logical_name_value(self.logical_name)),
            2 => self.write_buffer(selective, w),
            3 => put(
                w,
                &Value::Array(
                    self.capture_objects
                        .iter()
                        .map(CaptureDef::to_value)
                        .collect(),
                ),
            ),
            4 => put(w, &Value::DoubleLongUnsigned(self.capture_period)),
            5 => put(w, &Value::Enum(SORT_FIFO)),
            6 => put(w, &CaptureDef::clock().to_value()),
            7 => {
                let in_use = self.fetched(None)?.len();
                put(
                    w,
                    &Value::DoubleLongUnsigned(u32::try_from(in_use).unwrap_or(u32::MAX)),
                )
            }
            8 => put(w, &Value::DoubleLongUnsigned(self.profile_entries)),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set(&mut self, attribute: i8, value: &Data<'_>) -> AccessResult<()> {
        match attribute {
            4 => {
                let v = match value {
                    Data::DoubleLongUnsigned(v) => *v,
                    _ => return Err(DataAccessResult::TypeUnmatched),
                };
                self.set_capture_period(v)
                    .map_err(|_| DataAccessResult::OtherReason)
            }
            8 => {
                let v = match value {
                    Data::DoubleLongUnsigned(v) => *v,
                    _ => return Err(DataAccessResult::TypeUnmatched),
                };
                self.set_profile_entries(v)
                    .map_err(|_| DataAccessResult::OtherReason)
            }
            1..=7 => Err(DataAccessResult::ReadWriteDenied),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn invoke(
        &mut self,
        method: i8,
        _p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            1 => {
                self.reset().map_err(|_| ActionResult::OtherReason)?;
                Ok(false)
            }
            // capture needs the other objects' values: the model answers it.
            2 => Err(ActionResult::ObjectUnavailable),
            _ => Err(ActionResult::ObjectUndefined),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosem::codes::{ENERGY_AC_INPUT, LOAD_PROFILE};
    use chrono::TimeZone;

    fn profile(entries: u32) -> ProfileGeneric {
        ProfileGeneric::new(
            LOAD_PROFILE,
            vec![CaptureDef::new(3, ENERGY_AC_INPUT, 2, 0)],
            1800,
            vec![1800, 900],
            entries,
        )
        .unwrap()
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap()
    }

    /// Rows in a vector, as a store would give them: a view's source in tests.
    struct VecRows(Result<Vec<ProfileRow>, SourceError>);

    impl RowSource for VecRows {
        fn rows_between(
            &self,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> Result<(Vec<ProfileRow>, usize), SourceError> {
            let rows = self.0.clone()?;
            let newer = rows.iter().filter(|r| r.time > to).count();
            let picked = rows
                .into_iter()
                .filter(|r| r.time >= from && r.time <= to)
                .collect();
            Ok((picked, newer))
        }

        fn last_time(&self) -> Result<Option<DateTime<Utc>>, SourceError> {
            Ok(self.0.clone()?.last().map(|r| r.time))
        }
    }

    fn row(h: u32) -> ProfileRow {
        ProfileRow {
            time: t(h),
            clock_status: 0,
            values: vec![Value::DoubleLongUnsigned(h)],
        }
    }

    /// A view of the hours 0 to 9, showing the newest `entries`.
    fn view(entries: u32) -> ProfileGeneric {
        let mut p = profile(entries);
        p.view(Arc::new(VecRows(Ok((0..10).map(row).collect()))));
        p
    }

    fn hours(rows: &[ProfileRow]) -> Vec<Value> {
        rows.iter().map(|r| r.values[0].clone()).collect()
    }

    fn selective<'b>(
        selector: u8,
        parameters: &Value,
        buf: &'b mut Vec<u8>,
    ) -> SelectiveAccess<'b> {
        parameters.encode_into(buf).unwrap();
        SelectiveAccess {
            selector,
            parameters: Data::from_bytes_in(buf).unwrap(),
        }
    }

    fn by_time(from: u32, to: u32) -> Value {
        Value::Structure(vec![
            CaptureDef::clock().to_value(),
            Value::clock_octet_string(&crate::cosem::to_cosem(t(from), -540, 0)),
            Value::clock_octet_string(&crate::cosem::to_cosem(t(to), -540, 0)),
            Value::Array(vec![]),
        ])
    }

    /// TRM-06: a view keeps no rows and shows the newest `profile_entries` of its
    /// source's, to every read: whole, by time (a row older than the newest four is not
    /// shown even in range) and by entry (counted from the oldest shown).
    #[test]
    fn trm06_a_view_shows_the_newest_profile_entries_of_its_sources_rows_and_keeps_none() {
        let p = view(4);
        assert!(p.is_view());
        assert!(p.kept_rows().is_empty());
        let newest: Vec<_> = (6..10).map(Value::DoubleLongUnsigned).collect();
        assert_eq!(hours(&p.rows().unwrap()), newest);
        assert_eq!(p.entries_in_use(), Ok(4));
        assert_eq!(p.last().unwrap().map(|r| r.time), Some(t(9)));
        assert_eq!(p.last_time(), Ok(Some(t(9))));
        let mut in_use = Vec::new();
        p.get(7, None, &mut in_use).unwrap();
        assert_eq!(in_use, [0x06, 0, 0, 0, 4]);
        let mut buf = Vec::new();
        let sa = selective(1, &by_time(4, 7), &mut buf);
        assert_eq!(
            hours(&p.select_rows(Some(&sa)).unwrap()),
            [6, 7].map(Value::DoubleLongUnsigned)
        );
        assert_eq!(
            hours(&p.rows_between(t(4), t(7)).unwrap()),
            [6, 7].map(Value::DoubleLongUnsigned)
        );
        let mut buf = Vec::new();
        let entries = Value::Structure(vec![
            Value::DoubleLongUnsigned(2),
            Value::DoubleLongUnsigned(3),
            Value::LongUnsigned(0),
            Value::LongUnsigned(0),
        ]);
        let sa = selective(2, &entries, &mut buf);
        assert_eq!(
            hours(&p.select_rows(Some(&sa)).unwrap()),
            [7, 8].map(Value::DoubleLongUnsigned)
        );
        // Deeper, every row of the source.
        assert_eq!(view(100).entries_in_use(), Ok(10));
    }

    /// TRM-06: a view's rows are its source's: every write through the profile is
    /// refused with a typed error (over the air, `reset` is other-reason).
    #[test]
    fn trm06_a_write_through_a_view_is_refused() {
        let mut p = view(10);
        let refused = Err(CosemError::ProfileIsView {
            profile: "1-0:99.1.0.255".into(),
        });
        assert_eq!(
            p.capture(t(11), vec![Value::DoubleLongUnsigned(11)]),
            refused
        );
        assert_eq!(p.upsert_row(row(3)), refused);
        assert_eq!(p.restore_rows(vec![row(3)]), refused);
        assert_eq!(p.reset(), refused);
        assert_eq!(
            p.invoke(1, None, &mut Vec::new()),
            Err(ActionResult::OtherReason)
        );
        assert_eq!(p.entries_in_use(), Ok(10), "the source's rows untouched");
    }

    /// A source that fails: a client's read is a temporary failure, the Rust side's a
    /// typed error; nothing panics, nothing is shown as if empty.
    #[test]
    fn a_view_whose_source_fails_is_a_temporary_failure_and_a_typed_error() {
        let mut p = profile(10);
        let failure = SourceError("disk I/O error".into());
        p.view(Arc::new(VecRows(Err(failure.clone()))));
        for attribute in [2, 7] {
            assert_eq!(
                p.get(attribute, None, &mut Vec::new()),
                Err(DataAccessResult::TemporaryFailure),
                "attribute {attribute}"
            );
        }
        assert_eq!(p.rows(), Err(CosemError::Source(failure.clone())));
        assert_eq!(p.entries_in_use(), Err(CosemError::Source(failure.clone())));
        assert_eq!(p.last_time(), Err(CosemError::Source(failure)));
    }

    /// A buffer's room grows by half its rows, four to sixteen at a time: a log of a
    /// few rows holds room for four, a day's slots for a few hours more, never double.
    #[test]
    fn a_buffer_grows_by_half_its_rows_four_to_sixteen_at_a_time() {
        let mut p = profile(1000);
        let mut most_spare = Vec::new();
        for i in 0..200i64 {
            let at = t(0) + chrono::Duration::minutes(30 * i);
            p.capture(at, vec![Value::DoubleLongUnsigned(1)]).unwrap();
            let Rows::Kept(rows) = &p.rows else {
                panic!("a profile keeps its rows until it is made a view")
            };
            let (len, room) = (rows.len(), rows.capacity());
            assert!(room >= len);
            most_spare.push(room - len);
            if len <= 4 {
                assert!(room <= 4, "{len} rows, room for {room}");
            } else {
                assert!(
                    room - len < (len / 2).clamp(4, 16),
                    "{len} rows, room for {room}"
                );
            }
        }
        assert_eq!(
            most_spare.iter().max(),
            Some(&15),
            "sixteen at a time at most"
        );
    }

    #[test]
    fn trm11_only_the_allowed_capture_periods() {
        let mut p = profile(10);
        assert!(p.set_capture_period(900).is_ok());
        assert_eq!(p.set_capture_period(60), Err(CosemError::CapturePeriod(60)));
        assert_eq!(p.capture_period(), 900);
    }

    #[test]
    fn a_row_with_the_wrong_number_of_values_is_refused_and_named() {
        let mut p = profile(10);
        let e = p.capture(t(1), vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile 1-0:99.1.0.255: 0 value(s) captured, 1 expected"
        );
        assert_eq!(p.entries_in_use(), Ok(0));
    }

    #[test]
    fn a_value_without_an_encoding_is_refused_and_nothing_kept() {
        let mut p = profile(10);
        let bad = Value::BitString {
            bits: 9,
            bytes: vec![0xFF],
        };
        assert_eq!(
            p.capture(t(1), vec![bad.clone()]),
            Err(CosemError::Unencodable {
                profile: "1-0:99.1.0.255".into()
            })
        );
        let row = ProfileRow {
            time: t(2),
            clock_status: 0,
            values: vec![bad],
        };
        assert!(p.upsert_row(row.clone()).is_err());
        p.restore_rows(vec![row]).unwrap();
        assert_eq!(p.entries_in_use(), Ok(0));
    }

    #[test]
    fn the_clock_column_is_an_octet_string_of_12_in_jst() {
        let mut p = profile(10);
        p.capture(t(3), vec![Value::DoubleLongUnsigned(7)]).unwrap();
        let mut out = Vec::new();
        p.get(2, None, &mut out).unwrap();
        // array(1) { structure(2) { octet-string(12) 2026-11-25 12:00 JST dev -540, u32 7 } }
        assert_eq!(&out[..6], &[0x01, 0x01, 0x02, 0x02, 0x09, 0x0C]);
        assert_eq!(&out[6..8], &2026u16.to_be_bytes());
        assert_eq!((out[8], out[9], out[11], out[12]), (11, 25, 12, 0));
        assert_eq!((out[15], out[16]), (0xFD, 0xE4));
        assert_eq!(&out[18..], &[0x06, 0, 0, 0, 7]);
    }

    #[test]
    fn rows_survive_a_clock_set_backwards_and_range_reads_still_filter_by_time() {
        let mut p = profile(10);
        for h in [3, 4, 2] {
            p.capture(t(h), vec![Value::DoubleLongUnsigned(h)]).unwrap();
        }
        let mut buf = Vec::new();
        let range = Value::Structure(vec![
            CaptureDef::clock().to_value(),
            Value::clock_octet_string(&crate::cosem::to_cosem(t(2), -540, 0)),
            Value::clock_octet_string(&crate::cosem::to_cosem(t(3), -540, 0)),
            Value::Array(vec![]),
        ]);
        range.encode_into(&mut buf).unwrap();
        let sa = SelectiveAccess {
            selector: 1,
            parameters: Data::from_bytes_in(&buf).unwrap(),
        };
        let rows = p.select_rows(Some(&sa)).unwrap();
        let hours: Vec<_> = rows.iter().map(|r| r.values[0].clone()).collect();
        assert_eq!(
            hours,
            vec![Value::DoubleLongUnsigned(3), Value::DoubleLongUnsigned(2)]
        );
    }

    #[test]
    fn malformed_selective_access_is_type_unmatched_never_a_panic() {
        let p = profile(10);
        for raw in [
            &[0x11, 0x01][..],
            &[0x02, 0x00],
            &[0x02, 0x01, 0x11, 0x00],
            &[0x02, 0x04, 0, 0, 0, 0],
        ] {
            let d = Data::from_bytes_in(raw).unwrap();
            for selector in [1, 2] {
                let sa = SelectiveAccess {
                    selector,
                    parameters: d,
                };
                assert_eq!(
                    p.select_rows(Some(&sa)).unwrap_err(),
                    DataAccessResult::TypeUnmatched,
                    "{raw:?}"
                );
            }
        }
    }
}
