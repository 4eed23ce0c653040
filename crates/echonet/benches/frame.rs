//! Criterion benchmarks of the ECHONET Lite frame codec.
//!
//! The frames come from `frames.txt`, which `interop/bench_pychonet.py` reads as well, so
//! `scripts/bench` times both codecs on identical bytes in the same run. Groups, each with
//! one benchmark per frame and `Throughput::Elements(1)` (one frame per iteration):
//!
//! - `parse`: [`Frame::new_checked`] then [`Repr::parse`] from a byte slice;
//! - `emit`: [`Repr::emit`] of an already parsed frame into a reused buffer;
//! - `parse_emit`: both in one iteration, the issue's figure "frame parse + emit
//!   (Get_Res with D1, E0, E2)";
//! - `borrowed_parse`: [`Frame::new_checked`] then [`Frame::message`], every property
//!   read in place: the receive path of the meter, no [`Repr`] and no allocation;
//! - `borrowed_parse_emit`: that, then [`echonet::MessageRef::emit`].
//!
//! Before timing anything, every frame is checked against a [`Message`] built from the
//! API, and must re-emit to the same bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use echonet::{Eoj, Esv, Frame, Message, Property, Repr};

/// The shared frames: `name hex` per line, `#` comments, spaces inside the hex ignored.
const FRAMES: &str = include_str!("frames.txt");

/// Frames every run must cover; the report in `scripts/bench` expects these names.
const NAMES: [&str; 3] = ["get_res", "get", "inf_d5"];

/// Large enough for any frame in `frames.txt`; reused by every `emit` iteration.
const BUFFER_LEN: usize = 1500;

struct Fixture {
    name: &'static str,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    FRAMES
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, hex) = line
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("frames.txt: expected `name hex`, got {line:?}"));
            Fixture {
                name,
                bytes: decode_hex(hex),
            }
        })
        .collect()
}

fn decode_hex(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len() % 2 == 0,
        "frames.txt: odd number of hex digits in {hex:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ASCII hex digits");
            u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("frames.txt: bad hex {text:?}"))
        })
        .collect()
}

/// What each frame must decode to, written with the API rather than as hex.
fn expected(name: &str) -> Message {
    let meter = Eoj::new(0x02, 0x8E, 0x01);
    match name {
        "get_res" => Message::new(
            1,
            meter,
            Eoj::CONTROLLER,
            Esv::GetRes,
            vec![
                Property::new(0xD1, *b"IOTROUTE0001"),
                Property::new(0xE0, 123_456u32.to_be_bytes()),
                Property::new(0xE2, 3_100u32.to_be_bytes()),
            ],
        ),
        "get" => Message::get(1, Eoj::CONTROLLER, meter, &[0xD1, 0xE0, 0xE2]),
        "inf_d5" => Message::new(
            0,
            Eoj::NODE_PROFILE,
            Eoj::NODE_PROFILE,
            Esv::Inf,
            vec![Property::new(0xD5, [0x01, 0x02, 0x8E, 0x01])],
        ),
        other => panic!("frames.txt: no expected message for frame {other:?}"),
    }
}

/// Refuse to benchmark frames that are not what the report says they are.
fn check(fixtures: &[Fixture]) {
    let names: Vec<&str> = fixtures.iter().map(|f| f.name).collect();
    assert_eq!(names, NAMES, "frames.txt: unexpected set of frames");
    for f in fixtures {
        let repr = Repr::parse_bytes(&f.bytes)
            .unwrap_or_else(|e| panic!("frame {}: does not parse: {e}", f.name));
        assert_eq!(repr, Repr::Specified(expected(f.name)), "frame {}", f.name);
        assert_eq!(repr.to_vec().expect("emit"), f.bytes, "frame {}", f.name);
    }
}

fn bench_parse(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for f in fixtures {
        group.bench_function(f.name, |b| {
            b.iter(|| {
                let frame = Frame::new_checked(black_box(f.bytes.as_slice())).expect("valid");
                Repr::parse(&frame)
            })
        });
    }
    group.finish();
}

fn bench_emit(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; BUFFER_LEN];
    for f in fixtures {
        let repr = Repr::parse_bytes(&f.bytes).expect("valid");
        group.bench_function(f.name, |b| {
            b.iter(|| {
                black_box(&repr)
                    .emit(black_box(&mut buf[..]))
                    .expect("fits")
            })
        });
    }
    group.finish();
}

fn bench_parse_emit(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut group = c.benchmark_group("parse_emit");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; BUFFER_LEN];
    for f in fixtures {
        group.bench_function(f.name, |b| {
            b.iter(|| {
                let frame = Frame::new_checked(black_box(f.bytes.as_slice())).expect("valid");
                let repr = Repr::parse(&frame);
                repr.emit(black_box(&mut buf[..])).expect("fits")
            })
        });
    }
    group.finish();
}

/// The receive path the meter uses: the message borrowed from the checked datagram
/// ([`Frame::message`]), every property read in place, no `Repr` and no allocation.
fn bench_borrowed_parse(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut group = c.benchmark_group("borrowed_parse");
    group.throughput(Throughput::Elements(1));
    for f in fixtures {
        group.bench_function(f.name, |b| {
            b.iter(|| {
                let frame = Frame::new_checked(black_box(f.bytes.as_slice())).expect("valid");
                let m = frame.message().expect("format 1");
                for p in m.props.clone().chain(m.get_props.clone()) {
                    black_box(p);
                }
                (m.tid, m.seoj, m.deoj, m.esv)
            })
        });
    }
    group.finish();
}

/// Borrowed parse, then [`echonet::MessageRef::emit`]: the round trip without a `Repr`.
fn bench_borrowed_parse_emit(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut group = c.benchmark_group("borrowed_parse_emit");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; BUFFER_LEN];
    for f in fixtures {
        group.bench_function(f.name, |b| {
            b.iter(|| {
                let frame = Frame::new_checked(black_box(f.bytes.as_slice())).expect("valid");
                let m = frame.message().expect("format 1");
                m.emit(black_box(&mut buf[..])).expect("fits")
            })
        });
    }
    group.finish();
}

fn main() {
    let fixtures = fixtures();
    check(&fixtures);
    // Short defaults keep `scripts/bench` under a few minutes; command-line flags
    // (`--warm-up-time`, `--measurement-time`, ...) still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_parse(&mut c, &fixtures);
    bench_emit(&mut c, &fixtures);
    bench_parse_emit(&mut c, &fixtures);
    bench_borrowed_parse(&mut c, &fixtures);
    bench_borrowed_parse_emit(&mut c, &fixtures);
    c.final_summary();
}
