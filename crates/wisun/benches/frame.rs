//! Criterion benchmarks of the secured 802.15.4 frame path against raw AES-128-CCM in the
//! same run (issue 6's figure: "secure + verify a 100-byte payload frame ... against raw
//! AES-128-CCM", goal: the frame path at >= 70 % of raw CCM speed).
//!
//! The frame is what `nodes::link::mac` sends for a unicast DATA frame: frame version 2
//! (802.15.4-2015), sequence number, destination PAN ID and extended destination,
//! extended source (the PAN ID Compression bit as `Header::new_2015` picks it for that
//! row), acknowledgment requested, auxiliary security header at level 5 (ENC-MIC-32) with
//! key identifier mode 1, a 100-byte MAC payload, CRC-16 FCS (the node's default): a
//! 27-byte header (CCM*'s `a`), 100 encrypted bytes (`m`), a 4-byte MIC and the 2-byte FCS,
//! 133 bytes on the air.
//!
//! Group `wisun_frame`, `Throughput::Elements(1)` (one frame sent and received per
//! iteration):
//!
//! - `frame_path`: what a sender and a receiver do with that frame. Send: build the
//!   `Frame` (header from `Header::new_2015`, security header, the payload copied into
//!   a `Vec` with room for header, MIC and FCS, as `nodes::link::net`'s 6LoWPAN encoder
//!   allocates it), `ccm_star::secure_owned` (the MPDU built in that buffer),
//!   `fcs::append_in_place`. Receive: `fcs::strip`,
//!   `Mpdu::parse` (the receiver looks at the header before security, for addressing and
//!   the acknowledgment, as `nodes::link::mac` does), `ccm_star::open_parsed` (the parsed
//!   header reused, the sealed copy decrypted in place) with a key-table closure; the
//!   opened payload goes through `black_box`. The frame counter advances every iteration.
//! - `frame_path_copying`: the same with the calls `nodes::link::mac` made before
//!   commit 386a28a: `ccm_star::secure` (a new buffer), `fcs::append` (a copy of the
//!   MPDU) and `ccm_star::open` (the header parsed again, the sealed part copied again).
//! - `secure_open`: CCM* alone, the "secure + verify": build the `Frame`,
//!   `ccm_star::secure_owned`, `ccm_star::open` (which parses the header it needs); no FCS and
//!   no separate `Mpdu::parse`.
//! - `raw_ccm`: the same AES-128-CCM work with the RustCrypto `ccm` crate directly
//!   (`Ccm<Aes128, U4, U13>`): the 27 header bytes as `a`, the 100 payload bytes as `m`,
//!   the 13-byte CCM* nonce; a cipher made from the key (key schedule), seal in place,
//!   a cipher made from the key again, open in place, as a receiver that looks the key
//!   up per frame does and as `ccm_star` does. The buffer is refilled from the plaintext
//!   every iteration (a 127-byte copy) and the nonce's counter advances as above.
//! - `raw_ccm_keyed`: as `raw_ccm` with one cipher (key schedule done once, outside the
//!   loop): the fastest the `ccm` crate does this work.
//!
//! Group `wisun_frame_parts`: the frame path's pieces alone, to see where its time goes
//! (`secure` = build + `ccm_star::secure`, `fcs_append` (the copying one), `fcs_strip`,
//! `mpdu_parse`, `open`, and `parse_open_parsed` = `Mpdu::parse` + `ccm_star::open_parsed`).
//!
//! With `IOTROUTE_BENCH_PAIRED_DIR=<dir>` set (as `scripts/bench link` does), `main`
//! also runs an interleaved measurement before criterion: `frame_path` and `raw_ccm`
//! (then `frame_path` and `raw_ccm_keyed`, `secure_open` and `frame_path_copying`
//! against `raw_ccm`) timed in alternating blocks of about 0.5 ms, 1000 rounds, so that
//! load from other processes falls on both alike; it writes the medians, the median
//! per-round ratio and the fastest rounds to `<dir>/bench-link-paired-frame.json`.
//!
//! Before timing, the bench checks that both do the same work: `raw_ccm`'s ciphertext
//! and MIC equal the secured frame's bytes after the header, and the frame opens to the
//! payload.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use aes::Aes128;
use ccm::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
use ccm::consts::{U13, U4};
use ccm::Ccm;
use criterion::{Criterion, Throughput};
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
const PAYLOAD_LEN: usize = 100;
const LEVEL: SecurityLevel = SecurityLevel::EncMic32;
const FCS: FcsKind = FcsKind::Crc16;

