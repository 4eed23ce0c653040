//! What `dlms serve --state` keeps across restarts, and the invocation-counter
//! reservations that make a restart safe (SEC-03).
//!
//! Two counters are reserved before use (`dlms::server::counter_store`): the management
//! association's, below `dlms::push::PUSH_COUNTER_BASE`, and the pushes', from it up
//! (the split is explained in `dlms::push`). The file also holds the management
//! association's replay window (the client's system title and the highest counter
//! accepted from it), written whenever it moves and before the reply to the request that
//! moved it leaves ([`StateStore::persist_replay`]), so that no request accepted before
//! a restart, a SIGKILL or a power cut included, is accepted again after it; and the
//! model itself (readings, settings changed over the air, clock offset).

use std::path::{Path, PathBuf};

use dlms::cosem::ModelState;
use dlms::push::PUSH_COUNTER_BASE;
use dlms::server::counter_store::CounterReservation;

use super::ServeFailure;

/// The file's contents. Fields added after the first release default, so an older
/// file still loads.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedState {
    /// No association counter above this was ever spent, and none at or below it may
    /// be spent again.
    invocation_counter_reserved: u32,
    /// The same for push counters (0: no push reserved yet).
    #[serde(default)]
    push_invocation_counter_reserved: u32,
    /// The management association's replay window.
    #[serde(default)]
    client_replay: Option<ReplayMark>,
    /// The model, when one was saved.
    model: Option<ModelState>,
}

/// [`SavedState`] without the model, which [`StateStore`] keeps serialised and splices
/// in: the replay window is written at every accepted ciphered request, and serialising
/// a 90-day model (800 KB) each time would cost tens of milliseconds per request.
#[derive(serde::Serialize)]
struct Header {
    invocation_counter_reserved: u32,
    push_invocation_counter_reserved: u32,
    client_replay: Option<ReplayMark>,
}

/// A peer's replay window: whose counters, and the highest accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayMark {
    /// The client's system title, hex.
    #[serde(with = "hex_title")]
    pub system_title: [u8; 8],
    /// The highest invocation counter accepted from it.
    pub highest: u32,
}

mod hex_title {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &[u8; 8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dlms::hex::encode(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 8], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = dlms::hex::decode(&text).map_err(serde::de::Error::custom)?;
        <[u8; 8]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("system title: 8 bytes expected"))
    }
}

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// The management association's engine.
    Association,
    /// The push sender.
    Push,
}

/// The state file (or none: lab mode) and the reservations held in it.
pub struct StateStore {
    path: Option<PathBuf>,
    association: CounterReservation,
    push: CounterReservation,
    replay: Option<ReplayMark>,
    /// The model last written, serialised, kept so that a reservation or replay-window
    /// write does not drop it (or serialise it again).
    model_json: Option<Vec<u8>>,
}

impl StateStore {
    /// Load `path` (a missing file is a first start); returns the store and the saved
    /// model, if any.
    ///
    /// # Errors
    /// [`ServeFailure::State`] when the file exists but cannot be read or parsed.
    pub fn open(path: Option<PathBuf>) -> Result<(Self, Option<ModelState>), ServeFailure> {
        let saved = match &path {
            Some(p) => load(p)?,
            None => None,
        };
        let (association, push, replay, model) = match saved {
            Some(s) => (
                s.invocation_counter_reserved,
                s.push_invocation_counter_reserved,
                s.client_replay,
                s.model,
            ),
            None => (0, 0, None, None),
        };
        let model_json = match &model {
            Some(m) => Some(serialise_model(path.as_deref(), m)?),
            None => None,
        };
        let store = Self {
            path,
            association: CounterReservation::resume(association),
            // Push counters live from PUSH_COUNTER_BASE up: resume at least just below it.
            push: CounterReservation::resume(push.max(PUSH_COUNTER_BASE - 1)),
            replay,
            model_json,
        };
        Ok((store, model))
    }

    /// Whether a file backs the store.
    pub const fn persistent(&self) -> bool {
        self.path.is_some()
    }

