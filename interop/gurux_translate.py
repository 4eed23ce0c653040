#!/usr/bin/env python3
"""Translate DLMS APDUs (or wrapper frames) to XML with Gurux-Python's GXDLMSTranslator.

Gurux-Python (PyPI gurux-dlms==1.0.203, GPL-2.0) only ever runs as this separate process;
nothing of it is linked into or vendored by iotroute.

  gurux_translate.py [KEYS] HEX...          one APDU (hex, may be split, spaces allowed):
                                            Gurux's XML on stdout, exit 0; on a Gurux error
                                            the message on stderr, exit 1
  gurux_translate.py [KEYS] --batch         stdin: JSON {"name": "hex", ...}; stdout: JSON
                                            {"name": {"ok": bool, "xml": str|null,
                                            "error": str|null, "reencoded": hex|null}}; exit 0
                                            when every APDU translated, else 1
KEYS: --ek HEX --ak HEX (suite-0 keys, so ciphered APDUs are opened), --system-title HEX
(the client's title), --server-system-title HEX (the server's title).

"reencoded" is Gurux's own XML fed back to GXDLMSTranslator.xmlToPdu: a stricter check
than exit 0, because the translator is lenient (it accepts `C4 01 C1 00 06` with no value,
../shared/spec/dlms.md). It is null where Gurux cannot re-encode its own XML.
A wrapper frame (starting 00 01) is translated with messageToXml, a bare APDU with pduToXml.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from typing import Dict, Optional

try:
    from gurux_dlms import GXByteBuffer, GXDLMSTranslator
    from gurux_dlms.enums import Security
    from gurux_dlms.enums.TranslatorOutputType import TranslatorOutputType
except ImportError as e:  # pragma: no cover - depends on the venv
    raise SystemExit(f"gurux_translate.py: cannot import gurux_dlms ({e}); use target/interop-venv/bin/python")


def translator(args: argparse.Namespace) -> GXDLMSTranslator:
    t = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    t.comments = True
    if args.ek and args.ak:
        t.blockCipherKey = bytearray.fromhex(args.ek)
        t.authenticationKey = bytearray.fromhex(args.ak)
        t.security = Security.AUTHENTICATION_ENCRYPTION
    if args.system_title:
        t.systemTitle = bytearray.fromhex(args.system_title)
    if args.server_system_title:
        t.serverSystemTitle = bytearray.fromhex(args.server_system_title)
    return t


def translate(t: GXDLMSTranslator, data: bytes) -> str:
    # Gurux prints "Encryption is applied." and the like on stdout while deciphering.
    with contextlib.redirect_stdout(io.StringIO()):
        if data[:2] == b"\x00\x01" and len(data) >= 8:
            return t.messageToXml(GXByteBuffer(bytearray(data)))
        return t.pduToXml(GXByteBuffer(bytearray(data)))


def reencode(t: GXDLMSTranslator, xml: str) -> Optional[str]:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            pdu = t.xmlToPdu(xml)
            return bytes(pdu.array() if isinstance(pdu, GXByteBuffer) else pdu).hex().upper()
    except Exception:  # noqa: BLE001 - Gurux raises bare Exceptions
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hex", nargs="*")
    p.add_argument("--batch", action="store_true")
    p.add_argument("--ek")
    p.add_argument("--ak")
    p.add_argument("--system-title")
    p.add_argument("--server-system-title")
    args = p.parse_args()
    if args.batch:
        items: Dict[str, str] = json.load(sys.stdin)
        out = {}
        all_ok = True
        for name, h in items.items():
            t = translator(args)
            try:
                xml = translate(t, bytes.fromhex("".join(h.split())))
                out[name] = {"ok": True, "xml": xml, "error": None, "reencoded": reencode(translator(args), xml)}
            except Exception as e:  # noqa: BLE001
                all_ok = False
                out[name] = {"ok": False, "xml": None, "error": f"{type(e).__name__}: {e}", "reencoded": None}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0 if all_ok else 1
    if not args.hex:
        p.error("give HEX or --batch")
    try:
        data = bytes.fromhex("".join("".join(args.hex).split()))
        sys.stdout.write(translate(translator(args), data))
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(f"gurux_translate.py: {type(e).__name__}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
