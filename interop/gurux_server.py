#!/usr/bin/env python3
"""Gurux-Python as a DLMS/COSEM *server* over UDP + the DLMS wrapper: the test peer that
`iotroute dlms get|set|action` (our client) reads, in crates/iotroute/tests/dlms_gurux_server.rs.

Gurux-Python (PyPI gurux-dlms==1.0.203, GPL-2.0) only ever runs as this separate process;
nothing of it is linked into or vendored by iotroute. Gurux's server is an incomplete
port (../shared/spec/dlms.md section 2): every defect this harness works around is a small
named function below, applied at run time (subclass or monkeypatch), each with a comment
naming the defect. No Gurux source is copied here.

Usage:
  gurux_server.py --bind ADDR [--port 4059] [--auth none|low|hls-gmac]
                  [--security none|auth|enc|auth-enc] [--password 12345678] [--max-pdu 1024]
                  [--gurux-lls-aare] [--gurux-get-with-list]

One logical device, server wPort 1. Client wPort 16: public association (no security;
clock, terminal ID, association object; energy and profiles refused). Client wPort 1:
management association with --auth (and --security for suite 0: authenticated,
encrypted or both; Green Book test keys, server system title 4D4D4D0000BC614E), which
may also write the clock's time zone (0-0:1.0.0.255:3) and the status
(0-0:96.10.1.255:2), and reset both registers (method 1, back to 0). GET, SET and
ACTION come with lists too (multiple references). The clock has no methods (Gurux's
refuses them all: read-write-denied).

Objects (docs/iot-route-cosem.md): clock 0-0:1.0.0.255 (JST, deviation -540); registers
1-0:1.8.0.255 and 1-0:2.8.0.255 (double-long-unsigned Wh, scaler 0); status
0-0:96.10.1.255; terminal ID 0-0:96.1.0.255 ("IRT0000000000001"); load profile
1-0:99.1.0.255 (capture objects clock, both registers, status; 48 rows of 30-minute slots
ending at the last closed slot; selective access by range and by entry); Association LN
0-0:40.0.0.255.

Prints `READY` on stdout once listening (then stdout is redirected to stderr); on stderr
one `exchange REQ -> ANS N bytes` line per frame, `deciphered ...`, association events;
GURUX_SERVER_TRACE=1 adds the frames in hex. Exits 0 on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import signal
import socket
import sys
import traceback
from typing import Any, List

try:
    from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSServer
    from gurux_dlms.AesGcmParameter import AesGcmParameter
    from gurux_dlms.GXCiphering import GXCiphering
    from gurux_dlms.GXDLMSChippering import GXDLMSChippering
    from gurux_dlms._GXAPDU import _GXAPDU
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings
    from gurux_dlms.GXSecure import GXSecure
    from gurux_dlms.ValueEventArgs import ValueEventArgs
    from gurux_dlms.objects.enums.AssociationStatus import AssociationStatus
    from gurux_dlms.GXServerReply import GXServerReply
    from gurux_dlms.GXDLMS import GXDLMS
    from gurux_dlms.GXDLMSLNCommandHandler import GXDLMSLNCommandHandler
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters
    from gurux_dlms.GXDLMSLongTransaction import GXDLMSLongTransaction
    from gurux_dlms.SetRequestType import SetRequestType
    from gurux_dlms.internal._GXCommon import _GXCommon
    from gurux_dlms.internal._GXDataInfo import _GXDataInfo
    from gurux_dlms.enums import (
        AccessMode,
        Authentication,
        Command,
        DataType,
        ErrorCode,
        InterfaceType,
        MethodAccessMode,
        ObjectType,
        Security,
        Unit,
    )
    from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic
    from gurux_dlms.objects import (
        GXDLMSAssociationLogicalName,
        GXDLMSCaptureObject,
        GXDLMSClock,
        GXDLMSData,
        GXDLMSProfileGeneric,
        GXDLMSRegister,
    )
except ImportError as e:  # pragma: no cover - depends on the venv
    raise SystemExit(f"gurux_server.py: cannot import gurux_dlms ({e}); use target/interop-venv/bin/python")

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
TERMINAL_ID = b"IRT0000000000001"
JST = datetime.timezone(datetime.timedelta(hours=9))
SERVER_WPORT = 1
PUBLIC, MANAGEMENT = 16, 1
ROWS = 48
SLOT = datetime.timedelta(minutes=30)
# Objects the public association (client wPort 16) may not see (docs/iot-route-cosem.md).
MANAGEMENT_ONLY = {"1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.99.1.0.255", "0.0.96.10.1.255"}
# Attributes the management association may write: the clock's time zone, the status.
WRITABLE = {("0.0.1.0.0.255", 3), ("0.0.96.10.1.255", 2)}
SECURITY = {
    "none": Security.NONE,
    "auth": Security.AUTHENTICATION,
    "enc": Security.ENCRYPTION,
    "auth-enc": Security.AUTHENTICATION_ENCRYPTION,
}


def log(msg: str) -> None:
    print(f"gurux_server.py: {msg}", file=sys.stderr, flush=True)


def clock_octets(t: datetime.datetime) -> bytes:
    """COSEM date-time as octet-string(12), as Gurux writes it: dow 0xFF, hundredths 0,
    deviation -540 (local = UTC - deviation), status 0."""
    t = t.astimezone(JST)
    return (
        t.year.to_bytes(2, "big")
        + bytes([t.month, t.day, 0xFF, t.hour, t.minute, t.second, 0])
        + (-540).to_bytes(2, "big", signed=True)
        + bytes([0])
    )


def parse_clock_octets(b: bytes) -> datetime.datetime:
    """octet-string(12) (or a date-time's 12 bytes) to an aware datetime."""
    year = int.from_bytes(b[0:2], "big")
    dev = int.from_bytes(b[9:11], "big", signed=True)
    tz = JST if dev == -0x8000 else datetime.timezone(datetime.timedelta(minutes=-dev))
    sec = 0 if b[7] == 0xFF else b[7]
    return datetime.datetime(year, b[2], b[3], b[5], b[6], sec, tzinfo=tz)


# ---------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------


class JstClock(GXDLMSClock):
    """The clock reads the host's time in JST; attribute 2 as octet-string(12)."""

    def getValue(self, settings, e):
        if e.index == 2:
            # Gurux's clock would take its stored `time` (frozen at start): read now.
            self.time = GXDateTime(datetime.datetime.now(JST).replace(microsecond=0))
        return super().getValue(settings, e)


class RangeProfile(GXDLMSProfileGeneric):
    """Load profile whose buffer read applies selective access itself."""

    def getValue(self, settings, e):
        if e.index == 2 and e.selector in (1, 2) and e.parameters is not None:
            return self.getData(settings, e, select_rows(self, e.selector, e.parameters), None)
        return super().getValue(settings, e)


def select_rows(pg: GXDLMSProfileGeneric, selector: int, params: List[Any]) -> List[List[Any]]:
    """Rows selected by range (selector 1, both ends inclusive, on the clock column) or by
    entry (selector 2, 1-based, 0 = to the last).

    Works around Gurux defects in GXDLMSProfileGeneric.__getProfileGenericData: (a) range:
    `tm >= start >= 0` compares a datetime with 0 (TypeError -> hardware-fault); (b) an
    empty selected_values array makes getColumns return [[all capture objects]], so every
    row is encoded as a structure announcing 1 element and holding none; (c) by entry,
    `start + count > len` clamps count to the whole buffer, reading past the end.
    """
    rows = pg.buffer
    if selector == 1:
        start = parse_clock_octets(bytes(params[1]))
        end = parse_clock_octets(bytes(params[2]))
        return [r for r in rows if start <= r[0].value <= end]
    first = max(1, int(params[0]))
    last = int(params[1]) or len(rows)
    return rows[first - 1 : last]


class ResettableRegister(GXDLMSRegister):
    """A register whose reset (method 1) goes back to 0, its default value here.
    Gurux's GXDLMSRegister.invoke sets the value to None, which then reads back as
    null-data rather than a number of the register's type."""

    def invoke(self, settings, e):
        if e.index == 1:
            self.value = 0
            return None
        return super().invoke(settings, e)


class HlsAssociation(GXDLMSAssociationLogicalName):
    """Association LN whose reply_to_HLS_authentication (method 1) works under GMAC.

    Gurux defects in GXDLMSAssociationLogicalName.invoke: `int(e.parameters)` on the
    client's f(StoC) (a bytearray: TypeError, so HLS never completes), and f(CtoS) is
    computed with the invocation counter the method's own ciphered response then uses
    again (a GCM nonce reused). Gurux's GXSecure.secure does the GMAC both ways.
    Also adds getAssociationStatus(), which GXDLMSLNCommandHandler.handleMethodRequest
    calls and the class lacks."""

    def invoke(self, settings, e):
        if e.index != 1 or settings.authentication != Authentication.HIGH_GMAC:
            return super().invoke(settings, e)
        got = bytes(e.parameters or b"")
        if len(got) < 5:
            e.error = 3
            self.associationStatus = AssociationStatus.NON_ASSOCIATED
            return None
        ic = int.from_bytes(got[1:5], "big")
        want = bytes(GXSecure.secure(settings, settings.cipher, ic, settings.stoCChallenge,
                                     settings.sourceSystemTitle))
        if want != got:
            log("HLS: the client's f(StoC) does not verify")
            self.associationStatus = AssociationStatus.NON_ASSOCIATED
            return None
        c = settings.cipher
        ours = bytes(GXSecure.secure(settings, c, c.invocationCounter, settings.getCtoSChallenge(),
                                     c.getSystemTitle()))
        c.invocationCounter += 1
        self.associationStatus = AssociationStatus.ASSOCIATED
        return ours

    def getAssociationStatus(self):
        return self.associationStatus


def build_objects(now: datetime.datetime):
    clock = JstClock("0.0.1.0.0.255")
    clock.timeZone = -540
    clock.deviation = 0
    clock.status = 0
    registers = []
    for ln, base in (("1.0.1.8.0.255", 12_345_678), ("1.0.2.8.0.255", 345_678)):
        r = ResettableRegister(ln)
        r.setDataType(2, DataType.UINT32)
        r.scaler = 1  # Gurux stores the scaler as 10^scaler: 1 means scaler 0
        r.unit = Unit.ACTIVE_ENERGY
        r.value = base
        registers.append(r)
    status = GXDLMSData("0.0.96.10.1.255")
    status.setDataType(2, DataType.UINT8)
    status.value = 0
    terminal = GXDLMSData("0.0.96.1.0.255")
    terminal.setDataType(2, DataType.OCTET_STRING)
    terminal.value = TERMINAL_ID
    pg = RangeProfile("1.0.99.1.0.255")
    pg.capturePeriod = 1800
    pg.profileEntries = ROWS
    for obj in (clock, registers[0], registers[1], status):
        pg.captureObjects.append((obj, GXDLMSCaptureObject(2, 0)))
    pg.sortObject = clock
    pg.sortObjectAttributeIndex = 2
    # 48 slots ending at the last closed 30-minute boundary, growing like a household's.
    local = now.astimezone(JST)
    last = local.replace(minute=(local.minute // 30) * 30, second=0, microsecond=0)
    first = last - (ROWS - 1) * SLOT
    ac_in, ac_out = registers[0].value - 150 * ROWS, registers[1].value - 20 * ROWS
    for i in range(ROWS):
        ac_in += 150 + (i * i) % 97
        ac_out += 20 + i % 7
        pg.buffer.append([GXDateTime(first + i * SLOT), ac_in, ac_out, 0])
    registers[0].value, registers[1].value = ac_in, ac_out
    pg.entriesInUse = ROWS
    assoc = HlsAssociation("0.0.40.0.0.255")
    objects = [clock, registers[0], registers[1], status, terminal, pg, assoc]
    fill_object_list(assoc, objects)
    return objects


def fill_object_list(assoc: GXDLMSAssociationLogicalName, objects: List[Any]) -> None:
    """Gurux defect: GXDLMSServer.initialize() does `objectList.append(self.items)` (the
    whole collection as one element), which GXDLMSObjectCollection refuses (TypeError):
    an empty object_list makes initialize() crash. Fill it ourselves beforehand."""
    for obj in objects:
        assoc.objectList.append(obj)


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


def install_cipher(settings, args: argparse.Namespace) -> None:
    """Suite 0 with the Green Book test keys and our server system title.

    Gurux defect: GXDLMSSecureServer.__init__ stores its GXCiphering in
    `settings.ciphering`, while everything else reads `settings.cipher` (left None): a
    "secure" server never ciphers. We use GXDLMSServer and set `settings.cipher`."""
    c = GXCiphering(SERVER_TITLE)
    c.blockCipherKey = EK
    c.authenticationKey = AK
    c.security = SECURITY[args.security]
    keep_cipher_state(c)
    settings.cipher = c


def keep_cipher_state(c: GXCiphering) -> None:
    """Gurux defect: GXDLMSServer.reset() (run at every AARQ over the wrapper and after
    every RLRQ) calls cipher.reset(), which sets security to NONE and the invocation
    counter back to 0: the next association answers in plaintext, and a counter restarting
    at 0 under the same key reuses GCM nonces. Keep both."""
    c.reset = lambda: None


# Ciphered request APDU tags Gurux's server cannot decipher itself (see decipher_request).
CIPHERED_REQUESTS = {0xC8, 0xC9, 0xCB, 0xD0, 0xD1, 0xD3, 0xDB}


def decipher_request(server: "Server", apdu: bytes) -> bytes:
    """Gurux defect: GXDLMS.handleGloDedRequest builds its AesGcmParameter with the
    arguments shifted (system title as the tag, key as the title...), so no glo- request
    (0xC8 GET, 0xC9 SET, 0xCB ACTION) is ever deciphered, and general-glo-ciphering (0xDB)
    requests go down the *response* path. Decipher here, with Gurux's own
    GXDLMSChippering.decryptAesGcm and the client's system title learnt from the AARQ,
    and hand Gurux's server the plaintext APDU. Its answer is ciphered by Gurux itself
    (glo- or general-glo- as negotiated)."""
    st = server.settings
    p = AesGcmParameter(0, st.sourceSystemTitle, st.cipher.blockCipherKey, st.cipher.authenticationKey)
    p.settings = st
    p.xml = None
    plain = GXDLMSChippering.decryptAesGcm(st, p, GXByteBuffer(apdu))
    if p.invocationCounter <= server.last_client_ic:
        raise ValueError(f"replayed invocation counter {p.invocationCounter}")
    server.last_client_ic = p.invocationCounter
    return bytes(plain)


def security_control(apdu: bytes) -> int:
    """The security control byte of a glo- or general-glo-ciphered APDU (0x10
    authenticated, 0x20 encrypted, 0x30 both, suite 0), for the log."""
    i = 2 + apdu[1] if apdu[0] == 0xDB else 1  # general-glo: past the system title
    n = apdu[i]
    i += 1 + (n & 0x7F if n & 0x80 else 0)
    return apdu[i]


def generate_aare(settings, data, result, diagnostic, cipher, errorData, encryptedData):
    """Gurux defect: _GXAPDU.generateAARE crashes for HLS and ciphered associations: it
    writes the responding-AP-title's outer length as 8 instead of 10 (A4 08 04 ..., where
    A4 0A 04 08 is right) and then calls `data.setUInt8()` with no argument where the
    inner length belongs (TypeError -> no AARE; Gurux then fails to build its error reply
    too, "Invalid GLO command"). It also reuses the invocation counter of
    the ciphered initiate-response for the next APDU (a GCM nonce reused). This
    replacement writes a well-formed AARE (Green Book 9.4.2, same fields as Gurux's) and
    advances the counter after the glo-initiate-response. Gurux's own pieces are used for
    the context name and the user information."""
    body = GXByteBuffer()
    _GXAPDU.generateApplicationContextName(settings, body, cipher)
    body.set(bytes([0xA2, 0x03, 0x02, 0x01, int(result)]))
    body.set(bytes([0xA3, 0x05, 0xA1, 0x03, 0x02, 0x01, int(diagnostic)]))
    hls = settings.authentication > Authentication.LOW
    if cipher is not None and (hls or cipher.isCiphered()):
        title = bytes(cipher.systemTitle)
        body.set(bytes([0xA4, len(title) + 2, 0x04, len(title)]) + title)
    if hls:
        body.set(bytes([0x88, 0x02, 0x07, 0x80, 0x89, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x02,
                        int(settings.authentication)]))
        ch = bytes(settings.stoCChallenge)
        body.set(bytes([0xAA, len(ch) + 2, 0x80, len(ch)]) + ch)
    if errorData:
        info = bytes(errorData.array() if isinstance(errorData, GXByteBuffer) else errorData)
    else:
        info = bytes(_GXAPDU.getUserInformation(settings, cipher))
        if cipher is not None and cipher.isCiphered():
            cipher.invocationCounter += 1
    body.set(bytes([0xBE, len(info) + 2, 0x04, len(info)]) + info)
    raw = bytes(body.array())
    data.set(bytes([0x61, len(raw)]) + raw)


class Server(GXDLMSServer):
    def __init__(self, args: argparse.Namespace):
        super().__init__(True, InterfaceType.WRAPPER)
        self.args = args
        self.auth = {"none": Authentication.NONE, "low": Authentication.LOW,
                     "hls-gmac": Authentication.HIGH_GMAC}[args.auth]
        # Gurux defect: GXDLMSServer.maxReceivePDUSize's setter assigns to itself
        # (infinite recursion); set the settings field it should have set.
        self.settings.maxServerPDUSize = args.max_pdu
        if args.auth == "hls-gmac" or args.security != "none":
            install_cipher(self.settings, args)
        for obj in build_objects(datetime.datetime.now(JST)):
            self.items.append(obj)
        self.initialize()
        self.transaction = None
        self.last_client_ic = -1

    # -- hooks Gurux calls ------------------------------------------------------------
    def isTarget(self, serverAddress, clientAddress):
        return serverAddress == SERVER_WPORT and clientAddress in (PUBLIC, MANAGEMENT)

    def onValidateAuthentication(self, authentication, password):
        client = self.settings.clientAddress
        expected = Authentication.NONE if client == PUBLIC else self.auth
        if authentication != expected:
            log(f"client {client}: authentication {authentication} refused (want {expected})")
            return SourceDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
        if authentication == Authentication.LOW:
            if bytes(password or b"") != self.args.password.encode():
                log(f"client {client}: wrong LLS password")
                return SourceDiagnostic.AUTHENTICATION_FAILURE
        return SourceDiagnostic.NONE

    def onGetAttributeAccess(self, arg):
        if self.settings.clientAddress == PUBLIC and arg.target.logicalName in MANAGEMENT_ONLY:
            return AccessMode.NO_ACCESS
        if self.settings.clientAddress == MANAGEMENT and (arg.target.logicalName, arg.index) in WRITABLE:
            return AccessMode.READ_WRITE
        return AccessMode.READ

    def onGetMethodAccess(self, arg):
        if self.settings.clientAddress == PUBLIC:
            return MethodAccessMode.NO_ACCESS
        return MethodAccessMode.ACCESS

    def onFindObject(self, objectType, sn, ln):
        return None

    def onPreGet(self, args):
        pass

    def onPostGet(self, args):
        pass

    def onPreRead(self, args):
        pass

    def onPostRead(self, args=None):
        pass

    def onPreWrite(self, args):
        pass  # onGetAttributeAccess already refused what is not writable

    def onPostWrite(self, args):
        pass

    def onPreAction(self, args):
        pass

    def onPostAction(self, args):
        pass

    def onConnected(self, connectionInfo):
        log(f"associated: client wPort {self.settings.clientAddress}")

    def onInvalidConnection(self, connectionInfo):
        log(f"association refused: client wPort {self.settings.clientAddress}")

    def onDisconnected(self, connectionInfo):
        log("released")

    def handleAarqRequest(self, data, connectionInfo):
        super().handleAarqRequest(data, connectionInfo)
        if self.settings.authentication == Authentication.LOW and not self.args.gurux_lls_aare:
            name_lls_mechanism(self.replyData)

    def handleReleaseRequest(self, data):
        """Gurux defect: GXDLMSServer.handleReleaseRequest writes the RLRE with wrong BER
        lengths (the outer length counts only the user information, so the frame is
        truncated for any decoder). Answer a well-formed RLRE, reason normal (0), without
        user information (optional in the RLRE; no ciphered initiate-response, so no
        invocation counter is spent on it)."""
        self.replyData.set(bytes([0x63, 0x03, 0x80, 0x01, 0x00]))

    # -- methods GXDLMSLNCommandHandler calls that GXDLMSServer 1.0.203 lacks ------------
    def notifyRead(self):
        """Gurux defect: getRequestNormal calls server.notifyRead(), which GXDLMSServer
        does not define (AttributeError -> every GET answered hardware-fault)."""

    def notifyConnected(self, connectionInfo):
        """Gurux defect: handleMethodRequest calls server.notifyConnected() after a
        successful reply_to_HLS_authentication; GXDLMSServer lacks it."""
        self.onConnected(connectionInfo)

    def getTransaction(self):
        """Gurux defect: the command handlers call server.getTransaction() /
        setTransaction(), which GXDLMSServer does not define (block transfer breaks)."""
        return self.transaction

    def setTransaction(self, value):
        self.transaction = value


def patch_method_request_helpers() -> None:
    """Gurux defects met by GXDLMSLNCommandHandler.handleMethodRequest: it calls
    `server.onPreAction(list(e))` on one ValueEventArgs (not iterable: TypeError, every
    ACTION answered hardware-fault) and `settings.setConnected(...)`, which
    GXDLMSSettings lacks. Make a ValueEventArgs iterate as a one-element list and add the
    setter."""
    if not hasattr(ValueEventArgs, "__iter__"):
        ValueEventArgs.__iter__ = lambda self: iter([self])
    if not hasattr(GXDLMSSettings, "setConnected"):
        GXDLMSSettings.setConnected = lambda self, value: setattr(self, "connected", value)


def get_request_with_list(cls, settings, invokeID, server, data, replyData, xml):
    """Gurux defects in GXDLMSLNCommandHandler.getRequestWithList: (a) a refused item is
    written as its error code followed by the value anyway (get-data-result is a choice:
    0 and the value, or 1 and the Data-Access-Result), so any refusal makes the whole
    response malformed; (b) a response too long for one PDU keeps the with-list type (3)
    and no raw-data choice byte, where GET-Response-With-Datablock (2) is due, and the
    rest is never kept for GET-Request-Next (no transaction), so list responses cannot be
    blocked. This replacement reads each item with Gurux's own objects and access hooks,
    writes each result as the choice it is, and blocks like getRequestNormal does.
    The translator path (xml) stays Gurux's."""
    if xml:
        return ORIGINAL_GET_WITH_LIST(settings, invokeID, server, data, replyData, xml)
    count = _GXCommon.getObjectCount(data)
    items = []
    for _ in range(count):
        ci = data.getUInt16()
        ln = bytearray(6)
        data.get(ln)
        index = data.getUInt8()
        selector, parameters = 0, None
        if data.getUInt8() != 0:
            selector = data.getUInt8()
            parameters = _GXCommon.getData(settings, data, _GXDataInfo())
        name = _GXCommon.toLogicalName(ln)
        obj = settings.objects.findByLN(ObjectType(ci), name) or server.onFindObject(ObjectType(ci), 0, name)
        e = ValueEventArgs(server, obj, index, selector, parameters)
        e.invokeId = invokeID
        if obj is None:
            e.error = ErrorCode.UNDEFINED_OBJECT
        elif server.onGetAttributeAccess(e) == AccessMode.NO_ACCESS:
            e.error = ErrorCode.READ_WRITE_DENIED
        items.append(e)
    server.onPreRead(items)
    bb = GXByteBuffer()
    _GXCommon.setObjectCount(count, bb)
    for e in items:
        if e.error == ErrorCode.OK:
            try:
                value = e.value if e.handled else e.target.getValue(settings, e)
                if e.error == ErrorCode.OK:
                    one = GXByteBuffer()
                    if e.byteArray:
                        one.set(value)
                    else:
                        GXDLMS.appendData(settings, e.target, e.index, one, value)
                    bb.setUInt8(0)
                    bb.set(one)
                    continue
            except Exception:  # noqa: BLE001 - as Gurux: the item fails, not the list
                e.error = ErrorCode.HARDWARE_FAULT
        bb.setUInt8(1)
        bb.setUInt8(e.error)
    server.onPostRead(items)
    # Every value is in bb now. Gurux's profile reads count rows in settings.index/count;
    # left unequal, its GET-Request-Next handler would read the items again into the
    # next block (and append a second APDU to it).
    settings.setIndex(0)
    settings.setCount(0)
    ciphered = settings.cipher is not None and settings.cipher.security != Security.NONE
    # Gurux's own test (GXDLMS.multipleBlocks): tag, type, invoke id, cipher header.
    blocked = 3 + len(bb) + (22 if ciphered else 0) > settings.maxPduSize
    if blocked:
        # Type 1 with status 0 becomes GET-Response-With-Datablock with the raw-data
        # choice in GXDLMS.getLNPdu, as for a long GET-Response-Normal.
        p = GXDLMSLNParameters(settings, invokeID, Command.GET_RESPONSE, 1, None, bb, ErrorCode.OK)
        p.multipleBlocks = True
    else:
        p = GXDLMSLNParameters(settings, invokeID, Command.GET_RESPONSE, 3, None, bb, 0xFF)
    GXDLMS.getLNPdu(p, replyData)
    if len(bb) != bb.position:
        server.setTransaction(GXDLMSLongTransaction(items, Command.GET_REQUEST, bb))


def handle_set_request(cls, settings, server, data, replyData, xml):
    """Gurux defect: GXDLMSLNCommandHandler.hanleSetRequestWithList parses the
    attributes and values of a SET-Request-With-List and then writes nothing, and
    handleSetRequest answers it with a Set-Response of the request's type (4) and no
    results. This answers a SET-Request-With-List itself: each attribute checked with
    Gurux's access hook, written with the object's own setValue, one Data-Access-Result
    each in a Set-Response-With-List (5). Other SET requests stay Gurux's."""
    pos = data.position
    if xml or len(data) - pos < 1 or data.getUInt8() != SetRequestType.WITH_LIST:
        data.position = pos
        return ORIGINAL_HANDLE_SET(settings, server, data, replyData, xml)
    invoke = data.getUInt8()
    settings.updateInvokeId(invoke)
    items = []
    for _ in range(_GXCommon.getObjectCount(data)):
        ci = data.getUInt16()
        ln = bytearray(6)
        data.get(ln)
        index = data.getUInt8()
        if data.getUInt8() != 0:
            data.getUInt8()
            _GXCommon.getData(settings, data, _GXDataInfo())
        name = _GXCommon.toLogicalName(ln)
        obj = settings.objects.findByLN(ObjectType(ci), name) or server.onFindObject(ObjectType(ci), 0, name)
        e = ValueEventArgs(server, obj, index, 0, None)
        e.invokeId = invoke
        if obj is None:
            e.error = ErrorCode.UNDEFINED_OBJECT
        elif server.onGetAttributeAccess(e) not in (AccessMode.WRITE, AccessMode.READ_WRITE):
            e.error = ErrorCode.READ_WRITE_DENIED
        items.append(e)
    values = [_GXCommon.getData(settings, data, _GXDataInfo()) for _ in range(_GXCommon.getObjectCount(data))]
    results = GXByteBuffer()
    _GXCommon.setObjectCount(len(items), results)
    for e, value in zip(items, values):
        if e.error == ErrorCode.OK:
            try:
                e.value = value
                server.onPreWrite([e])
                if e.error == ErrorCode.OK and not e.handled:
                    e.target.setValue(settings, e)
                server.onPostWrite([e])
            except Exception:  # noqa: BLE001 - as Gurux: this item fails
                e.error = ErrorCode.HARDWARE_FAULT
        results.setUInt8(e.error)
    p = GXDLMSLNParameters(settings, invoke, Command.SET_RESPONSE, 5, None, results, 0xFF)
    GXDLMS.getLNPdu(p, replyData)
    return None


def handle_method_request(cls, settings, server, data, connectionInfo, replyData, xml):
    """Gurux defect: GXDLMSLNCommandHandler.handleMethodRequest reads every
    ACTION-Request as a normal one whatever its type, so an ACTION-Request-With-List
    (type 3) is taken apart as one method descriptor and answered with a malformed
    Action-Response. This answers it: each method checked with Gurux's access hook and
    run by the object's own invoke, one result each (return parameters when the method
    gave some) in an Action-Response-With-List (3). Other ACTION requests stay
    Gurux's."""
    pos = data.position
    if xml or len(data) - pos < 1 or data.getUInt8() != 3:
        data.position = pos
        return ORIGINAL_HANDLE_METHOD(settings, server, data, connectionInfo, replyData, xml)
    invoke = data.getUInt8()
    settings.updateInvokeId(invoke)
    methods = []
    for _ in range(_GXCommon.getObjectCount(data)):
        ci = data.getUInt16()
        ln = bytearray(6)
        data.get(ln)
        methods.append((ci, _GXCommon.toLogicalName(ln), data.getUInt8()))
    parameters = [_GXCommon.getData(settings, data, _GXDataInfo()) for _ in range(_GXCommon.getObjectCount(data))]
    results = GXByteBuffer()
    _GXCommon.setObjectCount(len(methods), results)
    for (ci, name, index), parameter in zip(methods, parameters):
        obj = settings.objects.findByLN(ObjectType(ci), name) or server.onFindObject(ObjectType(ci), 0, name)
        e = ValueEventArgs(server, obj, index, 0, parameter)
        e.invokeId = invoke
        reply = None
        if obj is None:
            e.error = ErrorCode.UNDEFINED_OBJECT
        elif server.onGetMethodAccess(e) == MethodAccessMode.NO_ACCESS:
            e.error = ErrorCode.READ_WRITE_DENIED
        else:
            try:
                server.onPreAction([e])
                reply = e.value if e.handled else obj.invoke(settings, e)
                server.onPostAction([e])
            except Exception:  # noqa: BLE001 - as Gurux: this method fails
                e.error = ErrorCode.HARDWARE_FAULT
        results.setUInt8(e.error)
        if reply is not None and e.error == ErrorCode.OK:
            results.set(bytes([1, 0]))  # return parameters present, as data
            _GXCommon.setData(settings, results, _GXCommon.getDLMSDataType(reply), reply)
        else:
            results.setUInt8(0)
    p = GXDLMSLNParameters(settings, invoke, Command.METHOD_RESPONSE, 3, None, results, 0xFF)
    GXDLMS.getLNPdu(p, replyData)
    return None


ORIGINAL_GET_WITH_LIST = GXDLMSLNCommandHandler.getRequestWithList
ORIGINAL_HANDLE_SET = GXDLMSLNCommandHandler.handleSetRequest
ORIGINAL_HANDLE_METHOD = GXDLMSLNCommandHandler.handleMethodRequest


def patch_lists(keep_gurux_get_with_list: bool) -> None:
    """Install get_request_with_list, handle_set_request and handle_method_request.
    `--gurux-get-with-list` keeps Gurux's own getRequestWithList (both defects named in
    get_request_with_list), to test a client against a server that answers a list
    request as Gurux does, as real meters with such defects do.

    Also a Gurux defect met by any response of three blocks or more:
    getRequestNextDataBlock keeps the rest with `transaction.setData(bb)`, which
    GXDLMSLongTransaction lacks (AttributeError, and Gurux appends a hardware-fault
    GET-Response to the block it already wrote). Add it, doing what its constructor does."""
    if not keep_gurux_get_with_list:
        GXDLMSLNCommandHandler.getRequestWithList = classmethod(get_request_with_list)
    GXDLMSLNCommandHandler.handleSetRequest = classmethod(handle_set_request)
    GXDLMSLNCommandHandler.handleMethodRequest = classmethod(handle_method_request)
    if not hasattr(GXDLMSLongTransaction, "setData"):

        def set_data(self, data):
            self.data = GXByteBuffer()
            self.data.set(data)

        GXDLMSLongTransaction.setData = set_data


def patch_set_request_helpers() -> None:
    """Gurux defect met by every SET-Request-Normal: handleSetRequestNormal calls
    `p.isMultipleBlocks()` and `p.setStatus(...)`, which GXDLMSLNParameters lacks
    (AttributeError, so Gurux's server answers every SET hardware-fault, and with the
    invoke id of the request before). Add both, reading and writing the fields they
    name."""
    if not hasattr(GXDLMSLNParameters, "isMultipleBlocks"):
        GXDLMSLNParameters.isMultipleBlocks = lambda self: self.multipleBlocks
    if not hasattr(GXDLMSLNParameters, "setStatus"):
        GXDLMSLNParameters.setStatus = lambda self, value: setattr(self, "status", value)


def patch_settings_typo(server: Server) -> None:
    """Gurux defect: getRequestNextDataBlock reads `settings.gbtWndowSize` (a typo of
    gbtWindowSize), so every GET-Request-Next (block transfer) raises AttributeError."""
    cls = type(server.settings)
    if not hasattr(cls, "gbtWndowSize"):
        cls.gbtWndowSize = property(lambda s: s.gbtWindowSize)


# ---------------------------------------------------------------------------------------
# UDP loop
# ---------------------------------------------------------------------------------------


def name_lls_mechanism(reply: GXByteBuffer) -> None:
    """Interop finding, not strictly a Gurux defect: for LLS Gurux's generateAARE omits
    responder-acse-requirements (88 02 07 80) and mechanism-name (89 07 60 85 74 05 08 02
    01), writing them only for HLS (`authentication > LOW`). Our client (dlms-cosem-rs
    0.1.0, client/session.rs) refuses an accepted AARE that names no mechanism when it
    proposed one ("RejectedPermanent, User(AuthenticationRequired)"). Insert both fields
    before the user information, as the HLS AARE of Gurux has them.
    `--gurux-lls-aare` keeps Gurux's own AARE to reproduce the refusal."""
    raw = bytes(reply.array())
    if len(raw) < 2 or raw[0] != 0x61 or raw[1] >= 0x80:
        return
    body, pos = bytearray(raw[2:]), 0
    while pos + 1 < len(body):
        tag, length = body[pos], body[pos + 1]
        if tag == 0xBE:
            break
        if tag in (0x88, 0x89):
            return  # already there
        pos += 2 + length
    extra = bytes.fromhex("880207808907608574050802" + "01")
    body[pos:pos] = extra
    reply.clear()
    reply.set(bytes([0x61, len(body)]) + bytes(body))


# Plain xDLMS requests: GET, SET, ACTION.
PLAIN_REQUESTS = {0xC0, 0xC1, 0xC3}


def plain_request_refused(server: "Server", data: bytes) -> bool:
    """Gurux has no notion of required protection: under a ciphered association it
    serves plaintext GET/SET/ACTION requests (and ciphers the answer). With
    `--security auth-enc`, a plain service request from the management client (wPort 1)
    is dropped unanswered and logged, as our `dlms serve` refuses it; the public client
    (wPort 16) stays plain."""
    if server.args.security == "none" or len(data) < 9:
        return False
    client = int.from_bytes(data[2:4], "big")
    if client == MANAGEMENT and data[8] in PLAIN_REQUESTS:
        log(f"plain request {data[8]:02X} from client wPort {client} refused: --security {server.args.security}")
        return True
    return False


def new_association(server: "Server") -> None:
    """Gurux defect: the server remembers the first client's wPorts (settings
    clientAddress/serverAddress) until an RLRQ resets them, and drops frames from any other
    wPort as unacceptable (answering a 1-byte `7E`). After a refused AARQ, or a client that
    never releases, it is deaf to every other client. Over UDP there is no connection to
    close: start afresh at every AARQ."""
    server.reset()
    server.last_client_ic = -1


class ServerReply(GXServerReply):
    """Gurux defect: GXDLMSServer.handleRequest calls sr.setReply(),
    sr.getConnectionInfo(), sr.setCount() and sr.getCount(), none of which GXServerReply
    1.0.203 defines (every request ends in AttributeError, no answer)."""

    def setReply(self, value):
        self.reply = value

    def getConnectionInfo(self):
        return self.connectionInfo

    def setCount(self, value):
        self.count = value

    def getCount(self):
        return self.count


class Stop(BaseException):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=4059)
    ap.add_argument("--auth", choices=["none", "low", "hls-gmac"], default="none")
    ap.add_argument("--security", choices=list(SECURITY), default="none")
    ap.add_argument("--password", default="12345678")
    ap.add_argument("--max-pdu", type=int, default=1024)
    ap.add_argument("--gurux-lls-aare", action="store_true",
                    help="answer LLS with Gurux's own AARE (no mechanism-name): see name_lls_mechanism")
    ap.add_argument("--gurux-get-with-list", action="store_true",
                    help="answer GET-Request-With-List with Gurux's own handler: see get_request_with_list")
    args = ap.parse_args()

    server = Server(args)
    patch_settings_typo(server)
    patch_method_request_helpers()
    patch_lists(args.gurux_get_with_list)
    patch_set_request_helpers()
    _GXAPDU.generateAARE = generate_aare

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY", flush=True)
    # Gurux prints "Encryption is applied." and the like on stdout for every ciphered
    # APDU: after READY, stdout is the test's, so send all of it to stderr.
    sys.stdout = sys.stderr
    log(f"listening on {args.bind}:{args.port} auth={args.auth} security={args.security} max-pdu={args.max_pdu}")
    try:
        while True:
            data, peer = sock.recvfrom(65536)
            for reply in handle(server, data):
                sock.sendto(reply, peer)
    except Stop:
        pass
    finally:
        sock.close()
    return 0


def handle(server: Server, data: bytes) -> List[bytes]:
    """One wrapper frame in, the reply frames out. Gurux's prints go to stderr."""
    if plain_request_refused(server, data):
        return []
    if len(data) > 8 and data[8] == 0x60:
        new_association(server)
    elif len(data) > 8 and data[8] in CIPHERED_REQUESTS and server.settings.cipher is not None:
        try:
            apdu = decipher_request(server, data[8:])
        except Exception as ex:  # noqa: BLE001 - refused like a meter would: no answer
            log(f"deciphering refused: {type(ex).__name__}: {ex}")
            return []
        log(f"deciphered {data[8]:02X} -> {apdu[:2].hex().upper()} (security control {security_control(data[8:]):02X})")
        data = data[:6] + len(apdu).to_bytes(2, "big") + apdu
    sr = ServerReply(GXByteBuffer(data))
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            server.handleRequest(sr)
    except Stop:
        raise
    except Exception:  # noqa: BLE001 - keep serving; the test sees the timeout
        log("handleRequest raised:\n" + traceback.format_exc())
        return []
    finally:
        if chatter.getvalue():
            sys.stderr.write(chatter.getvalue())
    reply = sr.reply
    if not reply:
        log(f"no answer to {data.hex().upper()}")
        return []
    reply = bytes(reply)
    # One line per exchange: the first two bytes of each APDU (service and its kind:
    # C4 02 is a GET-Response-With-Datablock) and the answer's size, for the tests.
    log(f"exchange {data[8:10].hex().upper()} -> {reply[8:10].hex().upper()} {len(reply) - 8} bytes")
    if os.environ.get("GURUX_SERVER_TRACE"):
        log(f"trace {data.hex().upper()} -> {reply.hex().upper()}")
    return [reply]


if __name__ == "__main__":
    sys.exit(main())
