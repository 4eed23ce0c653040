#!/usr/bin/env python3
"""Time Gurux-Python's DLMS codec on the APDUs the Rust benchmark uses.

Gurux-Python (PyPI gurux-dlms, GPL-2.0) is only ever run as this separate process; nothing
of it is linked into or vendored by iotroute.

The APDUs are read from crates/dlms/benches/apdus.txt, the file the criterion benchmark
(crates/dlms/benches/apdu.rs) embeds, so both sides time identical bytes:

  plain     GET-Response-Normal (C4 01 C1 00 ...) carrying the buffer of a load profile:
            an array of 48 structures {octet-string(12) COSEM date-time, double-long-
            unsigned}, one day (2026-11-24, JST) of 30-minute slots, 1,014 bytes;
  ciphered  the same APDU under security suite 0, authenticated and encrypted, as a
            glo-get-response (0xCC, security control 0x30): Green Book test keys,
            server system title 4D4D4D0000BC614E, invocation counter 0x01234567.

`--generate` writes that file with Gurux (a GXDLMSProfileGeneric holding the rows, framed
by Gurux's server-side GET-Response builder); a normal run checks the file against
Gurux before timing anything: each APDU must decode to the 48 expected rows, and Gurux's
re-encoding (invocation counter set back to 0x01234567) must give the same bytes.

Measured per APDU, with timeit (garbage collector off, as timeit does by default):

  decode         GXDLMSClient.getData(apdu, GXReplyData()): the client's receive path,
                 APDU (deciphered for `ciphered`) to Python values, reply.value being a
                 list of 48 [bytearray(12), int] structures
  encode         the server's send path from values: GXDLMSProfileGeneric.getData (rows of
                 [GXDateTime, int] to A-XDR with the capture objects' types) then
                 GXDLMS.getLnMessages (GET-Response framing, enciphering for `ciphered`)
  decode_encode  decode, then encode the decoded rows (octet strings as received)

Gurux's decipher prints "Encryption is applied." and "Authentication is applied." on
every call; stdout goes to /dev/null while `ciphered` is timed, the prints stay in.

Output: JSON on stdout (or --out FILE): per APDU the mean ns per operation (`decode_ns`,
`encode_ns`, `decode_encode_ns`), the median and fastest of the timed repeats
(`*_median_ns`, `*_min_ns`) and the iteration count (`*_iterations`).
Run with the interop venv: target/interop-venv/bin/python interop/gurux_bench.py
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bench_timing import measure

try:
    from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSClient, GXReplyData
    from gurux_dlms.enums import DataType, InterfaceType, Security
    from gurux_dlms.GXCiphering import GXCiphering
    from gurux_dlms.GXDLMS import GXDLMS
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings
    from gurux_dlms.objects import (
        GXDLMSCaptureObject,
        GXDLMSClock,
        GXDLMSProfileGeneric,
        GXDLMSRegister,
    )
    from gurux_dlms.secure import GXDLMSSecureClient
    from gurux_dlms.ValueEventArgs import ValueEventArgs
except ImportError as e:  # pragma: no cover - depends on the venv
    raise SystemExit(
        f"gurux_bench.py: cannot import gurux_dlms ({e}); run scripts/setup-interop and use "
        "target/interop-venv/bin/python (interop/requirements.txt pins gurux-dlms==1.0.203)"
    )

REPO = Path(__file__).resolve().parent.parent
APDUS = REPO / "crates" / "dlms" / "benches" / "apdus.txt"

# Green Book test keys and the server's system title (docs: issue 5, ../shared/spec/dlms.md).
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
INVOCATION_COUNTER = 0x01234567
INVOKE_ID_AND_PRIORITY = 0xC1  # invoke-id 1, confirmed, high priority
GET_RESPONSE = 0xC4
GET_RESPONSE_NORMAL = 1

JST = datetime.timezone(datetime.timedelta(hours=9))
FIRST_SLOT = datetime.datetime(2026, 11, 24, 0, 0, tzinfo=JST)
ROWS = 48


def expected_rows() -> List[Tuple[bytes, int]]:
    """The 48 rows both sides expect: (12-byte date-time as Gurux writes it, Wh).

    Slot i is 2026-11-24 00:00 JST + 30 min * i: year, month, day, day of week 0xFF (not
    specified), hour, minute, second 0, hundredths 0, deviation -540 (FD E4, "local = UTC
    - deviation"), clock status 0. The value grows like a household's cumulative energy:
    12,345,678 + 150 i + (i^2 mod 97), so every step adds 54 to 246 Wh.
    crates/dlms/benches/apdu.rs computes the same rows.
    """
    rows = []
    for i in range(ROWS):
        t = FIRST_SLOT + datetime.timedelta(minutes=30 * i)
        when = (
            t.year.to_bytes(2, "big")
            + bytes([t.month, t.day, 0xFF, t.hour, t.minute, 0, 0])
            + (-540).to_bytes(2, "big", signed=True)
            + bytes([0])
        )
        rows.append((when, 12_345_678 + 150 * i + (i * i) % 97))
    return rows


def server_values() -> List[List[Any]]:
    """The rows as a Gurux server keeps them in a profile buffer: [GXDateTime, int]."""
    return [
        [GXDateTime(FIRST_SLOT + datetime.timedelta(minutes=30 * i)), value]
        for i, (_, value) in enumerate(expected_rows())
    ]


def load_apdus(path: Path) -> Dict[str, bytes]:
    """`name hex` per line, `#` comments, spaces inside the hex ignored."""
    apdus = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, hexdigits = line.partition(" ")
        apdus[name] = bytes.fromhex("".join(hexdigits.split()))
    return apdus


def profile() -> GXDLMSProfileGeneric:
    """Load profile 1-0:99.1.0.255 capturing the clock's time and a register's value."""
    clock = GXDLMSClock("0.0.1.0.0.255")
    register = GXDLMSRegister("1.0.1.8.0.255")
    register.setDataType(2, DataType.UINT32)  # double-long-unsigned, tag 06
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    pg.captureObjects.append((clock, GXDLMSCaptureObject(2, 0)))
    pg.captureObjects.append((register, GXDLMSCaptureObject(2, 0)))
    pg.capturePeriod = 1800
    return pg


class Server:
    """Gurux's server-side encoding of a GET-Response for the profile buffer."""

    def __init__(self, ciphered: bool) -> None:
        self.settings = GXDLMSSettings(True, None)
        self.settings.interfaceType = InterfaceType.PDU
        self.settings.maxPduSize = 0xFFFF
        if ciphered:
            self.settings.cipher = GXCiphering(SERVER_TITLE)
            self.settings.cipher.blockCipherKey = EK
            self.settings.cipher.authenticationKey = AK
            self.settings.cipher.security = Security.AUTHENTICATION_ENCRYPTION
            self.settings.cipher.invocationCounter = INVOCATION_COUNTER
        self.pg = profile()

    def encode(self, table: List[List[Any]]) -> bytes:
        s = self.settings
        data = self.pg.getData(s, ValueEventArgs(s, self.pg, 2, 0, None), table, None)
        p = GXDLMSLNParameters(
            s, INVOKE_ID_AND_PRIORITY, GET_RESPONSE, GET_RESPONSE_NORMAL, None,
            GXByteBuffer(data), 0,
        )
        messages = GXDLMS.getLnMessages(p)
        if len(messages) != 1:
            raise SystemExit(f"gurux_bench.py: Gurux split the response into {len(messages)} PDUs")
        return bytes(messages[0])


def client(ciphered: bool) -> GXDLMSClient:
    """A logical-name client reading plain PDUs (no HDLC, no wrapper)."""
    if not ciphered:
        return GXDLMSClient(True, interfaceType=InterfaceType.PDU)
    c = GXDLMSSecureClient(True, interfaceType=InterfaceType.PDU)
    c.settings.cipher.blockCipherKey = EK
    c.settings.cipher.authenticationKey = AK
    c.settings.cipher.security = Security.AUTHENTICATION_ENCRYPTION
    c.settings.sourceSystemTitle = SERVER_TITLE  # learnt from the AARE in a real session
    return c


def decode(c: GXDLMSClient, apdu: bytes) -> Any:
    reply = GXReplyData()
    if not c.getData(apdu, reply) or reply.isMoreData():
        raise SystemExit("gurux_bench.py: Gurux did not finish reading the APDU")
    return reply.value


@contextlib.contextmanager
def quiet(enabled: bool):
    """Send Gurux's per-decipher prints to /dev/null."""
    if not enabled:
        yield
        return
    saved = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as null:
        sys.stdout = null
        try:
            yield
        finally:
            sys.stdout = saved


def generate(path: Path) -> None:
    plain = Server(False).encode(server_values())
    ciphered = Server(True).encode(server_values())
    text = f"""\
# APDUs for the DLMS codec benchmark: crates/dlms/benches/apdu.rs (criterion) and
# interop/gurux_bench.py (Gurux-Python) both read this file, so both time the same bytes.
# Generated by `interop/gurux_bench.py --generate` with gurux-dlms {version("gurux-dlms")}.
#
# plain: GET-Response-Normal, invoke-id-and-priority C1, Data: the buffer of load
#   profile 1-0:99.1.0.255, array of {ROWS} structures {{octet-string(12) COSEM date-time,
#   double-long-unsigned}}: 2026-11-24 00:00 to 23:30 JST in 30-minute slots (day of week
#   FF, hundredths 00, deviation FDE4 = -540, status 00, as Gurux writes them); values
#   12345678 + 150 i + (i*i mod 97) Wh. {len(plain)} bytes.
# ciphered: the same APDU under suite 0, authenticated and encrypted (SC 30), as
#   glo-get-response (tag CC) with the Green Book test keys
#   EK {EK.hex().upper()}, AK {AK.hex().upper()},
#   server system title {SERVER_TITLE.hex().upper()}, invocation counter {INVOCATION_COUNTER:08X}.
#   {len(ciphered)} bytes.
plain {plain.hex().upper()}
ciphered {ciphered.hex().upper()}
"""
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}: plain {len(plain)} bytes, ciphered {len(ciphered)} bytes", file=sys.stderr)