fn lookup(id: &KeyIdentifier, _source: Eui64) -> Option<Key> {
    (id.index() == Some(KEY_INDEX)).then_some(KEY)
}

/// A DATA frame from the terminal to the meter as `nodes::link::mac` builds it.
fn build(seq: u8, counter: u32, payload: &[u8]) -> Frame {
    let mut header = Header::new_2015(
        FrameType::Data,
        Some(seq),
        (Some(PAN), Some(Address::Extended(METER))),
        (None, Some(Address::Extended(TERMINAL))),
    )
    .expect("Table 7-2 row");
    header.ack_request = true;
    header.security = Some(AuxSecurityHeader::new(LEVEL, counter, KEY_INDEX));
    // As 6LoWPAN hands a packet to the MAC: with room for the MAC's header, MIC and FCS.
    let mut owned = Vec::with_capacity(payload.len() + HEADROOM);
    owned.extend_from_slice(payload);
    Frame {
        header,
        payload_ies: Vec::new(),
        payload: owned,
    }
}

/// What a MAC adds around its payload at most here: a 2015 header with both extended
/// addresses and the auxiliary security header (at most 37 bytes), a MIC of up to 16
/// and an FCS of up to 4.
const HEADROOM: usize = 64;

/// Send and receive one frame; returns the opened payload.
fn frame_path(seq: u8, counter: u32, payload: &[u8]) -> Vec<u8> {
    let frame = build(seq, counter, payload);
    let mut psdu = ccm_star::secure_owned(frame, &KEY).expect("secure");
    fcs::append_in_place(&mut psdu, FCS).expect("fcs");
    let psdu = black_box(psdu);
    let mpdu = fcs::strip(&psdu, FCS).expect("fcs check");
    let Mpdu::Secured(secured) = Mpdu::parse(mpdu).expect("parse") else {
        unreachable!("secured");
    };
    black_box(&secured.header);
    ccm_star::open_parsed(mpdu, secured, &lookup)
        .expect("open")
        .frame
        .payload
}

/// As [`frame_path`] with the calls `nodes::link::mac` made before commit 386a28a: the
/// MPDU in a new buffer (`ccm_star::secure`), the FCS appended to a copy (`fcs::append`)
/// and the header parsed again by `ccm_star::open`.
fn frame_path_copying(seq: u8, counter: u32, payload: &[u8]) -> Vec<u8> {
    let frame = build(seq, counter, payload);
    let mpdu = ccm_star::secure(&frame, &KEY).expect("secure");
    let psdu = fcs::append(&mpdu, FCS).expect("fcs");
    let psdu = black_box(psdu);
    let mpdu = fcs::strip(&psdu, FCS).expect("fcs check");
    let parsed = Mpdu::parse(mpdu).expect("parse");
    assert!(matches!(parsed, Mpdu::Secured(_)));
    black_box(parsed.header());
    ccm_star::open(mpdu, &lookup).expect("open").frame.payload
}

/// CCM* alone, the words "secure + verify": build, `ccm_star::secure_owned`,
/// `ccm_star::open`; no FCS, no separate `Mpdu::parse`.
fn secure_open(seq: u8, counter: u32, payload: &[u8]) -> Vec<u8> {
    let frame = build(seq, counter, payload);
    let mpdu = black_box(ccm_star::secure_owned(frame, &KEY).expect("secure"));
    ccm_star::open(&mpdu, &lookup).expect("open").frame.payload
}

/// The raw-CCM peer's state: `a` ‖ `m` in the clear, and the working buffer.
struct Raw {
    header_len: usize,
    clear: Vec<u8>,
    buf: Vec<u8>,
}

impl Raw {
    fn new(header: &[u8], payload: &[u8]) -> Self {
        let mut clear = header.to_vec();
        clear.extend_from_slice(payload);
        Self {
            header_len: header.len(),
            buf: clear.clone(),
            clear,
        }
    }

    /// Seal then open `a` ‖ `m` in place; returns the tag.
    fn seal_open(&mut self, counter: u32, keyed: Option<&RawCcm>) -> [u8; 4] {
        self.buf.copy_from_slice(&self.clear);
        let nonce = ccm_star::nonce(TERMINAL, counter, LEVEL);
        let nonce = GenericArray::from(nonce);
        let (a, m) = self.buf.split_at_mut(self.header_len);
        let fresh;
        let sealer = match keyed {
            Some(c) => c,
            None => {
                fresh = RawCcm::new(&KEY.into());
                &fresh
            }
        };
        let tag = sealer
            .encrypt_in_place_detached(&nonce, a, m)
            .expect("seal");
        let m = black_box(m);
        let fresh;
        let opener = match keyed {
            Some(c) => c,
            None => {
                fresh = RawCcm::new(&KEY.into());
                &fresh
            }
        };
        opener
            .decrypt_in_place_detached(&nonce, a, m, &tag)
            .expect("open");
        tag.into()
    }
}

