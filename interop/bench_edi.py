"""The peer of crates/edi/benches/files.rs (scripts/bench edi): the same daily file of
10,000 device points (480,000 records) built with Python's string joins and zipfile's
deflate, the same tree and values, timed as the fastest of BENCH_PY_REPEATS runs.
Prints one JSON object: {"daily_10000_points_s": ..., "bytes": ...}."""
import datetime
import io
import json
import os
import time
import zipfile

JST = datetime.timezone(datetime.timedelta(hours=9))
MIDNIGHT = datetime.datetime(2026, 4, 1, tzinfo=JST)


def kwh(wh):
    return f"{wh // 1000}.{wh % 1000:03d}"


def record(p, slot):
    start = MIDNIGHT + datetime.timedelta(minutes=30 * slot)
    received = start + datetime.timedelta(milliseconds=1_800_455)
    terminal = bytes([2, 0x1A, 0, 0, (p >> 16) & 255, (p >> 8) & 255, p & 255, 1]).hex().upper()
    values = [
        ("JP06400", f"09{p:020d}"),
        ("JP06122", "0"),
        ("JP06125", kwh((p * 7 + slot * 13) % 2000)),
        ("JPX0101", kwh((p + slot) % 500)),
        ("JPX0102", kwh((p * 1000 + slot * 300) % 100_000_000)),
        ("JPX0103", kwh((p * 10 + slot * 50) % 100_000_000)),
        ("JPX0104", "measured"),
        ("JPX0105", terminal),
        ("JPX0106", start.isoformat()),
        ("JPX0107", "30"),
        ("JPX0108", received.isoformat(timespec="milliseconds")),
    ]
    return "<JPMR00011>\n" + "".join(f"<{t}>{v}</{t}>\n" for t, v in values) + "</JPMR00011>\n"


def daily(points):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<SBD-MSG>\n<JPMGRP>\n<JPMGH>\n']
    out.append("<JPC03>0</JPC03>\n<JPC06>IOT09</JPC06>\n<JPC09>R0001</JPC09>\n<JPC10>W4</JPC10>\n")
    out.append(f"<JPC11>1140</JPC11>\n<JPC12>01</JPC12>\n<JPC19>20260402010000</JPC19>\n<JPC21>{points * 48}</JPC21>\n")
    out.append("</JPMGH>\n<JPTRM>\n<JP00002>1140</JP00002>\n<JP06110>IOT09</JP06110>\n<JP06112>R0001</JP06112>\n")
    out.append("<JP06116>20260401</JP06116>\n<JPM00010>\n")
    for s in range(48):
        out.append(f"<JPMR00010>\n<JP06219>{s + 1:02d}</JP06219>\n<JPM00011>\n")
        out.extend(record(p, s) for p in range(1, points + 1))
        out.append("</JPM00011>\n</JPMR00010>\n")
    out.append("</JPM00010>\n</JPTRM>\n</JPMGRP>\n</SBD-MSG>\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("W41140202604010000000000.xml", "".join(out).encode())
    return buf.getvalue()


def main():
    repeats = int(os.environ.get("BENCH_PY_REPEATS", "3"))
    best, size = None, 0
    for _ in range(repeats):
        t = time.perf_counter()
        size = len(daily(10_000))
        took = time.perf_counter() - t
        best = took if best is None else min(best, took)
    print(json.dumps({"daily_10000_points_s": best, "bytes": size}))


if __name__ == "__main__":
    main()
