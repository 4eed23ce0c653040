//! Criterion benchmarks of the whole IoT-route link path for a UDP datagram (issue 6's
//! figure "a full 6LoWPAN + UDP encode/decode, against raw AES-128-CCM in the same run"):
//! 6LoWPAN + UDP over secured 802.15.4 frames, against the raw AES-128-CCM of the same
//! bytes with the RustCrypto `ccm` crate.
//!
//! The datagram goes from the terminal to the meter's DLMS port 4059 between the
//! link-local addresses of their EUI-64s, with `payload` bytes of UDP payload: 100 (one
//! frame) and 1000 (fragmented, 6 fragments). Every 6LoWPAN packet is at most `BUDGET`
//! (200) bytes, and travels in the frame `nodes::link::mac` sends for unicast data (frame
//! version 2, destination PAN and extended addresses, acknowledgment requested, level 5
//! ENC-MIC-32, key identifier mode 1, CRC-16 FCS: 27 bytes of header, 4 of MIC, 2 of FCS).
//!
//! Group `link_udp`, `Throughput::Elements(1)` (one datagram sent and received per
//! iteration), for each payload size `N`:
//!
//! - `lowpan_N`: 6LoWPAN alone: `Encoder::encode` (UDP checksum, IPHC + NHC UDP,
//!   fragments), then `Reassembler::receive` of every packet (decompression, reassembly,
//!   checksum check, the `Packet` rebuilt).
//! - `full_path_N`: the sender's and the receiver's whole work: encode as above, then per
//!   6LoWPAN packet (encoded with room for the MAC, as `nodes::link::net` does) build the
//!   `Frame`, `ccm_star::secure_owned`, `fcs::append_in_place`; then
//!   per PSDU `fcs::strip`, `Mpdu::parse`, `ccm_star::open_parsed`,
//!   `Reassembler::receive` of the opened payload, from the link addresses of the opened
//!   frame (`wisun`'s `frame_path`, per fragment).
//! - `raw_ccm_N`: the AES-128-CCM those frames need, done directly with
//!   `Ccm<Aes128, U4, U13>`: per 6LoWPAN packet of the same datagram, `a` = the 27 header
//!   bytes of its frame, `m` = the packet, the 13-byte CCM* nonce; the cipher made from the
//!   key, seal in place, made again, open in place (as `ccm_star` and a receiver looking the
//!   key up per frame do), the buffer refilled from the plaintext first.
//!
//! `full_path_N` against `raw_ccm_N` is the figure: how close the whole path comes to
//! the cipher it cannot avoid. `wisun`'s `frame` bench gives the same for one 100-byte
//! MAC payload without 6LoWPAN.
//!
//! Before timing, the bench checks the datagrams come back equal on both lowpan paths and
//! that the raw peer's ciphertext and MIC equal the frames' bytes.
//!
//! With `IOTROUTE_BENCH_PAIRED_DIR=<dir>` set (as `scripts/bench link` does), `main`
//! also runs an interleaved measurement before criterion: `full_path_N` and `raw_ccm_N`
//! timed in alternating blocks of about 0.5 ms, 1000 rounds, so that load from other
//! processes falls on both alike; it writes the medians, the median per-round ratio and
//! the fastest rounds to `<dir>/bench-link-paired-udp.json`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use aes::Aes128;
use ccm::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
use ccm::consts::{U13, U4};
use ccm::Ccm;
use criterion::{Criterion, Throughput};
use lowpan::{Encoder, LinkAddress, Packet, Reassembler, UdpDatagram};
use wisun::ccm_star::{self, Key};
use wisun::mac::fcs::{self, FcsKind};
use wisun::mac::{
    Address, AuxSecurityHeader, Eui64, Frame, FrameType, Header, KeyIdentifier, Mpdu, SecurityLevel,
};

type RawCcm = Ccm<Aes128, U4, U13>;

