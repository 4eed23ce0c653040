#!/usr/bin/env python3
"""Time pychonet's ECHONET Lite codec on the frames the Rust benchmark uses.

The frames are read from crates/echonet/benches/frames.txt, the file the criterion
benchmark (crates/echonet/benches/frame.rs) embeds, so both sides time identical bytes.

Measured per frame, with timeit (garbage collector off, as timeit does by default):

  parse       pychonet.lib.functions.decodeEchonetMsg(frame) -> dict
  emit        pychonet.lib.functions.buildEchonetMsg(message) -> bytearray, where
              `message` is the decoded dict already converted to the encoder's input
  convert     to_build_input(decoded): the decoder's dict into the encoder's input
  parse_emit  decode, convert, build: one full round trip

pychonet's decoder yields EDT as bytes while its encoder wants EDT as an int (it builds
the frame as one big integer), so the round trip needs `to_build_input`; its cost is part
of parse_emit and is reported alone as `convert_ns`. The encoder also always writes SEOJ
05FF01 (its DEFAULT_SEOJ), so for frames sent by another object the re-encoded bytes
differ from the input in SEOJ; everything else must match, which is checked before
timing.

Output: JSON on stdout (or --out FILE), with per frame the mean ns per operation
(`parse_ns`, `emit_ns`, `convert_ns`, `parse_emit_ns`), the median and fastest of the
timed repeats (`*_median_ns`, `*_min_ns`) and the iteration count (`*_iterations`).
Run with the interop venv: target/interop-venv/bin/python interop/bench_pychonet.py
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bench_timing import measure

from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg

REPO = Path(__file__).resolve().parent.parent
FRAMES = REPO / "crates" / "echonet" / "benches" / "frames.txt"
# The SEOJ buildEchonetMsg always writes (pychonet's DEFAULT_SEOJ), whatever the input.
PYCHONET_SEOJ = bytes.fromhex("05FF01")
SEOJ = slice(4, 7)


def load_frames(path: Path) -> List[Tuple[str, bytes]]:
    """`name hex` per line, `#` comments, spaces inside the hex ignored."""
    frames = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, hexdigits = line.partition(" ")
        frames.append((name, bytes.fromhex("".join(hexdigits.split()))))
    return frames


def to_build_input(decoded: Dict[str, Any]) -> Dict[str, Any]:
    """The decoder's dict in the shape buildEchonetMsg accepts (EDT as an int)."""
    return {
        "TID": decoded["TID"],
        "DEOJGC": decoded["DEOJGC"],
        "DEOJCC": decoded["DEOJCC"],
        "DEOJCI": decoded["DEOJCI"],
        "ESV": decoded["ESV"],
        "OPC": [
            {"EPC": p["EPC"], "PDC": p["PDC"], "EDT": int.from_bytes(p["EDT"], "big")}
            for p in decoded["OPC"]
        ],
    }


def round_trip(frame: bytes) -> bytearray:
    return buildEchonetMsg(to_build_input(decodeEchonetMsg(frame)))


def check(name: str, frame: bytes) -> Dict[str, Any]:
    """Make sure pychonet reads the frame as the Rust side does, and re-encodes it."""
    d = decodeEchonetMsg(frame)
    props, at = [], 12
    for _ in range(frame[11]):
        pdc = frame[at + 1]
        props.append((frame[at], pdc, frame[at + 2 : at + 2 + pdc]))
        at += 2 + pdc
    if at != len(frame):
        raise SystemExit(f"{name}: frames.txt frame has trailing bytes or two lists")
    got = (
        d["TID"],
        bytes([d["SEOJGC"], d["SEOJCC"], d["SEOJCI"]]),
        bytes([d["DEOJGC"], d["DEOJCC"], d["DEOJCI"]]),
        d["ESV"],
        [(p["EPC"], p["PDC"], bytes(p["EDT"])) for p in d["OPC"]],
    )
    want = (int.from_bytes(frame[2:4], "big"), frame[4:7], frame[7:10], frame[10], props)
    if got != want:
        raise SystemExit(f"{name}: pychonet decoded {got!r}, expected {want!r}")

    out = bytes(round_trip(frame))
    expected = bytearray(frame)
    expected[SEOJ] = PYCHONET_SEOJ
    if out != bytes(expected):
        raise SystemExit(f"{name}: pychonet re-encoded {out.hex()}, expected {expected.hex()}")
    return {
        "bytes": len(frame),
        "emit_identical": out == frame,
        "emit_note": (
            None
            if out == frame
            else "buildEchonetMsg always writes SEOJ 05FF01; the rest is identical"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=Path, default=FRAMES)
    parser.add_argument("--seconds", type=float, default=2.0, help="per operation and frame")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args()

    ops = {
        "parse": "decode(frame)",
        "emit": "build(message)",
        "convert": "to_build_input(decoded)",
        "parse_emit": "build(to_build_input(decode(frame)))",
    }
    report: Dict[str, Any] = {
        "peer": "pychonet",
        "pychonet_version": version("pychonet"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "frames_file": str(args.frames),
        "seconds_per_measurement": args.seconds,
        "frames": {},
    }
    for name, frame in load_frames(args.frames):
        entry = check(name, frame)
        env = {
            "decode": decodeEchonetMsg,
            "build": buildEchonetMsg,
            "to_build_input": to_build_input,
            "frame": frame,
            "decoded": decodeEchonetMsg(frame),
            "message": to_build_input(decodeEchonetMsg(frame)),
        }
        for op, stmt in ops.items():
            m = measure(stmt, env, args.seconds)
            print(f"pychonet {op:>10} {name:<8} {m['mean_ns']:10.1f} ns/op", file=sys.stderr)
            entry[f"{op}_ns"] = m["mean_ns"]
            entry[f"{op}_median_ns"] = m["median_ns"]
            entry[f"{op}_min_ns"] = m["min_ns"]
            entry[f"{op}_iterations"] = m["iterations"]
        report["frames"][name] = entry

    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
