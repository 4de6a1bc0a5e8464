"""UEs scripted with scapy's ESP (an implementation no one here wrote) and an IMS core of
one UDP socket, for the tests where pcscf-espd loses its process or its host: the UEs
register through it, send over their SAs, and are checked to carry on after it comes back
(docs/architecture.md, "What survives a restart").

Everything here runs in the test's own process: Core and Fleet each open their sockets in
their namespace, so create the Core first, then the Fleet (which stays in the UE's)."""
import contextlib
import re
import socket
import threading
import time

import milenage
import sip_text
import ue_peer
from netns import sh
from tap import expect, wait_until
from scapy.all import IP, UDP, Raw
from scapy.supersocket import L3RawSocket
from scapy.layers.ipsec import ESP

IK = bytes.fromhex("00112233445566778899aabbccddeeff")
CK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
REALM = "ims.example.net"


class Core:
    """The IMS core: one UDP socket in the core namespace, answering as told."""

    def __init__(self, topo):
        ue_peer.enter_netns(topo.core_ns)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((topo.CORE4, 5060))
        self.addr = topo.CORE4
        self.pcscf = (topo.PCSCF_CORE4, 5060)

    def collect(self, want, timeout=20.0):
        """Messages until `want` of them came or `timeout` passed."""
        got, deadline = [], time.time() + timeout
        self.s.settimeout(0.5)
        while len(got) < want and time.time() < deadline:
            try:
                got.append(self.s.recvfrom(65535)[0])
            except socket.timeout:
                pass
        return got

    def recv(self, timeout=5.0):
        self.s.settimeout(timeout)
        return self.s.recvfrom(65535)[0]

    def drain(self):
        """Everything that comes until 0.5 s pass without a message."""
        got = []
        self.s.settimeout(0.5)
        try:
            while True:
                got.append(self.s.recvfrom(65535)[0])
        except socket.timeout:
            return got

    def send(self, msg):
        self.s.sendto(msg, self.pcscf)


class Ue:
    def __init__(self, n, addr, pcscf):
        self.n, self.addr, self.pcscf = n, addr, pcscf
        self.impi = f"ue{n}@{REALM}"
        self.impu = f"sip:ue{n}@{REALM}"
        self.port_uc, self.port_us = 20000 + 2 * n, 20001 + 2 * n
        self.spi_uc, self.spi_us = 0x100000 + n, 0x200000 + n
        self.cseq = 0
        self.peer = None  # scapy's SAs, once the 401 is in
        self.sent = []    # every ESP packet sent, for the replays

    def sa(self, spi_to_pcscf, spi_to_ue, ifname):
        """scapy's pair of SAs from the UE to one SPI of the P-CSCF's and back to one of its own."""
        return ue_peer.EspPeer(ifname, self.mech["alg"], milenage.ik_esp(self.mech["alg"], IK), spi_to_pcscf,
                               spi_to_ue)

    def via(self):
        return f"{self.addr}:{self.port_us}"

    def client(self):
        return (f"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c={self.spi_uc};spi-s={self.spi_us};"
                f"port-c={self.port_uc};port-s={self.port_us}")

    def register(self, verify=None):
        self.cseq += 1
        h = sip_text.register_headers(self.client(), self.impi, REALM, self.via(), verify)
        return sip_text.request("REGISTER", f"sip:{REALM}", self.via(), f"z9hG4bKr{self.n}x{self.cseq}",
                                self.impu, self.impu, f"reg-{self.n}", self.cseq, h)

    def message(self):
        self.cseq += 1
        return sip_text.request("MESSAGE", f"sip:bob@{REALM}", self.via(), f"z9hG4bKm{self.n}x{self.cseq}",
                                self.impu, f"sip:bob@{REALM}", f"msg-{self.n}-{self.cseq}", self.cseq,
                                ["Content-Type: text/plain"], "hi")

    def plain(self, msg):
        return IP(src=self.addr, dst=self.pcscf) / UDP(sport=self.port_us, dport=5060) / Raw(msg)

    def protected(self, msg):
        pkt = self.peer.seal(IP(src=self.addr, dst=self.pcscf) / UDP(sport=self.port_uc, dport=self.port_ps) / Raw(msg))
        self.sent.append(pkt)
        return pkt