const KEY: Key = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];
const KEY_INDEX: u8 = 1;
const PAN: u16 = 0x1234;
const METER: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01]);
const TERMINAL: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02]);
const LEVEL: SecurityLevel = SecurityLevel::EncMic32;
const FCS: FcsKind = FcsKind::Crc16;
const DLMS_PORT: u16 = 4059;
/// 6LoWPAN bytes per frame.
const BUDGET: usize = 200;
const HEADER_LEN: usize = 27;
const SIZES: [usize; 2] = [100, 1000];

fn link(e: Eui64) -> LinkAddress {
    LinkAddress::Extended(e.0)
}

fn lookup(id: &KeyIdentifier, _source: Eui64) -> Option<Key> {
    (id.index() == Some(KEY_INDEX)).then_some(KEY)
}

fn datagram(len: usize) -> Packet {
    let payload = (0..len).map(|i| (i * 31 + 7) as u8).collect();
    Packet::Udp(UdpDatagram::link_local(
        link(TERMINAL),
        link(METER),
        DLMS_PORT,
        DLMS_PORT,
        payload,
    ))
}

/// The unicast DATA frame of `nodes::link::mac` carrying `payload`.
fn build(seq: u8, counter: u32, payload: Vec<u8>) -> Frame {
    let mut header = Header::new_2015(
        FrameType::Data,
        Some(seq),
        (Some(PAN), Some(Address::Extended(METER))),
        (None, Some(Address::Extended(TERMINAL))),
    )
    .expect("Table 7-2 row");
    header.ack_request = true;
    header.security = Some(AuxSecurityHeader::new(LEVEL, counter, KEY_INDEX));
    Frame {
        header,
        payload_ies: Vec::new(),
        payload,
    }
}

/// The sender's and receiver's state.
/// The room `nodes::link::net` asks its encoder for (its largest MAC overhead).
const MAC_ROOM: usize = 47;

struct Link {
    encoder: Encoder,
    reassembler: Reassembler,
    counter: u32,
}

impl Link {
    fn new() -> Self {
        Self {
            // As `nodes::link::net`: room for the MAC header, MIC and FCS in each packet.
            encoder: Encoder::new(1).with_room(MAC_ROOM),
            reassembler: Reassembler::default(),
            counter: 0,
        }
    }

    /// 6LoWPAN alone.
    fn lowpan(&mut self, packet: &Packet) -> Packet {
        let pieces = self
            .encoder
            .encode(packet, link(TERMINAL), link(METER), BUDGET)
            .expect("encode");
        let mut out = None;
        for piece in &pieces {
            out = self
                .reassembler
                .receive(Duration::ZERO, link(TERMINAL), link(METER), piece)
                .expect("receive");
        }
        out.expect("complete")
    }

    /// 6LoWPAN, frames, CCM*, FCS, and back.
    fn full_path(&mut self, packet: &Packet) -> Packet {
        let pieces = self
            .encoder
            .encode(packet, link(TERMINAL), link(METER), BUDGET)
            .expect("encode");
        let mut psdus = Vec::with_capacity(pieces.len());
        for piece in pieces {
            self.counter = self.counter.wrapping_add(1);
            let frame = build(self.counter as u8, self.counter, piece);
            let mut psdu = ccm_star::secure_owned(frame, &KEY).expect("secure");
            fcs::append_in_place(&mut psdu, FCS).expect("fcs");
            psdus.push(psdu);
        }
        let psdus = black_box(psdus);
        let mut out = None;
        for psdu in &psdus {
            let mpdu = fcs::strip(psdu, FCS).expect("fcs check");
            let Mpdu::Secured(secured) = Mpdu::parse(mpdu).expect("parse") else {
                unreachable!("secured");
            };
            black_box(&secured.header);
            let opened = ccm_star::open_parsed(mpdu, secured, &lookup).expect("open");
            let Some(Address::Extended(dst)) = opened.frame.header.dst else {
                unreachable!("unicast to an extended address");
            };
            out = self
                .reassembler
                .receive(
                    Duration::ZERO,
                    link(opened.source),
                    link(dst),
                    &opened.frame.payload,
                )
                .expect("receive");
        }
        out.expect("complete")
    }
}

