//! A message's files: the records of a retailer split by device point
//! ([`POINTS_PER_FILE`] a file), each part a message of its own in its ZIP, named with
//! the update number and its split number.

use chrono::{DateTime, NaiveDate, Utc};

use crate::archive;
use crate::code::PartyCode;
use crate::error::EdiError;
use crate::message::{Message, Record, POINTS_PER_FILE};
use crate::name::FileName;

/// One file of an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its name.
    pub name: FileName,
    /// The ZIP.
    pub zip: Vec<u8>,
    /// The records it holds.
    pub records: usize,
}

/// The files of issue `update` of the slot message of `records` (one slot, one
/// interval) from `sender` to `receiver`.
///
/// # Errors
/// As [`Message::slot`], [`FileName::new`], [`archive::pack`].
pub fn slot(
    sender: PartyCode,
    receiver: PartyCode,
    created: DateTime<Utc>,
    update: u8,
    mut records: Vec<Record>,
) -> Result<Vec<File>, EdiError> {
    records.sort_by_key(|r| r.point);
    let mut files = Vec::new();
    for (split, part) in records.chunks(POINTS_PER_FILE).enumerate() {
        let message = Message::slot(sender, receiver, created, part.to_vec())?;
        files.push(file(&message, update, split)?);
    }
    Ok(files)
}

/// The files of issue `update` of the daily message of `records` (one day, one
/// interval).
///
/// # Errors
/// As [`Message::daily`], [`FileName::new`], [`archive::pack`].
pub fn daily(
    sender: PartyCode,
    receiver: PartyCode,
    created: DateTime<Utc>,
    date: NaiveDate,
    update: u8,
    mut records: Vec<Record>,
) -> Result<Vec<File>, EdiError> {
    records.sort_by_key(|r| (r.point, r.slot_start));
    let mut files = Vec::new();
    let mut rest = records.as_slice();
    let mut split = 0;
    while !rest.is_empty() {
        // The first POINTS_PER_FILE points, with every slot of each.
        let mut points = 0;
        let mut end = 0;
        while end < rest.len() {
            if end == 0 || rest[end].point != rest[end - 1].point {
                if points == POINTS_PER_FILE {
                    break;
                }
                points += 1;
            }
            end += 1;
        }
        files.push(daily_part(
            sender,
            receiver,
            created,
            date,
            update,
            split,
            rest[..end].to_vec(),
        )?);
        rest = &rest[end..];
        split += 1;
    }
    Ok(files)
}

/// File `split` of issue `update` of a daily message: `records`, every slot of at most
/// [`POINTS_PER_FILE`] points. What [`daily`] makes of each part, for a caller that
/// reads a large message's records a part at a time and never holds them all.
///
/// # Errors
/// As [`daily`].
pub fn daily_part(
    sender: PartyCode,
    receiver: PartyCode,
    created: DateTime<Utc>,
    date: NaiveDate,
    update: u8,
    split: usize,
    records: Vec<Record>,
) -> Result<File, EdiError> {
    let message = Message::daily(sender, receiver, created, date, records)?;
    file(&message, update, split)
}

fn file(message: &Message, update: u8, split: usize) -> Result<File, EdiError> {
    let split = u16::try_from(split).map_err(|_| EdiError::Message("too many files".to_owned()))?;
    let name = FileName::new(message.info, message.file_time(), update, split)?;
    Ok(File {
        name,
        zip: archive::pack(&name, message)?,
        records: message.records.len(),
    })
}
