#!/usr/bin/python3
"""A pair of pcscf-espd hosts sharing their state through Redis, keepalived moving the
addresses: the primary's host fails (-9, links down) under traffic and the standby takes
over without any UE registering again. UEs are scripted with scapy's ESP, the core is a
UDP socket; redis-server and keepalived are Debian's, started here (lib/pair.py).

What is checked (docs/architecture.md, "A standby that takes over"):
- keepalived makes one node primary (it claims the store), the other follows it: its
  position in the store's change feed reaches the primary's last change, with every SA
  installed in its workers, also for the UEs that registered while Redis was stopped;
- after the failure the standby is primary, each UE's requests over its old SAs reach the
  core after at most 2 x --seq-checkpoint taken for replays, and no UE registers again;
- every sequence number the new primary sends is above every one the old one sent, SA by
  SA, as scapy sees them; every packet a UE sent before the failure, sent again, is dropped
  as a replay;
- a UE's new TCP connection over its old SAs works through the new primary, and the core's
  request to a UE registered over TCP goes on a connection the new primary opens;
- the failed host comes back as a standby and gets in step; a switchover (keepalived
  stopped on the primary) makes the old primary stand down (exit 3) and the other serve.
Output is TAP."""
import argparse
import os
import re
import sys
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from esp_tcp import EspTcp  # noqa: E402
from pair import Pair  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import ue_fleet  # noqa: E402

