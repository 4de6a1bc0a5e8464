#!/usr/bin/python3
"""The whole registration with implementations no one here wrote (issues 4 and 5).

sipp is the UE (ue_uac.xml) and sipp is the IMS core (core_uas.xml, AKA vectors from
Milenage with ik / ck in its 401s); the UE's ESP is scapy's, in lib/ue_ipsec.py, keyed
from the IK the UE derives from the nonce. pcscf-espd in between terminates sec-agree.
The sequence: registration, a MESSAGE each way, re-registration with new client ports,
de-registration. The shim also forges two copies of the UE's first MESSAGE (--attack): one
with a flipped byte and a replay, both for the datapath to drop. Passing means both sipp
scenarios end without error, the UE's SIP after SM6 went over ESP (the shim's log), the
datapath dropped the two forgeries and nothing else, the proxy got every message once,
tshark decodes a capture of the UE's veth with the SA keys (every ICV good but the
tampered one's), and no SA is left. usage (root): sipp_e2e_test.py [--v6] [--account]
Output is TAP; --account adds what the P-CSCF and the UE did and the decoded capture."""
import json
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from tap import expect, wait_until  # noqa: E402
import esp_capture  # noqa: E402
import ue_rig  # noqa: E402

PORT_US = 6101


def run(topo, v6, work):
    procs = ue_rig.start(topo, work)
    ue_run = ue_rig.sipp_ue(topo, work, "ue_uac.xml", v6, PORT_US,
                            "-key", "ue_hdr", "P-Access-Network-Info: 3GPP-E-UTRAN-FDD")
    core_rc, events = ue_rig.stop(work, *procs)
    return ue_run.returncode, core_rc, events


def main():
    v6 = "--v6" in sys.argv
    rig = ue_rig.setup("pcscf-sipp-")
    if rig is None:
        return 1
    t, topo, work = rig
    result = {}

    def whole_sequence():
        result["ue"], result["core"], result["events"] = run(topo, v6, work)
        errs = "".join(open(f"{work}/{f}").read()[-1500:] for f in ("ue.err", "core.err") if os.path.exists(f"{work}/{f}"))
        expect(result["ue"] == 0, f"sipp UE exit {result['ue']}: {errs}")
        expect(result["core"] == 0, f"sipp core exit {result['core']}: {errs}")

    def protected_by_scapy():
        ev = result.get("events", [])
        out = [e for e in ev if e.get("ev") == "out"]
        inn = [e for e in ev if e.get("ev") == "in"]
        sets = [e for e in ev if e.get("ev") == "sa_set"]
        expect(len(sets) == 2, f"the UE learnt {len(sets)} SA sets, not 2 (registration, re-registration)")
        expect(len(out) >= 5 and len(inn) >= 5, f"ESP out {len(out)}, in {len(inn)}")
        expect(not [e for e in ev if e.get("ev") == "drop"], f"the UE dropped: {[e for e in ev if e.get('ev') == 'drop']}")

    def forgeries_dropped():
        ue_rig.check_forgeries(topo, result.get("events", []))

    def capture_decoded():
        ue_rig.check_capture(work, result.get("events", []), ue_addr, pcscf_addr, result)

    def nothing_left():
        wait_until(lambda: not topo.ctl.sas(), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        sip = topo.ctl.sip()
        # On a slow run sipp retransmits, and the proxy drops the answers that come after the
        # transaction ended (no_transaction): at most one per message the UE sent again.
        ev = result.get("events", [])
        sent = [e["h"] for e in ev if e.get("ev") == "out" or (e.get("ev") == "plain" and e["dir"] == "out")]
        again = len(sent) - len(set(sent))
        dropped = dict(sip["dropped"])
        late = dropped.pop("no_transaction", 0)
        expect(sip["ues"] == 0 and not dropped and not sip["refused"] and late <= again,
               f"proxy: {sip}; the UE sent {again} message(s) again")

    fam = "IPv6" if v6 else "IPv4"
    ue_addr, pcscf_addr = (topo.UE6, topo.PCSCF6) if v6 else (topo.UE4, topo.PCSCF4)
    t.check(f"sipp UE and sipp core over UDP/{fam}: register, MESSAGE both ways, re-register, de-register",
            whole_sequence)
    t.check("every SIP message after SM6 went over scapy's ESP, none dropped at the UE", protected_by_scapy)
    t.check("a tampered and a replayed copy of the UE's MESSAGE dropped by the datapath (bad_icv, replay), "
            "nothing else; the proxy got each message once", forgeries_dropped)
    t.check("tshark decodes the UE's capture with the SA keys: every ICV good but the tampered one, "
            "the SIP inside both ways, the replay a repeated sequence number", capture_decoded)
    t.check("after de-registration no SA or UE is left; no proxy drop but late answers to retransmissions",
            nothing_left)
    final = ue_rig.counters(topo)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if "--account" in sys.argv:  # the demo: what the P-CSCF did, message by message
        print("\n# What pcscf-espd did (its log: each SIP message with its ports and SA, each SA change):")
        for line in topo.log().splitlines():
            if " sip: " in line or " SA " in line or "sec-agree" in line:
                print("#   " + line)
        print("# What pcscf-espd counted by the end:")
        for line in final:
            print("#   " + line)
        print("# What the UE's ESP (scapy) did:")
        for e in result.get("events", []):
            if e.get("ev") in ("sa_set", "out", "in", "drop", "attack"):
                print("#   " + json.dumps(e))
        if result.get("frames"):
            print(f"# What tshark decoded from the UE's wire with the SA keys ({work}/ue.pcap):")
            for line in esp_capture.table(result["frames"]):
                print("#   " + line)
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-50:]))
        if result.get("frames") and "--account" not in sys.argv:
            print("# the capture as tshark decoded it:\n" + "\n".join("#   " + x for x in esp_capture.table(result["frames"])))
        sets = [e for e in result.get("events", []) if e.get("ev") == "sa_set"]
        print("# decode it again: tshark -r " + shlex.join([f"{work}/ue.pcap", *esp_capture.tshark_args(sets, ue_addr, pcscf_addr)]))
        print(f"# work files in {work}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