class Fleet:
    """The UEs, one L3 socket to send with, and what the P-CSCF sends them, read from raw
    sockets of the UE namespace whose kernel buffers (64 MiB) hold every burst until read:
    a capture thread competing with the test for the interpreter would lose packets."""

    def __init__(self, topo, count):
        ue_peer.enter_netns(topo.ue_ns)
        addrs = [f"10.99.0.{100 + i}" for i in range(16)]
        for a in addrs:
            sh("ip", "addr", "add", f"{a}/24", "dev", topo.ue_if)
        self.ifname = topo.ue_if
        self.ues = [Ue(n, addrs[n % len(addrs)], topo.PCSCF4) for n in range(count)]
        # Sent through the kernel (routing, neighbours) as a UE's stack sends: it follows the
        # gratuitous ARP of an address that moved, where scapy's own ARP cache would not.
        self.sock = L3RawSocket()
        self.raw = {}
        for proto in (socket.IPPROTO_ESP, socket.IPPROTO_UDP):
            r = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
            r.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
            r.setblocking(False)
            self.raw[proto] = r
        self.pcscf = topo.PCSCF4
        self._esp = 0  # ESP packets the P-CSCF sent to the UEs so far
        self.by_spi = {}  # SPI -> [(arrival index, packet)]
        self._udp = []  # plain UDP it sent (the 401s)

    def _drain(self):
        for proto, r in self.raw.items():
            while True:
                try:
                    data = r.recv(65535)
                except BlockingIOError:
                    break
                p = IP(data)
                if p.src != self.pcscf:
                    continue
                if proto == socket.IPPROTO_ESP:
                    self.by_spi.setdefault(p[ESP].spi, []).append((self._esp, p))
                    self._esp += 1
                else:
                    self._udp.append(p)

    @property
    def esp(self):
        self._drain()
        return self._esp

    @property
    def udp(self):
        self._drain()
        return self._udp

    def send(self, pkts):
        for p in pkts:
            self.sock.send(p)

    @contextlib.contextmanager
    def sending(self, count=50):
        """The first `count` UEs keep sending requests from a thread while the block runs
        (the P-CSCF fails under traffic)."""
        stop = threading.Event()

        def keep_sending():
            while not stop.is_set():
                for u in self.ues[:count]:
                    self.send([u.protected(u.message())])
        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            time.sleep(0.5)
            yield
        finally:
            stop.set()
            sender.join()

    def seqs(self, ue, since=0):
        """The sequence numbers of what the P-CSCF sent this UE over ESP, from `since`."""
        self._drain()
        return [p[ESP].seq for i, p in self.by_spi.get(ue.spi_us, []) if i >= since]

    def opened(self, sa, spi, since=0):
        """(seq, inner packet) of what the P-CSCF sent on `spi` from `since`, each opened by
        scapy's SecurityAssociation `sa` (its ICV checked)."""
        self._drain()
        return [(p[ESP].seq, sa.decrypt(IP(bytes(p)))) for i, p in self.by_spi.get(spi, []) if i >= since]

    def replies(self, ue, since=0):
        """(seq, SIP text) of what the P-CSCF sent this UE's port_us over ESP from `since`."""
        return [(seq, bytes(inner[UDP].payload)) for seq, inner in self.opened(ue.peer.inb, ue.spi_us, since)]


def challenge(req):
    """The core's 401 to an SM1, with the keys the P-CSCF takes for the SAs."""
    return sip_text.response(req, 401, "Unauthorized", [
        f'WWW-Authenticate: Digest realm="{REALM}", nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
        f'ik="{IK.hex()}", ck="{CK.hex()}"'])


def core_message(core, ue, tag):
    """A MESSAGE from the core to a UE (it goes to the UE over the UE's SAs)."""
    return sip_text.request("MESSAGE", ue.impu, f"{core.addr}:5060", f"z9hG4bK{tag}{ue.n}", f"sip:as@{REALM}",
                            ue.impu, f"{tag}-{ue.n}", 1, ["Content-Type: text/plain"], "hello")


def challenged(ctl, core, fleet, batch):
    """SM1 from each UE of the batch (plain UDP), the core's 401 with keys, the P-CSCF's 401
    with Security-Server: each UE gets scapy's SAs (`peer`, towards port_ps) from it."""
    fleet.send([u.plain(u.register()) for u in batch])
    sm1 = core.collect(len(batch))
    expect(len(sm1) == len(batch), f"{len(sm1)} SM1 of {len(batch)} reached the core")
    for r in sm1:
        core.send(challenge(r))
    mine = {u.port_us for u in batch}
    servers, seen = {}, [0]

    def all_401s():
        udp = fleet.udp
        for p in udp[seen[0]:]:
            text = bytes(p[UDP].payload)
            if p[UDP].dport in mine and text.startswith(b"SIP/2.0 401"):
                servers[p[UDP].dport] = sip_text.header(text, "Security-Server")[0]
        seen[0] = len(udp)
        return len(servers) == len(batch)
    expect(wait_until(all_401s, 20), f"{len(servers)} of {len(batch)} 401s with Security-Server; proxy {ctl.sip()}")
    for u in batch:
        u.mech = sip_text.mechanism(servers[u.port_us])
        u.port_ps = int(u.mech["port-s"])
        u.peer = u.sa(int(u.mech["spi-s"]), u.spi_us, fleet.ifname)
        u.server = servers[u.port_us]


