"""What the end-to-end tests (sipp_e2e_test.py over UDP, sipp_tcp_test.py over TCP) share:
the UE's ESP shim (ue_ipsec.py, scapy), sipp as the IMS core, a capture of the UE's wire,
and the checks on the forgeries the shim sends and on tshark's decode of that capture."""
import json
import os
import subprocess
import tempfile
import time

import esp_capture
import milenage
from netns import Topology
from tap import Tap, expect

HERE = os.path.dirname(os.path.abspath(__file__))
K, OP, AMF = "0123456789abcdef", "fedcba9876543210", "ab"  # as sipp takes them: raw strings
KB, OPB, AMFB = (milenage.sipp_bytes(x) for x in (K, OP, AMF))
CORE_PORT = 5070


def setup(prefix, extra=()):
    """The namespaces with a core, pcscf-espd terminating sec-agree (and `extra` options),
    a work folder. None (after printing the failure as TAP) when the daemon does not start."""
    t = Tap()
    topo = Topology(core=True).create()
    try:
        # Each SIP message and SA change in the log (debug level): the demo's account of them.
        topo.start_daemon(workers=1, extra=topo.sec_agree_args(CORE_PORT) + ["--log-level", "debug", *extra])
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return None
    return t, topo, tempfile.mkdtemp(prefix=prefix)


def sipp_ue(topo, work, scenario, v6, port_us, *keys):
    """sipp as the UE (a scenario of ../sipp/), with the keys every UE scenario takes and
    `keys` ("-key", NAME, VALUE, ...) on top. Returns the finished process."""
    ue, pcscf = (topo.UE6, topo.PCSCF6) if v6 else (topo.UE4, topo.PCSCF4)
    remote = f"[{pcscf}]:5060" if v6 else f"{pcscf}:5060"
    return subprocess.run(["ip", "netns", "exec", topo.ue_ns, "sipp", "-sf",
                           f"{os.path.dirname(HERE)}/sipp/{scenario}", "-i", ue, "-p", str(port_us), remote,
                           "-key", "realm", "ims.example.net", "-key", "impi", "alice@ims.example.net",
                           "-key", "impu", "sip:alice@ims.example.net", "-key", "peer_impu",
                           "sip:bob@ims.example.net", "-key", "pcscf", pcscf,
                           "-key", "spi_c", "3001", "-key", "spi_s", "3002", "-key", "port_uc", "6100",
                           "-key", "spi_c2", "3003", "-key", "spi_s2", "3004", "-key", "port_uc2", "6102",
                           "-key", "aka_k", K, "-key", "aka_op", OP, "-key", "aka_amf", AMF, *keys,
                           "-m", "1", "-t", "u1", "-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err",
                           "-error_file", f"{work}/ue.err"],
                          cwd=work, capture_output=True, text=True, timeout=120)


