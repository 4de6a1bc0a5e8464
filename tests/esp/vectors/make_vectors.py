#!/usr/bin/python3
"""Writes scapy_esp.txt: transport-mode ESP vectors made by scapy's IPsec module, an
implementation independent of ours, for the ESP engine's interop tests.

Run with Debian's interpreter (python3-scapy):  /usr/bin/python3 make_vectors.py
The output is deterministic (fixed seed), so regenerating it gives the same file unless
scapy changes its behaviour, which is exactly what the diff would then show.

Each vector is a block of `key value` lines ending with `end`:
  name, dir (in: UE -> P-CSCF, verified by our inbound; out: P-CSCF -> UE, made by our
  outbound with sequence number 1), alg (TS 33.203 name), key (IK_ESP, hex), spi, seq,
  ue, pcscf (addresses), ue_port, pcscf_port, plain (the IP packet before ESP, hex),
  esp (the IP packet with ESP, hex).
Vectors with encryption (after all the NULL ones, which they leave as they were) also
have ealg (TS 33.203 name) and ckey (CK_ESP, hex), and are inbound only: an outbound
packet carries a random IV, so ours cannot equal scapy's byte for byte (the engine's
tests check our outbound against OpenSSL instead).
The AEAD vectors come last (TS 33.203 Annex H, Rel-12+): alg=null with ealg=aes-gcm
(RFC 4106, made by scapy's AES-GCM) and alg=aes-gmac with ealg=null (RFC 4543, made by
esp_gmac.py: scapy has no GMAC). They have no key line: ckey is what the SA's cipher key
carries, the AES-128 key then the 4-byte salt, derived by Annex I (annex_i_vectors.py)
from a random CK and IK. Both directions: inbound with a random IV, outbound with the IV
pcscf-espd writes, SPI || sequence number (so ours must equal scapy's byte for byte).
HMAC-SHA-256-128 (RFC 4868) follows, NULL-encrypted both ways and with each CBC ealg
inbound, as the other HMACs.
"""
import random
import sys

from scapy.all import IP, IPv6, TCP, UDP, Raw, IPOption_RR, IPOption_NOP  # noqa: F401
from scapy.layers.inet6 import IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.ipsec import ESP, SecurityAssociation
import scapy

from annex_i_vectors import aead_key
from esp_gmac import gmac_sa

ALGS = {  # TS 33.203 name -> (scapy name, IK_ESP length per Annex I)
    "hmac-md5-96": ("HMAC-MD5-96", 16),
    "hmac-sha-1-96": ("HMAC-SHA1-96", 20),
}
# RFC 4868, which no release of Annex H names: IK_ESP is IK followed by 128 zero bits
# (sa_contract/hmac_key.hpp).
SHA256 = {"hmac-sha-256-128": ("SHA2-256-128", 32)}
SIZES = [0, 1, 2, 3, 100, 458, 1350]  # L4 payload bytes: every pad length, 512 and 1400 B
EALGS = {  # TS 33.203 name -> (scapy name, CK_ESP length per Annex I, IV length)
    "aes-cbc": ("AES-CBC", 16, 16),
    "des-ede3-cbc": ("3DES", 24, 8),
}
CBC_SIZES = [0, 5, 13, 100, 1350]
AEADS = ("aes-gcm", "aes-gmac")  # (alg, ealg) = (null, aes-gcm) and (aes-gmac, null)  # with UDP: AES pads 6, 1, 9, 2, 0 bytes; 3DES 6, 1, 1, 2, 0
UE4, PCSCF4 = "192.0.2.10", "198.51.100.1"
UE6, PCSCF6 = "2001:db8:1::10", "2001:db8:f::1"
UE_PORT, PCSCF_PORT = 38003, 50718  # port_uc -> port_ps, as in seed 004


def write_vectors(out_path, vectors, made_by):
    """The `key value` blocks tests/common/vector_file.hpp reads."""
    with open(out_path, "w") as f:
        f.write(f"# made by {made_by} with scapy {scapy.VERSION}; do not edit\n")
        for v in vectors:
            for k, val in v.items():
                f.write(f"{k} {val}\n")
            f.write("end\n")
    print(f"{len(vectors)} vectors -> {out_path}")