def register(ctl, core, fleet, batch):
    """SM1 / 401 / SM7 over scapy's ESP / 200 for each UE of the batch."""
    challenged(ctl, core, fleet, batch)
    fleet.send([u.protected(u.register(u.server)) for u in batch])
    sm7 = core.collect(len(batch))
    expect(len(sm7) == len(batch), f"{len(sm7)} SM7 of {len(batch)} reached the core")
    for r in sm7:
        core.send(registered(r))


def registered(sm7):
    """The core's 200 to an SM7."""
    return sip_text.response(sm7, 200, "OK", [f"Contact: {sip_text.header(sm7, 'Contact')[0]}"])


def register_all(ctl, core, fleet):
    for i in range(0, len(fleet.ues), 100):  # bursts a UDP socket's buffer takes whole
        register(ctl, core, fleet, fleet.ues[i:i + 100])
    expect(wait_until(lambda: ctl.sip()["ues"] == len(fleet.ues), 20), f"registered: {ctl.sip()['ues']}")


def exchange(ctl, core, fleet, messages, tag):
    """`messages` requests from every UE, each answered by the core, then one from the core to
    each UE; each must arrive."""
    ues, mark, requests = fleet.ues, fleet.esp, 0
    for i in range(0, len(ues), 100):
        batch = ues[i:i + 100]
        for _ in range(messages):
            fleet.send([u.protected(u.message()) for u in batch])
            got = core.collect(len(batch))
            requests += len(got)
            for r in got:
                core.send(sip_text.response(r, 200, "OK"))
        for u in batch:
            core.send(core_message(core, u, tag))
        time.sleep(0.05)
    expect(requests == len(ues) * messages, f"{requests} of {len(ues) * messages} requests reached the core; "
                                             f"drops {ctl.drops()}")
    want = len(ues) * (messages + 1)
    expect(wait_until(lambda: fleet.esp - mark >= want, 20),
           f"{fleet.esp - mark} of {want} answers and requests reached the UEs; drops {ctl.drops()}, "
           f"proxy {ctl.sip()}")


def requests_go_through_again(ctl, core, fleet, bound):
    """Each UE sends over its old SAs until a request reaches the core: none may need more than
    `bound` tries that were taken for replays, and none registers again. Returns the worst."""
    waiting, lost = {u.n: u for u in fleet.ues}, {u.n: 0 for u in fleet.ues}
    for _ in range(bound + 1):
        if not waiting:
            break
        fleet.send([u.protected(u.message()) for u in waiting.values()])
        got = core.collect(len(waiting), timeout=1.0)
        through = {int(re.search(rb"Call-ID: msg-(\d+)-", r).group(1)) for r in got}
        for r in got:
            core.send(sip_text.response(r, 200, "OK"))
        for n in list(waiting):
            if n in through:
                del waiting[n]
            else:
                lost[n] += 1
    expect(not waiting, f"{len(waiting)} UEs got nothing through after {bound + 1} tries; "
                        f"drops {ctl.drops()}, proxy {ctl.sip()}")
    worst = max(lost.values())
    expect(worst <= bound, f"a UE lost {worst} requests, more than {bound}")
    registers = [r for r in core.collect(10**6, timeout=1.0) if r.startswith(b"REGISTER")]
    expect(not registers, f"{len(registers)} UEs registered again")
    return worst


def sequence_numbers_move_on(core, fleet, before, mark, tag):
    """A MESSAGE from the core to each UE: scapy must see each one's sequence number above
    `before[ue.n]` (the highest it saw before the failure), and open it (ICV checked)."""
    ues, sent = fleet.ues, fleet.esp
    for i in range(0, len(ues), 100):
        for u in ues[i:i + 100]:
            core.send(core_message(core, u, tag))
        time.sleep(0.05)
    wait_until(lambda: fleet.esp - sent >= len(ues), 20)
    bad = []
    for u in ues:
        after = [seq for seq, _ in fleet.replies(u, mark)]
        if not after or min(after) <= before[u.n]:
            bad.append((u.n, before[u.n], after[:3]))
    expect(not bad, f"sequence numbers not above those before the failure: {bad[:5]}")


def replays_are_dropped(ctl, core, fleet, count):
    """The first `count` packets each UE sent, sent again: each is counted as a replay and none
    reaches the core."""
    before = ctl.drops().get("replay", 0)
    old = [p for u in fleet.ues for p in u.sent[:count]]
    fleet.send(old)
    expect(wait_until(lambda: ctl.drops().get("replay", 0) - before >= len(old), 20),
           f"{ctl.drops().get('replay', 0) - before} of {len(old)} replays counted")
    got = core.collect(10**6, timeout=1.0)
    expect(not got, f"{len(got)} replayed messages reached the core")
