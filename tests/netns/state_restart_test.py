#!/usr/bin/python3
"""pcscf-espd killed (-9) under traffic and started again on its state store: every UE
stays registered and keeps its SAs. UEs are scripted here with scapy's ESP (an
implementation no one here wrote), the core is a UDP socket in its own namespace.

What is checked (docs/architecture.md, "What survives a restart"):
- after the restart each UE's next requests over its old SAs reach the core, after at most
  2 x --seq-checkpoint of them were taken for replays (the window resumes two intervals
  past the last checkpoint), and no UE registers again;
- every sequence number the P-CSCF sends after the restart is above every one it sent
  before, SA by SA, as scapy sees them;
- every packet a UE sent before the crash, sent again, is dropped as a replay;
- a clean stop (SIGTERM) and start resume every SA exactly: nothing lost, nothing reused.
Output is TAP."""
import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology, sh  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import milenage  # noqa: E402
import sip_text  # noqa: E402
import ue_peer  # noqa: E402
from scapy.all import IP, UDP, Raw, conf  # noqa: E402
from scapy.layers.ipsec import ESP  # noqa: E402

IK = bytes.fromhex("00112233445566778899aabbccddeeff")
CK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
REALM = "ims.example.net"
K = 4  # --seq-checkpoint: small, so that a few messages pass several checkpoints


