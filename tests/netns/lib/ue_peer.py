"""The UE's side of the ESP, done by scapy (an implementation no one here wrote): it
protects what the UE sends and verifies what the P-CSCF sends, from inside the UE's
network namespace."""
import ctypes
import logging
import os
import sys
import time

from scapy.all import IP, IPv6, AsyncSniffer, conf, send, fragment
from scapy.layers.inet6 import fragment6, IPv6ExtHdrFragment
from scapy.layers.ipsec import ESP, SecurityAssociation

# AES-GMAC (RFC 4543), which scapy lacks: tests/esp/vectors/esp_gmac.py, on cryptography's AESGCM.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "esp", "vectors"))
from esp_gmac import gmac_sa  # noqa: E402

conf.verb = 0
# Polling a capture reassembles incomplete fragment sets; scapy warns about each one.
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000


def enter_netns(name):
    """Moves this (single-threaded) process into a named network namespace."""
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)
    # scapy learnt the interfaces and routes of the namespace it was imported in.
    conf.ifaces.reload()
    conf.route.resync()
    conf.route6.resync()


SCAPY_ALG = {"hmac-md5-96": "HMAC-MD5-96", "hmac-sha-1-96": "HMAC-SHA1-96", "hmac-sha-256-128": "SHA2-256-128",
             "null": "NULL"}
# aes-gcm: scapy's RFC 4106 AES-GCM, 8-byte IV, 16-byte ICV, key = AES key || 4-byte salt
SCAPY_EALG = {"null": "NULL", "aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES", "aes-gcm": "AES-GCM"}


def scapy_sa(spi, alg, key, ealg="null", ckey=None):
    """scapy's SA for one of ours: Annex H names, Annex I keys. alg=aes-gmac (with
    ealg=null) takes `key` = IK || salt; ealg=aes-gcm (with alg=null) `ckey` = CK || salt."""
    if alg == "aes-gmac":
        if ealg != "null":
            raise ValueError(f"Annex H pairs aes-gmac with ealg=null only, not {ealg}")
        return gmac_sa(spi, key)
    if (alg == "null") != (ealg == "aes-gcm"):
        raise ValueError(f"Annex H pairs alg=null with ealg=aes-gcm only, not {alg}/{ealg}")
    return SecurityAssociation(ESP, spi=spi, crypt_algo=SCAPY_EALG[ealg], crypt_key=ckey,
                               auth_algo=SCAPY_ALG[alg], auth_key=key)


class Capture:
    """ESP and fragments on the UE's interface, readable while the capture runs."""

    def __init__(self, iface):
        self.packets = []
        self.s = AsyncSniffer(iface=iface, filter="esp or (ip[6:2] & 0x3fff != 0) or ip6[6] == 44",
                              prn=self.packets.append, store=False)
        self.s.start()
        time.sleep(0.3)  # the capture must be live before anything is sent

    def stop(self):
        if self.s.running:
            self.s.stop()
        return list(self.packets)


class EspPeer:
    """One UE's pair of SAs as scapy sees them: `out` protects UE -> P-CSCF (the SPI the
    P-CSCF allocated), `inb` checks P-CSCF -> UE (the UE's own SPI)."""

    def __init__(self, iface, alg, key, spi_to_pcscf, spi_to_ue, ealg="null", ckey=None):
        self.iface = iface
        self.out = scapy_sa(spi_to_pcscf, alg, key, ealg, ckey)
        self.inb = scapy_sa(spi_to_ue, alg, key, ealg, ckey)
        self.spi_to_ue = spi_to_ue
        self.seq = 0

    def seal(self, pkt, seq=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return self.out.encrypt(pkt, seq_num=seq)

    def sniffer(self):
        return Capture(self.iface)

    def wait(self, capture, done, timeout=6.0):
        """Verifies what `capture` has seen until done(inner packets) holds or `timeout`
        runs out (the machines are shared: no fixed sleeps). Stops the capture and returns
        the inner packets."""
        deadline = time.time() + timeout
        while True:
            inner = self.verify(list(capture.packets))
            if done(inner) or time.time() > deadline:
                capture.stop()
                return self.verify(list(capture.packets))
            time.sleep(0.2)

    def verify(self, captured):
        """Verifies and opens the ESP packets for this UE among `captured` (ICV and replay
        checked by scapy), after reassembling fragments. Returns the inner packets."""
        from scapy.all import defragment
        from scapy.layers.inet6 import defragment6
        # scapy's defragment functions change the pieces they are given: reassembling a set
        # still in flight would spoil it for the next poll, when all pieces are in.
        captured = [p.__class__(bytes(p)) for p in captured]
        v4 = [p[IP] for p in captured if IP in p]
        v6 = [p[IPv6] for p in captured if IPv6 in p]
        whole = list(defragment(v4)) if v4 else []
        whole += [p for p in v6 if IPv6ExtHdrFragment not in p]
        groups = {}  # defragment6 takes the pieces of one datagram at a time
        for p in v6:
            if IPv6ExtHdrFragment in p:
                groups.setdefault((p.src, p.dst, p[IPv6ExtHdrFragment].id), []).append(p)
        whole += [defragment6(g) for g in groups.values()]
        out = []
        for p in whole:
            p = p.__class__(bytes(p))
            if ESP in p and p[ESP].spi == self.spi_to_ue:
                try:
                    out.append(self.inb.decrypt(p))
                except Exception:  # noqa: BLE001 - bad ICV, or a datagram still in pieces:
                    continue       # not a reply; the caller waits for the one it expects
        return out


def describe_fragments(captured):
    """The fragments among `captured`, one line each, for a failure message."""
    lines = []
    for p in captured:
        p = p.__class__(bytes(p))
        if IPv6ExtHdrFragment in p:
            f = p[IPv6ExtHdrFragment]
            lines.append(f"{p[IPv6].src}>{p[IPv6].dst} id={f.id:#x} off={f.offset * 8} m={f.m} len={len(p[IPv6])}")
        elif IP in p and (p[IP].flags.MF or p[IP].frag):
            lines.append(f"{p[IP].src}>{p[IP].dst} id={p[IP].id:#x} off={p[IP].frag * 8} m={int(p[IP].flags.MF)} len={p[IP].len}")
    return "fragments seen: " + ("; ".join(lines) or "none")


def send_l3(pkt):
    send(pkt, verbose=False)


def send_fragments(pkt, size):
    frags = fragment(pkt, fragsize=size) if IP in pkt else fragment6(pkt, size)
    for f in frags:
        send(f, verbose=False)
