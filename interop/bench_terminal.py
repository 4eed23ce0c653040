#!/usr/bin/env python3
"""The terminal end to end (issue 11): a 90-day backfill over the maintenance interface,
read by `iotroute handy` and by Gurux-Python from the same terminal, and the terminal's
memory (RSS) while it reads its meter and after it served the backfill.

Gurux-Python (PyPI gurux-dlms, GPL-2.0) only ever runs as a separate process (this
script's `gurux-read` mode, started by the benchmark); nothing of it is linked into or
vendored by iotroute. Run with the interop venv (scripts/bench terminal does):

  target/interop-venv/bin/python interop/bench_terminal.py --iotroute target/release/iotroute
                                 [--out FILE] [--days 90] [--fill-speed 86400]
                                 [--serve-speed 60] [--steady-slots 3] [--repeats 5]

What it does, all on loopback (ECHONET on 127.0.231.2 (meter) and .3 (terminal), the
maintenance interface on 127.0.0.1 at a free port):

1. Fill. `iotroute meter --speed F --state FILE` and `iotroute terminal --meter ... --speed
   F --start <90 days and 6 hours ago> --maintenance 127.0.0.1:PORT --password P`: the
   terminal reads its meter at every simulated :00 and :30 into its store, as it does in
   real time, F times faster (86400: a day a second, a slot every 21 ms). The handy
   terminal sets the terminal's clock at once (`handy clock --set`, TRM-09), which sets
   the meter's clock too, so that the meter's 30-minute history (0xD5, 0xE1/0xE3) is of
   the terminal's days: a slot the terminal misses at that speed is stored missing and
   recovered from it, as a real terminal recovers (docs/terminal.md). It runs until the
   terminal's clock is 90 days and 12 hours past the start. Figures: wall time, slots
   read, missing, recovered, and the process's VmRSS/VmHWM at the end.
2. Steady state. Both stopped (SIGTERM) and started again on the same data at S times
   real time (60: a slot every 30 s), the clock set again by the handy terminal; once the
   terminal has read --steady-slots slots, its VmRSS/VmHWM.
3. Backfill. Right after the next slot is stored, the last days*48 slots up to it (4,320
   for 90 days) are read --repeats times by each client, alternating, after one warm-up
   read each:
     iotroute  `iotroute handy --target 127.0.0.1:PORT --password P read --from T --to T
               --json` as a process: its wall time, start to exit (association, capture
               period, the buffer by range, release, the rows as JSON on stdout);
     Gurux     GXDLMSSecureClient, client wPort 32, LLS, max PDU 1024 as ours: AARQ,
               capture objects (attr 3, Gurux needs them to parse the rows), readRowsByRange
               over the same from/to, release; timed inside its process (interpreter start
               and imports not counted, which favours Gurux); the process's wall time is
               kept beside it.
   Both must give the same rows: ours has every slot of the range, in order (a slot the
   buffer lacks, or marks not valid, is a null row); every row of Gurux's buffer equals
   our row of that slot (time, status, and in and out where valid) and every row of ours
   with values is in Gurux's. Figures: seconds (median and
   fastest), rows/s (rows of the buffer / median seconds), the ratio Gurux / iotroute,
   then VmRSS/VmHWM of the terminal after serving.

Output: a summary on stderr, JSON on stdout or --out FILE. Exits 1 when a step fails (a
process does not start, a read fails or the rows differ); the RSS goal (16 MiB) is a
figure, not a gate.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

JST = datetime.timezone(datetime.timedelta(hours=9))
SLOT = datetime.timedelta(minutes=30)
GOAL_KIB = 16 * 1024


def say(msg: str) -> None:
    print(f"bench_terminal: {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# --- Gurux-Python: one session, in its own process ------------------------------------


def gurux_read(argv: List[str]) -> int:
    """`gurux-read`: associate as the maintenance client, read the profile by range,
    release; print {"seconds", "rows": [[iso, in, out, status]...], "blocks", "version"}."""
    ap = argparse.ArgumentParser(prog="bench_terminal.py gurux-read")
    ap.add_argument("--target", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--from", dest="frm", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--max-pdu", type=int, default=1024)
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args(argv)
    try:
        from importlib.metadata import version

        from gurux_dlms import GXByteBuffer, GXDateTime, GXReplyData
        from gurux_dlms.enums import Authentication, InterfaceType
        from gurux_dlms.objects import GXDLMSProfileGeneric
        from gurux_dlms.secure import GXDLMSSecureClient
    except ImportError as e:
        print(f"bench_terminal.py gurux-read: cannot import gurux_dlms ({e})", file=sys.stderr)
        return 1
    host, port = args.target.rsplit(":", 1)
    server = (host, int(port))
    frm = datetime.datetime.fromisoformat(args.frm)
    to = datetime.datetime.fromisoformat(args.to)
    client = GXDLMSSecureClient(True, 32, 1, Authentication.LOW, args.password, InterfaceType.WRAPPER)
    client.maxReceivePDUSize = args.max_pdu
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(args.timeout)
    blocks = 0

    def packet(data: Any, reply: Any) -> None:
        raw = bytes(data.array()) if isinstance(data, GXByteBuffer) else bytes(data)
        sock.sendto(raw, server)
        while True:
            answer, source = sock.recvfrom(65536)
            if source != server:
                continue
            if client.getData(GXByteBuffer(answer), reply, GXReplyData()):
                break
        if reply.error != 0:
            raise RuntimeError(f"server answered error {reply.error}")

    def block(data: Any, reply: Any) -> None:
        nonlocal blocks
        if isinstance(data, list):
            for d in data:
                block(d, reply)
            return
        packet(data, reply)
        while reply.isMoreData():
            blocks += 1
            packet(client.receiverReady(reply), reply)

    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    try:
        # Gurux prints chatter on stdout: keep stdout for the one JSON object.
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            reply = GXReplyData()
            block(client.aarqRequest(), reply)
            client.parseAareResponse(reply.data)
            reply = GXReplyData()
            block(client.read(pg, 3), reply)
            client.updateValue(pg, 3, reply.value)
            reply = GXReplyData()
            block(client.readRowsByRange(pg, GXDateTime(frm), GXDateTime(to)), reply)
            client.updateValue(pg, 2, reply.value)
            with contextlib.suppress(Exception):  # Gurux's RLRE handling is lenient at best
                packet(client.releaseRequest(), GXReplyData())
            seconds = time.perf_counter() - started
    except Exception as ex:  # noqa: BLE001 - one error line for the driver
        print(f"bench_terminal.py gurux-read: {type(ex).__name__}: {ex}", file=sys.stderr)
        return 1
    rows = []
    for t, ac_in, ac_out, status in pg.buffer:
        t = t.value if isinstance(t, GXDateTime) else t
        rows.append([t.isoformat() if isinstance(t, datetime.datetime) else str(t), ac_in, ac_out, status])
    print(json.dumps({"seconds": seconds, "rows": rows, "blocks": blocks, "version": version("gurux-dlms")}))
    return 0


# --- processes ------------------------------------------------------------------------


class Proc:
    """A process of ours, its stdout and stderr in one log file."""

    def __init__(self, name: str, argv: List[str], log: Path):
        self.name, self.log = name, log
        self.file = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise Fail(f"{self.name} did not say {text!r}; its log ({self.log}):\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def memory(self) -> Dict[str, int]:
        """VmRSS and VmHWM (KiB) from /proc/PID/status."""
        out = {}
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_kib"] = int(value.split()[0])
        return out

    def stop(self, timeout: float = 30.0) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.file.close()


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def jst(t: datetime.datetime) -> str:
    return t.astimezone(JST).isoformat()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.work = args, work
        self.bin = args.iotroute
        self.data = work / "terminal"
        self.meter_addr = f"127.0.{args.block}.2"
        self.terminal_addr = f"127.0.{args.block}.3"
        self.target = f"127.0.0.1:{args.port or free_udp_port('127.0.0.1')}"
        self.meter: Optional[Proc] = None
        self.terminal: Optional[Proc] = None
        self.meter_clock_events = 0

    # The processes.
    def start(self, phase: str, speed: float, start: Optional[datetime.datetime]) -> None:
        self.meter = Proc(
            "iotroute meter",
            [self.bin, "meter", "--bind", self.meter_addr, "--speed", str(speed),
             "--state", str(self.work / "meter-state.json"), "--log", "info"],
            self.work / f"meter-{phase}.log",
        )
        self.meter.wait_for("listening")
        argv = [self.bin, "terminal", "--data", str(self.data), "--meter", self.meter_addr,
                "--echonet-bind", self.terminal_addr, "--speed", str(speed),
                "--password", self.args.password, "--maintenance", self.target, "--log", "warn"]
        if start is not None:
            argv += ["--start", start.isoformat()]
        self.terminal = Proc("iotroute terminal", argv, self.work / f"terminal-{phase}.log")
        self.terminal.wait_for("maintenance interface listening")

    def stop(self) -> None:
        for p in (self.terminal, self.meter):
            if p is not None:
                p.stop()
        self.terminal = self.meter = None

    # The handy terminal and the status.
    def handy(self, *args: str) -> Tuple[Dict[str, Any], float]:
        argv = [self.bin, "handy", "--target", self.target, "--password", self.args.password,
                "--bind", "127.0.0.1", *args, "--json"]
        started = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, timeout=120)
        took = time.perf_counter() - started
        if out.returncode != 0:
            raise Fail(f"{' '.join(args)}: exit {out.returncode}: {out.stderr.decode(errors='replace')}"
                       f"{out.stdout.decode(errors='replace')}")
        return json.loads(out.stdout), took

    def status(self) -> Dict[str, Any]:
        out = subprocess.run([self.bin, "terminal", "status", "--json", "--data", str(self.data)],
                             capture_output=True, timeout=30)
        try:
            return json.loads(out.stdout)
        except ValueError:
            return {}

    def clock(self) -> datetime.datetime:
        s = self.status()
        if "updated" not in s:
            raise Fail(f"no terminal status in {self.data}")
        return datetime.datetime.fromisoformat(s["updated"])

    def set_clock(self, speed: float) -> None:
        """TRM-09: the handy terminal sets the terminal's clock to what it reads (so that
        it neither jumps nor goes back more than the handy terminal's own latency at this
        speed): the terminal takes it as set and sets its meter's clock to it."""
        read_at = time.perf_counter()
        v, _ = self.handy("clock")
        now = datetime.datetime.fromisoformat(v["clock"])
        # The clock was read about halfway through that run, the SET arrives about halfway
        # through the next: one run's time later, whatever the speed (at 86400x each
        # millisecond is 86 s, so the clock jumps by up to an hour or two, before the
        # range measured).
        ahead = (time.perf_counter() - read_at) * speed
        at = (now + datetime.timedelta(seconds=round(ahead))).replace(microsecond=0)
        self.handy("clock", "--set", jst(at))
        events = self.data / "logs" / "event.jsonl"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = events.read_text(errors="replace") if events.exists() else ""
            done = [json.loads(l)["kind"] for l in text.splitlines()
                    if '"meter_clock_' in l]
            if len(done) > self.meter_clock_events:
                self.meter_clock_events = len(done)
                if done[-1] != "meter_clock_set":
                    raise Fail(f"the terminal did not set its meter's clock: {done[-1]}")
                return
            time.sleep(0.05)
        raise Fail("no meter_clock_set event after the handy terminal set the clock")

    # 1. Fill.
    def fill(self) -> Dict[str, Any]:
        a = self.args
        now = datetime.datetime.now(datetime.timezone.utc)
        start = (now - datetime.timedelta(days=a.days, hours=6)).replace(microsecond=0)
        until = start + datetime.timedelta(days=a.days, hours=12)
        say(f"fill: {a.days} days at {a.fill_speed:g}x from {jst(start)} until the terminal's clock is "
            f"{jst(until)} (about {(until - start).total_seconds() / a.fill_speed:.0f} s)")
        started = time.monotonic()
        self.start("fill", a.fill_speed, start)
        self.set_clock(a.fill_speed)
        limit = started + 3 * (until - start).total_seconds() / a.fill_speed + 60
        shown = started
        while True:
            t = self.clock()
            if t >= until:
                break
            if self.terminal.p.poll() is not None:
                raise Fail(f"the terminal ended during the fill:\n{self.terminal.tail()}")
            if time.monotonic() > limit:
                raise Fail(f"the fill is too slow: the terminal's clock at {t} after "
                           f"{time.monotonic() - started:.0f} s")
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                say(f"fill: the terminal's clock at {jst(t)}")
            time.sleep(0.5)
        memory = self.terminal.memory()
        seconds = time.monotonic() - started
        self.stop()
        c = self.status().get("counters", {})
        return {"days": a.days, "speed": a.fill_speed, "from": jst(start), "to": jst(until),
                "seconds": round(seconds, 1), "read": c.get("read"), "missing": c.get("missing"),
                "recovered": c.get("recovered"), **memory}

    # 2. Steady state.
    def steady(self) -> Dict[str, Any]:
        a = self.args
        say(f"steady: the terminal again at {a.serve_speed:g}x (a slot every {1800 / a.serve_speed:.0f} s)"
            f" until it has read {a.steady_slots} slots")
        self.start("serve", a.serve_speed, None)
        self.set_clock(a.serve_speed)
        started = time.monotonic()
        limit = started + (a.steady_slots + 2) * 1800 / a.serve_speed + 30
        while (self.status().get("counters", {}).get("read") or 0) < a.steady_slots:
            if time.monotonic() > limit:
                raise Fail(f"the terminal did not read {a.steady_slots} slots:\n{self.terminal.tail()}")
            time.sleep(0.5)
        return {"speed": a.serve_speed, "slots_read": self.status()["counters"]["read"],
                "seconds": round(time.monotonic() - started, 1), **self.terminal.memory()}

    def next_slot(self) -> datetime.datetime:
        """Wait for the terminal to store its next slot; that slot."""

        def newest(s: Dict[str, Any]) -> Optional[datetime.datetime]:
            rows = s.get("last_readings") or []
            return max((datetime.datetime.fromisoformat(r["time"]) for r in rows), default=None)

        before = newest(self.status())
        deadline = time.monotonic() + 2 * 1800 / self.args.serve_speed + 30
        while time.monotonic() < deadline:
            now = newest(self.status())
            if now is not None and now != before:
                return now
            time.sleep(0.1)
        raise Fail("the terminal stored no new slot")

    # 3. Backfill.
    def backfill(self) -> Dict[str, Any]:
        a = self.args
        slots = a.days * 48
        to = self.next_slot()
        frm = to - (slots - 1) * SLOT
        say(f"backfill: {slots} slots {jst(frm)} .. {jst(to)}, {a.repeats} reads by each client after a warm-up")

        def ours() -> Tuple[float, List[Dict[str, Any]]]:
            v, took = self.handy("read", "--from", jst(frm), "--to", jst(to))
            return took, v["rows"]

        def gurux() -> Tuple[float, float, List[List[Any]], int, str]:
            argv = [sys.executable, str(Path(__file__).resolve()), "gurux-read", "--target", self.target,
                    "--password", a.password, "--from", jst(frm), "--to", jst(to)]
            started = time.perf_counter()
            out = subprocess.run(argv, capture_output=True, timeout=300)
            took = time.perf_counter() - started
            if out.returncode != 0:
                raise Fail(f"Gurux: {out.stderr.decode(errors='replace')}")
            v = json.loads(out.stdout)
            return v["seconds"], took, v["rows"], v["blocks"], v["version"]

        first_ours, rows = ours()
        first_gurux, _, grows, blocks, gurux_version = gurux()
        reference = check(rows, grows, frm, slots)
        ours_s: List[float] = []
        gurux_s: List[float] = []
        gurux_wall: List[float] = []
        for _ in range(a.repeats):
            took, r = ours()
            if check(r, None, frm, slots)["values"] != reference["values"]:
                raise Fail("our rows changed between reads")
            ours_s.append(took)
            took, wall, g, _, _ = gurux()
            if len(g) != len(grows):
                raise Fail(f"Gurux read {len(g)} rows, then {len(grows)}")
            gurux_s.append(took)
            gurux_wall.append(wall)
        served = len(grows)
        om, gm = statistics.median(ours_s), statistics.median(gurux_s)
        return {
            "slots": slots, "from": jst(frm), "to": jst(to), "rows_in_buffer": served,
            "null_rows": slots - reference["values"], "recovered_rows": reference["recovered"],
            "blocks": blocks,
            "iotroute": {
                "what": "iotroute handy ... read --from --to --json, process wall time",
                "seconds": [round(s, 4) for s in ours_s], "median_s": round(om, 4),
                "best_s": round(min(ours_s), 4), "first_s": round(first_ours, 4),
                "rows_per_s": round(served / om),
            },
            "gurux": {
                "what": "Gurux-Python session AARQ..RLRQ (capture objects + readRowsByRange), timed in its process",
                "version": gurux_version, "python": platform.python_version(),
                "seconds": [round(s, 4) for s in gurux_s], "median_s": round(gm, 4),
                "best_s": round(min(gurux_s), 4), "first_s": round(first_gurux, 4),
                "process_seconds": [round(s, 4) for s in gurux_wall],
                "rows_per_s": round(served / gm),
            },
            "ratio": round(gm / om, 2),
            "ratio_best": round(min(gurux_s) / min(ours_s), 2),
        }


