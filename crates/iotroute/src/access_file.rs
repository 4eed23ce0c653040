//! The terminal's access log file (SEC-09, `DIR/logs/access.jsonl`), one writer shared by
//! the maintenance interface and the IoT route's DLMS server: who asked what on which
//! interface, and what the terminal answered. Accepted image blocks are counted and told
//! with the next record (`image_blocks_before`): an update is a hundred thousand of them,
//! which would push everything else out of the bounded log.

use chrono::{DateTime, Utc};
use dlms::cosem::AccessCode;
use dlms::server::access_record::Served;

/// The file and its count of image blocks not yet told.
#[derive(Debug)]
pub struct AccessFile {
    log: logs::FileLog,
    image_blocks: u64,
}

/// Shared by the drivers (held for one record at a time, never across an await).
pub type SharedAccess = std::sync::Arc<std::sync::Mutex<AccessFile>>;

impl AccessFile {
    /// Records go to `log`.
    #[must_use]
    pub fn shared(log: logs::FileLog) -> SharedAccess {
        std::sync::Arc::new(std::sync::Mutex::new(Self {
            log,
            image_blocks: 0,
        }))
    }

    /// A request served on `interface` (`maintenance`, `iot_route`) from `from`.
    pub fn served(&mut self, now: DateTime<Utc>, interface: &str, from: &str, s: &Served) {
        if s.image_block {
            self.image_blocks += 1;
            return;
        }
        let blocks = std::mem::take(&mut self.image_blocks);
        self.record(
            now,
            s.request,
            serde_json::json!({
                "interface": interface,
                "from": from,
                "client": s.client,
                "answer": s.answer.map(|t| format!("{t:02x}")),
                "accepted": s.accepted,
                "result": s.result,
                "access": s.access.map(AccessCode::name),
                "image_blocks_before": (blocks > 0).then_some(blocks),
            }),
        );
    }

    /// Any other record (`refused`, `dos_detected`).
    pub fn record(&mut self, now: DateTime<Utc>, kind: &str, details: serde_json::Value) {
        crate::terminal_meter::record(&mut self.log, now, kind, details);
    }
}

/// Write through `access`, logging (not failing on) a poisoned lock.
pub fn with(access: &SharedAccess, write: impl FnOnce(&mut AccessFile)) {
    match access.lock() {
        Ok(mut a) => write(&mut a),
        Err(_) => tracing::error!("access log lock poisoned: record not written"),
    }
}
