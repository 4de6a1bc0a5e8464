#!/usr/bin/python3
"""The rejected cases of TS 33.203 7.1 / 7.2 against sipp (issue 4): sipp as the UE
(sipp/ue_rejects.xml, its ESP scapy's in lib/ue_ipsec.py) and as the core
(sipp/core_rejects.xml, which sees only what the P-CSCF lets through). Around one
registration that succeeds: a MESSAGE on the unprotected port and a protected MESSAGE from
an IMPU not registered over its SA are dropped; a REGISTER whose Via names another
address, one offering port-c = port-s, an SM7 with a forged Security-Verify (answered over
the temporary SAs, which then go) and a protected REGISTER offering the port_uc in use
are refused with 403 and a Warning saying why, which sipp checks. The daemon runs with
--nat-traversal off: with it on, an IPv4 REGISTER whose Via names another address is taken
as coming from behind a NAT (TS 24.229 F.1), which tests/netns/nat_test.py covers.
With --tcp the UE is lib/tcp_ue.py --rejects, the same cases over TCP (sipp cannot open the
connection SM7 needs). usage (root): sipp_rejects_test.py [--v6] [--tcp]. Output is TAP."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from tap import expect, wait_until  # noqa: E402
import ue_rig  # noqa: E402

PORT_US = 6101


def run(topo, v6, tcp, work):
    other = "[2001:db8:99::77]" if v6 else "10.99.0.77"
    procs = ue_rig.start(topo, work, core_scenario="core_rejects.xml", attack=False)
    if tcp:  # the same cases from the kernel-socket UE (sipp cannot open SM7's connection)
        ue, pcscf = (topo.UE6, topo.PCSCF6) if v6 else (topo.UE4, topo.PCSCF4)
        ue_run = subprocess.run(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{HERE}/lib/tcp_ue.py",
                                 "--rejects", "--ue", ue, "--pcscf", pcscf, "--other", other,
                                 "--k", ue_rig.KB.hex(), "--op", ue_rig.OPB.hex(), "--amf", ue_rig.AMFB.hex()],
                                capture_output=True, text=True, timeout=120)
        with open(f"{work}/ue.err", "w") as f:
            f.write(ue_run.stdout[-1500:] + ue_run.stderr[-1500:])
    else:
        ue_run = ue_rig.sipp_ue(topo, work, "ue_rejects.xml", v6, PORT_US, "-key", "other_ip", other)
    core_rc, events = ue_rig.stop(work, *procs)
    return ue_run.returncode, core_rc, events


def main():
    v6, tcp = "--v6" in sys.argv, "--tcp" in sys.argv
    rig = ue_rig.setup("pcscf-rejects-", ["--nat-traversal", "off"])
    if rig is None:
        return 1
    t, topo, work = rig
    r = {}

    def scenarios():
        r["ue"], r["core"], r["events"] = run(topo, v6, tcp, work)
        errs = "".join(open(f"{work}/{f}").read()[-1500:] for f in ("ue.err", "core.err")
                       if os.path.exists(f"{work}/{f}"))
        expect(r["ue"] == 0, f"sipp UE exit {r['ue']}: {errs}")
        expect(r["core"] == 0, f"sipp core exit {r['core']}: {errs}")

    def counted():
        wait_until(lambda: topo.ctl.sip()["refused"] >= 4 and topo.ctl.sip()["dropped"])
        sip = topo.ctl.sip()
        # A REGISTER sipp sent again (slow run) is refused again, with the same answer.
        ev = r.get("events", [])
        sent = [e["h"] for e in ev if e.get("ev") == "out" or (e.get("ev") == "plain" and e["dir"] == "out")]
        again = len(sent) - len(set(sent))
        expect(4 <= sip["refused"] <= 4 + again,
               f"refusals: {sip['refused']}, want 4 (b, c, d, g) + up to {again} sent again: {sip}")
        expect(sip["dropped"] == {"unprotected": 1, "wrong_sa": 1}, f"proxy drops: {sip['dropped']}")

    def refusals_over_esp():
        ev = r.get("events", [])
        got = list({e["h"]: e for e in ev if e.get("ev") == "in" and e["sip"].startswith("SIP/2.0 403")}.values())
        sets = [e for e in ev if e.get("ev") == "sa_set"]
        expect(len(sets) == 2, f"the UE learnt {len(sets)} SA sets, not 2")
        # d over the temporary set, g over the registered one: over UDP from port_pc to port_us
        # (spi_us) for d, whose request came from port_uc; over TCP both on their request's
        # connection, port_ps -> port_uc (spi_uc).
        want = [(sets[0]["spi_uc" if tcp else "spi_us"], 1), (sets[1]["spi_uc"], 2)] if len(sets) == 2 else []
        expect([(e["spi"], e["set"]) for e in got] == want, f"403s over ESP: {got}, want on {want}")
        plain = {e["h"] for e in ev if e.get("ev") == "plain" and e["dir"] == "in" and e["sip"].startswith("SIP/2.0 403")}
        expect(len(plain) == 2, f"plain 403s (b, c): {plain}")
        drops = [e for e in ev if e.get("ev") == "drop"]
        expect(not drops, f"the UE's ESP dropped: {drops}")

    def nothing_left():
        wait_until(lambda: not topo.ctl.sas(), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        expect(topo.ctl.sip()["ues"] == 0, f"UEs left: {topo.ctl.sip()}")
        drops = {k: v for k, v in topo.ctl.drops().items() if v}
        expect(not drops, f"datapath drops: {drops}")

    fam = "IPv6" if v6 else "IPv4"
    who = "TCP UE (kernel sockets) over TCP, sipp core" if tcp else "sipp UE and sipp core over UDP"
    t.check(f"{who}/{fam}: every rejected case refused with the right Warning, or dropped, around one "
            "registration", scenarios)
    t.check("4 refusals and 2 drops (unprotected, wrong_sa) counted by the proxy", counted)
    t.check("the forged SM7's 403 came over the temporary SAs, the port-in-use 403 over the registered "
            "ones, the others plain", refusals_over_esp)
    t.check("no SA, UE or datapath drop left (the refused temporary set was deleted)", nothing_left)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()
                                            if " sip: " in line or " SA " in line))
        print(f"# work files in {work}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
