#!/usr/bin/python3
"""The whole registration over TCP (issues 4 and 5): a UE whose SIP runs on the kernel's
TCP sockets (lib/tcp_ue.py; sipp cannot open the second connection a UE needs) and whose
ESP is scapy's (lib/ue_ipsec.py), sipp as the IMS core (sipp/core_uas.xml, over UDP), and
pcscf-espd in between. The sequence: SM1 over a plain connection to 5060, SM7 on a new
connection port_uc -> port_ps, a MESSAGE each way (the core's on the P-CSCF's connection
port_pc -> port_us), re-registration with a new port_uc, de-registration; on the way the
shim forges a tampered and a replayed copy of the UE's MESSAGE for the datapath to drop,
and a capture of the UE's wire is decoded by tshark with the SA keys (lib/ue_rig.py).
usage (root): sipp_tcp_test.py [--v6]. Output is TAP."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from tap import expect, wait_until  # noqa: E402
import esp_capture  # noqa: E402
import ue_rig  # noqa: E402


def run(topo, v6, work):
    ue = topo.UE6 if v6 else topo.UE4
    pcscf = topo.PCSCF6 if v6 else topo.PCSCF4
    procs = ue_rig.start(topo, work)
    ue_run = subprocess.run(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{HERE}/lib/tcp_ue.py",
                             "--ue", ue, "--pcscf", pcscf, "--k", ue_rig.KB.hex(), "--op", ue_rig.OPB.hex(),
                             "--amf", ue_rig.AMFB.hex()], capture_output=True, text=True, timeout=90)
    core_rc, events = ue_rig.stop(work, *procs)
    ue_log = [json.loads(line) for line in ue_run.stdout.splitlines() if line.startswith("{")]
    return ue_run.returncode, ue_log, ue_run.stderr, core_rc, events


def main():
    v6 = "--v6" in sys.argv
    rig = ue_rig.setup("pcscf-tcp-")
    if rig is None:
        return 1
    t, topo, work = rig
    r = {}

    def whole_sequence():
        r["ue"], r["ue_log"], err, r["core"], r["events"] = run(topo, v6, work)
        core_err = open(f"{work}/core.err").read()[-1500:] if os.path.exists(f"{work}/core.err") else ""
        expect(r["ue"] == 0, f"UE exit {r['ue']}: {r['ue_log'][-3:]} {err[-800:]}")
        expect(r["core"] == 0, f"sipp core exit {r['core']}: {core_err}")

    def connections():
        sip = topo.ctl.sip()
        # plain (SM1), set 1 (SM7), set 2 (SM7 of the re-registration); ours to port_us
        expect(sip["tcp_accepted"] == 3 and sip["tcp_connected"] == 1, f"proxy: {sip}")
        core_req = [e for e in r.get("ue_log", []) if e.get("event") == "core request"]
        expect(core_req and core_req[0]["from_port"] in (5102, 5103, 5104),
               f"the core's MESSAGE did not come from a port_pc: {core_req}")

    def protected_by_scapy():
        ev = r.get("events", [])
        sets = [e for e in ev if e.get("ev") == "sa_set"]
        out = [e for e in ev if e.get("ev") == "out" and e.get("tcp")]
        inn = [e for e in ev if e.get("ev") == "in" and e.get("tcp")]
        expect(len(sets) == 2, f"the UE learnt {len(sets)} SA sets, not 2 (registration, re-registration)")
        sip_out = {e["sip"].split(" ")[0] for e in out if e["sip"]}
        sip_in = {e["sip"] for e in inn if e["sip"]}
        expect({"REGISTER", "MESSAGE", "SIP/2.0"} <= sip_out, f"SIP out over ESP: {sip_out}")
        expect(any(s.startswith("MESSAGE ") for s in sip_in) and any(s.startswith("SIP/2.0 200") for s in sip_in)
               and any(s.startswith("SIP/2.0 401") for s in sip_in), f"SIP in over ESP: {sip_in}")
        drops = [e for e in ev if e.get("ev") in ("drop", "error")]
        expect(not drops, f"the UE's ESP dropped: {drops}")

    def forgeries_dropped():
        ue_rig.check_forgeries(topo, r.get("events", []))

    def capture_decoded():
        ue, pcscf = (topo.UE6, topo.PCSCF6) if v6 else (topo.UE4, topo.PCSCF4)
        ue_rig.check_capture(work, r.get("events", []), ue, pcscf, r)

    def nothing_left():
        wait_until(lambda: not (topo.ctl.sas() or topo.ctl.sip()["tcp_open"]), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        sip = topo.ctl.sip()
        expect(sip["ues"] == 0 and sip["tcp_open"] == 0 and not sip["dropped"] and not sip["refused"],
               f"proxy: {sip}")  # (the datapath's drops: the forgeries check)

    def hostile_streams():
        ue = topo.UE6 if v6 else topo.UE4
        pcscf = topo.PCSCF6 if v6 else topo.PCSCF4
        res = subprocess.run(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{HERE}/lib/tcp_ue.py",
                              "--hostile", "--ue", ue, "--pcscf", pcscf],
                             capture_output=True, text=True, timeout=60)
        got = next((json.loads(x) for x in res.stdout.splitlines() if '"hostile"' in x), {}).get("hostile", {})
        expect(got == {"pong": "\r\n", "no_content_length": "closed", "huge_content_length": "closed"},
               f"{got} {res.stdout[-500:]} {res.stderr[-500:]}")
        def settled(sip):
            return sip["dropped"] == {"malformed": 2} and sip["tcp_open"] == 0 and sip["tcp_accepted"] == 6
        wait_until(lambda: settled(topo.ctl.sip()))  # telemetry: a snapshot the control thread refreshes
        sip = topo.ctl.sip()
        expect(settled(sip), f"proxy: {sip}")

    fam = "IPv6" if v6 else "IPv4"
    t.check(f"TCP UE (kernel sockets, scapy ESP) and sipp core over {fam}: register, MESSAGE both ways, "
            "re-register, de-register", whole_sequence)
    t.check("the P-CSCF accepted the UE's 3 connections and opened 1 from port_pc to port_us", connections)
    t.check("every protected segment went over scapy's ESP, both ways, none dropped at the UE", protected_by_scapy)
    t.check("a tampered and a replayed copy of the UE's MESSAGE dropped by the datapath (bad_icv, replay), "
            "nothing else; the proxy got each message once", forgeries_dropped)
    t.check("tshark decodes the UE's capture with the SA keys: every ICV good but the tampered one, "
            "the SIP inside both ways, the replay a repeated sequence number", capture_decoded)
    t.check("after de-registration no SA, UE, connection or proxy drop is left", nothing_left)
    t.check("a keep-alive gets its pong; streams without Content-Length or over 64 KiB are cut, counted",
            hostile_streams)
    final = ue_rig.counters(topo)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if "--account" in sys.argv:
        print("# The P-CSCF's log (each SIP message with its ports, ESP or plain, and TCP):")
        for line in topo.log().splitlines():
            if " sip: " in line or " SA " in line:
                print("#   " + line)
    if "--account" in sys.argv:
        print("# The counters of pcscf-espd at the end:")
        for line in final:
            print("#   " + line)
    if "--account" in sys.argv or t.failed:
        print("# The UE's SIP over TCP:")
        for e in r.get("ue_log", []):
            print("#   " + json.dumps(e))
    if r.get("frames") and ("--account" in sys.argv or t.failed):
        print(f"# What tshark decoded from the UE's wire with the SA keys ({work}/ue.pcap):")
        for line in esp_capture.table(r["frames"]):
            print("#   " + line)
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-60:]))
        print(f"# work files in {work}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
