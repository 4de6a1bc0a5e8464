#!/usr/bin/python3
"""pcscf-espd in front of a real SIP core: Kamailio (Debian's, our ims_core.cfg) as the
registrar and S-CSCF, sipp as the UE (sipp/ue_dialogs.xml) with scapy's ESP
(lib/ue_ipsec.py), and a far end behind the core (lib/far_end.py).

Kamailio challenges with IMS AKA from a Milenage vector the test hands it, checks the UE's
RES, keeps the contact with the Path pcscf-espd added, and routes to the UE through it.
The sequence: registration, a MESSAGE each way, a call each way (INVITE, 180, 200, ACK,
BYE; the UE's call also an UPDATE) whose in-dialog requests follow the Record-Route pcscf-espd put in (both its faces,
RFC 5658), de-registration. Passing means sipp ends without error, Kamailio registered and
then forgot the UE, the far end saw every request come through pcscf-espd, the UE's SIP
after the 401 went over ESP, and nothing is left. With --tcp-core pcscf-espd talks to
Kamailio over TCP (--core ADDR:PORT;transport=tcp): its requests on its own connection,
Kamailio's on the one Kamailio opens to our Path. Output is TAP; --account adds what
pcscf-espd relayed, message by message (its SIP trace)."""
import os
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from far_end import FarEnd, values  # noqa: E402
from kamailio_core import KamailioCore, sipp_vectors  # noqa: E402
from netns import Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import sip_text  # noqa: E402
import ue_peer  # noqa: E402
import ue_rig  # noqa: E402

PORT_US = 6101
IMPI, IMPU = "alice@ims.example.net", "sip:alice@ims.example.net"
FAR_PORT = 5090


