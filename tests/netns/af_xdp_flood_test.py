#!/usr/bin/python3
"""pcscf-espd on net_af_xdp with a 2000-byte MTU, flooded with garbage: an MTU the driver
cannot receive is refused at start, full-size frames reach the kernel, and after 5 s of
~40,000 frames/s (random bytes up to 2000, and IPv4 first fragments that reassembly holds
until they time out) the port still receives. The flood makes the worker take buffers
from deep in its pool; were the pool not laid out as the UMEM DPDK 22.11's af_xdp PMD
registers, the kernel would drop, for good, every buffer posted on the fill ring from
outside it, and the port would stop receiving. Output is TAP.

usage (root): af_xdp_flood_test.py"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology, sh  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402

MTU = 2000
FLOOD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "frame_flood.py")


def main():
    tap = Tap()
    topo = Topology().create()
    for ns, dev in ((topo.ue_ns, topo.ue_if), (topo.pcscf_ns, topo.p_if)):
        sh("ip", "link", "set", dev, "mtu", str(MTU), ns=ns)

    def mtu_beyond_the_driver_refused():
        try:
            topo.start_daemon(pmd="af_xdp", extra=["--access-mtu", "4000"])
        except RuntimeError as e:
            expect("MTU 4000 is more than net_af_xdp can receive (at most 3502)" in str(e),
                   f"no clear refusal: {str(e)[-300:]}")
            return
        raise AssertionError("pcscf-espd started with an MTU net_af_xdp cannot receive")

    tap.check("an --access-mtu net_af_xdp cannot receive is refused at start", mtu_beyond_the_driver_refused)
    try:
        topo.start_daemon(pmd="af_xdp", extra=["--access-mtu", str(MTU)])
    except Exception as e:  # noqa: BLE001
        print(f"not ok 2 - pcscf-espd starts on net_af_xdp with MTU {MTU}: {e}\n1..2")
        return 1

    def access_rx():
        st = topo.ctl.stats()
        return sum(st[k]["access_rx"] for k in st if k.startswith("worker") and k != "workers")

    def ping(size=56):
        """One echo of `size` bytes, unfragmented, answered within a second."""
        return sh("ping", "-c1", "-W1", "-M", "do", "-s", str(size), topo.PCSCF4,
                  ns=topo.ue_ns, check=False).returncode == 0

    def full_size_frames_pass():
        # 1972 bytes of ICMP payload: a 2000-byte datagram, a 2014-byte frame both ways.
        expect(wait_until(lambda: ping(MTU - 28), 10, step=0.5),
               f"no answer to a {MTU}-byte ping: {topo.ctl('/ethdev/stats,0')}")

    tap.check(f"a {MTU}-byte datagram reaches the kernel and its answer comes back", full_size_frames_pass)

    def receives_after_flood():
        before = access_rx()
        r = sh("/usr/bin/python3", FLOOD, topo.ue_if, topo.PCSCF4, "40000", "5", str(MTU),
               ns=topo.ue_ns, timeout=60)
        flooded = access_rx()
        expect(flooded > before, f"the flood did not reach the worker ({r.stdout.strip()})")
        # Reassembly lets go of the fragments after --reassembly-timeout-ms (2 s).
        expect(wait_until(ping, 20, step=0.5),
               f"nothing answers after the flood ({r.stdout.strip()}): access_rx {before} -> {flooded} "
               f"-> {access_rx()}, {topo.ctl('/ethdev/stats,0')}")
        after = access_rx()
        expect(wait_until(lambda: ping(MTU - 28) and access_rx() > after, 10, step=0.5),
               "full-size frames no longer pass")
        drops = topo.ctl.drops()
        expect(drops["reassembly_timeout"] > 0, f"the fragments were not held: {drops}")

    tap.check("after 5 s of 40,000 garbage frames/s the port still receives", receives_after_flood)

    def clean_stop():
        rc = topo.stop_daemon()
        expect(rc == 0, f"pcscf-espd exited {rc}")

    tap.check("SIGTERM stops pcscf-espd cleanly", clean_stop)
    topo.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
