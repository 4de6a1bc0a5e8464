"""The UE's IPsec layer (TS 33.203) in userspace, for a sipp UE: the kernel here has no
ESP, so the ESP is scapy's (an implementation no one in this project wrote).

What the UE sends to the P-CSCF's protected ports is routed into a tun device; this
process protects it with the SA its destination port selects (port_ps: spi_ps, port_pc:
spi_pc) and sends the ESP from a raw socket. ESP arriving on the interface is verified and
the inner packet is written into the tun for the kernel to deliver.

UDP: sipp has one socket (port X = port_us), so the source port of what goes to port_ps
is moved from X to port_uc, as a UE's protected client port would send it, and port_uc is
turned back into X on the way in. TCP: the UE's own sockets are bound to port_uc and
port_us (tcp_ue.py), so nothing is rewritten; a segment from any other port is dropped.

SAs are learnt from the SIP itself, as a UE's IMS client sets them up: Security-Client
from the REGISTERs it sends (the plain SM1 seen on the interface, later ones in the tun),
Security-Server and the nonce (IK = f4(K, OP, RAND)) from the 401s (plain or decrypted).
Over TCP each segment is read as it comes: a 401 must fit one segment (they are < 1 KB).
Each event is one JSON line in --log for the test to read.

With --attack, the first MESSAGE the UE protects also goes out as two forgeries: ahead of
it a copy with one byte of its ESP payload flipped (bad ICV; it must carry a sequence number
not yet accepted, or the replay check would refuse it before the ICV is looked at), and
after it the same bytes again (a replay).

  ip netns exec UE /usr/bin/python3 ue_ipsec.py --iface veth-ue --pcscf 10.99.0.1 \
      [--pcscf6 2001:db8:99::1] --k HEX --op HEX [--protected-ports 5100-5199] [--attack] --log FILE
"""
import argparse
import fcntl
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milenage  # noqa: E402

from scapy.all import IP, TCP, IPv6, UDP, conf  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

conf.verb = 0
SCAPY_ALG = {"hmac-md5-96": "HMAC-MD5-96", "hmac-sha-1-96": "HMAC-SHA1-96"}
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
IPV6_RECVPKTINFO, IPV6_PKTINFO = 49, 50
IP_MTU_DISCOVER, IPV6_MTU_DISCOVER, PMTUDISC_DONT = 10, 23, 0
SIP_PORT = 5060
TUN, TABLE = "ue-esp0", 151  # the tun device, and the routing table (and rule priority) into it


def parse_sec(value):
    """Security-Client/Server mechanisms, each a dict of its parameters."""
    mechs = []
    for m in value.split(","):
        parts = [p.strip() for p in m.split(";") if p.strip()]
        if parts:
            d = {"mech": parts[0]}
            for p in parts[1:]:
                k, _, v = p.partition("=")
                d[k.strip().lower()] = v.strip()
            mechs.append(d)
    return mechs


def sip_headers(text, name):
    """All values of a header (folded lines joined, comma lists kept as they are)."""
    head = text.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    return [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
            if line.split(":", 1)[0].strip().lower() == name.lower()]


class ReplayWindow:
    """RFC 4303 3.4.3 with a 64-packet window."""

    def __init__(self, size=64):
        self.size, self.top, self.bits = size, 0, 0

    def check_and_set(self, seq):
        if seq == 0:
            return False
        if seq > self.top:
            shift = seq - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.top = seq
            return True
        off = self.top - seq
        if off >= self.size or self.bits & (1 << off):
            return False
        self.bits |= 1 << off
        return True


