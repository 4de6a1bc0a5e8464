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
- a clean stop (SIGTERM) and start resume every SA exactly: nothing lost, nothing reused;
- the daemon runs with glibc's malloc in transparent huge pages (it re-executes itself
  once with GLIBC_TUNABLES set), which halves a large restore.
Output is TAP."""
import argparse
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import ue_fleet  # noqa: E402

K = 4  # --seq-checkpoint: small, so that a few messages pass several checkpoints


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
    core = ue_fleet.Core(topo)
    fleet = ue_fleet.Fleet(topo, args.ues)
    ues = fleet.ues
    state = {}

    def traffic_then_kill():
        ue_fleet.exchange(topo.ctl, core, fleet, args.messages, "c")
        with fleet.sending():  # still under traffic when it dies
            topo.daemon.kill()
            topo.daemon.wait()
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
        print(f"# {4 * len(ues)} SAs and {len(ues)} registrations restored in {m.group(3)} ms", flush=True)

    def malloc_in_huge_pages():
        with open(f"/proc/{topo.daemon.pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        expect(b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in env, f"environment: {env}")
        expect(re.search(r"malloc: (transparent huge pages|asks for transparent huge pages)", topo.log()),
               "no malloc line in the log")

    def requests_go_through_again():
        worst = ue_fleet.requests_go_through_again(topo.ctl, core, fleet, 2 * K)
        print(f"# requests lost per UE after the crash: at most {worst} (bound {2 * K})", flush=True)

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
            core.send(ue_fleet.sip_text.response(r, 200, "OK"))
        # ... and the P-CSCF carries on after its last number, without the checkpoint's slack
        # (a number may have gone to a packet the stop dropped before it left).
        wait_until(lambda: fleet.esp - mark >= 50, 10)
        off = []
        for u in ues[:50]:
            first = min((seq for seq, _ in fleet.replies(u, mark)), default=0)
            if not last[u.n] < first < last[u.n] + K:
                off.append((u.n, last[u.n], first))
        expect(not off, f"not resumed right after the last number: {off[:5]}")

    t.check(f"{len(ues)} UEs register (SM1 / 401 / SM7 over scapy's ESP / 200) with the store on",
            lambda: ue_fleet.register_all(topo.ctl, core, fleet))
    t.check("traffic both ways, then kill -9 while UEs keep sending", traffic_then_kill)
    t.check("started again on the store: every SA and registration back, in the log and telemetry",
            restart_restores)
    t.check("it re-executed itself once with malloc in transparent huge pages (faster restores)",
            malloc_in_huge_pages)
    t.check(f"each UE's requests over its old SAs reach the core again after at most 2 x {K} taken for replays; "
            "no UE registers again", requests_go_through_again)
    t.check("every sequence number sent after the restart is above every one before it, SA by SA",
            lambda: ue_fleet.sequence_numbers_move_on(core, fleet, state["before"], state["esp_mark"], "d"))
    t.check("every packet the UEs sent before the crash, sent again, is dropped as a replay",
            lambda: ue_fleet.replays_are_dropped(topo.ctl, core, fleet, 1 + args.messages))
    t.check("a clean stop and start resume each SA exactly", clean_restart_is_exact)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}"))
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-40:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
