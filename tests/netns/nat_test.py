#!/usr/bin/python3
"""A UE behind a real NAT registers through pcscf-espd with UDP-encapsulated tunnel-mode
ESP (TS 33.203 Annex M, TS 24.229 Annex F, RFC 3948).

Between the UE and the P-CSCF sits a home router: Linux netfilter masquerade (nftables)
that maps every source port into 40000-40999, so the UE's port 4500 reaches the P-CSCF
from a port it must learn. The UE's ESP is scapy's (tunnel mode, nat_t_header), keyed by
TS 33.203 Annex I from the 401's IK (tests/netns/lib/milenage.py). The UE registers,
sends and receives a MESSAGE, sends NAT keep-alives, survives a NAT rebinding (the
router forgets its bindings and maps the UE to a new port), carries on after pcscf-espd
restarts on its state store, re-registers and de-registers; tshark decodes every ESP-in-UDP frame on the router's public side with the
same keys. A UE behind the NAT that offers only transport mode gets a 494.
Output is TAP."""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import esp_capture  # noqa: E402
import nat  # noqa: E402
import sip_text  # noqa: E402
import ue_fleet  # noqa: E402
import ue_peer  # noqa: E402
from scripted_ue import CK, IK, challenge  # noqa: E402
from scapy.all import IP, UDP, wrpcap  # noqa: E402


