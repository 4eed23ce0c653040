#!/usr/bin/env python3
"""Read an ECHONET Lite node with pychonet, the library behind Home Assistant's
ECHONET Lite integration, and print what it saw as one JSON object.

Usage:
    pychonet_read.py HOST [--timeout S] [--bind ADDR]
    pychonet_read.py HOST --get EOJ EPC [EPC ...] [--timeout S] [--bind ADDR]

Full read (default): discovers HOST the way Home Assistant does
(ECHONETAPIClient.discover -> getAllPropertyMaps -> Factory(...).update()) and prints

    {"instances": ["028E01", ...],
     "node": {"manufacturer": ..., "uid": ..., "product_code": ...},
     "maps": {"028E01": {"get": ["80", ...], "set": [...], "anno": [...]}},
     "values": {"028E01": {"E0": <pychonet's decoded value, else raw hex, else null>}},
     "raw": {"0EF001": {"D6": "01028E01", ...}, "028E01": {"E0": "00BC614E", ...}}}

--get mode: one plain Get (ESV 0x62) of the given EPCs to EOJ, no discovery, and prints

    {"esv": "72", "seoj": "028E01", "props": {"E0": "00BC614E", "FF": ""}}

where an EPC answered with PDC 0 (the device does not have it) maps to "".

All hex is upper case. pychonet binds ADDR:3610 (default 127.0.0.1:3610, SO_REUSEADDR),
sends every request from that socket to HOST:3610 and accepts replies on it from HOST
(any source port). Exit 0 on success, 1 on timeout or error (message on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pychonet import ECHONETAPIClient, Factory
from pychonet.echonetapiclient import EchonetMaxOpcError
from pychonet.lib.const import (
    ENL_GETMAP,
    ENL_MANUFACTURER,
    ENL_PORT,
    ENL_PRODUCT_CODE,
    ENL_SETMAP,
    ENL_STATMAP,
    ENL_UID,
    GET,
)
from pychonet.lib.functions import decodeEchonetMsg
from pychonet.lib.udpserver import UDPServer

GET_RES = 0x72
GET_SNA = 0x52
NODE_PROFILE = (0x0E, 0xF0, 0x01)
# EPCs whose value pychonet's client decodes on arrival (ECHONETAPIClient.echonetMessageReceived).
PREDECODED = (ENL_UID, ENL_MANUFACTURER, ENL_PRODUCT_CODE)


class HarnessError(Exception):
    """A failure reported on stderr with exit code 1."""


def eoj_hex(gc: int, cc: int, ci: int) -> str:
    return f"{gc:02X}{cc:02X}{ci:02X}"


def log(msg: str) -> None:
    print(f"pychonet_read: {msg}", file=sys.stderr, flush=True)


def jsonable(value: Any) -> Any:
    """Turn pychonet's decoded values into something json.dumps accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value)