/// The raw-CCM peer: per frame, `a` ‖ `m` in the clear and a working buffer.
struct Raw {
    frames: Vec<(Vec<u8>, Vec<u8>)>,
    counter: u32,
}

impl Raw {
    /// The CCM inputs of the frames that carry `packet`.
    fn new(packet: &Packet) -> Self {
        let pieces = Encoder::new(1)
            .encode(packet, link(TERMINAL), link(METER), BUDGET)
            .expect("encode");
        let frames = pieces
            .into_iter()
            .map(|piece| {
                let mpdu = ccm_star::secure(&build(1, 1, piece.clone()), &KEY).expect("secure");
                let mut clear = mpdu[..HEADER_LEN].to_vec();
                clear.extend_from_slice(&piece);
                (clear.clone(), clear)
            })
            .collect();
        Self { frames, counter: 0 }
    }

    fn seal_open(&mut self) {
        for (clear, buf) in &mut self.frames {
            self.counter = self.counter.wrapping_add(1);
            buf.copy_from_slice(clear);
            let nonce = GenericArray::from(ccm_star::nonce(TERMINAL, self.counter, LEVEL));
            let (a, m) = buf.split_at_mut(HEADER_LEN);
            let tag = RawCcm::new(&KEY.into())
                .encrypt_in_place_detached(&nonce, a, m)
                .expect("seal");
            let m = black_box(m);
            RawCcm::new(&KEY.into())
                .decrypt_in_place_detached(&nonce, a, m, &tag)
                .expect("open");
            black_box(&*m);
        }
    }
}

/// The same datagram back on both paths, and the raw peer doing the frames' CCM.
fn check() {
    for size in SIZES {
        let packet = datagram(size);
        let mut l = Link::new();
        assert_eq!(l.lowpan(&packet), packet);
        assert_eq!(l.full_path(&packet), packet);
        let pieces = Encoder::new(1)
            .encode(&packet, link(TERMINAL), link(METER), BUDGET)
            .expect("encode");
        assert_eq!(pieces.len(), if size == 100 { 1 } else { 6 }, "{size}");
        assert!(pieces.iter().all(|p| p.len() <= BUDGET));
        for piece in pieces {
            let mpdu = ccm_star::secure(&build(3, 9, piece.clone()), &KEY).expect("secure");
            let mut m = piece.clone();
            let nonce = GenericArray::from(ccm_star::nonce(TERMINAL, 9, LEVEL));
            let tag = RawCcm::new(&KEY.into())
                .encrypt_in_place_detached(&nonce, &mpdu[..HEADER_LEN], &mut m)
                .expect("seal");
            assert_eq!(mpdu.len(), HEADER_LEN + piece.len() + 4);
            assert_eq!(m, mpdu[HEADER_LEN..HEADER_LEN + piece.len()]);
            assert_eq!(tag.as_slice(), &mpdu[HEADER_LEN + piece.len()..]);
        }
        let mut raw = Raw::new(&packet);
        raw.seal_open();
        assert!(raw.frames.iter().all(|(clear, buf)| clear == buf));
    }
}

