//! Frames from the air into a terminal's and a smart meter's link (RAD-01, SEC-06): the
//! input is cut into PSDUs (a length byte each) that get a valid CRC-16 so they reach the
//! MAC, 6LoWPAN, PANA and DLMS layers; neither node may panic, whatever arrives.
#![no_main]

use core::time::Duration;

use libfuzzer_sys::fuzz_target;
use nodes::link::mac::MacConfig;
use nodes::link::net::NetConfig;
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::{Entropy, PanaTimers};
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig};
use nodes::link::terminal::{Terminal, TerminalConfig};
use pana::psk::{PskDerivation, SaltedSha256};
use pana::secret::Psk;
use pana::AuthFailure;
use wisun::mac::fcs::{self, FcsKind};
use wisun::mac::Eui64;
use nodes::link::profile::LinkProfile;
use wisun::PairingId;

struct Fixed(u8);
impl Entropy for Fixed {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_mul(13).wrapping_add(7);
            *b = self.0;
        }
    }
}

fn nodes() -> (Terminal, SmartMeter) {
    let pairing = PairingId::from_codes("00", "12345678901").unwrap();
    let meter_eui = Eui64([2, 0, 0, 0, 0, 0, 0, 1]);
    let terminal_eui = Eui64([2, 0, 0, 0, 0, 0, 0, 2]);
    let terminal = Terminal::new(
        TerminalConfig {
            mac: MacConfig::new(terminal_eui),
            pairing_id: pairing,
            profile: LinkProfile::default(),
            channels: vec![33],
            scan_window: Duration::from_millis(200),
            auth_id: b"0200000000000002".to_vec(),
            password: b"PASSWORD1234".to_vec(),
            pana: PanaTimers::default(),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            net: NetConfig::default(),
        },
        Box::new(Fixed(1)),
        Duration::ZERO,
    );
    let registry: Box<dyn Registry + Send> = Box::new(|id: &[u8]| -> Result<Psk, AuthFailure> {
        Ok(SaltedSha256.derive(id, b"PASSWORD1234"))
    });
    let meter = SmartMeter::new(
        SmartMeterConfig {
            mac: MacConfig::new(meter_eui),
            pan_id: 0x4000,
            channel: 33,
            pairing_id: pairing,
            profile: LinkProfile::default(),
            join_window: JoinWindow::Always,
            paa: PaaConfig::new(b"0200000000000001".to_vec()),
            key_period: Duration::from_secs(3600),
            switch_delay: Duration::from_secs(60),
            net: NetConfig::default(),
        },
        registry,
        Box::new(Fixed(2)),
        Duration::ZERO,
    );
    (terminal, meter)
}

fuzz_target!(|data: &[u8]| {
    let (mut terminal, mut meter) = nodes();
    let air = |len: usize| Duration::from_micros(80 * (len as u64 + 12));
    let mut rest = data;
    let mut now = Duration::ZERO;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (mpdu, next) = tail.split_at(take);
        rest = next;
        now += Duration::from_millis(7);
        let Ok(psdu) = fcs::append(mpdu, FcsKind::Crc16) else {
            continue;
        };
        let _ = terminal.receive(now, &psdu, -60, 47, &air);
        let _ = meter.receive(now, &psdu, -60, 47, &air);
        let _ = terminal.wake(now, &mut || false, &air);
        let _ = meter.wake(now, &mut || false, &air);
    }
});
