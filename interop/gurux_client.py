#!/usr/bin/env python3
"""Gurux-Python as a DLMS/COSEM client over UDP + the DLMS wrapper: reads a server (our
`iotroute dlms serve`) the way a vendor's head end would, and prints one JSON object.

Gurux-Python (PyPI gurux-dlms==1.0.203, GPL-2.0) only ever runs as this separate process;
nothing of it is linked into or vendored by iotroute. crates/iotroute/tests/dlms_serve.rs
runs it against `iotroute dlms serve` for each mode.

Usage:
  gurux_client.py HOST [--port 4059] [--bind ADDR] [--mode MODE] [--client 1]
                  [--password 12345678] [--max-pdu 128] [--hours 6] [--timeout 5]
                  [--invocation-counter LN]

Modes (management association, client wPort --client, server wPort 1):
  none             no authentication, plain APDUs
  lls              low level security with --password
  hls-glo          HLS-GMAC (mechanism 5), suite 0 authenticated encryption, glo-ciphering
                   (0xC8.. requests): GENERAL_PROTECTION not proposed
  hls-general-glo  the same with GENERAL_PROTECTION proposed: Gurux then sends
                   general-glo-ciphering (0xDB) inside the association
Keys: the Green Book test keys, client system title 4D4D4D0000000001.

--invocation-counter LN (HLS modes): before the management association, do what Gurux's
own reader (GXDLMSReader, its `-v` option) does for a client that keeps no counter:
associate as the public client (wPort 16, no security), read Data LN attribute 2, release,
and start the invocation counter at that value + 1. Without it Gurux's counter starts at 0.

Reads: clock 0-0:1.0.0.255 attr 2; registers 1-0:1.8.0.255 and 1-0:2.8.0.255 (attr 3 then
2, so Gurux applies the scaler); load profile 1-0:99.1.0.255 capture objects (attr 3) and
the last --hours hours by range (Gurux's readRowsByRange, octet-string(12) from/to).
Output: {"mode", "clock", "registers": {LN: {"value", "scaler", "unit"}}, "capture_objects",
"profile": [[time, ac_in, ac_out, status], ...], "blocks", "request_tags",
"invocation_counter_read" (null without --invocation-counter)}; times ISO 8601
with offset; "blocks" counts receiver-ready (next block) requests; "request_tags" the
first byte of every request APDU sent (hex). Errors: message on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import socket
import sys
from typing import Any, List

try:
    from gurux_dlms import GXByteBuffer, GXDateTime, GXReplyData
    from gurux_dlms.enums import Authentication, Conformance, InterfaceType, Security
    from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister
    from gurux_dlms.secure import GXDLMSSecureClient
except ImportError as e:  # pragma: no cover - depends on the venv
    raise SystemExit(f"gurux_client.py: cannot import gurux_dlms ({e}); use target/interop-venv/bin/python")

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
JST = datetime.timezone(datetime.timedelta(hours=9))
WRAPPER_HEADER = 8


class Link:
    """One UDP socket to the server; every frame Gurux builds is one datagram."""

    def __init__(self, client: GXDLMSSecureClient, host: str, port: int, bind: str, timeout: float):
        self.client = client
        self.server = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.sock.settimeout(timeout)
        self.blocks = 0
        self.request_tags: List[str] = []

    def packet(self, data: Any, reply: GXReplyData) -> None:
        """Send one frame and feed answers to Gurux until it has a whole reply."""
        if data is not None:
            raw = bytes(data.array()) if isinstance(data, GXByteBuffer) else bytes(data)
            if len(raw) > WRAPPER_HEADER:
                self.request_tags.append(f"{raw[WRAPPER_HEADER]:02X}")
            self.sock.sendto(raw, self.server)
        while True:
            answer, source = self.sock.recvfrom(65536)
            if source[0] != self.server[0] or source[1] != self.server[1]:
                continue
            if self.client.getData(GXByteBuffer(answer), reply, GXReplyData()):
                break
        if reply.error != 0:
            raise RuntimeError(f"server answered error {reply.error}")

    def block(self, data: Any, reply: GXReplyData) -> None:
        """A request and every further block of its answer."""
        if isinstance(data, list):
            for d in data:
                self.block(d, reply)
            return
        self.packet(data, reply)
        while reply.isMoreData():
            self.blocks += 1
            self.packet(self.client.receiverReady(reply), reply)

    def read(self, obj: Any, attribute: int) -> Any:
        reply = GXReplyData()
        self.block(self.client.read(obj, attribute), reply)
        self.client.updateValue(obj, attribute, reply.value)
        return reply.value


def iso(t: Any) -> Any:
    if isinstance(t, GXDateTime):
        t = t.value
    if isinstance(t, datetime.datetime):
        return t.isoformat()
    return None if t is None else str(t)


def plain(v: Any) -> Any:
    if isinstance(v, (GXDateTime, datetime.datetime)):
        return iso(v)
    if isinstance(v, (bytes, bytearray)):
        return v.hex().upper()
    if isinstance(v, (int, float, str)) or v is None:
        return v
    try:
        return int(v)
    except (TypeError, ValueError):
        return str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("--port", type=int, default=4059)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--mode", choices=["none", "lls", "hls-glo", "hls-general-glo"], default="none")
    ap.add_argument("--client", type=int, default=1)
    ap.add_argument("--password", default="12345678")
    ap.add_argument("--max-pdu", type=int, default=128)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--invocation-counter", metavar="LN", default=None,
                    help="read the starting invocation counter from this Data object first, as the public client")
    args = ap.parse_args()

    auth = {
        "none": Authentication.NONE,
        "lls": Authentication.LOW,
        "hls-glo": Authentication.HIGH_GMAC,
        "hls-general-glo": Authentication.HIGH_GMAC,
    }[args.mode]
    password = args.password if args.mode == "lls" else None
    client = GXDLMSSecureClient(True, args.client, 1, auth, password, InterfaceType.WRAPPER)
    client.maxReceivePDUSize = args.max_pdu
    if args.mode.startswith("hls"):
        client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        client.ciphering.systemTitle = CLIENT_TITLE
        client.ciphering.blockCipherKey = EK
        client.ciphering.authenticationKey = AK
        if args.mode == "hls-general-glo":
            client.proposedConformance |= Conformance.GENERAL_PROTECTION
        else:
            client.proposedConformance &= ~Conformance.GENERAL_PROTECTION
    link = Link(client, args.host, args.port, args.bind, args.timeout)

    # Gurux prints "Encryption is applied." and the like on stdout: keep stdout for the
    # one JSON object.
    chatter = io.StringIO()
    counter_read = None
    with contextlib.redirect_stdout(chatter):
        if args.invocation_counter and args.mode.startswith("hls"):
            counter_read = counter_from_meter(args)
            if counter_read is None:
                return 1
            client.ciphering.invocationCounter = counter_read + 1
        result = session(args, client, link, auth)
    if result is not None:
        result["invocation_counter_read"] = counter_read
    if result is None:
        return 1
    print(json.dumps(result))
    return 0


def counter_from_meter(args: argparse.Namespace) -> Any:
    """As GXDLMSReader does with its invocation counter option: the public client (wPort 16,
    no authentication, no security) reads Data `--invocation-counter` attribute 2 and
    releases. The value, or None after printing the error."""
    public = GXDLMSSecureClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    public.maxReceivePDUSize = args.max_pdu
    link = Link(public, args.host, args.port, args.bind, args.timeout)
    try:
        reply = GXReplyData()
        link.block(public.aarqRequest(), reply)
        public.parseAareResponse(reply.data)
        counter = GXDLMSData(args.invocation_counter)
        link.read(counter, 2)
        with contextlib.suppress(Exception):  # Gurux's RLRE handling is lenient at best
            link.packet(public.releaseRequest(), GXReplyData())
        return int(counter.value)
    except Exception as ex:  # noqa: BLE001 - one error line for the test
        print(f"gurux_client.py: reading the invocation counter: {type(ex).__name__}: {ex}", file=sys.stderr)
        return None
    finally:
        link.sock.close()


def session(args: argparse.Namespace, client: GXDLMSSecureClient, link: Link, auth: Any) -> Any:
    """Associate, read, release; the JSON object, or None after printing the error."""
    try:
        reply = GXReplyData()
        link.block(client.aarqRequest(), reply)
        client.parseAareResponse(reply.data)
        if auth not in (Authentication.NONE, Authentication.LOW):
            reply = GXReplyData()
            for d in client.getApplicationAssociationRequest():
                link.packet(d, reply)
            client.parseApplicationAssociationResponse(reply.data)

        clock = GXDLMSClock("0.0.1.0.0.255")
        link.read(clock, 2)
        registers = {}
        for ln in ("1.0.1.8.0.255", "1.0.2.8.0.255"):
            r = GXDLMSRegister(ln)
            link.read(r, 3)
            link.read(r, 2)
            registers[ln] = {"value": plain(r.value), "scaler": r.scaler, "unit": int(r.unit)}
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        link.read(pg, 3)
        capture = [f"{o.objectType}:{o.logicalName}:{c.attributeIndex}" for o, c in pg.captureObjects]
        now = datetime.datetime.now(JST)
        end = now.replace(minute=(now.minute // 30) * 30, second=0, microsecond=0)
        start = end - datetime.timedelta(hours=args.hours)
        reply = GXReplyData()
        link.block(client.readRowsByRange(pg, GXDateTime(start), GXDateTime(end)), reply)
        client.updateValue(pg, 2, reply.value)
        rows = [[plain(v) for v in row] for row in pg.buffer]
        try:
            reply = GXReplyData()
            link.packet(client.releaseRequest(), reply)
        except Exception:  # noqa: BLE001 - Gurux's RLRE handling is lenient at best
            pass
    except Exception as ex:  # noqa: BLE001 - one error line for the test
        print(f"gurux_client.py: {type(ex).__name__}: {ex}", file=sys.stderr)
        return None
    return {
        "mode": args.mode,
        "clock": iso(clock.time),
        "registers": registers,
        "capture_objects": capture,
        "profile": rows,
        "blocks": link.blocks,
        "request_tags": link.request_tags,
    }


if __name__ == "__main__":
    sys.exit(main())
