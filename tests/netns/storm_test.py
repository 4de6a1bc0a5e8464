#!/usr/bin/python3
"""A registration storm through pcscf-espd: 20,000 UEs send their SM1 within one second
(lib/storm_ues.py, ESP of its own with Python's hmac), an IMS core answers each at once
(lib/storm_core.py). The one control thread cannot keep up: it answers the SM1s that
waited too long 503 with Retry-After, and the UEs come back after it.

What is checked (docs/operations.md, "Overload"):
- every UE is registered in the end, each over ESP that verified both ways;
- the P-CSCF holds exactly the SAs of the registered UEs, in SaManager and in the worker's
  tables, and as many registrations;
- 503s were sent and counted (the UEs saw no more than the P-CSCF counted), and the proxy
  kept its bound on transactions;
- every UE de-registers over its SAs, and then no SA and no registration is left;
- the daemon is still running.
The time from a UE's first SM1 to its 200 (p50, p99, max) and the counters are reported.
Output is TAP."""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology, dies_with_test, sh  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")


def line_of(proc, what):
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{what}: no output (exit {proc.poll()}): {proc.stderr.read()}")
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ues", type=int, default=20000)
    ap.add_argument("--window", type=float, default=1.0, help="seconds over which the SM1s go")
    ap.add_argument("--retry-after", type=int, default=5)
    ap.add_argument("--overload-queue-ms", type=int, default=100,
                    help="the daemon's; 60000 all but turns overload control off, for comparison")
    args = ap.parse_args()
    t = Tap()
    topo = Topology(core=True).create()
    addrs = [f"10.99.0.{100 + i}" for i in range(50)]
    for a in addrs:
        sh("ip", "addr", "add", f"{a}/24", "dev", topo.ue_if, ns=topo.ue_ns)
    topo.start_daemon(workers=1, extra=topo.sec_agree_args() + ["--retry-after", str(args.retry_after),
                                                                "--overload-queue-ms", str(args.overload_queue_ms)])
    ctl = topo.ctl
    core = subprocess.Popen(["ip", "netns", "exec", topo.core_ns, "/usr/bin/python3", f"{LIB}/storm_core.py",
                             "--addr", topo.CORE4], stdout=subprocess.PIPE, text=True, preexec_fn=dies_with_test)
    core.stdout.readline()
    ues = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "/usr/bin/python3", f"{LIB}/storm_ues.py",
                            "--pcscf", topo.PCSCF4, "--addrs", ",".join(addrs), "--count", str(args.ues),
                            "--window", str(args.window)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=dies_with_test)
    n, got = args.ues, {}
    try:
        def storm():
            got["reg"] = reg = line_of(ues, "the UEs' registrations")
            got["sip"], got["count"] = ctl.sip(), ctl("/pcscf/sa/count")
            got["worker"] = ctl.stats()["worker0"]
            print(f"# storm: {json.dumps(reg)}\n# proxy: {json.dumps(got['sip'])}")
            expect(reg["sm1_sent_in_s"] <= args.window + 1.0, f"the SM1s went out within {reg['sm1_sent_in_s']} s")
            expect(reg["registered"] == n, f"{reg['registered']} of {n} UEs registered")
        t.check(f"{n} UEs send SM1 within {args.window} s and all of them register", storm)

        def verified():
            expect(got["reg"]["bad_icv"] == 0, f"{got['reg']['bad_icv']} ESP packets failed their ICV")
        t.check("every ESP packet from the P-CSCF verifies at the UE", verified)

        def held():
            sip, count, worker = got["sip"], got["count"], got["worker"]
            expect(sip["ues"] == n, f"the P-CSCF holds {sip['ues']} registrations")
            expect(count["sas"] == 4 * n and count["not_active"] == 0, f"SaManager: {count}")
            expect(worker["sas_inbound"] == 2 * n and worker["sas_outbound"] == 2 * n,
                   f"the worker's tables: {worker['sas_inbound']} in, {worker['sas_outbound']} out")
        t.check("the P-CSCF holds the registrations and exactly their SAs", held)

        def shed():
            reg, sip = got["reg"], got["sip"]
            total = sip["shed_late"] + sip["shed_full"]
            expect(reg["answered_503"] > 0 and total >= reg["answered_503"],
                   f"{reg['answered_503']} 503s reached the UEs, {total} counted by the P-CSCF")
            expect(sip["transactions"] <= 1_000_000, f"{sip['transactions']} transactions kept")
            print(f"# time from the first SM1 to the 200, ms: {reg['time_to_200_ms']}; all registered after "
                  f"{reg['seconds']} s; 503s {total}; SM1 attempts per UE at most {reg['attempts_max']}; "
                  f"datagrams lost on full sockets {sip['dropped'].get('socket_full', 0)}")
        t.check("overload is answered 503 with Retry-After, and counted", shed)

        def deregister():
            ues.stdin.write("go\n")
            ues.stdin.flush()
            dereg = line_of(ues, "the UEs' de-registrations")
            print(f"# de-registration: {json.dumps(dereg)}")
            expect(dereg["deregistered"] == n, f"{dereg['deregistered']} of {n} UEs de-registered")
            expect(wait_until(lambda: ctl.sip()["ues"] == 0 and ctl("/pcscf/sa/count")["sas"] == 0, 60),
                   f"left behind: {ctl.sip()['ues']} registrations, {ctl('/pcscf/sa/count')}")
            worker = ctl.stats()["worker0"]
            expect(worker["sas_inbound"] == 0 and worker["sas_outbound"] == 0, f"the worker's tables: {worker}")
        t.check("every UE de-registers and no SA is left", deregister)
        t.check("pcscf-espd is still running", lambda: expect(topo.daemon.poll() is None, "it exited"))
    finally:
        ues.kill()
        core.kill()
        topo.close()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
