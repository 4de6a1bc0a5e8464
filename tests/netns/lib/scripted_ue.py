"""A scripted UE for the sec-agree tests: its SIP is plain text written here, its ESP is
scapy's (an implementation no one here wrote), keyed from the IK and CK the core's 401
carries (what the UE's USIM would compute), by TS 33.203 Annex I done in milenage.py."""
import secrets
import socket

import milenage
import sip_text
import ue_peer
from scapy.all import IP, IPv6, UDP, Raw
from scapy.layers.inet6 import IPv6ExtHdrFragment

IK = bytes.fromhex("00112233445566778899aabbccddeeff")
CK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
REALM = "ims.example.net"
PORT_US = 6101  # the UE's protected server port: in its Via, fixed while registered
# What a handset of the field offers: integrity only, SHA-1 then MD5.
INTEGRITY_ONLY = (("hmac-sha-1-96", "null"), ("hmac-md5-96", "null"))
LINK_MTU = 1500  # the UE's veth


def challenge(req, realm=REALM, ik=IK, ck=CK):
    """The core's 401 to a REGISTER: an AKA challenge with the keys for the P-CSCF."""
    return sip_text.response(req, 401, "Unauthorized", [
        f'WWW-Authenticate: Digest realm="{realm}", nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
        f'qop="auth", ik="{ik.hex()}", ck="{ck.hex()}"'])


class Ue:
    """One UE: a plain socket for the unprotected exchange and scapy ESP for the rest.
    `offers`: the (alg, ealg) pairs of its Security-Client, in its order."""

    def __init__(self, topo, v6, impi, impu, pcscf=None, port_us=PORT_US, offers=INTEGRITY_ONLY):
        self.topo, self.v6, self.impi, self.impu = topo, v6, impi, impu
        self.addr = topo.UE6 if v6 else topo.UE4
        self.pcscf = pcscf or (topo.PCSCF6 if v6 else topo.PCSCF4)
        self.port_us = port_us
        self.offers = offers
        self.plain = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        self.plain.bind((self.addr, port_us))
        self.plain.settimeout(5)
        self.peer = None
        self.server = None  # the Security-Server received, as text
        self.cseq = 1
        # RFC 3261 8.1.1.7: a branch unique across UEs too, or a second UE on the same
        # address and port would look like a retransmission of the first's request.
        self.branch = f"z9hG4bKue{secrets.token_hex(4)}"

    def close(self):
        self.plain.close()

    def host(self):
        return f"[{self.addr}]" if self.v6 else self.addr

    def via(self):
        return f"{self.host()}:{self.port_us}"

    def security_client(self, port_uc, spi_uc, spi_us):
        return ", ".join(f"ipsec-3gpp;alg={alg};ealg={ealg};prot=esp;mod=trans;spi-c={spi_uc};spi-s={spi_us};"
                         f"port-c={port_uc};port-s={self.port_us}" for alg, ealg in self.offers)

    def register(self, client, verify=None, expires=600, response=""):
        self.cseq += 1
        h = [f"Security-Client: {client}", "Require: sec-agree", "Proxy-Require: sec-agree",
             "Supported: path,sec-agree",
             f'Authorization: Digest username="{self.impi}", realm="{REALM}", uri="sip:{REALM}", '
             f'nonce="", response="{response}"',
             f"Contact: <sip:{self.impi.split('@')[0]}@{self.via()}>;expires={expires}"]
        if verify:
            h.append(f"Security-Verify: {verify}")
        return sip_text.request("REGISTER", f"sip:{REALM}", self.via(), f"{self.branch}{self.cseq}r",
                                self.impu, self.impu, f"reg-{self.impi}", self.cseq, h)

    def message(self, frm=None, text="hello"):
        self.cseq += 1
        return sip_text.request("MESSAGE", "sip:bob@ims.example.net", self.via(), f"{self.branch}{self.cseq}m",
                                frm or self.impu, "sip:bob@ims.example.net", f"msg-{self.cseq}", self.cseq,
                                ["Content-Type: text/plain"], text)

    def keys(self, server):
        """The mechanism this UE takes from the P-CSCF's Security-Server, the first one
        listed that it offered (TS 33.203 7.2: the P-CSCF lists its choice first), and the
        SA keys for it (Annex I)."""
        listed = sip_text.mechanisms(server)
        m = next((m for m in listed if (m["alg"], m.get("ealg", "null")) in self.offers), listed[0])
        alg, ealg = m["alg"], m.get("ealg", "null")
        return m, alg, milenage.ik_esp(alg, IK, CK), ealg, milenage.ck_esp(ealg, CK, IK)

    def protect_with(self, server, spi_us):
        m, alg, key, ealg, ckey = self.keys(server)
        self.peer = ue_peer.EspPeer(self.topo.ue_if, alg, key, int(m["spi-s"]), spi_us, ealg, ckey)
        self.port_ps = int(m["port-s"])
        return m

    def send_protected(self, port_uc, msg):
        """Sends `msg` over the SA; an ESP packet over the link's MTU leaves in fragments,
        as a UE's IP layer sends it (RFC 4303 3.3.5): an SM7 echoing a long Security-Server
        list in its Security-Verify does not fit one frame. Returns a capture of replies."""
        ip = IPv6(src=self.addr, dst=self.pcscf) if self.v6 else IP(src=self.addr, dst=self.pcscf)
        cap = self.peer.sniffer()
        esp = self.peer.seal(ip / UDP(sport=port_uc, dport=self.port_ps) / Raw(msg))
        if len(esp) <= LINK_MTU:
            ue_peer.send_l3(esp)
        elif self.v6:  # scapy does not fragment IPv6 by itself: put the header in
            esp = IPv6(bytes(esp))
            ue_peer.send_fragments(IPv6(src=esp.src, dst=esp.dst) / IPv6ExtHdrFragment(nh=esp.nh) / esp.payload, 1280)
        else:
            ue_peer.send_fragments(esp, 1400)
        return cap

    def protected_replies(self, cap, want=1, timeout=6.0):
        inner = self.peer.wait(cap, lambda inner: len([p for p in inner if UDP in p]) >= want, timeout)
        return [(p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload)) for p in inner if UDP in p]