class Core:
    """The IMS core: one UDP socket in the core namespace, answering as told."""

    def __init__(self, topo):
        ue_peer.enter_netns(topo.core_ns)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((topo.CORE4, 5060))
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

    def via(self):
        return f"{self.addr}:{self.port_us}"

    def client(self):
        return (f"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c={self.spi_uc};spi-s={self.spi_us};"
                f"port-c={self.port_uc};port-s={self.port_us}")

    def register(self, verify=None):
        self.cseq += 1
        h = [f"Security-Client: {self.client()}", "Require: sec-agree", "Proxy-Require: sec-agree",
             f'Authorization: Digest username="{self.impi}", realm="{REALM}", uri="sip:{REALM}", nonce="", '
             f'response="{"0123" if verify else ""}"', f"Contact: <sip:ue@{self.via()}>;expires=600"]
        if verify:
            h.append(f"Security-Verify: {verify}")
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
        self.ues = [Ue(n, addrs[n % len(addrs)], topo.PCSCF4) for n in range(count)]
        self.sock = conf.L3socket()
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

    def seqs(self, ue, since=0):
        """The sequence numbers of what the P-CSCF sent this UE over ESP, from `since`."""
        self._drain()
        return [p[ESP].seq for i, p in self.by_spi.get(ue.spi_us, []) if i >= since]

    def replies(self, ue, since=0):
        """(seq, SIP text) of what the P-CSCF sent this UE over ESP from `since`, each opened
        by scapy (its ICV checked)."""
        self._drain()
        out = []
        for i, p in self.by_spi.get(ue.spi_us, []):
            if i >= since:
                inner = ue.peer.inb.decrypt(IP(bytes(p)))
                out.append((p[ESP].seq, bytes(inner[UDP].payload)))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ues", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=6, help="per UE before the crash")
    args = ap.parse_args()
    t = Tap()
    topo = Topology(core=True).create()
    store = tempfile.mkdtemp(prefix="pcscf-state-")
    daemon_args = topo.sec_agree_args() + ["--state-dir", store, "--seq-checkpoint", str(K)]
    topo.start_daemon(workers=2, extra=daemon_args)
    core = Core(topo)
    fleet = Fleet(topo, args.ues)
    ues = fleet.ues
    state = {}

    def challenge(req):
        return sip_text.response(req, 401, "Unauthorized", [
            f'WWW-Authenticate: Digest realm="{REALM}", nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
            f'ik="{IK.hex()}", ck="{CK.hex()}"'])

    def ue_kernel_drops():
        out = sh("nstat", "-az", ns=topo.ue_ns, check=False).stdout
        return [l for l in out.splitlines() if any(w in l for w in ("InCsumErrors", "InErrors", "RcvbufErrors",
                                                                    "InDiscards", "Drop", "NoPorts", "InDelivers"))
                and not l.split()[1] == "0"]

    def register(batch):
        fleet.send([u.plain(u.register()) for u in batch])
        sm1 = core.collect(len(batch))
        expect(len(sm1) == len(batch), f"{len(sm1)} SM1 of {len(batch)} reached the core")
        for r in sm1:
            core.send(challenge(r))
        mine = {u.port_us for u in batch}
        servers, seen = {}, [0]

        def sixes():
            udp = fleet.udp
            for p in udp[seen[0]:]:
                text = bytes(p[UDP].payload)
                if p[UDP].dport in mine and text.startswith(b"SIP/2.0 401"):
                    servers[p[UDP].dport] = sip_text.header(text, "Security-Server")[0]
            seen[0] = len(udp)
            return len(servers) == len(batch)
        expect(wait_until(sixes, 20), f"{len(servers)} of {len(batch)} 401s with Security-Server; proxy "
                                      f"{topo.ctl.sip()}; UE kernel: {ue_kernel_drops()}")
        for u in batch:
            m = sip_text.mechanism(servers[u.port_us])
            u.port_ps = int(m["port-s"])
            u.peer = ue_peer.EspPeer(topo.ue_if, m["alg"], milenage.ik_esp(m["alg"], IK), int(m["spi-s"]), u.spi_us)
            u.server = servers[u.port_us]
        fleet.send([u.protected(u.register(u.server)) for u in batch])
        sm7 = core.collect(len(batch))
        expect(len(sm7) == len(batch), f"{len(sm7)} SM7 of {len(batch)} reached the core")
        for r in sm7:
            core.send(sip_text.response(r, 200, "OK", [f"Contact: {sip_text.header(r, 'Contact')[0]}"]))

    def register_all():
        for i in range(0, len(ues), 100):  # bursts a UDP socket's buffer takes whole
            register(ues[i:i + 100])
        expect(wait_until(lambda: topo.ctl.sip()["ues"] == len(ues), 20), f"registered: {topo.ctl.sip()['ues']}")

    def traffic_then_kill():
        # Requests from every UE, each answered by the core; a request from the core to each.
        for i in range(0, len(ues), 100):
            batch = ues[i:i + 100]
            for _ in range(args.messages):
                fleet.send([u.protected(u.message()) for u in batch])
                for r in core.collect(len(batch)):
                    core.send(sip_text.response(r, 200, "OK"))
            for u in batch:
                core.send(sip_text.request("MESSAGE", u.impu, f"{topo.CORE4}:5060", f"z9hG4bKc{u.n}",
                                           f"sip:as@{REALM}", u.impu, f"core-{u.n}", 1, ["Content-Type: text/plain"],
                                           "hello"))
            time.sleep(0.05)
        wait_until(lambda: fleet.esp >= len(ues) * (args.messages + 2), 20)
        # Still under traffic when it dies: a thread keeps sending while the daemon is killed.
        stop = threading.Event()

        def keep_sending():
            while not stop.is_set():
                for u in ues[:50]:
                    fleet.send([u.protected(u.message())])
        sender = threading.Thread(target=keep_sending)
        sender.start()
        time.sleep(0.5)
        topo.daemon.kill()
        topo.daemon.wait()
        stop.set()
        sender.join()
        time.sleep(0.5)  # the last packets the capture will see
        state["before"] = {u.n: max(fleet.seqs(u)) for u in ues}
        state["esp_mark"] = fleet.esp
        core.collect(10**6, timeout=1.0)  # what the core got before the crash is not the test's

    def restart_restores():
        topo.start_daemon(workers=2, extra=daemon_args)
        log = topo.log()
        m = re.search(r"restored (\d+) SA\(s\) and (\d+) registration\(s\) in (\d+) ms", log)
        expect(m, f"no restore line in the log:\n{log[-2000:]}")
        expect(int(m.group(1)) == 4 * len(ues) and int(m.group(2)) == len(ues),
               f"restored {m.group(1)} SAs and {m.group(2)} registrations, not {4 * len(ues)} and {len(ues)}")
        st = topo.ctl("/pcscf/state")
        expect(st["restored_registrations"] == len(ues), f"telemetry: {st}")
        expect(wait_until(lambda: topo.ctl.sip()["ues"] == len(ues), 5), "the registrations are not back")
        state["restore_ms"] = int(m.group(3))
        print(f"# {4 * len(ues)} SAs and {len(ues)} registrations restored in {m.group(3)} ms", flush=True)

    def requests_go_through_again():
        waiting, lost = {u.n: u for u in ues}, {u.n: 0 for u in ues}
        for _ in range(2 * K + 1):
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
        expect(not waiting, f"{len(waiting)} UEs got nothing through after {2 * K + 1} tries")
        worst = max(lost.values())
        expect(worst <= 2 * K, f"a UE lost {worst} requests, more than 2 x {K}")
        print(f"# requests lost per UE after the crash: at most {worst} (bound {2 * K})", flush=True)
        registers = [r for r in core.collect(10**6, timeout=1.0) if r.startswith(b"REGISTER")]
        expect(not registers, f"{len(registers)} UEs registered again")

    def sequence_numbers_move_on():
        for i in range(0, len(ues), 100):
            for u in ues[i:i + 100]:
                core.send(sip_text.request("MESSAGE", u.impu, f"{topo.CORE4}:5060", f"z9hG4bKd{u.n}",
                                           f"sip:as@{REALM}", u.impu, f"core2-{u.n}", 2, ["Content-Type: text/plain"],
                                           "again"))
            time.sleep(0.05)
        wait_until(lambda: fleet.esp - state["esp_mark"] >= 2 * len(ues), 20)
        bad = []
        for u in ues:
            after = [seq for seq, _ in fleet.replies(u, state["esp_mark"])]
            if not after or min(after) <= state["before"][u.n]:
                bad.append((u.n, state["before"][u.n], after[:3]))
        expect(not bad, f"sequence numbers not above those before the crash: {bad[:5]}")

    def replays_are_dropped():
        before = topo.ctl.drops().get("replay", 0)
        old = [p for u in ues for p in u.sent[:1 + args.messages]]  # SM7 and the messages before the crash
        fleet.send(old)
        expect(wait_until(lambda: topo.ctl.drops().get("replay", 0) - before >= len(old), 20),
               f"{topo.ctl.drops().get('replay', 0) - before} of {len(old)} replays counted")
        got = core.collect(10**6, timeout=1.0)
        expect(not got, f"{len(got)} replayed messages reached the core")

    def clean_restart_is_exact():
        rc = topo.stop_daemon()
        expect(rc == 0, f"exit {rc}")
        mark = fleet.esp
        last = {u.n: max(fleet.seqs(u)) for u in ues[:50]}
        topo.start_daemon(workers=2, extra=daemon_args)
        # Nothing is taken for a replay now: each request goes through at once...
        fleet.send([u.protected(u.message()) for u in ues[:50]])
        got = core.collect(50, timeout=5.0)
        expect(len(got) == 50, f"{len(got)} of 50 requests went through at once")
        for r in got:
            core.send(sip_text.response(r, 200, "OK"))
        # ... and the P-CSCF carries on after its last number, without the checkpoint's slack
        # (a number may have gone to a packet the stop dropped before it left).
        wait_until(lambda: fleet.esp - mark >= 50, 10)
        off = []
        for u in ues[:50]:
            first = min((seq for seq, _ in fleet.replies(u, mark)), default=0)
            if not last[u.n] < first < last[u.n] + K:
                off.append((u.n, last[u.n], first))
        expect(not off, f"not resumed right after the last number: {off[:5]}")

    t.check(f"{len(ues)} UEs register (SM1 / 401 / SM7 over scapy's ESP / 200) with the store on", register_all)
    t.check("traffic both ways, then kill -9 while UEs keep sending", traffic_then_kill)
    t.check("started again on the store: every SA and registration back, in the log and telemetry",
            restart_restores)
    t.check(f"each UE's requests over its old SAs reach the core again after at most 2 x {K} taken for replays; "
            "no UE registers again", requests_go_through_again)
    t.check("every sequence number sent after the restart is above every one before it, SA by SA",
            sequence_numbers_move_on)
    t.check("every packet the UEs sent before the crash, sent again, is dropped as a replay", replays_are_dropped)
    t.check("a clean stop and start resume each SA exactly", clean_restart_is_exact)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-40:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