def ip_layer(family, src, dst):
    if family == "v4":
        return IP(src=src, dst=dst, id=0x1234, ttl=64)
    if family == "v4opt":  # IPv4 options: record route (11 bytes) + NOP padding
        return IP(src=src, dst=dst, id=0x1234, ttl=64, options=[IPOption_RR(routers=["0.0.0.0", "0.0.0.0"]), IPOption_NOP()])
    if family == "v6":
        return IPv6(src=src, dst=dst, hlim=64)
    # IPv6 with extension headers before ESP: hop-by-hop then destination options
    return IPv6(src=src, dst=dst, hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()


def l4_layer(proto, sport, dport, rnd):
    if proto == "udp":
        return UDP(sport=sport, dport=dport)
    return TCP(sport=sport, dport=dport, seq=rnd.getrandbits(32), flags="PA", window=65535)


def hmac_vectors(rnd, spi, algs):
    """NULL-encrypted vectors of each alg, both directions; returns them and the last SPI."""
    vectors = []
    for alg, (scapy_alg, klen) in algs.items():
        for family in ("v4", "v4opt", "v6", "v6ext"):
            for proto in ("udp", "tcp"):
                for size in SIZES:
                    for direction in ("in", "out"):
                        v6 = family.startswith("v6")
                        ue, pcscf = (UE6, PCSCF6) if v6 else (UE4, PCSCF4)
                        # Annex I: SHA-1 keys are IK followed by 32 zero bits.
                        ik = bytes(rnd.getrandbits(8) for _ in range(16))
                        key = ik + bytes(klen - 16)
                        spi += 1
                        if direction == "in":
                            src, dst, sport, dport = ue, pcscf, UE_PORT, PCSCF_PORT
                            seq = rnd.choice([1, 2, 63, 64, 65, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
                        else:
                            src, dst, sport, dport = pcscf, ue, PCSCF_PORT, UE_PORT
                            seq = 1
                        payload = bytes(rnd.getrandbits(8) for _ in range(size))
                        plain = ip_layer(family, src, dst) / l4_layer(proto, sport, dport, rnd) / Raw(payload)
                        plain = plain.__class__(bytes(plain))  # freeze checksums and lengths
                        sa = SecurityAssociation(ESP, spi=spi, crypt_algo="NULL", crypt_key=None,
                                                 auth_algo=scapy_alg, auth_key=key)
                        esp = sa.encrypt(plain, seq_num=seq)
                        back = sa.decrypt(esp.__class__(bytes(esp)))
                        assert bytes(back) == bytes(plain), "scapy does not round-trip"
                        vectors.append({
                            "name": f"{direction}-{family}-{proto}-{alg}-{size}",
                            "dir": direction, "alg": alg, "key": key.hex(), "spi": spi,
                            "seq": seq, "ue": ue, "pcscf": pcscf, "ue_port": UE_PORT,
                            "pcscf_port": PCSCF_PORT, "plain": bytes(plain).hex(),
                            "esp": bytes(esp).hex(),
                        })
    return vectors, spi


def cbc_vectors(rnd, spi, algs):
    """Inbound vectors of each CBC ealg with each alg; returns them and the last SPI."""
    vectors = []
    for ealg, (scapy_ealg, cklen, ivlen) in EALGS.items():
        for alg, (scapy_alg, klen) in algs.items():
            for family in ("v4", "v4opt", "v6", "v6ext"):
                for proto in ("udp", "tcp"):
                    for size in CBC_SIZES:
                        v6 = family.startswith("v6")
                        ue, pcscf = (UE6, PCSCF6) if v6 else (UE4, PCSCF4)
                        ik = bytes(rnd.getrandbits(8) for _ in range(16))
                        key = ik + bytes(klen - 16)
                        ckey = bytes(rnd.getrandbits(8) for _ in range(cklen))
                        iv = bytes(rnd.getrandbits(8) for _ in range(ivlen))
                        spi += 1
                        seq = rnd.choice([1, 2, 63, 64, 65, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
                        payload = bytes(rnd.getrandbits(8) for _ in range(size))
                        plain = ip_layer(family, ue, pcscf) / l4_layer(proto, UE_PORT, PCSCF_PORT, rnd) / Raw(payload)
                        plain = plain.__class__(bytes(plain))
                        sa = SecurityAssociation(ESP, spi=spi, crypt_algo=scapy_ealg, crypt_key=ckey,
                                                 auth_algo=scapy_alg, auth_key=key)
                        esp = sa.encrypt(plain, seq_num=seq, iv=iv)
                        back = sa.decrypt(esp.__class__(bytes(esp)))
                        assert bytes(back) == bytes(plain), "scapy does not round-trip"
                        vectors.append({
                            "name": f"in-{family}-{proto}-{alg}-{ealg}-{size}",
                            "dir": "in", "alg": alg, "key": key.hex(), "spi": spi,
                            "seq": seq, "ue": ue, "pcscf": pcscf, "ue_port": UE_PORT,
                            "pcscf_port": PCSCF_PORT, "plain": bytes(plain).hex(),
                            "esp": bytes(esp).hex(), "ealg": ealg, "ckey": ckey.hex(),
                        })
    return vectors, spi


def main(out_path):
    rnd = random.Random(3329)  # RFC 3329, for want of a better seed
    vectors, spi = hmac_vectors(rnd, 0x1000, ALGS)
    more, spi = cbc_vectors(rnd, spi, ALGS)
    vectors += more
    for aead in AEADS:
        alg, ealg = ("null", "aes-gcm") if aead == "aes-gcm" else ("aes-gmac", "null")
        for family in ("v4", "v4opt", "v6", "v6ext"):
            for proto in ("udp", "tcp"):
                for size in SIZES:  # with UDP the 4-byte alignment pads 2, 1, 0, 3 bytes
                    for direction in ("in", "out"):
                        v6 = family.startswith("v6")
                        ue, pcscf = (UE6, PCSCF6) if v6 else (UE4, PCSCF4)
                        ck = bytes(rnd.getrandbits(8) for _ in range(16))
                        ik = bytes(rnd.getrandbits(8) for _ in range(16))
                        ckey = aead_key(aead, ck, ik)
                        spi += 1
                        if direction == "in":
                            src, dst, sport, dport = ue, pcscf, UE_PORT, PCSCF_PORT
                            seq = rnd.choice([1, 2, 63, 64, 65, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
                            iv = bytes(rnd.getrandbits(8) for _ in range(8))
                        else:
                            src, dst, sport, dport = pcscf, ue, PCSCF_PORT, UE_PORT
                            seq = 1
                            iv = spi.to_bytes(4, "big") + seq.to_bytes(4, "big")
                        payload = bytes(rnd.getrandbits(8) for _ in range(size))
                        plain = ip_layer(family, src, dst) / l4_layer(proto, sport, dport, rnd) / Raw(payload)
                        plain = plain.__class__(bytes(plain))
                        if aead == "aes-gcm":
                            sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=ckey,
                                                     auth_algo="NULL")
                        else:
                            sa = gmac_sa(spi, ckey)
                        esp = sa.encrypt(plain, seq_num=seq, iv=iv)
                        back = sa.decrypt(esp.__class__(bytes(esp)))
                        assert bytes(back) == bytes(plain), "scapy does not round-trip"
                        vectors.append({
                            "name": f"{direction}-{family}-{proto}-{alg}-{ealg}-{size}",
                            "dir": direction, "alg": alg, "spi": spi,
                            "seq": seq, "ue": ue, "pcscf": pcscf, "ue_port": UE_PORT,
                            "pcscf_port": PCSCF_PORT, "plain": bytes(plain).hex(),
                            "esp": bytes(esp).hex(), "ealg": ealg, "ckey": ckey.hex(),
                        })
    # HMAC-SHA-256-128 last, from a generator of its own, so the vectors above stay as
    # they were.
    rnd = random.Random(4868)  # RFC 4868
    more, spi = hmac_vectors(rnd, spi, SHA256)
    vectors += more
    more, spi = cbc_vectors(rnd, spi, SHA256)
    vectors += more
    write_vectors(out_path, vectors, "make_vectors.py")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "scapy_esp.txt")
