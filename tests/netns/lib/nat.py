"""A UE behind a real NAT for the UDP-enc-tun tests (TS 33.203 Annex M, RFC 3948).

The Topology's UE namespace becomes a home router: Linux netfilter masquerade (nftables,
from Debian) from a private link to the P-CSCF's. Its source ports are mapped into
NAT_PORTS, never kept, so the P-CSCF must learn the UE's public port for 4500 from what
it receives. Behind it, in a namespace of its own, the UE: plain SIP from its own
socket, and ESP in UDP from its port 4500, tunnel mode, sealed and opened by scapy's ESP
(an implementation no one here wrote)."""
import atexit
import socket
import time

import milenage
import sip_text
import ue_peer
from netns import sh
from scripted_ue import CK, IK, REALM
from scapy.all import IP, UDP, Raw, AsyncSniffer
from scapy.layers.ipsec import ESP, SecurityAssociation

PRIVATE, ROUTER_IN = "192.168.77.2", "192.168.77.1"
NAT_PORTS = (40000, 40999)
NATT = 4500


def masquerade(ns, out_if, ports=NAT_PORTS):
    """(Re)writes the router's one rule: masquerade out of `out_if`, ports into `ports`, and
    forgets the bindings made so far (conntrack), as a NAT that rebooted or timed out does."""
    sh("nft", "flush", "ruleset", ns=ns)
    sh("nft", "add", "table", "ip", "nat", ns=ns)
    sh("nft", "add chain ip nat post { type nat hook postrouting priority srcnat ; }", ns=ns)
    sh("nft", "add", "rule", "ip", "nat", "post", "oifname", out_if, "meta", "l4proto", "{", "udp", ",", "tcp", "}",
       "masquerade", "to", f":{ports[0]}-{ports[1]}", ns=ns)
    sh("conntrack", "-F", ns=ns, check=False)  # "0 flow entries" exits 1 on an empty table


def behind_nat(topo):
    """Makes topo.ue_ns the NAT router (its UE4 address the public one) and puts a private
    namespace behind it; returns that namespace's name."""
    home = f"home-{topo.tag}"
    sh("ip", "netns", "del", home, check=False)
    sh("ip", "netns", "add", home)
    atexit.register(sh, "ip", "netns", "del", home, check=False)
    sh("ip", "link", "set", "lo", "up", ns=home)
    sh("ip", "link", "add", "veth-lan", "netns", topo.ue_ns, "type", "veth", "peer", "name", "veth-h", "netns", home)
    sh("ip", "addr", "add", f"{ROUTER_IN}/24", "dev", "veth-lan", ns=topo.ue_ns)
    sh("ip", "link", "set", "veth-lan", "up", ns=topo.ue_ns)
    sh("ip", "addr", "add", f"{PRIVATE}/24", "dev", "veth-h", ns=home)
    sh("ip", "link", "set", "veth-h", "up", ns=home)
    sh("ip", "route", "add", "default", "via", ROUTER_IN, ns=home)
    # As on the UE's own link (netns.py): whole checksums, as a handset's packets have.
    sh("ethtool", "-K", "veth-h", "tx", "off", ns=home)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=topo.ue_ns)
    masquerade(topo.ue_ns, topo.ue_if)
    return home


class Capture:
    """The UDP/4500 traffic on the router's public side, as the P-CSCF sees it."""

    def __init__(self, iface):
        self.packets = []
        self.s = AsyncSniffer(iface=iface, filter="udp port 4500", prn=self.packets.append, store=False)
        self.s.start()
        time.sleep(0.3)

    def stop(self):
        if self.s.running:
            self.s.stop()
        return list(self.packets)