class Tap:
    """Records every Get_Res / Get_SNA frame from HOST verbatim.

    pychonet keeps decoded values only (and drops the ESV), so this subscriber sits
    beside ECHONETAPIClient on the same UDPServer to keep the wire bytes.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.raw: dict[str, dict[str, str]] = {}
        self.by_tid: dict[int, dict[str, Any]] = {}

    async def __call__(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[0] != self.host:
            return
        try:
            msg = decodeEchonetMsg(data)
        except Exception as exc:  # malformed frames are the device's bug: note and go on
            log(f"undecodable frame from {addr}: {data.hex()} ({exc})")
            return
        if msg["ESV"] not in (GET_RES, GET_SNA):
            return
        seoj = eoj_hex(msg["SEOJGC"], msg["SEOJCC"], msg["SEOJCI"])
        props: dict[str, str] = {}
        for opc in msg["OPC"]:
            epc = f"{opc['EPC']:02X}"
            edt = bytes(opc["EDT"]).hex().upper()
            props[epc] = edt
            if opc["PDC"] > 0:
                self.raw.setdefault(seoj, {})[epc] = edt
        self.by_tid[msg["TID"]] = {"esv": f"{msg['ESV']:02X}", "seoj": seoj, "props": props}


async def start(bind: str, timeout: float, host: str) -> tuple[UDPServer, ECHONETAPIClient, Tap]:
    loop = asyncio.get_running_loop()
    # local_ip pins IP_MULTICAST_IF and the group membership to the loopback
    # interface; without it pychonet probes the default route and joins there.
    udp = UDPServer(local_ip=bind)
    try:
        udp.run(bind, ENL_PORT, loop=loop)
    except OSError as exc:
        raise HarnessError(f"cannot bind {bind}:{ENL_PORT}: {exc}") from exc
    api = ECHONETAPIClient(udp)
    api.configure(
        message_timeout=max(1, int(timeout * 10)),  # pychonet counts 0.1 s ticks
        logger=log,
        debug=False,
    )
    tap = Tap(host)
    udp.subscribe(tap)
    return udp, api, tap


async def full_read(host: str, bind: str, timeout: float) -> dict[str, Any]:
    udp, api, tap = await start(bind, timeout, host)
    try:
        # Home Assistant's config flow: discover, wait for "discovered", then the maps.
        await api.discover(host)
        state = api.state.get(host, {})
        if not state.get("discovered"):
            raise HarnessError(f"no discovery answer (0EF001 Get 8A/8C/83/D6) from {host} within {timeout}s")

        node = {
            "manufacturer": jsonable(state.get("manufacturer")),
            "uid": jsonable(state.get("uid")),
            "product_code": jsonable(state.get("product_code")),
        }
        instances: list[tuple[int, int, int]] = []
        for gc, classes in state["instances"].items():
            for cc, insts in classes.items():
                for ci in insts:
                    instances.append((gc, cc, ci))

        maps: dict[str, dict[str, list[str]]] = {}
        values: dict[str, dict[str, Any]] = {}
        for gc, cc, ci in instances:
            eoj = eoj_hex(gc, cc, ci)
            if not await api.getAllPropertyMaps(host, gc, cc, ci):
                raise HarnessError(f"no answer to Get 9D/9E/9F of {eoj} at {host} within {timeout}s")
            inst_state = state["instances"][gc][cc][ci]
            maps[eoj] = {
                "get": [f"{e:02X}" for e in inst_state.get(ENL_GETMAP, [])],
                "set": [f"{e:02X}" for e in inst_state.get(ENL_SETMAP, [])],
                "anno": [f"{e:02X}" for e in inst_state.get(ENL_STATMAP, [])],
            }
            getmap = list(inst_state.get(ENL_GETMAP, []))
            # pychonet stores 0x83, 0x8A and 0x8C already decoded when they arrive, and
            # EchonetInstance.update() then decodes them a second time and crashes
            # (pychonet 2.8.2). Read those with a plain Get, as Home Assistant does with
            # getIdentificationInformation(), and keep what pychonet stored.
            predecoded = [e for e in getmap if e in PREDECODED]
            batch = [e for e in getmap if e not in PREDECODED]
            instance = Factory(host, api, gc, cc, ci)
            decoded: dict[int, Any] = {}
            if batch:
                try:
                    got = await instance.update(batch)
                    # update() unwraps a single attribute
                    decoded = got if isinstance(got, dict) else {batch[0]: got}
                except EchonetMaxOpcError as exc:
                    # Home Assistant falls back to smaller batches when a device answers
                    # fewer properties than asked; one at a time is the smallest batch.
                    log(f"{eoj}: device answered {exc} of {len(batch)} properties; retrying one by one")
                    for epc in batch:
                        decoded[epc] = await instance.update(epc)
                except TimeoutError as exc:
                    raise HarnessError(f"no answer to Get of {eoj}'s Get map at {host} within {timeout}s") from exc
            if predecoded:
                ok = await api.echonetMessage(host, gc, cc, ci, GET, [{"EPC": e} for e in predecoded])
                if ok is False and not any(f"{e:02X}" in tap.raw.get(eoj, {}) for e in predecoded):
                    raise HarnessError(f"no answer to Get {[f'{e:02X}' for e in predecoded]} of {eoj} at {host}")
                for epc in predecoded:
                    decoded[epc] = inst_state.get(epc)
            raw = tap.raw.get(eoj, {})
            vals: dict[str, Any] = {}
            for epc in getmap:
                key = f"{epc:02X}"
                val = decoded.get(epc)
                vals[key] = jsonable(val) if val is not None else raw.get(key)
            values[eoj] = vals

        return {
            "instances": [eoj_hex(*i) for i in instances],
            "node": node,
            "maps": maps,
            "values": values,
            "raw": tap.raw,
        }
    finally:
        udp.close()


async def plain_get(host: str, bind: str, timeout: float, eoj: str, epcs: list[int]) -> dict[str, Any]:
    gc, cc, ci = bytes.fromhex(eoj)
    udp, api, tap = await start(bind, timeout, host)
    try:
        if (gc, cc) != NODE_PROFILE[:2]:
            # ECHONETAPIClient drops requested EPCs that are not in the Get map it
            # knows, and cannot store answers for an instance it has not discovered.
            # Declare a Get map holding exactly the requested EPCs, so every one of
            # them goes on the wire, including ones the device does not have.
            api.register_instance(host, gc, cc, ci, ntfmap=[], setmap=[], getmap=list(epcs))
        opc = [{"EPC": epc} for epc in epcs]
        try:
            await api.echonetMessage(host, gc, cc, ci, GET, opc)
        except EchonetMaxOpcError as exc:
            log(f"device answered {exc} of {len(epcs)} properties")
        tid = api._next_tx_tid  # the TID echonetMessage just used
        reply = tap.by_tid.get(tid)
        if reply is None:
            raise HarnessError(f"no answer to Get {eoj} {[f'{e:02X}' for e in epcs]} from {host} within {timeout}s")
        return reply
    finally:
        udp.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("host", help="IPv4 address of the ECHONET Lite node to read (its UDP port 3610)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer (default 5)")
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="local address pychonet binds (port 3610) and sends from (default 127.0.0.1)",
    )
    p.add_argument(
        "--get",
        nargs="+",
        metavar=("EOJ", "EPC"),
        help="send one plain Get of EPC... to EOJ (hex, e.g. 028E01 E0 E2) instead of a full read",
    )
    args = p.parse_args(argv)
    if args.get is not None:
        if len(args.get) < 2:
            p.error("--get needs an EOJ and at least one EPC")
        try:
            eoj = args.get[0]
            if len(eoj) != 6:
                raise ValueError(eoj)
            bytes.fromhex(eoj)
            args.get_eoj = eoj.upper()
            args.get_epcs = [int(e, 16) for e in args.get[1:]]
            if any(not 0 <= e <= 0xFF for e in args.get_epcs):
                raise ValueError(args.get[1:])
        except ValueError as exc:
            p.error(f"bad --get argument: {exc}")
    return args


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # usage errors exit 1 like every other failure
        return 0 if exc.code in (0, None) else 1
    if args.get is not None:
        job = plain_get(args.host, args.bind, args.timeout, args.get_eoj, args.get_epcs)
    else:
        job = full_read(args.host, args.bind, args.timeout)
    try:
        # A hard ceiling on top of pychonet's per-request timeout.
        result = asyncio.run(asyncio.wait_for(job, timeout=args.timeout * 20 + 5))
    except HarnessError as exc:
        log(str(exc))
        return 1
    except asyncio.TimeoutError:
        log(f"overall timeout reading {args.host}")
        return 1
    except Exception as exc:  # any pychonet failure is a failed read, not a traceback
        log(f"error: {type(exc).__name__}: {exc}")
        return 1
    print(json.dumps(result, sort_keys=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