def _wait_for(path, text, proc=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline and (proc is None or proc.poll() is None):
        if os.path.exists(path) and text in open(path).read():
            return
        time.sleep(0.1)


def start(topo, work, core_scenario="core_uas.xml", attack=True, calls=1):
    """dumpcap on the UE's veth, the shim (forging with --attack), sipp as the core (none
    with core_scenario None: the test brings its own). Returns the processes for stop()."""
    cap = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "dumpcap", "-q", "-P", "-i", topo.ue_if,
                            "-w", f"{work}/ue.pcap"], stdout=subprocess.DEVNULL,
                           stderr=open(f"{work}/dumpcap.out", "w"))
    _wait_for(f"{work}/dumpcap.out", "Capturing on", cap)
    shim = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{HERE}/ue_ipsec.py",
                             "--iface", topo.ue_if, "--pcscf", topo.PCSCF4, "--pcscf6", topo.PCSCF6,
                             "--k", KB.hex(), "--op", OPB.hex(), "--log", f"{work}/ue_ipsec.jsonl",
                             *(["--attack"] if attack else [])],
                            stdout=open(f"{work}/shim.out", "w"), stderr=subprocess.STDOUT)
    _wait_for(f"{work}/ue_ipsec.jsonl", '"up"', shim)
    if core_scenario is None:
        return cap, shim, None
    milenage.core_inf(f"{work}/core.csv", [milenage.sipp_vector(KB, OPB, bytes(6), AMFB) for _ in range(2)])
    core = subprocess.Popen(["ip", "netns", "exec", topo.core_ns, "sipp", "-sf",
                             f"{os.path.dirname(HERE)}/sipp/{core_scenario}", "-i", topo.CORE4, "-p", str(CORE_PORT),
                             "-inf", f"{work}/core.csv", "-key", "realm", "ims.example.net",
                             "-key", "impu", "sip:alice@ims.example.net", "-key", "core_hdr", "X-Core: s-cscf",
                             "-m", str(calls), "-t", "u1", "-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err",
                             "-error_file", f"{work}/core.err"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=open(f"{work}/core.out", "w"))
    time.sleep(0.5)
    return cap, shim, core


def stop(work, cap, shim, core):
    """Waits for the core's scenario to end, then stops the shim and the capture. Returns
    the core's exit code and the shim's events."""
    try:
        core_rc = core.wait(timeout=30) if core else None
    except subprocess.TimeoutExpired:
        core.kill()
        core_rc = -1
    time.sleep(0.5)  # the last segments cross the shim
    for p in (shim, cap):  # dumpcap writes out what it has and exits
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    return core_rc, [json.loads(line) for line in open(f"{work}/ue_ipsec.jsonl") if line.strip()]


def check_forgeries(topo, ev):
    """The shim's tampered copy and replay of the UE's first MESSAGE: dropped by the
    datapath as bad_icv and replay, nothing else dropped, and the proxy had exactly the
    messages the UE sent (a replay let through would be one more)."""
    attacks = [e for e in ev if e.get("ev") == "attack"]
    expect(sorted(e["kind"] for e in attacks) == ["replay", "tamper"],
           f"the UE's forgeries of its first MESSAGE: {attacks}")
    drops = {k: v for k, v in topo.ctl.drops().items() if v}
    expect(drops == {"replay": 1, "bad_icv": 1}, f"datapath drops {drops}, not replay 1 and bad_icv 1")
    sent = [e["sip"] for e in ev if (e.get("ev") == "out" or (e.get("ev") == "plain" and e["dir"] == "out"))
            and e["sip"]]
    sip = topo.ctl.sip()
    expect(sip["from_ue"] == len(sent), f"the proxy got {sip['from_ue']} SIP messages from the UE, "
                                        f"the UE sent {len(sent)}: {sent}")


def check_capture(work, ev, ue_addr, pcscf_addr, keep):
    """tshark decodes the UE's wire with the SA keys: every ICV good but the tampered
    packet's, every packet the shim sent or accepted found with the SIP it carried, the
    whole sequence both ways, the replay the only sequence number seen twice. The frames
    go into keep["frames"] (for the account), also when a check fails."""
    sets = [e for e in ev if e.get("ev") == "sa_set"]
    dumpcap = open(f"{work}/dumpcap.out").read().strip().replace("\n", " | ")
    expect(os.path.exists(f"{work}/ue.pcap"), f"no capture; dumpcap: {dumpcap}")
    frames = keep["frames"] = esp_capture.decode(f"{work}/ue.pcap", sets, ue_addr, pcscf_addr)
    expect(frames, f"no ESP in the capture; dumpcap: {dumpcap}")
    attacks = {e["kind"]: e for e in ev if e.get("ev") == "attack"}
    expect(set(attacks) == {"tamper", "replay"}, f"the UE's forgeries: {attacks}")
    tamper, replay = attacks["tamper"], attacks["replay"]
    bad = [(f["spi"], f["seq"]) for f in frames if f["icv"] != "good"]
    expect(bad == [(tamper["spi"], tamper["seq"])],
           f"frames whose ICV is not good: {bad}, want only the tampered one {tamper['spi']}/{tamper['seq']}")
    good = {}
    for f in frames:
        if f["icv"] == "good":
            good.setdefault((f["spi"], f["seq"]), []).append(f)
    for e in ev:
        if e.get("ev") in ("out", "in"):
            got = [f["sip"] for f in good.get((e["spi"], e["seq"]), [])]
            expect(got and all(x == e["sip"] for x in got),
                   f"{e['ev']} spi {e['spi']} seq {e['seq']} {e['sip']!r}: decoded {got}")
    # SM7, re-REGISTER over the old SAs, its SM7 over the new ones, de-REGISTER, their 200s
    # and the 401, the MESSAGEs (a retransmission may add some).
    seen = [(f["dir"], f["sip"].split(" ")[0] if f["sip"][:4] != "SIP/" else f["sip"][:11])
            for f in frames if f["icv"] == "good"]
    for want, n in ((("ue>pc", "REGISTER"), 4), (("ue>pc", "MESSAGE"), 1), (("ue>pc", "SIP/2.0 200"), 1),
                    (("pc>ue", "SIP/2.0 200"), 4), (("pc>ue", "SIP/2.0 401"), 1), (("pc>ue", "MESSAGE"), 1)):
        expect(seen.count(want) >= n, f"decoded {seen.count(want)} {want}, want at least {n}: {seen}")
    dups = {k: [f["frame"] for f in v] for k, v in good.items() if len(v) > 1}
    expect(list(dups) == [(replay["spi"], replay["seq"])] and len(dups[(replay["spi"], replay["seq"])]) == 2,
           f"sequence numbers seen twice with a good ICV: {dups}, want only the replay's "
           f"{replay['spi']}/{replay['seq']}")


def counters(topo):
    """The daemon's counters at the end of a run, as lines for the account (read before
    it stops): the datapath's totals and drops, and the SIP proxy's."""
    stats = topo.ctl.stats()
    workers = [v for k, v in stats.items() if k.startswith("worker") and k != "workers"]
    total = {k: sum(w[k] for w in workers) for k in ("esp_in", "esp_out", "exception_in", "exception_out", "drops")}
    sip = topo.ctl.sip()
    return [f"datapath: {json.dumps(total)}",
            f"datapath drops by reason: {json.dumps({k: v for k, v in topo.ctl.drops().items() if v})}",
            "SIP proxy: " + json.dumps({k: v for k, v in sip.items() if k != "enabled"})]