class NatUe:
    """One UE behind the NAT. Its Security-Client offers each pair twice, mod=trans and
    mod=UDP-enc-tun (Annex M: the P-CSCF picks the mode); its Via and inner source are its
    private address; its Contact, once it knows it, the public one the 401's Via gave
    (TS 24.229 F.2.1.2.2). A re-registration's new set joins the SAs it opens with."""

    def __init__(self, topo, impi, port_us, offers=(("hmac-sha-1-96", "null"),), modes=("trans", "UDP-enc-tun")):
        self.topo, self.impi, self.impu = topo, impi, f"sip:{impi}"
        self.pcscf = topo.PCSCF4
        self.port_us, self.offers, self.modes = port_us, offers, modes
        self.plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.plain.bind((PRIVATE, port_us))
        self.plain.settimeout(5)
        self.encap = None  # port 4500, only for a UE that offers UDP-enc-tun
        if "UDP-enc-tun" in modes:
            self.encap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.encap.bind((PRIVATE, NATT))
            self.encap.settimeout(0.2)
        self.public = None  # from the 401's Via received=
        self.server = self.mech = None
        self.inbound = {}  # SPI -> scapy SA, every set's
        self.cseq = 1

    def close(self):
        self.plain.close()
        if self.encap:
            self.encap.close()

    def offer(self, port_uc, spi_uc, spi_us):
        """The ports and SPIs of the next Security-Client."""
        self.port_uc, self.spi_uc, self.spi_us = port_uc, spi_uc, spi_us

    def via(self):
        return f"{PRIVATE}:{self.port_us};rport"

    def security_client(self):
        return ", ".join(f"ipsec-3gpp;alg={a};ealg={e};prot=esp;mod={mod};spi-c={self.spi_uc};spi-s={self.spi_us};"
                         f"port-c={self.port_uc};port-s={self.port_us}" for a, e in self.offers for mod in self.modes)

    def register(self, verify=None, expires=600):
        self.cseq += 1
        contact = f"{self.public or PRIVATE}:{self.port_us}"
        h = sip_text.register_headers(self.security_client(), self.impi, REALM, contact, verify, expires)
        return sip_text.request("REGISTER", f"sip:{REALM}", self.via(), f"z9hG4bKnat{self.cseq}",
                                self.impu, self.impu, f"nat-{self.impi}", self.cseq, h)

    def message(self, text):
        self.cseq += 1
        return sip_text.request("MESSAGE", "sip:bob@ims.example.net", self.via(), f"z9hG4bKnm{self.cseq}",
                                self.impu, "sip:bob@ims.example.net", f"natmsg-{self.cseq}", self.cseq,
                                ["Content-Type: text/plain"], text)

    def took_401(self, sm6):
        """Learns its public address from the Via and its new SAs from the Security-Server
        (the first mechanism listed that it offered, TS 33.203 7.2); returns that mechanism."""
        via = sip_text.header(sm6, "Via")[0]
        self.public = next(p.split("=", 1)[1] for p in via.split(";") if p.startswith("received="))
        self.server = sip_text.header(sm6, "Security-Server")[0]
        m = next(m for m in sip_text.mechanisms(self.server) if (m["alg"], m.get("ealg", "null")) in self.offers)
        alg, ealg = m["alg"], m.get("ealg", "null")
        key, ckey = milenage.ik_esp(alg, IK, CK), milenage.ck_esp(ealg, CK, IK)

        def sa(spi):
            return SecurityAssociation(ESP, spi=spi, crypt_algo=ue_peer.SCAPY_EALG[ealg], crypt_key=ckey,
                                       auth_algo=ue_peer.SCAPY_ALG[alg], auth_key=key,
                                       tunnel_header=IP(src=PRIVATE, dst=self.pcscf),
                                       nat_t_header=UDP(sport=NATT, dport=NATT))
        # UE port_uc -> port_ps on the P-CSCF's spi-s; port_us -> port_pc on its spi-c.
        self.out = {"uc": [sa(int(m["spi-s"])), 0, self.port_uc, int(m["port-s"])],
                    "us": [sa(int(m["spi-c"])), 0, self.port_us, int(m["port-c"])]}
        self.inbound.update({self.spi_uc: sa(self.spi_uc), self.spi_us: sa(self.spi_us)})
        self.mech = m
        return m

    def send_protected(self, msg, via="uc"):
        """`msg` from port_uc (or port_us) to the P-CSCF's port over its SA: the inner packet
        (private source) in ESP, tunnel mode, sent from the UE's port 4500 through the NAT."""
        o = self.out[via]
        o[1] += 1
        inner = IP(src=PRIVATE, dst=self.pcscf) / UDP(sport=o[2], dport=o[3]) / Raw(msg)
        sealed = o[0].encrypt(inner, seq_num=o[1])
        self.encap.sendto(bytes(sealed)[sealed.ihl * 4 + 8:], (self.pcscf, NATT))

    def keepalive(self):
        self.encap.sendto(b"\xff", (self.pcscf, NATT))

    def replies(self, want=1, timeout=6.0):
        """What came over ESP in UDP, opened by scapy (ICV checked), as [(inner packet, SIP
        bytes)], until `want` came or `timeout` passed."""
        got, deadline = [], time.time() + timeout
        while len(got) < want and time.time() < deadline:
            try:
                data = self.encap.recv(65535)
            except socket.timeout:
                continue
            sa = self.inbound.get(int.from_bytes(data[:4], "big")) if len(data) >= 8 else None
            if sa is None:
                continue
            outer = IP(bytes(IP(src=self.pcscf, dst=PRIVATE) / UDP(sport=NATT, dport=NATT) / Raw(data)))
            inner = sa.decrypt(outer)
            got.append((inner, bytes(inner[UDP].payload)))
        return got
