#!/usr/bin/env python3
"""pcscf-espctl keys --wireshark for the AEAD pairs: the uat:esp_sa record of an AES-GCM SA
(alg=null, ealg=aes-gcm) must let tshark decrypt and authenticate an RFC 4106 packet made
here with the `cryptography` package's AES-GCM; a wrong key must not. AES-GMAC SAs, which
Wireshark's ESP SA table cannot describe, are left out with a note; HMAC SAs keep theirs.
Exit status 0: all good; 77 (skip) without tshark or cryptography."""
import importlib.machinery
import importlib.util
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr

HERE = os.path.dirname(os.path.abspath(__file__))
ESPCTL = os.path.join(HERE, "..", "..", "scripts", "pcscf-espctl")
UE, PCSCF = "192.0.2.10", "192.0.2.1"
SPI = 0x1234A
KEY_SALT = bytes(range(1, 17)) + bytes([0xCA, 0xFE, 0xBA, 0xBE])  # AES-128 key || salt
SIP = b"MESSAGE sip:pcscf.example SIP/2.0\r\nContent-Length: 0\r\n\r\n"


def espctl():
    loader = importlib.machinery.SourceFileLoader("pcscf_espctl", ESPCTL)
    spec = importlib.util.spec_from_loader("pcscf_espctl", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def checksum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                    bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return h[:10] + struct.pack("!H", checksum(h)) + h[12:] + payload


def esp_gcm(spi, seq, inner, next_header, key_salt, iv=bytes(range(0xA0, 0xA8))):
    """RFC 4106: nonce = salt || IV, AAD = SPI || sequence number, 16-byte ICV."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    pad = (-(len(inner) + 2)) % 4
    plain = inner + bytes(range(1, pad + 1)) + bytes([pad, next_header])
    head = struct.pack("!II", spi, seq)
    sealed = AESGCM(key_salt[:16]).encrypt(key_salt[16:] + iv, plain, head)  # ciphertext || ICV
    return head + iv + sealed


def pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", i + 1, 0, len(p), len(p)) + p)


def tshark(path, records):
    cmd = ["tshark", "-r", path, "-n", "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", "--enable-heuristic", "sip_udp",
           *sum((["-o", "uat:esp_sa:" + r] for r in records), []),
           "-T", "fields", "-E", "separator=\t", "-e", "esp.icv_good", "-e", "sip.Request-Line"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    errs = [line for line in r.stderr.splitlines() if line.strip() and "Running as user" not in line]
    if r.returncode != 0 or errs:
        raise AssertionError(f"tshark exit {r.returncode}: {' | '.join(errs)[:800]}")
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


def main():
    if not shutil.which("tshark"):
        print("skip: no tshark")
        return 77
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("skip: no cryptography")
        return 77
    ctl = espctl()
    keys = [
        {"id": "1", "dir": "in", "spi": str(SPI), "alg": "null", "ealg": "aes-gcm", "ue": UE, "pcscf": PCSCF,
         "key": "", "ekey": KEY_SALT.hex()},
        {"id": "2", "dir": "out", "spi": "5000", "alg": "aes-gmac", "ealg": "null", "ue": UE, "pcscf": PCSCF,
         "key": "", "ekey": KEY_SALT.hex()},
        {"id": "3", "dir": "out", "spi": "6000", "alg": "hmac-sha-1-96", "ealg": "aes-cbc", "ue": UE,
         "pcscf": PCSCF, "key": "11" * 20, "ekey": "22" * 16},
        {"id": "4", "dir": "in", "spi": "7000", "alg": "hmac-sha-256-128", "ealg": "null", "ue": UE,
         "pcscf": PCSCF, "key": "33" * 32, "ekey": ""},
    ]
    err = io.StringIO()
    with redirect_stderr(err):
        recs = ctl.wireshark_records(keys)
    want = [
        f'"IPv4","{UE}","{PCSCF}","0x{SPI:08x}","AES-GCM with 16 octet ICV [RFC4106]","0x{KEY_SALT.hex()}",'
        '"NULL",""',
        f'"IPv4","{PCSCF}","{UE}","0x00001770","AES-CBC [RFC3602]","0x{"22" * 16}","HMAC-SHA-1-96 [RFC2404]",'
        f'"0x{"11" * 20}"',
        f'"IPv4","{UE}","{PCSCF}","0x00001b58","NULL","","HMAC-SHA-256-128 [RFC4868]","0x{"33" * 32}"',
    ]
    assert recs == want, f"records:\n{recs}\nwanted:\n{want}"
    assert "SA 2 left out: Wireshark's ESP SA table has no AES-GMAC" in err.getvalue(), err.getvalue()

    udp = struct.pack("!HHHH", 5062, 5064, 8 + len(SIP), 0) + SIP
    packet = ipv4(UE, PCSCF, 50, esp_gcm(SPI, 1, udp, 17, KEY_SALT))  # transport mode: UDP inside
    work = tempfile.mkdtemp(prefix="espctl-gcm-")
    try:
        path = os.path.join(work, "gcm.pcap")
        pcap(path, [packet])
        frames = tshark(path, recs[:1])
        assert frames == [("1", "MESSAGE sip:pcscf.example SIP/2.0")], f"with the record: {frames}"
        wrong = recs[0].replace(KEY_SALT.hex(), (bytes([KEY_SALT[0] ^ 1]) + KEY_SALT[1:]).hex())
        frames = tshark(path, [wrong])
        assert frames and frames[0][1] == "", f"decoded with a wrong key: {frames}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok: AES-GCM record decrypts with tshark, a wrong key does not; AES-GMAC left out; HMAC kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