def main():
    t = Tap()
    tcp = "--tcp-core" in sys.argv
    topo = Topology(core=True).create()
    sip = topo.sec_agree_args()
    if tcp:
        sip[1] += ";transport=tcp"
    try:
        topo.start_daemon(workers=1, extra=sip + ["--log-level", "debug"])
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return 1
    work = tempfile.mkdtemp(prefix="pcscf-kamailio-")
    core = KamailioCore(topo, peer=(topo.CORE4, FAR_PORT), tcp=tcp)
    ue_peer.enter_netns(topo.core_ns)  # the far end's socket lives there
    far = FarEnd((topo.CORE4, FAR_PORT), (topo.CORE4, 5060))
    pcscf_core = f"{topo.PCSCF_CORE4}:5060"
    pcscf_access = f"{topo.PCSCF4}:"
    result = {}

    def kamailio_starts():
        core.start()
        core.give_vectors(IMPI, sipp_vectors(1, ue_rig.KB, ue_rig.OPB, ue_rig.AMFB))

    def whole_sequence():
        procs = ue_rig.start(topo, work, core_scenario=None, attack=False)
        errors = []

        def far_end():
            try:
                far.play(IMPU)
            except AssertionError as e:
                errors.append(str(e))

        player = threading.Thread(target=far_end)
        player.start()
        seen_registered = []
        watcher = threading.Thread(target=lambda: seen_registered.append(
            wait_until(lambda: core.registered(IMPU), 20) or core.registered(IMPU)))
        watcher.start()
        ue = ue_rig.sipp_ue(topo, work, "ue_dialogs.xml", False, PORT_US,
                            "-key", "ue_hdr", "P-Access-Network-Info: 3GPP-E-UTRAN-FDD")
        player.join(timeout=30)
        watcher.join(timeout=30)
        _, result["events"] = ue_rig.stop(work, *procs)
        err = open(f"{work}/ue.err").read()[-1500:] if os.path.exists(f"{work}/ue.err") else ue.stderr[-1500:]
        expect(ue.returncode == 0, f"sipp UE exit {ue.returncode}: {err}")
        expect(not errors, f"far end: {errors}")
        expect(seen_registered == [True], "Kamailio never had the UE's contact")

    def core_forgot_the_ue():
        expect(not core.registered(IMPU), f"Kamailio still has a contact: {core.kamcmd('ul.dump').stdout[-800:]}")

    def requests_came_through_the_pcscf():
        for name in ("ue_message", "ue_invite", "ue_ack", "ue_update", "ue_bye"):
            msg = far.seen.get(name)
            expect(msg, f"the far end never got {name}")
            vias = values(msg, "Via")
            expect(any(pcscf_core in v for v in vias), f"{name} did not pass pcscf-espd: {vias}")
        for name in ("ue_message", "ue_invite"):
            pai = sip_text.header(far.seen[name], "P-Asserted-Identity")
            expect(pai == [f"<{IMPU}>"], f"{name} reached the far end asserting {pai}, not the UE's IMPU")
        rr = values(far.seen["ue_invite"], "Record-Route")
        # The core's entry first (two when it changes transport, RFC 5658 as well).
        expect(len(rr) >= 3 and pcscf_core in rr[-2] and pcscf_access in rr[-1],
               f"Record-Route of the UE's INVITE at the far end: {rr}, want the core's, then pcscf-espd's "
               f"core face and access face")
        route = values(far.seen["ue_bye"], "Route")
        expect(not route, f"the UE's BYE reached the far end with Route {route}: pcscf-espd or Kamailio kept theirs")
        ok = far.seen.get("invite_answer")
        expect(ok, "the far end's INVITE got no 200")
        rr = values(ok, "Record-Route")
        expect(len(rr) >= 3 and pcscf_access in rr[0] and pcscf_core in rr[1],
               f"Record-Route of the UE's 200 to the far end's INVITE: {rr}, want pcscf-espd's access face, its "
               f"core face, then the core's")
        expect(far.seen.get("bye_answer"), "the far end's BYE got no 200 from the UE")

    def ue_sip_over_esp():
        ev = result.get("events", [])
        out = [e["sip"] for e in ev if e.get("ev") == "out"]
        inn = [e["sip"] for e in ev if e.get("ev") == "in"]
        for want in ("REGISTER", "MESSAGE", "INVITE", "ACK", "UPDATE", "BYE"):
            expect(any(s.startswith(want) for s in out), f"the UE sent no {want} over ESP: {out}")
        for want in ("MESSAGE", "INVITE", "ACK", "BYE", "SIP/2.0 180", "SIP/2.0 200"):
            expect(any(s.startswith(want) for s in inn), f"the UE received no {want} over ESP: {inn}")
        expect(not [e for e in ev if e.get("ev") == "drop"], f"the UE dropped: {[e for e in ev if e.get('ev') == 'drop']}")

    def nothing_left():
        wait_until(lambda: not topo.ctl.sas(), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        sip = topo.ctl.sip()
        expect(sip["ues"] == 0 and not sip["refused"] and not sip["timeout_core"] and not sip["timeout_ue"],
               f"proxy: {sip}")
        if tcp:  # ours to the core for our requests, the core's to us for its own
            expect(sip["tcp_connected"] == 1 and sip["tcp_accepted"] >= 1, f"TCP with the core: {sip}")

    t.check("Kamailio starts in the core namespace and takes an AKA vector", kamailio_starts)
    if not t.failed:
        t.check("sipp UE through pcscf-espd to Kamailio: AKA registration, a MESSAGE and a call each way, "
                "de-registration", whole_sequence)
        t.check("Kamailio had the UE's contact and forgot it at the de-registration", core_forgot_the_ue)
        t.check("the far end got the UE's requests through pcscf-espd, asserted as the UE's IMPU, with its two "
                "faces in Record-Route; the in-dialog requests both ways followed them", requests_came_through_the_pcscf)
        t.check("the UE's SIP after the 401 went over scapy's ESP both ways, none dropped", ue_sip_over_esp)
        t.check("nothing left: no SA, no UE, no refusal, no timeout", nothing_left)
    rc = topo.stop_daemon()
    core_rc = core.stop()
    if "--account" in sys.argv:
        print("# What pcscf-espd relayed (its SIP trace):")
        for line in topo.log().splitlines():
            if " debug sip: " in line:
                print("#   " + line.split(" debug sip: ", 1)[1])
    t.check("pcscf-espd and Kamailio stop cleanly",
            lambda: expect(rc == 0 and core_rc == 0, f"exit {rc} / {core_rc}\n{topo.log()[-1500:]}"))
    if t.failed:
        print("# pcscf-espd log:\n" + "\n".join("# " + x for x in topo.log().splitlines()[-80:]))
        print("# Kamailio log:\n" + "\n".join("# " + x for x in core.log().splitlines()[-40:]))
        print(f"# work directory: {work}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
