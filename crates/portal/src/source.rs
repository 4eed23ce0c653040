//! What the public server publishes, read from the MDMS: the slots of every registered
//! device point starting at one time, as EDI records by retailer. Data flows down: the
//! portal reads the MDMS and never writes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use edi::{PartyCode, Quality, Record};
use mdms::{MdmsStore, Slot};

use crate::error::PortalError;

/// A slot of the MDMS as an EDI record: the same values `mdms export` writes.
///
/// # Errors
/// [`PortalError::Edi`] for a supply point the EDI types refuse; [`PortalError::Store`]
/// for a quality the EDI files do not name (none today: the two lists are the same).
pub fn record_of(slot: &Slot) -> Result<Record, PortalError> {
    let quality = Quality::parse(slot.quality.as_str()).ok_or_else(|| {
        PortalError::Store(format!("quality {} has no EDI name", slot.quality.as_str()))
    })?;
    Ok(Record {
        point: slot.point.as_str().parse()?,
        terminal: slot.terminal.0,
        slot_start: slot.start,
        interval_min: slot.minutes,
        in_wh: slot.in_wh,
        out_wh: slot.out_wh,
        cum_in_wh: slot.cum_in,
        cum_out_wh: slot.cum_out,
        quality,
        received_at: slot.received_at,
    })
}

/// The records of the slots starting at `start` of the points `retailer_of` names
/// (registered points; others are not published), by retailer.
///
/// # Errors
/// The MDMS store's errors as [`PortalError::Store`]; [`record_of`]'s.
pub fn slot_records(
    mdms: &impl MdmsStore,
    start: DateTime<Utc>,
    retailer_of: &BTreeMap<String, PartyCode>,
) -> Result<BTreeMap<PartyCode, Vec<Record>>, PortalError> {
    let slots = mdms
        .slots_starting(start)
        .map_err(|e| PortalError::Store(e.to_string()))?;
    let mut out: BTreeMap<PartyCode, Vec<Record>> = BTreeMap::new();
    for s in &slots {
        if let Some(retailer) = retailer_of.get(s.point.as_str()) {
            out.entry(*retailer).or_default().push(record_of(s)?);
        }
    }
    Ok(out)
}