K = 4  # --seq-checkpoint


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ues", type=int, default=500)
    ap.add_argument("--messages", type=int, default=4, help="per UE before the failure")
    args = ap.parse_args()
    t = Tap()
    pair = Pair().create()
    a, b = pair.hosts
    # The fleet's UEs do integrity only: a shorter Security-Server keeps their SM7 in one frame.
    daemon_args = ["--core", f"{pair.CORE4}:5060", "--core-local", f"{pair.PCSCF_CORE4}:5060",
                   "--seq-checkpoint", str(K), "--allowed-algorithms", "hmac-sha-1-96,hmac-md5-96,null"]
    state = {}

    def pair_forms():
        pair.start_redis()
        a.start_daemon(2, daemon_args)
        a.start_keepalived()
        expect(wait_until(lambda: a.role() == "primary", 10),
               f"a is {a.role()}, not primary\n{a.keepalived_log()[-1500:]}\n{a.log()[-1500:]}")
        b.start_daemon(2, daemon_args)
        b.start_keepalived()
        expect(wait_until(lambda: b.ctl("/pcscf/state").get("healthy") == "yes", 10),
               f"b's state: {b.ctl('/pcscf/state')}")
        expect(b.role() == "standby", f"b is {b.role()}")
        st = a.ctl("/pcscf/state")
        expect(st.get("epoch", 0) >= 1 and st["fenced"] == "no", f"a's state: {st}")

    core = fleet = tcp_ue = None

    def registered():
        return len(fleet.ues) + 1  # the fleet and the UE over TCP

    def register_over_a_redis_restart():
        first = fleet.ues[:-100]
        fleet.ues, rest = first, fleet.ues[-100:]
        ue_fleet.register_all(a.ctl, core, fleet)
        pair.stop_redis()
        fleet.ues = first + rest
        for i in range(0, len(rest), 50):
            ue_fleet.register(a.ctl, core, fleet, rest[i:i + 50])
        expect(wait_until(lambda: a.ctl.sip()["ues"] == len(fleet.ues), 10), f"registered: {a.ctl.sip()}")
        st = a.ctl("/pcscf/state")
        expect(st["healthy"] == "no" and st["pending"] > 0, f"the primary does not see Redis down: {st}")
        pair.start_redis()
        expect(wait_until(lambda: a.ctl("/pcscf/state")["pending"] == 0, 10), f"not caught up: {a.ctl('/pcscf/state')}")
        print(f"# while Redis was down: {st['failures']} write(s) failed, {st['pending']} change(s) held", flush=True)

    def in_step():
        """The standby has every change the primary wrote, and every SA in its workers."""
        def same():
            sa, sb = a.ctl("/pcscf/state"), b.ctl("/pcscf/state")
            return sa.get("pending") == 0 and sa.get("last_change") == sb.get("position") \
                and sb.get("warm_sas") == 4 * registered() and sb.get("in_flight") == 0
        expect(wait_until(same, 20), f"not in step: a {a.ctl('/pcscf/state')}\nb {b.ctl('/pcscf/state')}")
        sb = b.ctl("/pcscf/state")
        print(f"# standby: {sb['entries']} feed entries, {sb['warm_sas']} SAs warm, lag {sb['lag_ms']} ms",
              flush=True)

    def fail_under_traffic():
        ue_fleet.exchange(a.ctl, core, fleet, args.messages, "c")
        with fleet.sending():
            state["failed_at"] = time.time()
            a.fail()
        time.sleep(0.3)
        state["before"] = {u.n: max(fleet.seqs(u)) for u in fleet.ues}
        state["esp_mark"] = fleet.esp

    def standby_takes_over():
        expect(wait_until(lambda: b.role() == "primary", 15, step=0.02),
               f"b is {b.role()}\n{b.keepalived_log()[-1500:]}\n{b.log()[-2000:]}")
        took = time.time() - state["failed_at"]
        m = re.search(r"took over \(epoch (\d+)\): (\d+) SA\(s\) and (\d+) registration\(s\) serving after (\d+) ms",
                      b.log())
        expect(m, f"no take-over line in b's log:\n{b.log()[-2000:]}")
        expect(int(m.group(2)) == 4 * registered() and int(m.group(3)) == registered(),
               f"took over {m.group(2)} SAs and {m.group(3)} registrations")
        st = b.ctl("/pcscf/state")
        expect(st["epoch"] == int(m.group(1)) and st["takeover_ms"] == int(m.group(4)), f"b's state: {st}")
        expect(wait_until(lambda: b.ctl.sip()["ues"] == registered(), 5), f"b's proxy: {b.ctl.sip()}")
        core.collect(10**6, timeout=0.5)  # what the core got before the failure is not the test's
        print(f"# primary failed -> b primary after {took * 1000:.0f} ms (VRRP detection included); "
              f"b serving {m.group(4)} ms after keepalived told it", flush=True)

    def requests_go_through_again():
        worst = ue_fleet.requests_go_through_again(b.ctl, core, fleet, 2 * K)
        print(f"# requests lost per UE over the failover: at most {worst} (bound {2 * K})", flush=True)

    def over_tcp(u, seal, to_ue, spi, uport, pport, mark):
        """A connection of UE `u` between its port `uport` and the P-CSCF's `pport`."""
        return EspTcp(lambda p: fleet.send([p]), seal, lambda since: fleet.opened(to_ue, spi, since), mark, u.addr,
                      uport, pair.PCSCF4, pport)

    def to_port_uc(u):
        """A UE's connection from port_uc to port_ps, over its SAs (the P-CSCF answers on spi_uc)."""
        return over_tcp(u, u.peer.seal, u.sa(0, u.spi_uc, fleet.ifname).inb, u.spi_uc, u.port_uc, u.port_ps, fleet.esp)

    def register_over_tcp():
        """One more UE registers with its SM7 over TCP: the core's requests to it go by TCP."""
        u = tcp_ue
        ue_fleet.challenged(a.ctl, core, fleet, [u])
        c = to_port_uc(u)
        c.connect()
        c.send(u.register(u.server).replace(b"Via: SIP/2.0/UDP", b"Via: SIP/2.0/TCP"))
        sm7 = core.collect(1)
        expect(len(sm7) == 1, f"the SM7 over TCP did not reach the core; proxy {a.ctl.sip()}")
        core.send(ue_fleet.registered(sm7[0]))
        c.recv(lambda p: p.startswith(b"SIP/2.0 200"))
        expect(wait_until(lambda: a.ctl.sip()["ues"] == registered(), 5), f"a's proxy: {a.ctl.sip()}")

    def tcp_over_old_sas():
        """A UE's kernel TCP connection did not move with the address: it opens a new one
        from port_uc to port_ps over its old SAs, and a request on it reaches the core, whose
        200 comes back on it."""
        u = fleet.ues[0]
        c = to_port_uc(u)
        c.connect()
        c.send(u.message().replace(b"Via: SIP/2.0/UDP", b"Via: SIP/2.0/TCP"))
        got = core.collect(1, timeout=5.0)
        expect(got and got[0].startswith(b"MESSAGE"), f"the core got {got}; proxy {b.ctl.sip()}")
        core.send(ue_fleet.sip_text.response(got[0], 200, "OK"))
        expect(b"MESSAGE" in c.recv(lambda p: p.startswith(b"SIP/2.0 200")), "not the MESSAGE's 200")
        c.reset()

    def core_opens_a_connection():
        """The core's request to the UE registered over TCP: the new primary has no connection
        to it and opens one, from port_pc to the UE's port_us over the UE's SAs; the UE's
        SYN-ACKs are repeated as its stack would on the SYNs the P-CSCF sends again."""
        u = tcp_ue
        to_pc = u.sa(int(u.mech["spi-c"]), u.spi_us, fleet.ifname)
        c = over_tcp(u, to_pc.seal, to_pc.inb, u.spi_us, u.port_us, int(u.mech["port-c"]), fleet.esp)
        core.send(ue_fleet.core_message(core, u, "t"))
        # The UE never sent on this SA: its first 2K packets are at or below the resumed edge.
        tries = c.accept(tries=2 * K + 1)
        print(f"# SYN-ACKs the UE sent until the connection carried data: {tries} (bound {2 * K + 1})", flush=True)
        msg = c.recv(lambda p: p.startswith(b"MESSAGE"))
        c.send(ue_fleet.sip_text.response(msg, 200, "OK"))
        got = core.collect(1, timeout=5.0)
        expect(got and got[0].startswith(b"SIP/2.0 200"), f"the core got {got}; proxy {b.ctl.sip()}")

    def failed_host_rejoins():
        a.recover(2, daemon_args)
        expect(wait_until(lambda: a.ctl("/pcscf/state").get("healthy") == "yes", 10), f"a: {a.ctl('/pcscf/state')}")
        expect(a.role() == "standby" and b.role() == "primary", f"a is {a.role()}, b {b.role()}")

        def same():
            sa, sb = a.ctl("/pcscf/state"), b.ctl("/pcscf/state")
            return sb.get("pending") == 0 and sb.get("last_change") == sa.get("position") \
                and sa.get("warm_sas") == 4 * registered()
        expect(wait_until(same, 20), f"not in step: a {a.ctl('/pcscf/state')}\nb {b.ctl('/pcscf/state')}")

    def switchover():
        """keepalived stopped on the primary (maintenance): the other node takes over, the old
        primary stands down (exit 3) and the UEs carry on through the new one."""
        b.stop_keepalived()
        expect(wait_until(lambda: a.role() == "primary", 10, step=0.05), f"a is {a.role()}\n{a.log()[-1500:]}")
        expect(wait_until(lambda: b.daemon.poll() is not None, 10), "b still runs")
        expect(b.daemon.returncode == 3, f"b exited {b.daemon.returncode}\n{b.log()[-1500:]}")
        expect("told to stand down" in b.log(), f"b's log:\n{b.log()[-1500:]}")
        worst = ue_fleet.requests_go_through_again(a.ctl, core, fleet, 2 * K)
        print(f"# requests lost per UE over the switchover: at most {worst}", flush=True)

    def new_primary_stops_cleanly():
        rc = a.stop()
        expect(rc == 0, f"exit {rc}\n{a.log()[-1500:]}")

    t.check("keepalived makes a primary that claims the store; the other node follows it as a standby", pair_forms)
    if t.failed == 0:
        core = ue_fleet.Core(pair)
        fleet = ue_fleet.Fleet(pair, args.ues)
        tcp_ue = ue_fleet.Ue(args.ues, fleet.ues[0].addr, pair.PCSCF4)
        t.check(f"{args.ues} UEs register through the primary, the last 100 while Redis is stopped; started again, "
                "Redis gets every change", register_over_a_redis_restart)
        t.check("one more UE registers with its SM7 over TCP", register_over_tcp)
        t.check("the standby is in step: the primary's last change is its position, every SA warm", in_step)
        t.check("traffic both ways, then the primary's host fails while UEs keep sending", fail_under_traffic)
        t.check("keepalived moves the addresses: the standby claims the store and serves every SA and registration",
                standby_takes_over)
        t.check(f"each UE's requests over its old SAs reach the core after at most 2 x {K} taken for replays; "
                "no UE registers again", requests_go_through_again)
        t.check("every sequence number the new primary sends is above every one the old one sent, SA by SA",
                lambda: ue_fleet.sequence_numbers_move_on(core, fleet, state["before"], state["esp_mark"], "d"))
        t.check("every packet the UEs sent before the failure, sent again, is dropped as a replay",
                lambda: ue_fleet.replays_are_dropped(b.ctl, core, fleet, 1 + args.messages))
        t.check("a UE opens a new TCP connection over its old SAs: its request reaches the core, the 200 comes back",
                tcp_over_old_sas)
        t.check("the core's request to the UE registered over TCP: the new primary opens a connection to it",
                core_opens_a_connection)
        t.check("the failed host comes back as a standby and is in step with the new primary", failed_host_rejoins)
        t.check(f"a switchover (keepalived stopped on the primary): the old primary stands down with exit 3, the "
                f"other serves every UE after at most 2 x {K} lost", switchover)
        t.check("the primary stops cleanly", new_primary_stops_cleanly)
    if t.failed:
        for h in (a, b):
            print(f"# {h.name}'s log:\n" + "\n".join("# " + line for line in h.log().splitlines()[-30:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