def check(name: str, apdu: bytes) -> Dict[str, Any]:
    """Gurux must read the APDU as the Rust side does, and re-encode it to the same bytes."""
    ciphered = name == "ciphered"
    with quiet(ciphered):
        value = decode(client(ciphered), apdu)
    got = [(bytes(row[0]), row[1]) for row in value]
    if got != expected_rows():
        raise SystemExit(f"{name}: Gurux decoded rows other than the expected ones: {got[:2]!r}...")
    out = Server(ciphered).encode(server_values())
    if out != apdu:
        raise SystemExit(f"{name}: Gurux re-encoded {out.hex()}, expected {apdu.hex()}")
    out = Server(ciphered).encode([list(row) for row in value])
    if out != apdu:
        raise SystemExit(f"{name}: Gurux re-encoding of its decoded rows differs from the APDU")
    return {
        "bytes": len(apdu),
        "form": "glo-get-response (0xCC), SC 0x30" if ciphered else "get-response-normal (0xC4)",
        "rows": len(got),
        "encode_identical": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apdus", type=Path, default=APDUS)
    parser.add_argument("--seconds", type=float, default=2.0, help="per operation and APDU")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.add_argument(
        "--generate", action="store_true", help="write --apdus with Gurux and exit"
    )
    args = parser.parse_args()
    if args.generate:
        generate(args.apdus)
        return

    apdus = load_apdus(args.apdus)
    if sorted(apdus) != ["ciphered", "plain"]:
        raise SystemExit(f"{args.apdus}: expected the APDUs plain and ciphered, got {sorted(apdus)}")
    ops = {
        "decode": "decode(client, apdu)",
        "encode": "server.encode(values)",
        "decode_encode": "server.encode(decode(client, apdu))",
    }
    report: Dict[str, Any] = {
        "peer": "gurux-dlms",
        "gurux_version": version("gurux-dlms"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "apdus_file": str(args.apdus),
        "seconds_per_measurement": args.seconds,
        "apdus": {},
    }
    for name in ("plain", "ciphered"):
        apdu = apdus[name]
        entry = check(name, apdu)
        ciphered = name == "ciphered"
        env = {
            "decode": decode,
            "client": client(ciphered),
            "server": Server(ciphered),
            "apdu": apdu,
            "values": server_values(),
        }
        for op, stmt in ops.items():
            with quiet(ciphered):
                m = measure(stmt, env, args.seconds)
            print(f"gurux {op:>13} {name:<8} {m['mean_ns']:12.1f} ns/op", file=sys.stderr)
            entry[f"{op}_ns"] = m["mean_ns"]
            entry[f"{op}_median_ns"] = m["median_ns"]
            entry[f"{op}_min_ns"] = m["min_ns"]
            entry[f"{op}_iterations"] = m["iterations"]
        report["apdus"][name] = entry

    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