struct Fixture {
    payload: Vec<u8>,
    header_len: usize,
}

/// Check that the frame path and the raw peer do the same CCM work on the same bytes.
fn check() -> Fixture {
    let payload: Vec<u8> = (0..PAYLOAD_LEN as u8).map(|i| i.wrapping_mul(37)).collect();
    let frame = build(7, 42, &payload);
    let mpdu = ccm_star::secure(&frame, &KEY).expect("secure");
    let plain = {
        let mut f = frame.clone();
        f.header.security = None;
        f.emit().expect("plain")
    };
    // The plain emit has no security header: the secured header is 6 bytes longer.
    let header_len = plain.len() - PAYLOAD_LEN + 6;
    assert_eq!(header_len, 27, "header of the node's unicast DATA frame");
    assert_eq!(mpdu.len(), header_len + PAYLOAD_LEN + LEVEL.mic_len());
    let psdu = fcs::append(&mpdu, FCS).expect("fcs");
    assert_eq!(psdu.len(), 133);

    let mut raw = Raw::new(&mpdu[..header_len], &payload);
    let n = GenericArray::from(ccm_star::nonce(TERMINAL, 42, LEVEL));
    let mut sealed = payload.clone();
    let tag = RawCcm::new(&KEY.into())
        .encrypt_in_place_detached(&n, &mpdu[..header_len], &mut sealed)
        .expect("seal");
    assert_eq!(sealed, mpdu[header_len..header_len + PAYLOAD_LEN]);
    assert_eq!(tag.as_slice(), &mpdu[header_len + PAYLOAD_LEN..]);
    assert_eq!(raw.seal_open(42, None), <[u8; 4]>::from(tag));
    assert_eq!(raw.buf, raw.clear, "raw CCM opens to the plaintext");
    assert_eq!(frame_path(7, 42, &payload), payload);
    assert_eq!(frame_path_copying(7, 42, &payload), payload);
    assert_eq!(secure_open(7, 42, &payload), payload);
    Fixture {
        payload,
        header_len,
    }
}

fn bench_frame(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("wisun_frame");
    group.throughput(Throughput::Elements(1));
    let payload = &fx.payload;
    let header = {
        let f = build(0, 0, payload);
        ccm_star::secure(&f, &KEY).expect("secure")[..fx.header_len].to_vec()
    };
    group.bench_function("frame_path", |b| {
        let mut counter = 0u32;
        b.iter(|| {
            counter = counter.wrapping_add(1);
            black_box(frame_path(counter as u8, counter, black_box(payload)))
        });
    });
    group.bench_function("frame_path_copying", |b| {
        let mut counter = 0u32;
        b.iter(|| {
            counter = counter.wrapping_add(1);
            black_box(frame_path_copying(
                counter as u8,
                counter,
                black_box(payload),
            ))
        });
    });
    group.bench_function("secure_open", |b| {
        let mut counter = 0u32;
        b.iter(|| {
            counter = counter.wrapping_add(1);
            black_box(secure_open(counter as u8, counter, black_box(payload)))
        });
    });
    group.bench_function("raw_ccm", |b| {
        let mut raw = Raw::new(&header, payload);
        let mut counter = 0u32;
        b.iter(|| {
            counter = counter.wrapping_add(1);
            black_box(raw.seal_open(counter, None));
            black_box(&raw.buf);
        });
    });
    group.bench_function("raw_ccm_keyed", |b| {
        let mut raw = Raw::new(&header, payload);
        let cipher = RawCcm::new(&KEY.into());
        let mut counter = 0u32;
        b.iter(|| {
            counter = counter.wrapping_add(1);
            black_box(raw.seal_open(counter, Some(&cipher)));
            black_box(&raw.buf);
        });
    });
    group.finish();
}