def check(ours: List[Dict[str, Any]], gurux: Optional[List[List[Any]]], frm: datetime.datetime,
          slots: int) -> Dict[str, int]:
    """Ours has every slot of the range, in order; every row Gurux read is ours."""
    if len(ours) != slots:
        raise Fail(f"iotroute handy read {len(ours)} rows, not {slots}")
    by_time = {}
    for i, r in enumerate(ours):
        t = datetime.datetime.fromisoformat(r["time"])
        if t != frm + i * SLOT:
            raise Fail(f"row {i} is {r['time']}, not {jst(frm + i * SLOT)}")
        by_time[t] = r
    values = sum(1 for r in ours if r["ac_in_wh"] is not None)
    if gurux is not None:
        seen = set()
        for t, ac_in, ac_out, status in gurux:
            r = by_time.get(datetime.datetime.fromisoformat(t))
            # A row the buffer marks not valid (status bit 2) is a null row in ours.
            same = r is not None and r["status"] == status and (
                r["ac_in_wh"] is None and status & 4 or (r["ac_in_wh"], r["ac_out_wh"]) == (ac_in, ac_out)
            )
            if not same:
                raise Fail(f"Gurux's row {[t, ac_in, ac_out, status]} is not ours: {r}")
            seen.add(r["time"])
        lacking = [r for r in ours if r["ac_in_wh"] is not None and r["time"] not in seen]
        if lacking:
            raise Fail(f"Gurux read {len(gurux)} rows, without {len(lacking)} of ours, e.g. {lacking[0]}")
    return {"values": values, "recovered": sum(1 for r in ours if r["recovered"])}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "gurux-read":
        return gurux_read(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iotroute", required=True, help="the iotroute program (a release build)")
    ap.add_argument("--out", help="write the JSON here (default stdout)")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--fill-speed", type=float, default=86400.0)
    ap.add_argument("--serve-speed", type=float, default=60.0)
    ap.add_argument("--steady-slots", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--password", default="BENCHPASS1")
    ap.add_argument("--block", type=int, default=231, help="ECHONET on 127.0.BLOCK.2 (meter) and .3")
    ap.add_argument("--port", type=int, default=0, help="maintenance port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--work", help="keep the data here (default: a temporary directory, removed)")
    args = ap.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="iotroute-bench-terminal-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)
    try:
        fill = bench.fill()
        say(f"fill: {fill['seconds']} s, read {fill['read']}, missing {fill['missing']}, "
            f"recovered {fill['recovered']}; VmRSS {fill['vmrss_kib']} KiB, VmHWM {fill['vmhwm_kib']} KiB")
        steady = bench.steady()
        say(f"steady: {steady['slots_read']} slots read; VmRSS {steady['vmrss_kib']} KiB, "
            f"VmHWM {steady['vmhwm_kib']} KiB")
        backfill = bench.backfill()
        after = bench.terminal.memory()
        status = bench.status()
        bench.stop()
    except Fail as e:
        say(f"FAILED: {e}")
        bench.stop()
        say(f"logs kept in {work}")
        return 1
    except BaseException:
        bench.stop()
        raise
    floods = sum(1 for log in (work / "terminal" / "logs").glob("access*.jsonl")
                 for line in log.read_text(errors="replace").splitlines()
                 if json.loads(line).get("kind") == "dos_detected")
    hwm = max(fill["vmhwm_kib"], steady["vmhwm_kib"], after["vmhwm_kib"])
    report = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "iotroute_program": str(Path(args.iotroute).resolve()),
        "fill": fill,
        "backfill": backfill,
        "rss": {
            "goal_kib": GOAL_KIB,
            "fill_end": {k: fill[k] for k in ("vmrss_kib", "vmhwm_kib")},
            "steady": {k: steady[k] for k in ("vmrss_kib", "vmhwm_kib")},
            "steady_slots_read": steady["slots_read"],
            "after_backfill": after,
            "max_vmhwm_kib": hwm,
            "goal_met": hwm <= GOAL_KIB,
        },
        # SEC-08 on the maintenance interface: floods recorded in the access log (the
        # backfill's own next-block requests pass 100 datagrams a second).
        "maintenance_floods": floods,
        "dos_events": status.get("counters", {}).get("dos_events"),
    }
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
