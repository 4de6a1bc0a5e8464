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
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from netns import Topology  # noqa: E402
from tap import Tap, expect  # noqa: E402
import milenage  # noqa: E402
import esp_capture  # noqa: E402

K, OP, AMF = "0123456789abcdef", "fedcba9876543210", "ab"  # sipp takes them as raw strings
PORT_US, CORE_PORT = 6101, 5070


def run(topo, v6, work):
    ue = topo.UE6 if v6 else topo.UE4
    pcscf = topo.PCSCF6 if v6 else topo.PCSCF4
    kb, opb, amfb = (milenage.sipp_bytes(x) for x in (K, OP, AMF))
    milenage.core_inf(f"{work}/core.csv", [milenage.sipp_vector(kb, opb, bytes(6), amfb) for _ in range(2)])
    shim_log = f"{work}/ue_ipsec.jsonl"
    # Everything on the UE's wire, for tshark to decode afterwards.
    cap = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "dumpcap", "-q", "-P", "-i", topo.ue_if,
                            "-w", f"{work}/ue.pcap"], stdout=subprocess.DEVNULL,
                           stderr=open(f"{work}/dumpcap.out", "w"))
    deadline = time.time() + 10
    while "Capturing on" not in open(f"{work}/dumpcap.out").read() and cap.poll() is None \
            and time.time() < deadline:
        time.sleep(0.1)
    shim = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{HERE}/lib/ue_ipsec.py",
                             "--iface", topo.ue_if, "--pcscf", topo.PCSCF4, "--pcscf6", topo.PCSCF6,
                             "--k", kb.hex(), "--op", opb.hex(), "--log", shim_log, "--attack"],
                            stdout=open(f"{work}/shim.out", "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while not (os.path.exists(shim_log) and '"up"' in open(shim_log).read()) and time.time() < deadline:
        time.sleep(0.1)
    common = ["-m", "1", "-t", "u1", "-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err"]
    core = subprocess.Popen(["ip", "netns", "exec", topo.core_ns, "sipp", "-sf", f"{HERE}/sipp/core_uas.xml",
                             "-i", topo.CORE4, "-p", str(CORE_PORT), "-inf", f"{work}/core.csv",
                             "-key", "realm", "ims.example.net", "-key", "impu", "sip:alice@ims.example.net",
                             "-key", "core_hdr", "X-Core: s-cscf", *common,
                             "-error_file", f"{work}/core.err"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=open(f"{work}/core.out", "w"))
    time.sleep(0.5)
    remote = f"[{pcscf}]:5060" if v6 else f"{pcscf}:5060"
    ue_run = subprocess.run(["ip", "netns", "exec", topo.ue_ns, "sipp", "-sf", f"{HERE}/sipp/ue_uac.xml",
                             "-i", ue, "-p", str(PORT_US), remote,
                             "-key", "realm", "ims.example.net", "-key", "impi", "alice@ims.example.net",
                             "-key", "impu", "sip:alice@ims.example.net", "-key", "peer_impu",
                             "sip:bob@ims.example.net", "-key", "pcscf", pcscf,
                             "-key", "spi_c", "3001", "-key", "spi_s", "3002", "-key", "port_uc", "6100",
                             "-key", "spi_c2", "3003", "-key", "spi_s2", "3004", "-key", "port_uc2", "6102",
                             "-key", "aka_k", K, "-key", "aka_op", OP, "-key", "aka_amf", AMF,
                             "-key", "ue_hdr", "P-Access-Network-Info: 3GPP-E-UTRAN-FDD",
                             *common, "-error_file", f"{work}/ue.err"],
                            cwd=work, capture_output=True, text=True, timeout=90)
    try:
        core_rc = core.wait(timeout=30)
    except subprocess.TimeoutExpired:
        core.kill()
        core_rc = -1
    for p in (shim, cap):  # dumpcap writes out what it has and exits
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    events = [json.loads(line) for line in open(shim_log) if line.strip()]
    return ue_run.returncode, core_rc, events


def main():
    v6 = "--v6" in sys.argv
    t = Tap()
    topo = Topology(core=True).create()
    try:
        topo.start_daemon(workers=1, extra=topo.sec_agree_args(CORE_PORT))
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return 1
    work = tempfile.mkdtemp(prefix="pcscf-sipp-")
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
        ev = result.get("events", [])
        attacks = [e for e in ev if e.get("ev") == "attack"]
        expect(sorted(e["kind"] for e in attacks) == ["replay", "tamper"],
               f"the UE's forgeries of its first MESSAGE: {attacks}")
        drops = {k: v for k, v in topo.ctl.drops().items() if v}
        expect(drops == {"replay": 1, "bad_icv": 1}, f"datapath drops {drops}, not replay 1 and bad_icv 1")
        # A replay let through would reach the proxy as one more datagram (which it would
        # relay as a retransmission): it must have had exactly what the UE sent.
        sent = [e["sip"] for e in ev if e.get("ev") == "out" or (e.get("ev") == "plain" and e["dir"] == "out")]
        sip = topo.ctl.sip()
        expect(sip["from_ue"] == len(sent), f"the proxy got {sip['from_ue']} SIP messages from the UE, "
                                            f"the UE sent {len(sent)}: {sent}")

    def capture_decoded():
        ev = result.get("events", [])
        sets = [e for e in ev if e.get("ev") == "sa_set"]
        dumpcap = open(f"{work}/dumpcap.out").read().strip().replace("\n", " | ")
        expect(os.path.exists(f"{work}/ue.pcap"), f"no capture; dumpcap: {dumpcap}")
        frames = esp_capture.decode(f"{work}/ue.pcap", sets, ue_addr, pcscf_addr)
        result["frames"] = frames
        expect(frames, f"no ESP in the capture; dumpcap: {dumpcap}")
        attacks = {e["kind"]: e for e in ev if e.get("ev") == "attack"}
        expect(set(attacks) == {"tamper", "replay"}, f"the UE's forgeries: {attacks}")
        tamper, replay = attacks["tamper"], attacks["replay"]
        bad = [(f["spi"], f["seq"]) for f in frames if f["icv"] != "good"]
        expect(bad == [(tamper["spi"], tamper["seq"])],
               f"frames whose ICV is not good: {bad}, want only the tampered one {tamper['spi']}/{tamper['seq']}")
        # Each packet the shim sent or accepted, found by SPI and sequence number: good ICV
        # and the SIP inside as the shim saw it.
        good = {}
        for f in frames:
            if f["icv"] == "good":
                good.setdefault((f["spi"], f["seq"]), []).append(f)
        for e in ev:
            if e.get("ev") in ("out", "in"):
                got = [f["sip"] for f in good.get((e["spi"], e["seq"]), [])]
                expect(got and all(x == e["sip"] for x in got),
                       f"{e['ev']} spi {e['spi']} seq {e['seq']} {e['sip']!r}: decoded {got}")
        # The whole sequence, both ways: SM7, re-REGISTER over the old SAs, its SM7 over the
        # new ones, de-REGISTER, their 200s / 401, the MESSAGEs (a retransmission may add some).
        seen = [(f["dir"], f["sip"].split(" ")[0] if f["sip"][:4] != "SIP/" else f["sip"][:11])
                for f in frames if f["icv"] == "good"]
        for want, n in ((("ue>pc", "REGISTER"), 4), (("ue>pc", "MESSAGE"), 1), (("ue>pc", "SIP/2.0 200"), 1),
                        (("pc>ue", "SIP/2.0 200"), 4), (("pc>ue", "SIP/2.0 401"), 1), (("pc>ue", "MESSAGE"), 1)):
            expect(seen.count(want) >= n, f"decoded {seen.count(want)} {want}, want at least {n}: {seen}")
        # The replay: the only sequence number received twice with a good ICV.
        dups = {k: [f["frame"] for f in v] for k, v in good.items() if len(v) > 1}
        expect(list(dups) == [(replay["spi"], replay["seq"])] and len(dups[(replay["spi"], replay["seq"])]) == 2,
               f"sequence numbers seen twice with a good ICV: {dups}, want only the replay's "
               f"{replay['spi']}/{replay['seq']}")

    def nothing_left():
        deadline = time.time() + 5
        while topo.ctl.sas() and time.time() < deadline:
            time.sleep(0.2)
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
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if "--account" in sys.argv:  # the demo: what the P-CSCF did, message by message
        print("\n# What pcscf-espd did (its log: each SIP message with its ports and SA, each SA change):")
        for line in topo.log().splitlines():
            if " sip: " in line or " SA " in line or "sec-agree" in line:
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