    /// The counter the engine or sender must resume at (its "last used").
    pub const fn start(&self, c: Counter) -> u32 {
        self.reservation(c).start_counter()
    }

    /// The replay window saved by the previous run.
    pub const fn replay(&self) -> Option<ReplayMark> {
        self.replay
    }

    /// The mark on disk for `c`.
    pub const fn reserved(&self, c: Counter) -> u32 {
        self.reservation(c).reserved()
    }

    const fn reservation(&self, c: Counter) -> &CounterReservation {
        match c {
            Counter::Association => &self.association,
            Counter::Push => &self.push,
        }
    }

    /// Reserve (persist a new mark) when counter `c`, last used at `last_used`, is
    /// about to run out. `false` when the file could not be written: then nothing
    /// ciphered may go out under `c`.
    pub fn ensure(&mut self, c: Counter, last_used: u32) -> bool {
        let Some(path) = self.path.clone() else {
            return true;
        };
        let Some(next) = self.reservation(c).reserve_before(last_used) else {
            return true;
        };
        let (mut association, mut push) = (self.association, self.push);
        match c {
            Counter::Association => association.persisted(next),
            Counter::Push => push.persisted(next),
        }
        match self.write(&path, association.reserved(), push.reserved()) {
            Ok(()) => {
                tracing::debug!(counter = ?c, reserved = next, "invocation counters reserved");
                (self.association, self.push) = (association, push);
                true
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "invocation counter reservation not saved");
                false
            }
        }
    }

    /// Whether counter value `ic` of `c` was persisted before use (always, without a
    /// file: lab mode).
    pub const fn covers(&self, c: Counter, ic: u32) -> bool {
        self.path.is_none() || self.reservation(c).covers(ic)
    }

    /// Write the replay window `replay` (and `model`, when given) to disk now; `false`
    /// when the file could not be written (then the request that moved the window must
    /// not be answered: a kill now would let it be accepted again). Always `true`
    /// without a file (lab mode).
    pub fn persist_replay(&mut self, model: Option<ModelState>, replay: ReplayMark) -> bool {
        let Some(path) = self.path.clone() else {
            return true;
        };
        let previous = self.replay.replace(replay);
        let model_json = model.map(|m| serde_json::to_vec(&m));
        let written = match model_json {
            Some(Err(e)) => Err(std::io::Error::other(e)),
            Some(Ok(json)) => {
                let previous_model = self.model_json.replace(json);
                let r = self.write(&path, self.association.reserved(), self.push.reserved());
                if r.is_err() {
                    self.model_json = previous_model;
                }
                r
            }
            None => self.write(&path, self.association.reserved(), self.push.reserved()),
        };
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "replay window not saved");
                self.replay = previous;
                false
            }
        }
    }

    /// Save the model and the replay window (the counters as reserved).
    pub fn save(&mut self, model: Option<ModelState>, replay: Option<ReplayMark>) {
        let Some(path) = self.path.clone() else {
            return;
        };
        if let Some(m) = model {
            match serde_json::to_vec(&m) {
                Ok(json) => self.model_json = Some(json),
                Err(e) => tracing::error!(error = %e, "model not serialised: previous kept"),
            }
        }
        if replay.is_some() {
            self.replay = replay;
        }
        if let Err(e) = self.write(&path, self.association.reserved(), self.push.reserved()) {
            tracing::error!(path = %path.display(), error = %e, "state not saved");
        }
    }

    /// Writes atomically and durably (`state_file::write_atomic`), owner-only: the
    /// model holds the association secrets.
    /// The file is [`SavedState`]'s JSON: the header's object with the serialised model
    /// spliced in as its last member.
    fn write(&self, path: &Path, association: u32, push: u32) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(&Header {
            invocation_counter_reserved: association,
            push_invocation_counter_reserved: push,
            client_replay: self.replay,
        })
        .map_err(std::io::Error::other)?;
        let model = self.model_json.as_deref().unwrap_or(b"null");
        if bytes.pop() != Some(b'}') {
            return Err(std::io::Error::other("state header is not a JSON object"));
        }
        bytes.reserve(model.len() + 11);
        bytes.extend_from_slice(b",\"model\":");
        bytes.extend_from_slice(model);
        bytes.push(b'}');
        crate::state_file::write_atomic(path, &bytes, crate::state_file::Access::OwnerOnly)
    }
}