fn bench_parts(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("wisun_frame_parts");
    group.throughput(Throughput::Elements(1));
    let payload = &fx.payload;
    let mpdu = ccm_star::secure(&build(1, 1, payload), &KEY).expect("secure");
    let psdu = fcs::append(&mpdu, FCS).expect("fcs");
    group.bench_function("secure", |b| {
        b.iter(|| ccm_star::secure(&build(1, 1, black_box(payload)), &KEY).expect("secure"));
    });
    group.bench_function("fcs_append", |b| {
        b.iter(|| fcs::append(black_box(&mpdu), FCS).expect("fcs"));
    });
    group.bench_function("fcs_strip", |b| {
        b.iter(|| fcs::strip(black_box(&psdu), FCS).expect("fcs").len());
    });
    group.bench_function("mpdu_parse", |b| {
        b.iter(|| Mpdu::parse(black_box(&mpdu)).expect("parse"));
    });
    group.bench_function("open", |b| {
        b.iter(|| ccm_star::open(black_box(&mpdu), &lookup).expect("open"));
    });
    group.bench_function("parse_open_parsed", |b| {
        b.iter(|| {
            let Mpdu::Secured(s) = Mpdu::parse(black_box(&mpdu)).expect("parse") else {
                unreachable!("secured");
            };
            ccm_star::open_parsed(&mpdu, s, &lookup).expect("open")
        });
    });
    group.finish();
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

fn report(label: &str, peer: &str, p: &Paired) {
    eprintln!(
        "paired {label}: path {:.0} ns, {peer} {:.0} ns: {:.1} % of {peer} speed (median of \
         per-round ratios); fastest rounds {:.0} / {:.0} ns: {:.1} %",
        p.a_ns,
        p.b_ns,
        p.ratio * 100.0,
        p.a_min_ns,
        p.b_min_ns,
        p.ratio_min * 100.0
    );
}

fn run_paired(path: &Path, fx: &Fixture) {
    let payload = &fx.payload;
    let header = {
        let f = build(0, 0, payload);
        ccm_star::secure(&f, &KEY).expect("secure")[..fx.header_len].to_vec()
    };
    let mut counter = 0u32;
    let mut frame = || {
        counter = counter.wrapping_add(1);
        black_box(frame_path(counter as u8, counter, black_box(payload)));
    };
    let mut raw = Raw::new(&header, payload);
    let mut raw_counter = 0u32;
    let fresh = paired(ROUNDS, &mut frame, &mut || {
        raw_counter = raw_counter.wrapping_add(1);
        black_box(raw.seal_open(raw_counter, None));
    });
    report("wisun_frame", "raw_ccm", &fresh);
    let cipher = RawCcm::new(&KEY.into());
    let keyed = paired(ROUNDS, &mut frame, &mut || {
        raw_counter = raw_counter.wrapping_add(1);
        black_box(raw.seal_open(raw_counter, Some(&cipher)));
    });
    report("wisun_frame", "raw_ccm_keyed", &keyed);
    let mut ccm_only = || {
        counter = counter.wrapping_add(1);
        black_box(secure_open(counter as u8, counter, black_box(payload)));
    };
    let secure_verify = paired(ROUNDS, &mut ccm_only, &mut || {
        raw_counter = raw_counter.wrapping_add(1);
        black_box(raw.seal_open(raw_counter, None));
    });
    report("wisun_frame secure_open", "raw_ccm", &secure_verify);
    let mut copying = || {
        counter = counter.wrapping_add(1);
        black_box(frame_path_copying(
            counter as u8,
            counter,
            black_box(payload),
        ));
    };
    let copying = paired(ROUNDS, &mut copying, &mut || {
        raw_counter = raw_counter.wrapping_add(1);
        black_box(raw.seal_open(raw_counter, None));
    });
    report("wisun_frame frame_path_copying", "raw_ccm", &copying);
    let entries = BTreeMap::from([
        ("wisun_frame".to_owned(), fresh.fields()),
        ("wisun_frame_keyed".to_owned(), keyed.fields()),
        ("wisun_secure_open".to_owned(), secure_verify.fields()),
        ("wisun_frame_copying".to_owned(), copying.fields()),
    ]);
    write_paired(path, &entries);
}

/// Rounds of the interleaved measurement (about 1 s per comparison).
const ROUNDS: usize = 1000;

fn main() {
    let fixture = check();
    if let Some(dir) = std::env::var_os("IOTROUTE_BENCH_PAIRED_DIR") {
        run_paired(
            &Path::new(&dir).join("bench-link-paired-frame.json"),
            &fixture,
        );
    }
    // Short defaults keep `scripts/bench link` within a few minutes; command-line flags
    // (`--warm-up-time`, `--measurement-time`, ...) still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_frame(&mut c, &fixture);
    bench_parts(&mut c, &fixture);
    c.final_summary();
}
