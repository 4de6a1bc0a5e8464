#!/usr/bin/python3
"""Writes scapy_natt.txt: UDP-encapsulated tunnel-mode ESP (RFC 3948; TS 33.203 Annex M,
Annex H mod=UDP-enc-tun) made by scapy's IPsec module, for natt_engine_test.

Run with Debian's interpreter (python3-scapy):  /usr/bin/python3 make_natt_vectors.py
Deterministic (fixed seed), like make_vectors.py, whose transport-mode vectors these
sit beside.

Each vector is a block of `key value` lines ending with `end`:
  name, dir, alg, key (IK_ESP, hex; absent for aes-gcm), ealg and ckey (when not null),
  spi, seq, ue (the UE's public address, the NAT's), ue_inner (the UE's own address),
  pcscf, ue_port, pcscf_port, encap_port (the NAT's public port for the UE's 4500),
  plain and esp (hex IP packets).
  dir in: esp is what the UE sealed (inner packet from ue_inner) after the NAT (outer
  source ue:encap_port); plain is what our inbound delivers: the inner packet with its
  source rewritten to ue, checksums computed afresh by scapy.
  dir out: plain is what the P-CSCF's kernel sends (to ue); esp is scapy's sealing of the
  packet with its destination rewritten to ue_inner, in an outer header as pcscf-espd
  writes it (TOS, Identification and DF of the packet, TTL 64, UDP 4500 -> encap_port,
  UDP checksum 0), sequence number 1, and for aes-gcm the IV pcscf-espd writes,
  SPI || sequence number. Outbound only for the transforms whose IV is not random.

scapy 2.5 writes the UDP header's length before it appends the ESP (it says 8): the
length is set right here, as RFC 768 and RFC 3948 2.1 want it.
"""
import random
import struct
import sys

from scapy.all import IP, TCP, UDP, Raw
from scapy.layers.ipsec import ESP, SecurityAssociation

from annex_i_vectors import aead_key
from make_vectors import write_vectors

PUBLIC, INNER, PCSCF = "203.0.113.7", "10.0.0.5", "198.51.100.1"
UE_PORT, PCSCF_PORT = 38003, 50718
NAT_PORTS = [4500, 31000, 65001]
SIZES = [0, 1, 2, 3, 100, 1350]
# TS 33.203 (alg, ealg) -> scapy (auth, IK length, crypt, CK length, IV length)
PAIRS = {
    ("hmac-sha-1-96", "null"): ("HMAC-SHA1-96", 20, "NULL", 0, 0),
    ("hmac-md5-96", "null"): ("HMAC-MD5-96", 16, "NULL", 0, 0),
    ("hmac-sha-1-96", "aes-cbc"): ("HMAC-SHA1-96", 20, "AES-CBC", 16, 16),
    ("null", "aes-gcm"): ("NULL", 0, "AES-GCM", 0, 8),
}


def l4(proto, sport, dport, rnd):
    if proto == "udp":
        return UDP(sport=sport, dport=dport)
    return TCP(sport=sport, dport=dport, seq=rnd.getrandbits(32), flags="PA", window=65535)


def readdressed(pkt, **addresses):
    """`pkt` with other addresses and its checksums computed afresh."""
    out = pkt.copy()
    for field, value in addresses.items():
        setattr(out, field, value)
    del out.chksum
    del out.payload.chksum
    return IP(bytes(out))


def fixed_udp_length(esp_bytes):
    b = bytearray(esp_bytes)
    ihl = (b[0] & 0x0F) * 4
    struct.pack_into("!H", b, ihl + 4, len(b) - ihl)
    return bytes(b)


def opened(sa_args, esp_bytes, tunnel_header):
    """scapy's decryption of our UDP-encapsulated packet (it cannot read the UDP header)."""
    ip = IP(esp_bytes)
    bare = IP(src=ip.src, dst=ip.dst, id=ip.id, ttl=ip.ttl, proto=50) / Raw(esp_bytes[(ip.ihl * 4) + 8:])
    sa = SecurityAssociation(ESP, tunnel_header=tunnel_header, **sa_args)
    return bytes(sa.decrypt(IP(bytes(bare))))