def main():
    t = Tap()
    topo = Topology(core=True).create()
    home = nat.behind_nat(topo)
    store = tempfile.mkdtemp(prefix="pcscf-nat-state-")
    daemon_args = topo.sec_agree_args() + ["--log-level", "debug", "--state-dir", store]
    try:
        topo.start_daemon(workers=1, extra=daemon_args)
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return 1
    core = ue_fleet.Core(topo)
    ue_peer.enter_netns(topo.ue_ns)
    link = nat.Capture(topo.ue_if)  # the router's public side; its socket stays there
    ue_peer.enter_netns(home)
    u = nat.NatUe(topo, "natted@ims.example.net", port_us=6501)
    public = topo.UE4
    sets = []  # what tshark needs to decode each registration's SAs

    def sas_of(impi):
        return [s for s in topo.ctl.sas() if s.get("label") == impi]

    # The sniffer's thread may lag behind the UE's sockets under load: frames are picked
    # by their capture time, and the checks wait for what they look for.
    def sent_to_ue(since=0.0):
        """The P-CSCF's UDP to the NAT's public address captured since time `since`."""
        def found():
            return [f for f in list(link.packets) if f.time >= since and IP in f and f[IP].dst == public and UDP in f]
        return wait_until(found, 5)

    def nat_ports(since=0.0):
        """The router's public ports for the UE's 4500 since time `since`, in order."""
        ports = []
        for f in list(link.packets):
            if f.time < since or IP not in f or UDP not in f:
                continue
            if f[IP].src == public and f[UDP].dport == nat.NATT and f[UDP].sport not in ports:
                ports.append(f[UDP].sport)
        return ports

    def sa_set(m):
        sets.append({"alg": m["alg"], "ealg": m.get("ealg", "null"), "ik": IK.hex(), "ck": CK.hex(),
                     "spi_uc": u.spi_uc, "spi_us": u.spi_us, "spi_pc": int(m["spi-c"]), "spi_ps": int(m["spi-s"])})

    def sm7_and_200(m):
        u.send_protected(u.register(verify=u.server))
        sm7 = core.recv()
        expect('integrity-protected="yes"' in sip_text.header(sm7, "Authorization")[0], "SM7 not marked protected")
        core.send(sip_text.response(sm7, 200, "OK", [f"Contact: <sip:x@{public}:{u.port_us}>;expires=600",
                                                      f"P-Associated-URI: <{u.impu}>"]))
        got = u.replies()
        expect(got and got[0][1].startswith(b"SIP/2.0 200"), f"no 200 over ESP in UDP: {got}; drops {topo.ctl.drops()}")
        inner = got[0][0]
        expect(inner[IP].dst == nat.PRIVATE and inner[IP].src == topo.PCSCF4,
               f"the inner header is {inner[IP].src} -> {inner[IP].dst}, not the P-CSCF -> the UE's own address")

    def register():
        u.offer(6500, 8100, 8101)
        u.plain.sendto(u.register(), (topo.PCSCF4, 5060))
        sm1 = core.recv()
        via = sip_text.header(sm1, "Via")[-1]
        expect(f"received={public}" in via, f"the P-CSCF did not mark the NAT in the UE's Via: {via}")
        core.send(challenge(sm1))
        sm6, _ = u.plain.recvfrom(65535)
        expect(sip_text.start_line(sm6).startswith("SIP/2.0 401"), f"got {sip_text.start_line(sm6)}")
        m = u.took_401(sm6)
        mods = {x.get("mod") for x in sip_text.mechanisms(u.server)}
        expect(mods == {"UDP-enc-tun"}, f"the 401 offers mod {mods} to a UE behind a NAT: {u.server}")
        expect(u.public == public, f"the 401's Via says received={u.public}, the NAT's address is {public}")
        sa_set(m)
        sas = sas_of(u.impi)
        expect(len(sas) == 4, f"SAs: {sas}")
        sm7_and_200(m)
        to_ue = sent_to_ue()
        ports = nat_ports()
        expect(len(ports) == 1 and nat.NAT_PORTS[0] <= ports[0] <= nat.NAT_PORTS[1],
               f"the NAT mapped the UE's 4500 to {ports}")
        expect(to_ue and all(f[UDP].sport == nat.NATT and f[UDP].dport == ports[0] for f in to_ue),
               f"the P-CSCF's ESP went to ports {[f[UDP].dport for f in to_ue]}, not the learnt {ports[0]}")

    t.check("a UE behind a NAPT offering trans and UDP-enc-tun gets UDP-enc-tun in the 401, registers over ESP in "
            "UDP from its NAT port, and the 200 comes back to that port, tunnel mode to its own address", register)

    def message_from_ue():
        u.send_protected(u.message("hello from behind the NAT"))
        got = core.recv()
        expect(sip_text.start_line(got).startswith("MESSAGE") and got.endswith(b"hello from behind the NAT"),
               f"the core got {got[:80]}")
        core.send(sip_text.response(got, 200, "OK"))
        replies = u.replies()
        expect(replies and replies[0][1].startswith(b"SIP/2.0 200"), f"no 200 over ESP in UDP: {replies}")

    def message_to_ue(text):
        core.send(sip_text.request("MESSAGE", u.impu, f"{topo.CORE4}:5060", f"z9hG4bKnc{len(text)}",
                                   "sip:bob@ims.example.net", u.impu, f"natcore-{len(text)}", 1,
                                   ["Content-Type: text/plain"], text))
        got = u.replies()
        expect(got and got[0][1].startswith(b"MESSAGE") and got[0][1].endswith(text.encode()),
               f"no MESSAGE over ESP in UDP: {got}")
        expect(got[0][0][UDP].dport == u.port_us, f"the MESSAGE went to port {got[0][0][UDP].dport}")
        u.send_protected(sip_text.response(got[0][1], 200, "OK"), via="us")
        answer = core.recv()
        expect(sip_text.start_line(answer).startswith("SIP/2.0 200"), f"core got {sip_text.start_line(answer)}")

    t.check("a MESSAGE from the UE reaches the core and its 200 comes back over ESP in UDP", message_from_ue)
    t.check("a MESSAGE from the core reaches the UE over ESP in UDP and the UE's 200 reaches the core",
            lambda: message_to_ue("hello through the NAT"))

    def keepalives():
        before = topo.ctl.drops()["natt_keepalive"]
        for _ in range(3):
            u.keepalive()
        wait_until(lambda: topo.ctl.drops()["natt_keepalive"] >= before + 3, 5)
        after = topo.ctl.drops()["natt_keepalive"]
        expect(after == before + 3, f"natt_keepalive went {before} -> {after} for 3 keep-alives")

    t.check("NAT keep-alives (RFC 3948 2.3) are absorbed and counted, one each", keepalives)

    def rebinding():
        seen = time.time()
        nat.masquerade(topo.ue_ns, topo.ue_if, (41000, 41999))  # the NAT forgets; new ports
        message_from_ue()
        to_ue = sent_to_ue(seen)
        ports = nat_ports(seen)
        expect(len(ports) == 1 and 41000 <= ports[0] <= 41999, f"after the rebinding the UE came from {ports}")
        expect(to_ue and all(f[UDP].dport == ports[0] for f in to_ue),
               f"after the rebinding the P-CSCF sent to ports {[f[UDP].dport for f in to_ue]}, not {ports[0]}")
        message_to_ue("hello after the rebinding")

    t.check("a NAT rebinding mid-registration: the UE's next packet comes from a new port, and the P-CSCF answers "
            "and sends there from then on", rebinding)

    def restart_keeps_the_binding():
        rc = topo.stop_daemon()
        expect(rc == 0, f"pcscf-espd exit {rc}")
        topo.start_daemon(workers=1, extra=daemon_args)
        message_to_ue("hello after the restart")
        message_from_ue()

    t.check("pcscf-espd stopped and started on its state store: the UE's SAs and its rebound NAT port are restored, "
            "a MESSAGE each way without registering again", restart_keeps_the_binding)

    def re_registration():
        old_server = u.server
        u.offer(6502, 8102, 8103)
        u.send_protected(u.register(verify=old_server))
        sm1 = core.recv()
        expect('integrity-protected="yes"' in sip_text.header(sm1, "Authorization")[0], "SM1 not protected")
        core.send(challenge(sm1))
        got = u.replies()
        expect(got and got[0][1].startswith(b"SIP/2.0 401"), f"no 401 over the old SAs: {got}")
        m = u.took_401(got[0][1])
        expect(m.get("mod") == "UDP-enc-tun", f"the re-registration's 401 chose {m}")
        sa_set(m)
        sm7_and_200(m)
        message_from_ue()  # the first request over the new set retires the old pair
        wait_until(lambda: len(sas_of(u.impi)) == 4, 5)
        expect(len(sas_of(u.impi)) == 4, f"{len(sas_of(u.impi))} SAs after the re-registration")

    t.check("re-registration over the old SAs: a new UDP-enc-tun set, SM7 and 200 over it, the old set retired",
            re_registration)

    def deregistration():
        u.send_protected(u.register(expires=0))
        core.send(sip_text.response(core.recv(), 200, "OK"))
        got = u.replies()
        expect(got and got[0][1].startswith(b"SIP/2.0 200"), f"the de-registration's 200 not over ESP: {got}")
        wait_until(lambda: not sas_of(u.impi), 5)
        expect(not sas_of(u.impi), f"SAs left: {sas_of(u.impi)}")

    t.check("de-registration over ESP in UDP: its 200 reaches the UE and every SA is gone", deregistration)

    def nothing_overtook_a_port():
        sip, drops = topo.ctl.sip(), topo.ctl.drops()
        expect(sip["nat_port_waits_expired"] == 0 and drops["natt_port_unknown"] == 0,
               f"{sip['nat_port_waits_expired']} messages sent without their NAT port, "
               f"{drops['natt_port_unknown']} dropped for it ({sip['nat_port_waits']} waited for one)")

    t.check("since the restart, nothing the P-CSCF sent overtook a NAT port its SAs were taking: none waited in "
            "vain, none dropped as natt_port_unknown", nothing_overtook_a_port)

    def tshark_decodes():
        frames = [f for f in link.stop() if IP in f and UDP in f and len(f[UDP].payload) > 1]
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "natt.pcap")
            wrpcap(pcap, frames)
            got = esp_capture.decode(pcap, sets, public, topo.PCSCF4)
        table = "\n".join(esp_capture.table(got))
        expect(len(got) >= 14, f"only {len(got)} ESP-in-UDP frames:\n{table}")
        expect(all(f["icv"] == "good" for f in got), f"tshark found a bad or unchecked ICV:\n{table}")
        expect(all(f["sip"] for f in got), f"tshark could not read the SIP inside every frame:\n{table}")
        expect({f["dir"] for f in got} == {"ue>pc", "pc>ue"}, f"directions:\n{table}")

    t.check("tshark decodes every ESP-in-UDP frame on the router's public side with the Annex I keys: ICV good, "
            "SIP inside readable, both directions", tshark_decodes)
    u.close()

    def transport_only_refused():
        v = nat.NatUe(topo, "oldphone@ims.example.net", port_us=6601, modes=("trans",))
        try:
            v.offer(6600, 8200, 8201)
            v.plain.sendto(v.register(), (topo.PCSCF4, 5060))
            sm, _ = v.plain.recvfrom(65535)
            expect(sip_text.start_line(sm).startswith("SIP/2.0 494"), f"got {sip_text.start_line(sm)}")
            warning = " ".join(sip_text.header(sm, "Warning"))
            expect("NAT" in warning or "UDP-enc-tun" in warning, f"the 494's Warning does not say why: {warning}")
            expect(not sas_of(v.impi), f"SAs installed: {sas_of(v.impi)}")
        finally:
            v.close()

    t.check("a UE behind the NAT offering only mod=trans gets a 494 whose Warning names the NAT; no SA installed",
            transport_only_refused)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-2000:]}"))
    shutil.rmtree(store, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
