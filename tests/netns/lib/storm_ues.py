"""A registration storm: thousands of UEs, each sending its SM1 within one window (a second),
then registering as a UE must (TS 33.203 7, RFC 3261 17.1.2): the 401's Security-Server
gives its SAs, SM7 goes over ESP (HMAC-SHA-1-96, NULL encryption, built and checked here
with Python's hmac), a request unanswered is sent again at 0.5, 1, 2, 4 s, and a 503 (or
another refusal with Retry-After) is obeyed: the UE tries again after it. Once every UE is
registered (or --timeout passes) the results go to stdout as one JSON line; after a line
on stdin every UE de-registers over its SAs, --window-dereg at a time, and a second JSON
line follows.

One process, no scapy (too slow for 20,000 UEs): SM1 leaves a UDP socket per UE address at
port 5060 (the 401s and 503s come back there), ESP is read from and written to raw
sockets (the kernel has no XFRM: it neither consumes nor checks ESP). Run in the UE's
namespace, its addresses already on the interface.

    storm_ues.py --pcscf 10.99.0.1 --addrs 10.99.0.100,... --count 20000 --window 1"""
import argparse
import hashlib
import heapq
import hmac
import json
import random
import select
import socket
import struct
import sys
import time

import sip_text

REALM = "ims.example.net"
IK = bytes.fromhex("00112233445566778899aabbccddeeff")  # the core's (storm_core.py)
KEY = IK + bytes(4)  # TS 33.203 Annex I: HMAC-SHA-1-96's key is IK and 32 zero bits
SPI_BASE = 0x10000000  # the UE's inbound SPIs: spi-c base + n, spi-s base + 0x1000000 + n
T1, T2, TIMER_F = 0.5, 4.0, 32.0  # RFC 3261 17.1.2.2


def sealed(spi, seq, sport, dport, payload):
    """An ESP packet (transport mode, NULL encryption, HMAC-SHA-1-96) carrying UDP; the UDP
    checksum is left at 0 (allowed over IPv4)."""
    inner = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pad = -(len(inner) + 2) % 4
    body = struct.pack("!II", spi, seq) + inner + bytes(range(1, pad + 1)) + bytes([pad, socket.IPPROTO_UDP])
    return body + hmac.new(KEY, body, hashlib.sha1).digest()[:12]


def opened(packet):
    """(SPI, the SIP message) of an ESP packet from a raw socket (IP header first); None
    when its ICV is wrong."""
    esp = packet[(packet[0] & 0x0F) * 4:]
    body, icv = esp[:-12], esp[-12:]
    if not hmac.compare_digest(hmac.new(KEY, body, hashlib.sha1).digest()[:12], icv):
        return None
    spi = struct.unpack_from("!I", body)[0]
    pad = body[-2]
    return spi, body[8 + 8:len(body) - 2 - pad]


class Ue:
    __slots__ = ("n", "addr", "impi", "port_uc", "port_us", "spi_uc", "spi_us", "cseq", "state", "bytes", "sent_at",
                 "interval", "gen", "started", "registered", "server", "spi_ps", "port_ps", "seq", "attempts")

    def __init__(self, n, addr, slot):
        self.n, self.addr = n, addr
        self.impi = f"storm{n}@{REALM}"
        self.port_uc, self.port_us = 20000 + 2 * slot, 20001 + 2 * slot
        self.spi_uc, self.spi_us = SPI_BASE + n, SPI_BASE + 0x1000000 + n
        self.cseq, self.state, self.gen, self.seq, self.attempts = 0, "idle", 0, 0, 0
        self.bytes = self.server = None
        self.started = self.registered = None

    def client(self):
        return (f"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c={self.spi_uc};spi-s={self.spi_us};"
                f"port-c={self.port_uc};port-s={self.port_us}")

    def register(self, verify=None, expires=600):
        self.cseq += 1
        h = sip_text.register_headers(self.client(), self.impi, REALM, f"{self.addr}:{self.port_us}", verify, expires)
        # SM1's answer comes back to the Via's port, where the storm's socket of this address
        # listens; over the SAs everything comes to port_uc / port_us.
        via = f"{self.addr}:{self.port_us if verify else 5060}"
        return sip_text.request("REGISTER", f"sip:{REALM}", via,
                                f"z9hG4bKs{self.n}x{self.cseq}", f"sip:storm{self.n}@{REALM}",
                                f"sip:storm{self.n}@{REALM}", f"storm-{self.n}", self.cseq, h)