/// A loaded model serialised again, for [`StateStore`]'s cache.
fn serialise_model(path: Option<&Path>, m: &ModelState) -> Result<Vec<u8>, ServeFailure> {
    serde_json::to_vec(m).map_err(|e| ServeFailure::State {
        path: path.map(Path::to_owned).unwrap_or_default(),
        reason: format!("model not serialisable: {e}"),
    })
}

fn load(path: &Path) -> Result<Option<SavedState>, ServeFailure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ServeFailure::State {
                path: path.to_owned(),
                reason: format!("not a dlms serve state: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ServeFailure::State {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "iotroute-serve-state-{name}-{}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn sec03_both_counters_are_reserved_apart_and_resume_after_a_restart() {
        let path = temp("counters");
        let (mut s, model) = StateStore::open(Some(path.clone())).unwrap();
        assert!(model.is_none());
        assert_eq!(s.start(Counter::Association), 0);
        assert_eq!(s.start(Counter::Push), PUSH_COUNTER_BASE - 1);
        assert!(!s.covers(Counter::Association, 1), "nothing before a write");
        assert!(s.ensure(Counter::Association, 0));
        assert!(s.ensure(Counter::Push, PUSH_COUNTER_BASE - 1));
        assert!(s.covers(Counter::Association, 1000));
        assert!(s.covers(Counter::Push, PUSH_COUNTER_BASE + 999));
        assert!(!s.covers(Counter::Push, PUSH_COUNTER_BASE + 1000));
        let replay = ReplayMark {
            system_title: *b"MMM\0\0\0\0\x01",
            highest: 41,
        };
        s.save(None, Some(replay));
        let (after, _) = StateStore::open(Some(path.clone())).unwrap();
        assert_eq!(after.start(Counter::Association), 1000);
        assert_eq!(after.start(Counter::Push), PUSH_COUNTER_BASE + 999);
        assert_eq!(after.replay(), Some(replay));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn sec02_the_replay_window_is_on_disk_when_persist_replay_returns() {
        let path = temp("replay");
        let (mut s, _) = StateStore::open(Some(path.clone())).unwrap();
        assert!(s.ensure(Counter::Association, 0));
        let mark = ReplayMark {
            system_title: *b"MMM\0\0\0\0\x01",
            highest: 7,
        };
        assert!(s.persist_replay(None, mark));
        // No save at exit: what a SIGKILL leaves.
        drop(s);
        let (after, _) = StateStore::open(Some(path.clone())).unwrap();
        assert_eq!(after.replay(), Some(mark));
        assert_eq!(after.start(Counter::Association), 1000, "reservation kept");
        // A file that cannot be written: refused, and the store keeps what is on disk.
        let dir = std::env::temp_dir().join(format!("iotroute-no-such-dir-{}", std::process::id()));
        let (mut lost, _) = StateStore::open(Some(dir.join("state.json"))).unwrap();
        assert!(!lost.persist_replay(None, mark));
        assert_eq!(lost.replay(), None);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn sec03_a_state_file_from_before_pushes_still_loads() {
        let path = temp("old");
        std::fs::write(
            &path,
            br#"{"invocation_counter_reserved":2000,"model":null}"#,
        )
        .unwrap();
        let (s, _) = StateStore::open(Some(path.clone())).unwrap();
        assert_eq!(s.start(Counter::Association), 2000);
        assert_eq!(s.start(Counter::Push), PUSH_COUNTER_BASE - 1);
        assert_eq!(s.replay(), None);
        std::fs::write(&path, b"{").unwrap();
        assert!(StateStore::open(Some(path.clone())).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
