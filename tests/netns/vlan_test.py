#!/usr/bin/python3
"""pcscf-espd on an 802.1Q access link (--access-vlan 100) against scapy's ESP.

The UE's addresses sit on a VLAN subinterface of its veth (veth-ue.100): the UE's kernel
tags what it sends on VLAN 100 and takes only frames tagged 100; the veth itself has no
address and no IPv6, so it sends nothing untagged. Checked: ESP from the UE on VLAN 100 is
verified and reaches the kernel's socket; the ESP reply leaves tagged 100 (captured on the
veth, under the VLAN) and scapy's SA verifies it; ARP, ND and ping work over the VLAN from
either side (the exception path, both ways); ESP on VLAN 200 or untagged is dropped as
`wrong_vlan` and reaches nothing; the log and /pcscf/config say who strips and inserts the
tag; a reload that changes --access-vlan is refused by name. Output is TAP.

net_af_packet strips and inserts the tag by offload (the kernel hands it over apart from
the frame); net_af_xdp has no offload, so the worker does it in the frame.

usage (root): vlan_test.py [--pmd af_packet|af_xdp]"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology, sh  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import ue_peer  # noqa: E402
from dataplane_test import Case, Echo, P_UDP  # noqa: E402
from scapy.all import ESP, Dot1Q, Ether, UDP  # noqa: E402

VLAN, OTHER_VLAN = 100, 200
SOL_PACKET, PACKET_QDISC_BYPASS = 263, 20


def ue_on_vlan(topo, workdir):
    """The UE's addresses on VLAN 100: on veth-ue.100 where the kernel has 802.1Q;
    otherwise on the veth, with tc tagging and untagging there (lib/vlan_tc.bpf.c). The veth
    sends nothing untagged either way. Returns the interface with the addresses."""
    ns, veth, sub = topo.ue_ns, topo.ue_if, f"{topo.ue_if}.{VLAN}"
    if sh("ip", "link", "add", "link", veth, "name", sub, "type", "vlan", "id", str(VLAN), ns=ns,
          check=False).returncode == 0:
        sh("ip", "addr", "flush", "dev", veth, ns=ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{veth}.disable_ipv6=1", ns=ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{sub}.accept_dad=0", ns=ns)
        sh("ip", "addr", "add", f"{topo.UE4}/24", "dev", sub, ns=ns)
        sh("ip", "addr", "add", f"{topo.UE6}/64", "dev", sub, "nodad", ns=ns)
        sh("ethtool", "-K", sub, "tx", "off", ns=ns)  # complete checksums, as on the veth (netns.py)
        sh("ip", "link", "set", sub, "up", ns=ns)
        print(f"# the UE on {sub}", flush=True)
        return sub
    obj = os.path.join(workdir, "vlan_tc.o")
    triplet = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    sh("clang", "-O2", "-target", "bpf", f"-DVLAN_ID={VLAN}", f"-I/usr/include/{triplet}", "-c",
       os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "vlan_tc.bpf.c"), "-o", obj)
    sh("tc", "qdisc", "add", "dev", veth, "clsact", ns=ns)
    for hook, sec in (("egress", "tc/egress"), ("ingress", "tc/ingress")):
        sh("tc", "filter", "add", "dev", veth, hook, "bpf", "direct-action", "obj", obj, "sec", sec, ns=ns)
    print(f"# the UE on {veth}, tagged by tc (this kernel has no 802.1Q driver)", flush=True)
    return veth


def send_raw(iface, frame):
    """`frame` on `iface` as it is: past tc (qdisc bypass), so no tag is added to it."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        s.bind((iface, 0))
        s.send(bytes(frame))


