#!/usr/bin/python3
"""A registration the IMS core ends itself (network-initiated de-registration, TS 24.229
5.2.3, RFC 3680), with pcscf-espd --reg-event.

sipp is the UE (sipp/ue_register.xml: registration, then a wait) on scapy's ESP
(lib/ue_ipsec.py); sipp is the core (sipp/core_reg_event.xml): it registers the UE,
accepts pcscf-espd's reg event SUBSCRIBE, and a second later NOTIFYs that the registration
is terminated. Passing means both sipp scenarios end without error (sipp checks the
SUBSCRIBE's Event and gets a 200 to its NOTIFY), pcscf-espd counts the subscription and
the ended registration, and the UE and its SAs are gone while the UE never de-registered.
Output is TAP."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from tap import expect, wait_until  # noqa: E402
import ue_rig  # noqa: E402

PORT_US = 6101


def main():
    rig = ue_rig.setup("pcscf-regevent-", ["--reg-event"])
    if rig is None:
        return 1
    t, topo, work = rig
    result = {}

    def core_ends_the_registration():
        procs = ue_rig.start(topo, work, core_scenario="core_reg_event.xml", attack=False, calls=2)
        ue = ue_rig.sipp_ue(topo, work, "ue_register.xml", False, PORT_US,
                            "-key", "ue_hdr", "P-Access-Network-Info: 3GPP-E-UTRAN-FDD")
        result["core"], result["events"] = ue_rig.stop(work, *procs)
        errs = "".join(open(f"{work}/{f}").read()[-1500:] for f in ("ue.err", "core.err") if os.path.exists(f"{work}/{f}"))
        expect(ue.returncode == 0, f"sipp UE exit {ue.returncode}: {errs}")
        expect(result["core"] == 0, f"sipp core exit {result['core']}: {errs}")

    def counted():
        sip = topo.ctl.sip()
        expect(sip["reg_subscribed"] == 1 and sip["reg_ended_by_core"] == 1,
               f"reg event counters: subscribed {sip['reg_subscribed']}, ended {sip['reg_ended_by_core']}")
        expect(not sip["dropped"].get("reg_event_refused"), f"proxy drops: {sip['dropped']}")

    def sas_gone():
        wait_until(lambda: not topo.ctl.sas(), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        expect(topo.ctl.sip()["ues"] == 0, "the UE is still registered at pcscf-espd")
        sent = [e["sip"] for e in result.get("events", []) if e.get("ev") == "out"]
        expect(not any("Expires: 0" in s or s.startswith("REGISTER") and "expires=0" in s for s in sent),
               f"the UE de-registered itself: {sent}")

    t.check("sipp core registers the UE, accepts pcscf-espd's reg event SUBSCRIBE, NOTIFYs the registration's "
            "end; the UE registered over scapy's ESP", core_ends_the_registration)
    t.check("pcscf-espd counted the subscription and the registration the core ended", counted)
    t.check("the UE's SAs and registration are gone, the UE never having de-registered", sas_gone)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-1500:]}"))
    if t.failed:
        print("# pcscf-espd log:\n" + "\n".join("# " + x for x in topo.log().splitlines()[-60:]))
        print(f"# work directory: {work}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