/// Nanoseconds per call of `f` over `iters` calls.
fn time(iters: u64, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Interleaved timings of `a` and `b`.
struct Paired {
    /// Median ns per call over the rounds.
    a_ns: f64,
    b_ns: f64,
    /// Median of the per-round ratios b / a: a's speed relative to b's.
    ratio: f64,
    /// Fastest round of each (ns per call), and b_min / a_min.
    a_min_ns: f64,
    b_min_ns: f64,
    ratio_min: f64,
}

/// Interleaved timing of `a` and `b`: `rounds` rounds of one block each (order
/// alternating), blocks of about 0.5 ms, so that a burst of load from other processes
/// falls on both alike.
fn paired(rounds: usize, a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> Paired {
    let calibrate = |f: &mut dyn FnMut()| {
        let mut n = 1u64;
        while time(n, f) * (n as f64) < 5e5 {
            n *= 2;
        }
        n
    };
    let (na, nb) = (calibrate(a), calibrate(b));
    let mut ta = Vec::with_capacity(rounds);
    let mut tb = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = time(na, a);
            (x, time(nb, b))
        } else {
            let y = time(nb, b);
            (time(na, a), y)
        };
        ta.push(x);
        tb.push(y);
        ratios.push(y / x);
    }
    let (a_min_ns, b_min_ns) = (
        ta.iter().copied().fold(f64::MAX, f64::min),
        tb.iter().copied().fold(f64::MAX, f64::min),
    );
    Paired {
        a_ns: median(&mut ta),
        b_ns: median(&mut tb),
        ratio: median(&mut ratios),
        a_min_ns,
        b_min_ns,
        ratio_min: b_min_ns / a_min_ns,
    }
}

impl Paired {
    fn fields(&self) -> BTreeMap<&'static str, f64> {
        BTreeMap::from([
            ("path_ns", self.a_ns),
            ("raw_ccm_ns", self.b_ns),
            ("ratio", self.ratio),
            ("path_min_ns", self.a_min_ns),
            ("raw_ccm_min_ns", self.b_min_ns),
            ("ratio_min", self.ratio_min),
        ])
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Write `entries` as a JSON object of objects of numbers.
fn write_paired(path: &Path, entries: &BTreeMap<String, BTreeMap<&'static str, f64>>) {
    let body: Vec<String> = entries
        .iter()
        .map(|(key, fields)| {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v:.4}"))
                .collect();
            format!("\"{key}\": {{{}}}", fields.join(", "))
        })
        .collect();
    let text = format!("{{\n  {}\n}}\n", body.join(",\n  "));
    std::fs::write(path, text).expect("write the paired figures");
}

/// Rounds of the interleaved measurement (about 1 s per size).
const ROUNDS: usize = 1000;

fn run_paired(path: &Path) {
    let mut entries = BTreeMap::new();
    for size in SIZES {
        let packet = datagram(size);
        let mut l = Link::new();
        let mut raw = Raw::new(&packet);
        let p = paired(
            ROUNDS,
            &mut || {
                black_box(l.full_path(black_box(&packet)));
            },
            &mut || raw.seal_open(),
        );
        eprintln!(
            "paired link_udp/{size}: full path {:.0} ns, raw_ccm {:.0} ns: {:.1} % of raw CCM \
             speed (median of per-round ratios); fastest rounds {:.0} / {:.0} ns: {:.1} %",
            p.a_ns,
            p.b_ns,
            p.ratio * 100.0,
            p.a_min_ns,
            p.b_min_ns,
            p.ratio_min * 100.0
        );
        entries.insert(format!("link_udp_{size}"), p.fields());
    }
    write_paired(path, &entries);
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("link_udp");
    group.throughput(Throughput::Elements(1));
    for size in SIZES {
        let packet = datagram(size);
        group.bench_function(format!("lowpan_{size}"), |b| {
            let mut l = Link::new();
            b.iter(|| l.lowpan(black_box(&packet)));
        });
        group.bench_function(format!("full_path_{size}"), |b| {
            let mut l = Link::new();
            b.iter(|| l.full_path(black_box(&packet)));
        });
        group.bench_function(format!("raw_ccm_{size}"), |b| {
            let mut raw = Raw::new(&packet);
            b.iter(|| raw.seal_open());
        });
    }
    group.finish();
}

fn main() {
    check();
    if let Some(dir) = std::env::var_os("IOTROUTE_BENCH_PAIRED_DIR") {
        run_paired(&Path::new(&dir).join("bench-link-paired-udp.json"));
    }
    // Short defaults keep `scripts/bench link` within a few minutes; command-line flags
    // (`--warm-up-time`, `--measurement-time`, ...) still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
