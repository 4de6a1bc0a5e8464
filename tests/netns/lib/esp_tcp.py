"""One TCP connection of a scripted UE, spoken segment by segment over scapy's ESP: the UE
namespace's kernel has no ESP, so it cannot hold the connection itself. Enough TCP for SIP
messages that fit a segment: the handshake either way, data, acknowledgements, a reset."""
import time

from scapy.all import IP, TCP, Raw


class EspTcp:
    """`seal` protects what the UE sends (an EspPeer towards the P-CSCF's port), `opened`
    returns what the P-CSCF sent since an index, opened and checked (Fleet.opened bound to
    the SA towards the UE's port)."""

    def __init__(self, send, seal, opened, mark, ue, uport, pcscf, pport):
        self.send_l3, self.seal, self.opened = send, seal, opened
        self.ue, self.uport, self.pcscf, self.pport = ue, uport, pcscf, pport
        self.mark = mark  # the P-CSCF's packets from here on are this connection's candidates
        self.seen = set()  # (seq, flags, length) of segments already taken
        self.seq = self.ack = 0

    def _segment(self, flags, payload=b""):
        pkt = IP(src=self.ue, dst=self.pcscf) / TCP(sport=self.uport, dport=self.pport, flags=flags, seq=self.seq,
                                                    ack=self.ack)
        self.send_l3(self.seal(pkt / Raw(payload) if payload else pkt))
        self.seq += len(payload)

    def _find(self, want, take=True):
        for _, inner in self.opened(self.mark):
            if TCP not in inner:
                continue
            t = inner[TCP]
            key = (t.seq, str(t.flags), len(t.payload))
            if t.sport != self.pport or t.dport != self.uport or key in self.seen:
                continue
            if take:
                self.seen.add(key)
            if want(t):
                return t
        return None

    def wait(self, want, timeout=5.0, take=True):
        """The next segment of this connection from the P-CSCF that `want` accepts."""
        deadline = time.time() + timeout
        while True:
            t = self._find(want, take)
            if t is not None or time.time() >= deadline:
                break
            time.sleep(0.05)
        if t is None and take:
            raise AssertionError(f"no TCP segment {self.pport} -> {self.uport} as expected within {timeout} s")
        return t

    def connect(self, isn=1000):
        self.seq = isn
        self._segment("S")
        self.seq += 1
        synack = self.wait(lambda t: t.flags.S and t.flags.A)
        self.ack = synack.seq + 1
        self._segment("A")

    def accept(self, isn=5000, tries=1, every=0.3):
        """Answers the P-CSCF's SYN, and again (each time a new ESP packet, numbered on) until
        data comes, as the UE's stack does on each SYN the P-CSCF sends again, up to `tries`
        times. Returns how many SYN-ACKs it took."""
        syn = self.wait(lambda t: t.flags.S and not t.flags.A)
        self.ack = syn.seq + 1
        for n in range(1, tries + 1):
            self.seq = isn
            self._segment("SA")
            self.seq = isn + 1
            if self.wait(lambda t: len(t.payload) > 0, every, take=False) is not None:
                return n
        raise AssertionError(f"no data after {tries} SYN-ACKs")

    def send(self, data):
        self._segment("PA", data)

    def recv(self, want=lambda payload: True, timeout=5.0):
        """The payload of the next data segment `want` accepts, acknowledged."""
        t = self.wait(lambda t: len(t.payload) > 0 and want(bytes(t.payload)), timeout)
        self.ack = t.seq + len(t.payload)
        self._segment("A")
        return bytes(t.payload)

    def reset(self):
        self._segment("RA")