def status_line(msg):
    """(status code, CSeq number, Call-ID's UE number, header section) of a response; None for
    anything else."""
    if not msg.startswith(b"SIP/2.0 "):
        return None
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    cseq = sip_text.header(head, "CSeq")
    call = sip_text.header(head, "Call-ID")
    if not cseq or not call or not call[0].startswith("storm-"):
        return None
    return int(head[8:11]), int(cseq[0].split()[0]), int(call[0][6:]), head


class Storm:
    def __init__(self, a):
        self.a = a
        addrs = a.addrs.split(",")
        self.ues = [Ue(n, addrs[n % len(addrs)], n // len(addrs)) for n in range(a.count)]
        self.plain, self.raw_tx = {}, {}
        for addr in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
            s.bind((addr, 5060))
            s.setblocking(False)
            self.plain[addr] = s
            r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
            r.bind((addr, 0))
            self.raw_tx[addr] = r
        self.raw_rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
        self.raw_rx.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)
        self.raw_rx.setblocking(False)
        self.timers = []  # (when, tie, ue number, generation)
        self.pending_dereg, self.dereg_busy = [], 0
        self.tie = 0
        self.counts = {"sm1_sent": 0, "sm7_sent": 0, "retransmitted": 0, "answered_503": 0, "timeouts": 0,
                       "bad_icv": 0, "stale": 0, "refused": {}, "why": {}}

    # ---- sending ---------------------------------------------------------------------------

    def at(self, when, ue):
        self.tie += 1
        heapq.heappush(self.timers, (when, self.tie, ue.n, ue.gen))

    def transmit(self, ue):
        if ue.state == "sm1":
            self.plain[ue.addr].sendto(ue.bytes, (self.a.pcscf, 5060))
        else:  # over the SA towards port_ps: a new sequence number each time (RFC 4303 3.3.3)
            ue.seq += 1
            self.raw_tx[ue.addr].sendto(sealed(ue.spi_ps, ue.seq, ue.port_uc, ue.port_ps, ue.bytes),
                                        (self.a.pcscf, 0))

    def send(self, ue, state, message, now):
        """Starts a request (a new transaction): sent now, then again by timer E."""
        ue.state, ue.bytes, ue.sent_at, ue.interval = state, message, now, T1
        ue.gen += 1
        self.transmit(ue)
        self.at(now + T1, ue)

    def sm1(self, ue, now):
        ue.attempts += 1
        self.counts["sm1_sent"] += 1
        self.send(ue, "sm1", ue.register(), now)

    def on_timer(self, ue, now):
        if ue.state == "wait":  # Retry-After passed
            return self.sm1(ue, now)
        if now - ue.sent_at >= TIMER_F:  # no answer at all: start over
            self.counts["timeouts"] += 1
            if ue.state == "dereg":
                return self.send(ue, "dereg", ue.register(ue.server, expires=0), now)
            return self.sm1(ue, now)
        self.counts["retransmitted"] += 1
        self.transmit(ue)
        ue.interval = min(ue.interval * 2, T2)
        self.at(now + ue.interval, ue)

    # ---- receiving -------------------------------------------------------------------------

    def on_response(self, code, cseq, n, head, now):
        if n >= len(self.ues):
            return
        ue = self.ues[n]
        if cseq != ue.cseq or ue.state not in ("sm1", "sm7", "dereg") or code < 200:
            self.counts["stale"] += code >= 200
            return
        ue.gen += 1  # the transaction's timers are void
        if code == 401 and ue.state == "sm1":
            server = sip_text.header(head, "Security-Server")[0]
            m = sip_text.mechanism(server)
            ue.server, ue.spi_ps, ue.port_ps = server, int(m["spi-s"]), int(m["port-s"])
            self.counts["sm7_sent"] += 1
            return self.send(ue, "sm7", ue.register(server), now)
        if code == 200 and ue.state == "sm7":
            ue.state, ue.registered = "registered", now
            return
        if code == 200 and ue.state == "dereg":
            return self.dereg_done(ue, "gone")
        # A refusal: try again after Retry-After (RFC 3261 21.5.4), else 1 s; a UE that was
        # de-registering tries that again, any other starts over with an SM1.
        if code == 503:
            self.counts["answered_503"] += 1
        else:
            self.counts["refused"][str(code)] = self.counts["refused"].get(str(code), 0) + 1
            warning = sip_text.header(head, "Warning")
            if warning and len(self.counts["why"]) < 5:
                self.counts["why"][warning[0]] = ue.state
        after = sip_text.header(head, "Retry-After")
        if ue.state == "dereg":
            self.dereg_done(ue, "registered")
            self.pending_dereg.append(ue)
            return
        ue.state = "wait"
        self.at(now + (float(after[0].split(";")[0]) if after else 1.0), ue)

    def dereg_done(self, ue, state):
        ue.state = state
        self.dereg_busy -= 1

    def drain(self, now, most=16):
        """Reads what came, up to `most` per socket: the SM1s still to go are not held up."""
        got = 0
        for s in self.plain.values():
            for _ in range(most):
                try:
                    msg = s.recv(65535)
                except BlockingIOError:
                    break
                got += 1
                r = status_line(msg)
                if r:
                    self.on_response(*r, now)
        for _ in range(most * 4):
            try:
                pkt = self.raw_rx.recv(65535)
            except BlockingIOError:
                break
            got += 1
            o = opened(pkt)
            if o is None:
                self.counts["bad_icv"] += 1
                continue
            r = status_line(o[1])
            if r:
                self.on_response(*r, now)
        return got

    def run_timers(self, now):
        while self.timers and self.timers[0][0] <= now:
            _, _, n, gen = heapq.heappop(self.timers)
            ue = self.ues[n]
            if gen == ue.gen:
                self.on_timer(ue, now)

    def loop(self, done, deadline, start_more=lambda now: None):
        socks = [*self.plain.values(), self.raw_rx]
        while not done() and time.monotonic() < deadline:
            now = time.monotonic()
            start_more(now)
            self.run_timers(now)
            if self.drain(now) == 0:
                wait = min(0.01, max(0.0, self.timers[0][0] - now)) if self.timers else 0.01
                select.select(socks, [], [], wait)

    # ---- the two phases ----------------------------------------------------------------

    def register_all(self):
        t0 = time.monotonic()
        order = list(self.ues)
        random.Random(1).shuffle(order)
        nxt = [0]

        def start_more(now):  # the SM1s spread evenly over the window
            due = min(len(order), int((now - t0) / self.a.window * len(order)) + 1)
            while nxt[0] < due:
                ue = order[nxt[0]]
                ue.started = now
                self.sm1(ue, now)
                nxt[0] += 1
        self.loop(lambda: nxt[0] == len(order) and all(u.state == "registered" for u in self.ues),
                  t0 + self.a.timeout, start_more)
        took = sorted(u.registered - u.started for u in self.ues if u.registered is not None)

        def pct(q):
            return round(1000 * took[min(len(took) - 1, int(q * len(took)))], 1) if took else None
        last = max((u.registered for u in self.ues if u.registered is not None), default=t0)
        return {"ues": len(self.ues), "registered": len(took), "seconds": round(last - t0, 2),
                "sm1_sent_in_s": round(max(u.started for u in self.ues if u.started) - t0, 2),
                "time_to_200_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
                "attempts_max": max(u.attempts for u in self.ues), **self.counts}

    def deregister_all(self):
        t0 = time.monotonic()
        self.pending_dereg = [u for u in self.ues if u.state == "registered"]

        def start_more(now):
            while self.pending_dereg and self.dereg_busy < self.a.window_dereg:
                ue = self.pending_dereg.pop()
                self.dereg_busy += 1
                self.send(ue, "dereg", ue.register(ue.server, expires=0), now)
        self.loop(lambda: not self.pending_dereg and self.dereg_busy == 0, t0 + self.a.timeout, start_more)
        return {"deregistered": sum(1 for u in self.ues if u.state == "gone"),
                "seconds": round(time.monotonic() - t0, 2), **self.counts}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcscf", required=True)
    ap.add_argument("--addrs", required=True, help="the UEs' addresses, comma separated")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--window", type=float, default=1.0, help="seconds over which the SM1s go")
    ap.add_argument("--window-dereg", type=int, default=256, help="de-registrations under way at once")
    ap.add_argument("--timeout", type=float, default=240.0)
    a = ap.parse_args()
    storm = Storm(a)
    print(json.dumps(storm.register_all()), flush=True)
    sys.stdin.readline()
    print(json.dumps(storm.deregister_all()), flush=True)


if __name__ == "__main__":
    main()
