#!/usr/bin/env python3
"""Emit reference APDUs encoded by Gurux-Python, as one JSON object {name: hex} on stdout.

Gurux-Python (PyPI gurux-dlms==1.0.203, GPL-2.0) only ever runs as this separate process;
nothing of it is linked into or vendored by iotroute. crates/dlms/tests/gurux_interop.rs
decodes every APDU here with our codec, compares the values, and re-encodes them.

APDUs (LN referencing, bare APDUs without wrapper; client wPort 16/1, server 1):
  aarq_none, aarq_lls (password 12345678), aarq_hls_gmac (mechanism 5, glo-initiate-request
  under suite 0), get_normal (clock attr 2), get_range / get_entry (load profile by range
  and by entry), get_with_list (clock + register), get_next (block 1), set_normal (a
  visible string), action_normal (clock method 1, integer 0), rlrq,
  get_response_clock (octet-string(12) time, JST), get_response_register (uint32),
  get_response_profile48 (48 rows {octet-string(12), uint32}, one day of 30-minute
  slots), get_response_block1 (first block of the same at PDU 128), data_notification,
  glo_get_request / glo_get_response_profile48 (0xC8 / 0xCC, SC 0x30), general_glo_get_request
  (0xDB), general_glo_data_notification (ciphered push with the server's title).
Keys: Green Book test keys EK 000102030405060708090A0B0C0D0E0F, AK D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF;
client system title 4D4D4D0000000001, server system title 4D4D4D0000BC614E, invocation
counter 0x01234567 for every ciphered APDU (the test checks values, not counter hygiene).

A second object "meta" holds what the test needs to check values: the keys, the titles,
and the expected profile rows.
Run: target/interop-venv/bin/python interop/gurux_encode.py
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import sys
from typing import Any, Dict, List

try:
    from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSClient
    from gurux_dlms.enums import Authentication, Conformance, DataType, InterfaceType, RequestTypes, Security
    from gurux_dlms.ConnectionState import ConnectionState
    from gurux_dlms.GXCiphering import GXCiphering
    from gurux_dlms.GXDLMS import GXDLMS
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings
    from gurux_dlms.objects import (
        GXDLMSCaptureObject,
        GXDLMSClock,
        GXDLMSData,
        GXDLMSProfileGeneric,
        GXDLMSRegister,
    )
    from gurux_dlms.secure import GXDLMSSecureClient, GXDLMSSecureNotify
    from gurux_dlms.GXDLMSNotify import GXDLMSNotify
    from gurux_dlms.internal._GXCommon import _GXCommon
    from gurux_dlms.ValueEventArgs import ValueEventArgs
except ImportError as e:  # pragma: no cover - depends on the venv
    raise SystemExit(f"gurux_encode.py: cannot import gurux_dlms ({e}); use target/interop-venv/bin/python")

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
IC = 0x01234567
JST = datetime.timezone(datetime.timedelta(hours=9))
FIRST_SLOT = datetime.datetime(2026, 11, 24, 0, 0, tzinfo=JST)
GET_RESPONSE = 0xC4
CONFORMANCE = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.SELECTIVE_ACCESS
)


def flat(v: Any) -> List[bytes]:
    if isinstance(v, (bytes, bytearray)):
        return [bytes(v)]
    out: List[bytes] = []
    for x in v:
        out.extend(flat(x))
    return out


def one(v: Any) -> str:
    frames = flat(v)
    if len(frames) != 1:
        raise SystemExit(f"gurux_encode.py: expected one APDU, Gurux gave {len(frames)}")
    return frames[0].hex().upper()


def rows() -> List[List[Any]]:
    """48 rows (clock, Wh) as the bench uses: 12,345,678 + 150 i + (i^2 mod 97)."""
    return [
        [GXDateTime(FIRST_SLOT + datetime.timedelta(minutes=30 * i)), 12_345_678 + 150 * i + (i * i) % 97]
        for i in range(48)
    ]


def objects():
    clock = GXDLMSClock("0.0.1.0.0.255")
    register = GXDLMSRegister("1.0.1.8.0.255")
    register.setDataType(2, DataType.UINT32)
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    pg.captureObjects.append((clock, GXDLMSCaptureObject(2, 0)))
    pg.captureObjects.append((register, GXDLMSCaptureObject(2, 0)))
    pg.capturePeriod = 1800
    return clock, register, pg


def server_settings(ciphered: bool, max_pdu: int = 0xFFFF) -> GXDLMSSettings:
    s = GXDLMSSettings(True, None)
    s.interfaceType = InterfaceType.PDU
    s.maxPduSize = max_pdu
    if ciphered:
        s.cipher = GXCiphering(SERVER_TITLE)
        s.cipher.blockCipherKey = EK
        s.cipher.authenticationKey = AK
        s.cipher.security = Security.AUTHENTICATION_ENCRYPTION
        s.cipher.invocationCounter = IC
    return s


def get_response(s: GXDLMSSettings, data: bytes) -> List[bytes]:
    p = GXDLMSLNParameters(s, 0xC1, GET_RESPONSE, 1, None, GXByteBuffer(data), 0)
    return [bytes(m) for m in GXDLMS.getLnMessages(p)]


def secure_client(general: bool) -> GXDLMSSecureClient:
    c = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, InterfaceType.PDU)
    c.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    c.ciphering.systemTitle = CLIENT_TITLE
    c.ciphering.blockCipherKey = EK
    c.ciphering.authenticationKey = AK
    c.ciphering.invocationCounter = IC
    c.negotiatedConformance = CONFORMANCE | (Conformance.GENERAL_PROTECTION if general else 0)
    # Gurux uses general-glo-ciphering only inside an open association.
    c.settings.connected = ConnectionState.DLMS
    return c


def main() -> int:
    out: Dict[str, str] = {}
    clock, register, pg = objects()

    out["aarq_none"] = one(GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.PDU).aarqRequest())
    c = GXDLMSClient(True, 1, 1, Authentication.LOW, "12345678", InterfaceType.PDU)
    out["aarq_lls"] = one(c.aarqRequest())
    hls = secure_client(False)
    hls.settings.connected = ConnectionState.NONE
    out["aarq_hls_gmac"] = one(hls.aarqRequest())

    c.negotiatedConformance = CONFORMANCE
    out["get_normal"] = one(c.read(clock, 2))
    out["get_range"] = one(
        c.readRowsByRange(pg, FIRST_SLOT, FIRST_SLOT + datetime.timedelta(days=1))
    )
    out["get_entry"] = one(c.readRowsByEntry(pg, 1, 48))
    out["get_with_list"] = one(c.readList([(clock, 2), (register, 2)]))
    out["get_next"] = one(c.receiverReady(RequestTypes.DATABLOCK))
    d = GXDLMSData("0.0.96.1.0.255")
    d.setDataType(2, DataType.STRING)
    d.value = "TERMINAL01"
    out["set_normal"] = one(c.write(d, 2))
    out["action_normal"] = one(c.method(clock, 1, 0, DataType.INT8))
    c.settings.connected = ConnectionState.DLMS  # Gurux sends RLRQ only when "connected"
    out["rlrq"] = one(c.releaseRequest())

    # Server side: GET-Responses built the way Gurux's server builds them.
    s = server_settings(False)
    b = GXByteBuffer()
    _GXCommon.setData(s, b, DataType.OCTET_STRING, GXDateTime(datetime.datetime(2026, 11, 25, 9, 30, 0, tzinfo=JST)))
    out["get_response_clock"] = get_response(s, bytes(b.array()))[0].hex().upper()
    b = GXByteBuffer()
    _GXCommon.setData(s, b, DataType.UINT32, 12_345_678)
    out["get_response_register"] = get_response(s, bytes(b.array()))[0].hex().upper()
    profile = pg.getData(s, ValueEventArgs(s, pg, 2, 0, None), rows(), None)
    out["get_response_profile48"] = get_response(s, profile)[0].hex().upper()
    s128 = server_settings(False, 128)
    blocks = get_response(s128, profile)
    out["get_response_block1"] = blocks[0].hex().upper()
    sc = server_settings(True)
    with contextlib.redirect_stdout(io.StringIO()):  # Gurux prints on every cipher call
        out["glo_get_response_profile48"] = get_response(sc, profile)[0].hex().upper()

    n = GXDLMSNotify(True, 1, 16, InterfaceType.PDU)
    body = [GXDateTime(FIRST_SLOT), 12_345_678]
    out["data_notification"] = one(
        n.generateDataNotificationMessages(GXDateTime(FIRST_SLOT), _push_body(n, body))
    )

    with contextlib.redirect_stdout(io.StringIO()):
        g = secure_client(False)
        out["glo_get_request"] = one(g.read(clock, 2))
        gg = secure_client(True)
        out["general_glo_get_request"] = one(gg.read(clock, 2))
        sn = GXDLMSSecureNotify(True, 1, 16, InterfaceType.PDU)
        sn.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        sn.ciphering.systemTitle = SERVER_TITLE
        sn.ciphering.blockCipherKey = EK
        sn.ciphering.authenticationKey = AK
        sn.ciphering.invocationCounter = IC
        sn.setConformance(Conformance.GENERAL_PROTECTION)
        sn.settings.connected = ConnectionState.DLMS
        out["general_glo_data_notification"] = one(
            sn.generateDataNotificationMessages(GXDateTime(FIRST_SLOT), _push_body(sn, body))
        )

    meta = {
        "ek": EK.hex().upper(),
        "ak": AK.hex().upper(),
        "client_title": CLIENT_TITLE.hex().upper(),
        "server_title": SERVER_TITLE.hex().upper(),
        "profile_values": [r[1] for r in rows()],
    }
    json.dump({"apdus": out, "meta": meta}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _push_body(n: GXDLMSNotify, body: List[Any]) -> GXByteBuffer:
    """A structure {octet-string(12) time, uint32} as a push body."""
    buff = GXByteBuffer()
    buff.setUInt8(DataType.STRUCTURE)
    buff.setUInt8(len(body))
    _GXCommon.setData(n.settings, buff, DataType.OCTET_STRING, body[0])
    _GXCommon.setData(n.settings, buff, DataType.UINT32, body[1])
    return buff


if __name__ == "__main__":
    sys.exit(main())