class SaSet:
    """The four SAs of one registration, as the UE sees them."""

    def __init__(self, n, client, server, alg, ik):
        key = milenage.ik_esp(alg, ik)
        self.n, self.alg = n, alg
        self.port_uc, self.port_us = int(client["port-c"]), int(client["port-s"])
        self.port_pc, self.port_ps = int(server["port-c"]), int(server["port-s"])
        self.spi_uc, self.spi_us = int(client["spi-c"]), int(client["spi-s"])
        self.spi_pc, self.spi_ps = int(server["spi-c"]), int(server["spi-s"])

        def sa(spi):
            return SecurityAssociation(ESP, spi=spi, crypt_algo="NULL", crypt_key=None,
                                       auth_algo=SCAPY_ALG[alg], auth_key=key)
        # outbound: by the P-CSCF's destination port -> (SA, our source port)
        self.out = {self.port_ps: (sa(self.spi_ps), self.port_uc),
                    self.port_pc: (sa(self.spi_pc), self.port_us)}
        self.seq = {self.spi_ps: 0, self.spi_pc: 0}
        # inbound: SPI -> (SA, the port it protects, replay window)
        self.inb = {self.spi_uc: (sa(self.spi_uc), self.port_uc, ReplayWindow()),
                    self.spi_us: (sa(self.spi_us), self.port_us, ReplayWindow())}

    def describe(self):
        return {"set": self.n, "alg": self.alg, "spi_uc": self.spi_uc, "spi_us": self.spi_us,
                "spi_pc": self.spi_pc, "spi_ps": self.spi_ps, "port_uc": self.port_uc,
                "port_us": self.port_us, "port_pc": self.port_pc, "port_ps": self.port_ps}


