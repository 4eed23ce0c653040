//! The meters a terminal serves (SYS-04): one today, kept as a collection so that N
//! meters per terminal is an extension of the node rather than a rewrite. Each meter has
//! its own reader (its address and object, its slots, its registered ID) writing its
//! rows under its own [`MeterKey`], and what the node keeps of it between events.
//!
//! The DLMS model is the view of one meter, [`SERVED`]: the IoT-route object model
//! (docs/iot-route-cosem.md) has one set of registers and one load profile. A second
//! meter needs a second channel there (the OBIS B field) — the part that is not built.

use chrono::{DateTime, Utc};

use super::reader::SlotReader;
use super::store::MeterKey;
use crate::controller::RequestId;

/// The meter whose rows the DLMS model shows and whose ID it registers.
pub const SERVED: MeterKey = MeterKey::FIRST;

/// One meter and the node's state for it.
#[derive(Debug)]
pub(super) struct MeterSide {
    /// Reads it at every slot into its rows.
    pub(super) reader: SlotReader,
    /// Its clock set under way (TRM-09).
    pub(super) clock_request: Option<RequestId>,
    /// The newest slot read and whether it answered for it (TRM-10).
    pub(super) last_slot: Option<(DateTime<Utc>, bool)>,
    /// The mismatched meter ID last pushed to the smart meter (SEC-07): one event per
    /// change, not one per flagged row.
    pub(super) mismatch_pushed: Option<Vec<u8>>,
}

impl MeterSide {
    /// A meter read by `reader`, nothing read yet.
    pub(super) const fn new(reader: SlotReader) -> Self {
        Self {
            reader,
            clock_request: None,
            last_slot: None,
            mismatch_pushed: None,
        }
    }

    /// Its rows' key.
    pub(super) const fn key(&self) -> MeterKey {
        self.reader.key()
    }
}