def main():
    pmd = sys.argv[sys.argv.index("--pmd") + 1] if "--pmd" in sys.argv else "af_packet"
    tap = Tap()
    topo = Topology(tag=f"vlan{os.getpid() % 100000}").create()
    workdir = tempfile.mkdtemp(prefix="vlan-test-")
    conf = os.path.join(workdir, "pcscf-espd.conf")
    with open(conf, "w") as f:
        f.write(f"access-vlan = {VLAN}\n")
    try:
        sub = ue_on_vlan(topo, workdir)
        if pmd == "af_xdp":  # XDP sees the frame's bytes only: the tag must be in them
            sh("ethtool", "-K", topo.ue_if, "txvlan", "off", ns=topo.ue_ns)
        topo.start_daemon(pmd=pmd, extra=["--config", conf])
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts on VLAN {VLAN}: {e}\n1..1")
        shutil.rmtree(workdir, ignore_errors=True)
        return 1
    echo4, echo6 = Echo(topo, topo.PCSCF4), Echo(topo, topo.PCSCF6)
    root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    ue_peer.enter_netns(topo.ue_ns)
    v4, v6 = Case(topo, False), Case(topo, True)

    def reported():
        cfg = topo.ctl("/pcscf/config")
        expect(cfg["access_vlan"] == VLAN, f"/pcscf/config: {cfg}")
        line = f"access VLAN {VLAN} (strip: {cfg['access_vlan_strip']}, insert: {cfg['access_vlan_insert']})"
        expect(line in topo.log(), f"no '{line}' in the log")
        print(f"# {pmd}: {line}", flush=True)

    def esp_roundtrip(c):
        echo = echo6 if c.v6 else echo4
        before = len(echo.got("udp", P_UDP))
        s = c.peer.sniffer()  # on the veth: the frames as they are on the wire
        ue_peer.send_l3(c.peer.seal(c.udp(b"REGISTER on VLAN 100")))
        inner = c.peer.wait(s, lambda inner: any(UDP in p for p in inner))
        expect(len(echo.got("udp", P_UDP)) == before + 1, "the UDP socket did not get the packet")
        expect(any(UDP in p and bytes(p[UDP].payload) == b"echo:REGISTER on VLAN 100" for p in inner),
               f"no verified ESP reply: {[p.summary() for p in inner]}")
        replies = [p for p in s.packets if ESP in p and p[ESP].spi == c.peer.spi_to_ue]
        expect(replies, "no ESP reply captured")
        for p in replies:
            expect(Dot1Q in p and p[Dot1Q].vlan == VLAN, f"ESP reply not tagged {VLAN}: {p.summary()}")

    def pings_both_ways():
        """Each side forgets the other's address first, so each ping starts with ARP or ND."""
        st = topo.ctl.stats()["worker0"]
        for ns, dev, targets in ((topo.ue_ns, sub, (topo.PCSCF4, topo.PCSCF6)),
                                 (topo.pcscf_ns, topo.tap, (topo.UE4, topo.UE6))):
            sh("ip", "neigh", "flush", "dev", dev, ns=ns)
            for target in targets:
                r = sh("ping", "-c1", "-W3", target, ns=ns, check=False)
                expect(r.returncode == 0, f"ping {target} from {ns} failed: {r.stdout.strip()}")
        after = topo.ctl.stats()["worker0"]
        expect(after["exception_in"] >= st["exception_in"] + 4 and after["exception_out"] >= st["exception_out"] + 4,
               f"exception path: {st} -> {after}")

    def wrong_vlan_dropped():
        mac = topo.ctl("/pcscf/config")["access_mac"]
        before, seen = topo.ctl.drops()["wrong_vlan"], len(echo4.read())
        # Sealed with the SA: on VLAN 100 either would verify and reach the socket.
        frames = [Ether(dst=mac) / Dot1Q(vlan=OTHER_VLAN) / v4.peer.seal(v4.udp(b"on VLAN 200")),
                  Ether(dst=mac) / v4.peer.seal(v4.udp(b"untagged"))]
        for f in frames:
            send_raw(topo.ue_if, f)
        got = wait_until(lambda: topo.ctl.drops()["wrong_vlan"] >= before + len(frames), 5)
        expect(got, f"wrong_vlan {before} -> {topo.ctl.drops()['wrong_vlan']}")
        expect(topo.ctl.drops()["wrong_vlan"] == before + len(frames),
               f"wrong_vlan went {before} -> {topo.ctl.drops()['wrong_vlan']}, {len(frames)} sent")
        expect(len(echo4.read()) == seen, "a frame off VLAN 100 reached the kernel's socket")

    def reload_keeps_the_vlan():
        with open(conf, "w") as f:
            f.write(f"access-vlan = {OTHER_VLAN}\n")
        topo.daemon.send_signal(signal.SIGHUP)  # ip netns exec execs the daemon: same process
        line = f"reload: --access-vlan cannot change while running ({VLAN} kept; restart to apply {OTHER_VLAN})"
        expect(wait_until(lambda: line in topo.log(), 5), f"no '{line}' in the log")
        expect(topo.ctl("/pcscf/config")["access_vlan"] == VLAN, "the VLAN changed")
        esp_roundtrip(v4)

    tap.check("the log and /pcscf/config say the VLAN and who strips and inserts its tag", reported)
    tap.check("UDP/IPv4 ESP on VLAN 100 reaches the socket; the reply leaves tagged 100 and scapy verifies it",
              lambda: esp_roundtrip(v4))
    tap.check("UDP/IPv6 ESP on VLAN 100 reaches the socket; the reply leaves tagged 100 and scapy verifies it",
              lambda: esp_roundtrip(v6))
    tap.check("ARP, ND and ping over the VLAN, from the UE and from the P-CSCF", pings_both_ways)
    tap.check("ESP on VLAN 200 and untagged dropped as wrong_vlan, reaching nothing", wrong_vlan_dropped)
    tap.check("a reload changing --access-vlan is refused by name; VLAN 100 still serves", reload_keeps_the_vlan)

    ue_peer._libc.setns(root_ns, 0)  # back to the root namespace to tidy up

    def clean_stop():
        rc = topo.stop_daemon()
        expect(rc == 0, f"pcscf-espd exited {rc}")

    tap.check("SIGTERM stops pcscf-espd cleanly", clean_stop)
    echo4.close()
    echo6.close()
    topo.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