def sh(*args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")


def addr_of(iface, family):
    """The first global address of iface (the source the routes via the tun carry)."""
    out = subprocess.run(["ip", "-j", "-" + family, "addr", "show", "dev", iface],
                         capture_output=True, text=True).stdout
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if a.get("scope") == "global":
                return a["local"]
    return None


class UeIpsec:
    def __init__(self, iface, pcscf, k, op, pcscf6=None, ports=(5100, 5199), log=None,
                 attack=False):
        self.iface, self.pcscf, self.pcscf6 = iface, pcscf, pcscf6
        self.k, self.op = k, op
        self.ports, self.tun_name, self.table = ports, TUN, TABLE
        self.log_f = open(log, "a", buffering=1) if log else sys.stderr
        self.sets = []           # oldest first; the last one is in use
        self.client = None       # Security-Client of the last REGISTER sent
        self.rules = []
        self.running = True
        self.attack = attack     # forge copies of the first MESSAGE (cleared once done)

    # --- events -------------------------------------------------------------------------
    def event(self, ev, **kw):
        self.log_f.write(json.dumps({"t": round(time.time(), 6), "ev": ev, **kw}) + "\n")

    # --- setup / teardown -----------------------------------------------------------------
    def setup(self):
        self.tun = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.tun, TUNSETIFF, struct.pack("16sH", self.tun_name.encode(), IFF_TUN | IFF_NO_PI))
        # No link-local address: the kernel would send its own RS/MLD into the tun.
        sh("ip", "link", "set", self.tun_name, "addrgenmode", "none")
        sh("ip", "link", "set", self.tun_name, "up")
        # Decapsulated packets enter through the tun although their source lies behind the
        # veth: strict reverse-path filtering would drop them (the max of all/iface counts).
        for dev in ("all", self.tun_name):
            sh("sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")
        lo, hi = self.ports
        for fam, dst in (("4", self.pcscf), ("6", self.pcscf6)):
            if not dst:
                continue
            src = addr_of(self.iface, fam)
            sh("ip", "-" + fam, "route", "replace", "default", "dev", self.tun_name,
               "table", str(self.table), *(["src", src] if src else []))
            for proto in ("udp", "tcp"):
                rule = ["to", dst, "ipproto", proto, "dport", f"{lo}-{hi}",
                        "lookup", str(self.table), "priority", str(self.table)]
                sh("ip", "-" + fam, "rule", "add", *rule)
                self.rules.append((fam, rule))
        self.raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
        # Let the kernel fragment what the ESP overhead pushes past the MTU.
        self.raw4.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, PMTUDISC_DONT)
        self.raw6 = None
        if self.pcscf6:
            self.raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ESP)
            self.raw6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            self.raw6.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, PMTUDISC_DONT)
        # Plain SIP (SM1 and its 401) never goes through the tun: watch it on the interface.
        self.pkt = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.pkt.bind((self.iface, 0))
        self.event("up", iface=self.iface, tun=self.tun_name, pcscf=self.pcscf, pcscf6=self.pcscf6)

    def teardown(self):
        for fam, rule in self.rules:
            subprocess.run(["ip", "-" + fam, "rule", "del", *rule], capture_output=True)
        self.rules = []
        for s in ("raw4", "raw6", "pkt"):
            if getattr(self, s, None):
                getattr(self, s).close()
                setattr(self, s, None)
        if getattr(self, "tun", None) is not None:
            os.close(self.tun)  # a non-persistent tun goes away, its routes with it
            self.tun = None
        self.event("down")

    # --- SIP learning ---------------------------------------------------------------------
    def observe(self, payload, direction, how):
        """Learns from one SIP message: Security-Client of REGISTERs we send, Security-Server
        and the nonce of 401s to REGISTER we receive."""
        try:
            text = payload.decode("utf-8", "replace")
        except Exception:  # noqa: BLE001
            return
        first = text.split("\r\n", 1)[0]
        cseq = (sip_headers(text, "CSeq") or [""])[0]
        if direction == "out" and first.startswith("REGISTER "):
            sc = sip_headers(text, "Security-Client")
            if sc:
                self.client = parse_sec(", ".join(sc))
                self.event("security_client", via=how, mechs=self.client)
        elif direction == "in" and first.startswith("SIP/2.0 401") and cseq.endswith("REGISTER"):
            ss = sip_headers(text, "Security-Server")
            auth = " ".join(sip_headers(text, "WWW-Authenticate"))
            nonce = re.search(r'nonce="([^"]*)"', auth)
            if not ss or not nonce or not self.client:
                self.event("sa_error", reason="401 without Security-Server/nonce, or no Security-Client sent",
                           via=how)
                return
            self.new_set(parse_sec(", ".join(ss)), nonce.group(1), how)

    def new_set(self, server_mechs, nonce, how):
        ours = {m.get("alg"): m for m in self.client if m["mech"] == "ipsec-3gpp"}
        # RFC 3329 2.3.1: the highest preference the server offers that we offered too.
        pick = sorted((m for m in server_mechs if m["mech"] == "ipsec-3gpp" and m.get("alg") in ours
                       and m.get("alg") in SCAPY_ALG and m.get("ealg", "null") == "null"),
                      key=lambda m: -float(m.get("q", "0.001")))
        if not pick:
            self.event("sa_error", reason="no acceptable mechanism in Security-Server", mechs=server_mechs)
            return
        srv = pick[0]
        try:
            ik = milenage.ik_from_nonce(self.k, self.op, nonce)
            s = SaSet(len(self.sets) + 1, ours[srv["alg"]], srv, srv["alg"], ik)
        except (KeyError, ValueError) as e:
            self.event("sa_error", reason=f"bad mechanism: {e}", mechs=server_mechs)
            return
        self.sets.append(s)
        self.event("sa_set", via=how, ik=ik.hex(), **s.describe())

    # --- datapath -------------------------------------------------------------------------
    def from_tun(self):
        data = os.read(self.tun, 65535)
        ver = data[0] >> 4
        pkt = IP(data) if ver == 4 else IPv6(data)
        l4 = pkt[UDP] if UDP in pkt else pkt[TCP] if TCP in pkt else None
        if l4 is None:
            self.event("drop", dir="out", reason="neither udp nor tcp")
            return
        # The 401 that sets up the SAs for this packet may still wait in the capture: an
        # AF_PACKET socket has it before the UE does, but select() need not report it first.
        self.drain_plain()
        self.observe(bytes(l4.payload), "out", "tun")
        if TCP in pkt:
            return self.protect_tcp(pkt, ver)
        udp = l4
        for s in reversed(self.sets):  # the set in use first, then older ones
            if udp.dport in s.out:
                sa, sport = s.out[udp.dport]
                break
        else:
            self.event("drop", dir="out", reason="no sa", dport=udp.dport, sip=self.first_line(udp))
            return
        if udp.sport != s.port_us:
            self.event("drop", dir="out", reason="source port is not port_us", sport=udp.sport)
            return
        udp.sport = sport
        del udp.chksum
        if ver == 4:
            del pkt.chksum
        pkt = pkt.__class__(bytes(pkt))
        self.send_esp(s, sa, pkt, ver, sport, pkt[UDP])

    def protect_tcp(self, pkt, ver):
        """A segment of the UE's own TCP socket: it must already come from the SA's port."""
        tcp = pkt[TCP]
        # Both ports select the set: after a re-registration the old connection to port_ps
        # (from the old port_uc) still runs over the old set until it closes.
        for s in reversed(self.sets):
            if s.out.get(tcp.dport, (None, None))[1] == tcp.sport:
                sa = s.out[tcp.dport][0]
                break
        else:
            self.event("drop", dir="out", reason="no sa for these ports", sport=tcp.sport, dport=tcp.dport,
                       tcp=True)
            return
        self.send_esp(s, sa, pkt, ver, tcp.sport, tcp)

    def send_esp(self, s, sa, pkt, ver, sport, l4):
        s.seq[sa.spi] += 1
        esp = sa.encrypt(pkt, seq_num=s.seq[sa.spi])
        body = bytes(esp.payload)  # from the ESP header on: the raw socket adds the IP header
        sip, seq = self.first_line(l4), s.seq[sa.spi]
        attack = self.attack and sip.startswith("MESSAGE ")
        if attack:
            self.attack = False
            bad = bytearray(body)
            at = len(bad) // 2  # past the 8-byte ESP header, before the ICV: inside the SIP
            bad[at] ^= 0x01
            if self.send_raw(ver, pkt.dst, bytes(bad), sa.spi):
                self.event("attack", kind="tamper", spi=sa.spi, seq=seq, byte=at, sip=sip)
        if not self.send_raw(ver, pkt.dst, body, sa.spi):
            return
        self.event("out", spi=sa.spi, seq=seq, set=s.n, sport=sport, dport=l4.dport, dst=pkt.dst, sip=sip,
                   h=self.digest(l4), **({"tcp": True} if TCP in pkt else {}))
        if attack and self.send_raw(ver, pkt.dst, body, sa.spi):
            self.event("attack", kind="replay", spi=sa.spi, seq=seq, sip=sip)

    def send_raw(self, ver, dst, body, spi):
        try:
            (self.raw4 if ver == 4 else self.raw6).sendto(body, (dst, 0))
            return True
        except OSError as e:
            self.event("drop", dir="out", reason=f"send: {e}", spi=spi)
            return False

    def from_raw(self, sock, ver):
        if ver == 4:
            data = sock.recv(65535)
            pkt = IP(data)
        else:
            data, anc, _, src = sock.recvmsg(65535, socket.CMSG_SPACE(20))
            dst = None
            for lvl, typ, val in anc:
                if lvl == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO:
                    dst = socket.inet_ntop(socket.AF_INET6, val[:16])
            pkt = IPv6(src=src[0], dst=dst, nh=socket.IPPROTO_ESP, hlim=64) / ESP(data)
            pkt = IPv6(bytes(pkt))
        if ESP not in pkt:
            return
        spi, seq = pkt[ESP].spi, pkt[ESP].seq
        for s in reversed(self.sets):
            if spi in s.inb:
                sa, port, window = s.inb[spi]
                break
        else:
            self.event("drop", dir="in", reason="unknown spi", spi=spi, seq=seq)
            return
        try:
            inner = sa.decrypt(pkt)
        except Exception as e:  # noqa: BLE001 - scapy raises IPSecIntegrityError on a bad ICV
            self.event("drop", dir="in", reason="bad icv", spi=spi, seq=seq, error=str(e))
            return
        # Only an authenticated packet moves the window (RFC 4303 3.4.3).
        if not window.check_and_set(seq):
            self.event("drop", dir="in", reason="replay", spi=spi, seq=seq)
            return
        l4 = inner[UDP] if UDP in inner else inner[TCP] if TCP in inner else None
        if l4 is None or l4.dport != port:
            self.event("drop", dir="in", reason="port does not match the sa", spi=spi, seq=seq,
                       dport=l4.dport if l4 is not None else None)
            return
        tcp = TCP in inner
        self.observe(bytes(l4.payload), "in", f"esp:{spi}")
        self.event("in", spi=spi, seq=seq, set=s.n, sport=l4.sport, dport=l4.dport, src=inner.src,
                   sip=self.first_line(l4), h=self.digest(l4), **({"tcp": True} if tcp else {}))
        if not tcp:  # sipp listens on X = port_us only; a TCP UE's own socket is on the port
            l4.dport = s.port_us
            del l4.chksum
            if ver == 4:
                del inner.chksum, inner.len
            else:
                del inner.plen
        os.write(self.tun, bytes(inner))

    def drain_plain(self):
        while True:
            try:
                self.from_packet(socket.MSG_DONTWAIT)
            except BlockingIOError:
                return

    def from_packet(self, flags=0):
        """Plain SIP to/from port 5060 on the interface (SM1 and its 401)."""
        data, addr = self.pkt.recvfrom(65535, flags)
        proto, pkttype = addr[1], addr[2]
        if proto not in (ETH_P_IP, ETH_P_IPV6):
            return
        ip = IP(data[14:]) if proto == ETH_P_IP else IPv6(data[14:])
        l4 = ip[UDP] if UDP in ip else ip[TCP] if TCP in ip else None
        if l4 is None or SIP_PORT not in (l4.sport, l4.dport) or not bytes(l4.payload):
            return
        direction = "out" if pkttype == socket.PACKET_OUTGOING else "in"
        self.event("plain", dir=direction, sip=self.first_line(l4), h=self.digest(l4))
        self.observe(bytes(l4.payload), direction, "plain")

    @staticmethod
    def first_line(l4):
        return bytes(l4.payload).split(b"\r\n", 1)[0].decode("utf-8", "replace")

    @staticmethod
    def digest(l4):
        """Tells a retransmission (the same bytes again) from a new message."""
        return hashlib.sha1(bytes(l4.payload)).hexdigest()[:12]

    def run(self):
        # Learning sources first: a round may hold a 401 and the SM7 it makes possible.
        socks = {self.pkt.fileno(): self.from_packet,
                 self.raw4.fileno(): lambda: self.from_raw(self.raw4, 4)}
        if self.raw6:
            socks[self.raw6.fileno()] = lambda: self.from_raw(self.raw6, 6)
        socks[self.tun] = self.from_tun
        while self.running:
            try:
                ready, _, _ = select.select(list(socks), [], [], 0.5)
            except InterruptedError:
                continue
            for fd in ready:
                try:
                    socks[fd]()
                except Exception as e:  # noqa: BLE001 - one bad packet must not stop the UE
                    self.event("error", error=repr(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--pcscf", required=True)
    ap.add_argument("--pcscf6")
    ap.add_argument("--k", required=True, help="K, hex (sipp's aka_K string: its bytes in hex)")
    ap.add_argument("--op", required=True, help="OP, hex")
    ap.add_argument("--protected-ports", default="5100-5199")
    ap.add_argument("--log")
    ap.add_argument("--attack", action="store_true",
                    help="send a tampered copy and a replay of the first protected MESSAGE")
    a = ap.parse_args()
    lo, _, hi = a.protected_ports.partition("-")
    ue = UeIpsec(a.iface, a.pcscf, bytes.fromhex(a.k), bytes.fromhex(a.op), a.pcscf6,
                 (int(lo), int(hi or lo)), a.log, a.attack)

    def stop(*_):
        ue.running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        ue.setup()
        ue.run()
    finally:
        ue.teardown()


if __name__ == "__main__":
    main()
