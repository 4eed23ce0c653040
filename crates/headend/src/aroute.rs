//! The head end's side of one smart meter's A-route connection (docs/a-route.md),
//! sans-IO: the smart meter's messages out of the byte stream, opened and checked
//! ([`dlms::relay::channel`]: sealed by that smart meter, counters only increasing), and
//! commands into it.

use dlms::apdu::ActionResult;
use dlms::cipher::{Keys, SystemTitle};
use dlms::relay::channel::Channel;
use dlms::relay::message::{decode_answer, Command, Uplink};
use dlms::relay::stream::FrameReader;
use dlms::relay::{HEAD_END_WPORT, SMART_METER_WPORT};
use dlms::wrapper::{Wpdu, WrapperError};

/// What came from the smart meter.
#[derive(Debug, Clone, PartialEq)]
pub enum FromSmartMeter {
    /// A message.
    Message(Uplink),
    /// Its answer to a command: taken (`Success`) or refused.
    Answer {
        /// The command's invoke id.
        invoke_id: u8,
        /// Taken or why not.
        result: ActionResult,
    },
}

/// One smart meter's connection.
#[derive(Debug)]
pub struct SmartMeterLink {
    channel: Channel,
    reader: FrameReader,
    invoke_id: u8,
    out: Vec<u8>,
    /// The highest number of this smart meter's events the head end keeps: one numbered
    /// at or below it, sent again, is one it has.
    events_taken: Option<u32>,
    /// Frames refused (not sealed by this smart meter, replayed, not a message).
    pub refused: u64,
}

impl SmartMeterLink {
    /// The head end `own` talking to smart meter `sm` under `keys`; `sent`/`taken` the
    /// counters kept from before.
    #[must_use]
    pub fn new(
        own: SystemTitle,
        sm: SystemTitle,
        keys: Keys,
        sent: u32,
        taken: Option<u32>,
    ) -> Self {
        Self {
            channel: Channel::new(own, sm, keys, sent, taken),
            reader: FrameReader::new(),
            invoke_id: 0,
            out: Vec::new(),
            events_taken: None,
            refused: 0,
        }
    }

    /// The highest event number of the smart meter kept, as the store has it.
    pub fn set_events_taken(&mut self, upto: Option<u32>) {
        self.events_taken = upto;
    }

    /// The highest event number of the smart meter kept.
    #[must_use]
    pub const fn events_taken(&self) -> Option<u32> {
        self.events_taken
    }

    /// The smart meter's events up to `upto` are kept: told to it (method 10), so that
    /// it does not send them again.
    ///
    /// # Errors
    /// As [`Self::command`].
    pub fn took_events(&mut self, upto: u32) -> Result<(), String> {
        self.events_taken = Some(self.events_taken.map_or(upto, |t| t.max(upto)));
        self.command(&Command::EventsTaken { upto }).map(|_| ())
    }

    /// The counters to keep: the last this end spent, the last of the smart meter's
    /// taken.
    #[must_use]
    pub const fn counters(&self) -> (u32, Option<u32>) {
        (self.channel.sent(), self.channel.taken())
    }

    /// A new connection from the smart meter: a fresh stream (the counters go on).
    pub fn reconnected(&mut self) {
        self.reader = FrameReader::new();
        self.out.clear();
    }

    /// Bytes from the smart meter: what they carried; a frame that does not open or
    /// read is counted, logged and skipped.
    ///
    /// # Errors
    /// [`WrapperError`]: the stream is not frames; close the connection.
    pub fn received(&mut self, bytes: &[u8]) -> Result<Vec<FromSmartMeter>, WrapperError> {
        self.reader.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.reader.next_frame()? {
            let plain = match self.channel.open(&frame.apdu) {
                Ok(p) => p,
                Err(e) => {
                    self.refused += 1;
                    tracing::warn!(error = %e, "A route: frame from the smart meter refused");
                    continue;
                }
            };
            if let Ok((invoke_id, result)) = decode_answer(&plain) {
                out.push(FromSmartMeter::Answer { invoke_id, result });
                continue;
            }
            match Uplink::decode(&plain) {
                Ok(m) => out.push(FromSmartMeter::Message(m)),
                Err(e) => {
                    self.refused += 1;
                    tracing::warn!(error = %e, "A route: not a message of the smart meter");
                }
            }
        }
        Ok(out)
    }

    /// Send `command`; its invoke id (the answer names it).
    ///
    /// # Errors
    /// Why it could not be built or sealed (counters exhausted).
    pub fn command(&mut self, command: &Command) -> Result<u8, String> {
        self.invoke_id = self.invoke_id.wrapping_add(1);
        let plain = command.encode(self.invoke_id).map_err(|e| e.to_string())?;
        let sealed = self.channel.seal(&plain).map_err(|e| e.to_string())?;
        let framed = Wpdu::new(HEAD_END_WPORT, SMART_METER_WPORT, &sealed)
            .emit()
            .map_err(|e| e.to_string())?;
        self.out.extend_from_slice(&framed);
        Ok(self.invoke_id)
    }

    /// Bytes for the smart meter's connection.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}
