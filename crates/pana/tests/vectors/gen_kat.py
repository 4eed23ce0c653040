#!/usr/bin/env python3
"""Known-answer vectors of crates/pana/tests/kat.rs, computed independently of our Rust
code: AES and AES-CMAC from `cryptography` (hazmat), HMAC and SHA from the standard
library, AES-EAX written here from its definition (Bellare-Rogaway-Wagner: OMAC^t over
CTR) and first checked against the EAX paper's published vector.

Run with the interop venv: target/interop-venv/bin/python crates/pana/tests/vectors/gen_kat.py
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def aes(key, block):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def omac(key, data):
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def ctr(key, iv, data):
    e = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return e.update(data) + e.finalize()


def eax_encrypt(key, nonce, header, msg):
    n = omac(key, bytes(15) + b"\x00" + nonce)
    h = omac(key, bytes(15) + b"\x01" + header)
    c = ctr(key, n, msg)
    t = omac(key, bytes(15) + b"\x02" + c)
    tag = bytes(a ^ b ^ d for a, b, d in zip(n, h, t))
    return c, tag


# The EAX paper's first vector (empty message).
_, tag = eax_encrypt(bytes.fromhex("233952DEE4D5ED5F9B9C6D6FF80FF478"),
                     bytes.fromhex("62EC67F9C3A4A407FCB2A8C49031A8B3"),
                     bytes.fromhex("6BFB914FD07EAE6B"), b"")
assert tag.hex().upper() == "E037830E8389F27B025A2D6527E79D01", tag.hex()


def xor_last(b, c):
    return b[:15] + bytes([b[15] ^ c])


def out(name, value):
    print(f"{name} = {value.hex()}")


# EAP-PSK (RFC 4764 §3).
psk = bytes(range(16))
b = aes(psk, bytes(16))
ak = aes(psk, xor_last(b, 1))
kdk = aes(psk, xor_last(b, 2))
out("ak", ak)
out("kdk", kdk)
rand_p = bytes(range(0x10, 0x20))
rand_s = bytes(range(0x20, 0x30))
h = aes(kdk, rand_p)
tek = aes(kdk, xor_last(h, 1))
msk = b"".join(aes(kdk, xor_last(h, i)) for i in range(2, 6))
emsk = b"".join(aes(kdk, xor_last(h, i)) for i in range(6, 10))
out("tek", tek)
out("msk", msk)
out("emsk", emsk)
id_p = b"0211223344550001"
id_s = b"0211223344550002"
mac_p = omac(ak, id_p + id_s + rand_s + rand_p)
mac_s = omac(ak, id_s + rand_p)
out("mac_p", mac_p)
out("mac_s", mac_s)

# Message 3 (Identifier 3, nonce 0, R = DONE_SUCCESS) and message 4 (nonce 1).
def psk_pchannel(code, ident, t, body_before, nonce, plain):
    length = 4 + 1 + 1 + 16 + len(body_before) + 4 + 16 + len(plain)
    head = struct.pack(">BBHB", code, ident, length, 47) + bytes([t << 6]) + rand_s
    c, tag = eax_encrypt(tek, bytes(12) + struct.pack(">I", nonce), head, plain)
    return head + body_before + struct.pack(">I", nonce) + tag + c

out("psk3", psk_pchannel(1, 3, 2, mac_s, 0, bytes([0x80])))
out("psk4", psk_pchannel(2, 3, 3, b"", 1, bytes([0x80])))

# prf+ (RFC 4306 §2.13), 80 bytes: several blocks of both PRFs.
def prf_plus(hash_, key, seed, n):
    t, res, i = b"", b"", 1
    while len(res) < n:
        t = hmac.new(key, t + seed + bytes([i]), hash_).digest()
        res += t
        i += 1
    return res[:n]

out("prf_plus_sha256", prf_plus(hashlib.sha256, b"key", b"seed", 80))
out("prf_plus_sha1", prf_plus(hashlib.sha1, b"key", b"seed", 80))

# PANA keys (RFC 5191 §5.3, RFC 6786 §3) with the MSK above.
# I_PAR / I_PAN: any bytes serve a known-answer test; these are bare PAR[S] / PAN[S] headers.
i_par = bytes.fromhex("0000001cc00000021234567800000001")
i_pan = bytes.fromhex("00000010400000021234567800000001")
pac_nonce = bytes([0xA1]) * 16
paa_nonce = bytes([0xB2]) * 16
key_id = struct.pack(">I", 1)
seed = i_par + i_pan + pac_nonce + paa_nonce + key_id
auth_key = prf_plus(hashlib.sha256, msk, b"IETF PANA" + seed, 32)
encr_key = prf_plus(hashlib.sha256, msk, b"IETF PANA PAA Encr" + seed, 16)
out("i_par", i_par)
out("auth_key", auth_key)
out("paa_encr_key", encr_key)

# A PAN[C] with Key-Id 1 and AUTH (zeroed for the HMAC), session 0x12345678, seq 5.
def avp(code, value, flags=0, vendor=None):
    v = b"" if vendor is None else struct.pack(">I", vendor)
    return struct.pack(">HHHH", code, flags, len(value), 0) + v + value + bytes((-len(value)) % 4)

avps = avp(4, key_id) + avp(1, bytes(16))
msg = struct.pack(">HHHHII", 0, 16 + len(avps), 0x2000, 2, 0x12345678, 5) + avps
tag = hmac.new(auth_key, msg, hashlib.sha256).digest()[:16]
out("pan_complete", msg[:-16] + tag)

# Encryption-Encap: our group-key vendor AVP (index 2, active, lifetime 86400, key 5A..),
# AES-128-CTR, counter block (SP 800-38C A.3, n = 12, q = 3)
# 0x02 ‖ Key-Id ‖ Session-Id ‖ Seq (7) ‖ i = 000001.
gk = avp(1, bytes([2, 1, 0, 0]) + struct.pack(">I", 86400) + bytes([0x5A]) * 16, 0x8000, 32473)
iv = b"\x02" + key_id + struct.pack(">II", 0x12345678, 7) + bytes([0, 0, 1])
out("group_key_avp", gk)
out("encap", ctr(encr_key, iv, gk))

# Our PSK derivation: SHA-256(label ‖ len(ID) u16 BE ‖ ID ‖ password)[0..16].
d = hashlib.sha256(b"iotroute EAP-PSK v1" + struct.pack(">H", len(id_p)) + id_p + b"0123456789AB").digest()[:16]
out("salted_psk", d)