def main(out_path):
    rnd = random.Random(3948)
    spi = 0x3000
    vectors = []
    for (alg, ealg), (s_auth, iklen, s_crypt, cklen, ivlen) in PAIRS.items():
        for proto in ("udp", "tcp"):
            for size in SIZES:
                for direction in ("in", "out"):
                    if direction == "out" and ealg == "aes-cbc":
                        continue  # a random IV: our bytes cannot equal scapy's
                    spi += 1
                    nat_port = rnd.choice(NAT_PORTS)
                    key = bytes(rnd.getrandbits(8) for _ in range(16)) + bytes(max(iklen - 16, 0))
                    if ealg == "aes-gcm":
                        ck = bytes(rnd.getrandbits(8) for _ in range(16))
                        ik = bytes(rnd.getrandbits(8) for _ in range(16))
                        ckey = aead_key("aes-gcm", ck, ik)
                    else:
                        ckey = bytes(rnd.getrandbits(8) for _ in range(cklen))
                    sa_args = dict(spi=spi, crypt_algo=s_crypt, crypt_key=ckey or None, auth_algo=s_auth,
                                   auth_key=key if iklen else None)
                    payload = bytes(rnd.getrandbits(8) for _ in range(size))
                    ident = rnd.getrandbits(16)
                    if direction == "in":
                        seq = rnd.choice([1, 2, 64, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
                        iv = bytes(rnd.getrandbits(8) for _ in range(ivlen)) if ivlen else None
                        inner = IP(bytes(IP(src=INNER, dst=PCSCF, id=ident, ttl=64) /
                                         l4(proto, UE_PORT, PCSCF_PORT, rnd) / Raw(payload)))
                        plain = readdressed(inner, src=PUBLIC)
                        tunnel = IP(src=PUBLIC, dst=PCSCF, id=rnd.getrandbits(16), ttl=57)
                        sa = SecurityAssociation(ESP, tunnel_header=tunnel,
                                                 nat_t_header=UDP(sport=nat_port, dport=4500), **sa_args)
                        esp = fixed_udp_length(bytes(sa.encrypt(inner, seq_num=seq, iv=iv)))
                    else:
                        seq = 1
                        iv = (spi.to_bytes(4, "big") + seq.to_bytes(4, "big")) if ivlen else None
                        df = rnd.choice([0, 2])  # scapy's flags: 2 = DF
                        tos = rnd.choice([0, 0x68, 0xB8])
                        plain = IP(bytes(IP(src=PCSCF, dst=PUBLIC, id=ident, ttl=64, tos=tos, flags=df) /
                                         l4(proto, PCSCF_PORT, UE_PORT, rnd) / Raw(payload)))
                        inner = readdressed(plain, dst=INNER)
                        tunnel = IP(src=PCSCF, dst=PUBLIC, id=ident, ttl=64, tos=tos, flags=df)
                        sa = SecurityAssociation(ESP, tunnel_header=tunnel,
                                                 nat_t_header=UDP(sport=4500, dport=nat_port), **sa_args)
                        esp = fixed_udp_length(bytes(sa.encrypt(inner, seq_num=seq, iv=iv)))
                    assert opened(sa_args, esp, tunnel) == bytes(inner), "scapy does not round-trip"
                    v = {"name": f"{direction}-{proto}-{alg}-{ealg}-{size}", "dir": direction, "alg": alg}
                    if iklen:
                        v["key"] = key.hex()
                    if ealg != "null":
                        v["ealg"] = ealg
                        v["ckey"] = ckey.hex()
                    v.update({"spi": spi, "seq": seq, "ue": PUBLIC, "ue_inner": INNER, "pcscf": PCSCF,
                              "ue_port": UE_PORT, "pcscf_port": PCSCF_PORT, "encap_port": nat_port,
                              "plain": bytes(plain).hex(), "esp": esp.hex()})
                    vectors.append(v)
    write_vectors(out_path, vectors, "make_natt_vectors.py")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "scapy_natt.txt")
