#!/usr/bin/python3
"""pcscf-espd's sec-agree proxy end to end in network namespaces (issue 4).

UE namespace --veth-- pcscf-espd (DPDK) + tap --- P-CSCF kernel --veth-- core namespace.
The UE is scripted here: its SIP is plain text, its ESP is scapy's (an implementation no
one here wrote), with keys from the IK the core put in its 401 (what the UE's USIM would
compute). The core is a UDP socket in its own namespace that challenges with ik / ck.
What is checked is what TS 33.203 clause 7 says the P-CSCF does: SAs from SM6, SM7 over
them with the right Security-Verify, SM12 over the new set, protected requests both ways,
the checks of 7.1, de-registration deleting every SA. Output is TAP."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import sip_text  # noqa: E402
import ue_fleet  # noqa: E402
import ue_peer  # noqa: E402
from scripted_ue import PORT_US, REALM, Ue, challenge  # noqa: E402
from scapy.all import IP, UDP  # noqa: E402

def main():
    t = Tap()
    topo = Topology(core=True).create()
    try:
        topo.start_daemon(workers=1, extra=topo.sec_agree_args() + ["--log-level", "debug", "--core-timeout-ms", "2000"],
                          second_v4=True)
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return 1
    core = ue_fleet.Core(topo)
    ue_peer.enter_netns(topo.ue_ns)
    ue = Ue(topo, False, "alice@ims.example.net", "sip:alice@ims.example.net")
    state = {}

    def challenge_checked(req):
        expect(not sip_text.header(req, "Security-Client"), "Security-Client reached the core")
        expect(sip_text.header(req, "Path"), "no Path towards the core")
        return challenge(req)

    def sas_of(impi):
        return [s for s in topo.ctl.sas() if s.get("label") == impi]

    def initial_registration(u, port_uc, spi_uc, spi_us):
        sm1_bytes = u.register(u.security_client(port_uc, spi_uc, spi_us))
        u.plain.sendto(sm1_bytes, (u.pcscf, 5060))
        sm1 = core.recv()
        auth = sip_text.header(sm1, "Authorization")[0]
        expect('integrity-protected="no"' in auth, f"SM1 not marked unprotected: {auth}")
        core.send(challenge_checked(sm1))
        sm6, _ = u.plain.recvfrom(65535)
        expect(sip_text.start_line(sm6).startswith("SIP/2.0 401"), f"got {sip_text.start_line(sm6)}")
        expect(b"ik=" not in sm6 and b"ck=" not in sm6, "ik / ck leaked to the UE")
        # SM1 sent again (its 401 lost on the radio): the completed transaction answers with
        # the same 401; neither the registrar (a new SM1 would be refused: port_uc in use)
        # nor the core sees it.
        u.plain.sendto(sm1_bytes, (u.pcscf, 5060))
        again, _ = u.plain.recvfrom(65535)
        expect(again == sm6, f"a retransmitted SM1 got {sip_text.start_line(again)}, not the same 401")
        expect(not core.drain(), "the retransmitted SM1 reached the core")
        server = sip_text.header(sm6, "Security-Server")
        expect(len(server) == 1, f"Security-Server: {server}")
        m = u.protect_with(server[0], spi_us)
        expect(m["alg"] == "hmac-sha-1-96", f"P-CSCF chose {m['alg']}, not its first priority")
        expect(int(m["spi-c"]) != spi_uc and int(m["spi-s"]) != spi_us, "P-CSCF reused the UE's SPIs")
        # SM7 over the new SA, from port_uc to port_ps.
        cap = u.send_protected(port_uc, u.register(u.security_client(port_uc, spi_uc, spi_us), server[0],
                                                   response="0123456789abcdef"))
        sm7 = core.recv()
        auth = sip_text.header(sm7, "Authorization")[0]
        expect('integrity-protected="yes"' in auth, f"SM7 not marked protected: {auth}")
        expect(not sip_text.header(sm7, "Security-Verify"), "Security-Verify reached the core")
        core.send(sip_text.response(sm7, 200, "OK", [f"Contact: <sip:x@{u.via()}>;expires=600",
                                                      f"P-Associated-URI: <{u.impu}>"]))
        replies = u.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"no 200 over ESP: {replies}")
        sport, dport, _ = replies[0]
        expect(sport == int(m["port-c"]) and dport == PORT_US,
               f"200 went {sport} -> {dport}, not port_pc {m['port-c']} -> port_us {PORT_US}")
        return m

    def register_v4():
        state["m"] = initial_registration(ue, 6100, 1111, 2222)
        sas = sas_of(ue.impi)
        expect(len(sas) == 4 and all(s["state"] == "active" for s in sas), f"SAs: {sas}")

    def protected_request_from_ue():
        cap = ue.send_protected(6100, ue.message())
        got = core.recv()
        expect(sip_text.start_line(got).startswith("MESSAGE"), "the core did not get the MESSAGE")
        core.send(sip_text.response(got, 200, "OK"))
        replies = ue.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"no 200 over ESP: {replies}")

    def protected_request_from_core():
        cap = ue.peer.sniffer()
        req = sip_text.request("MESSAGE", ue.impu, f"{topo.CORE4}:5060", "z9hG4bKcore1", "sip:bob@ims.example.net",
                               ue.impu, "core-msg-1", 1, ["Content-Type: text/plain"], "hi alice")
        core.send(req)
        got = ue.protected_replies(cap)
        expect(got and got[0][2].startswith(b"MESSAGE"), f"no MESSAGE over ESP: {got}")
        via = sip_text.header(got[0][2], "Via")[0]
        expect(f":{state['m']['port-s']};" in via, f"P-CSCF's Via does not name port_ps: {via}")
        cap = ue.send_protected(6100, sip_text.response(got[0][2], 200, "OK"))
        cap.stop()
        answer = core.recv()
        expect(sip_text.start_line(answer).startswith("SIP/2.0 200"), f"core got {sip_text.start_line(answer)}")
        expect(len(sip_text.header(answer, "Via")) == 1, "the P-CSCF's Via was not removed")

    def unprotected_request_dropped():
        before = topo.ctl.sip()["dropped"].get("unprotected", 0)
        ue.plain.sendto(ue.message(text="plain"), (ue.pcscf, 5060))
        expect(not core.drain(), "an unprotected MESSAGE reached the core")
        expect(topo.ctl.sip()["dropped"].get("unprotected", 0) == before + 1, "not counted")

    def bad_sip_refused_or_counted():
        before = topo.ctl.sip()
        ue.plain.sendto(b"REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", (ue.pcscf, 5060))
        ue.plain.sendto(b"\x00\x01 not SIP at all", (ue.pcscf, 5060))
        no_offer = sip_text.request("REGISTER", f"sip:{REALM}", ue.via(), "z9hG4bKnooffer", ue.impu, ue.impu,
                                    "no-offer", 1, [f'Authorization: Digest username="{ue.impi}", realm="{REALM}", '
                                                    f'uri="sip:{REALM}", nonce="", response=""'])
        ue.plain.sendto(no_offer, (ue.pcscf, 5060))
        answer, _ = ue.plain.recvfrom(65535)
        expect(sip_text.start_line(answer).startswith("SIP/2.0 494"), f"got {sip_text.start_line(answer)}")
        expect(sip_text.header(answer, "Warning"), "the refusal does not say why")
        expect(not core.drain(), "bad SIP reached the core")
        after = topo.ctl.sip()
        # A Via that cannot be parsed leaves nowhere to answer: dropped, like the garbage.
        expect(after["dropped"].get("malformed", 0) == before["dropped"].get("malformed", 0) + 2,
               f"malformed SIP not counted: {after}")
        expect(after["refused"] == before["refused"] + 1, f"the 494 not counted: {after}")

    def wrong_impu_dropped():
        before = topo.ctl.sip()["dropped"].get("wrong_sa", 0)
        ue.send_protected(6100, ue.message(frm="sip:mallory@ims.example.net")).stop()
        expect(not core.drain(), "a request for an IMPU not registered over the SA reached the core")
        expect(topo.ctl.sip()["dropped"].get("wrong_sa", 0) == before + 1, "not counted")

    def sm7_with_wrong_verify_refused():
        u2 = Ue(topo, True, "carol@ims.example.net", "sip:carol@ims.example.net")
        u2.plain.sendto(u2.register(u2.security_client(6200, 3333, 4444)), (u2.pcscf, 5060))
        core.send(challenge_checked(core.recv()))
        sm6, _ = u2.plain.recvfrom(65535)
        server = sip_text.header(sm6, "Security-Server")[0]
        m = u2.protect_with(server, 4444)
        expect(len(sas_of(u2.impi)) == 4, "temporary set not installed for an IPv6 UE")
        forged = server.replace(f"spi-s={m['spi-s']}", f"spi-s={int(m['spi-s']) + 1}")
        cap = u2.send_protected(6200, u2.register(u2.security_client(6200, 3333, 4444), forged))
        replies = u2.protected_replies(cap)
        expect(any(b"SIP/2.0 403" in p for _, _, p in replies), f"no 403 over the temporary SA: {replies}")
        expect(not core.drain(), "the forged SM7 reached the core")
        wait_until(lambda: not sas_of(u2.impi), 5)
        expect(not sas_of(u2.impi), "the temporary SAs were not deleted")

    def re_registration():
        old = state["m"]
        verify = (f"ipsec-3gpp;alg={old['alg']};ealg=null;prot=esp;mod=trans;spi-c={old['spi-c']};"
                  f"spi-s={old['spi-s']};port-c={old['port-c']};port-s={old['port-s']}")
        cap = ue.send_protected(6100, ue.register(ue.security_client(6102, 1113, 2224), verify))
        sm1 = core.recv()
        expect('integrity-protected="yes"' in sip_text.header(sm1, "Authorization")[0],
               "SM1 over the old SA not marked protected")
        core.send(challenge_checked(sm1))
        replies = ue.protected_replies(cap)
        expect(replies and b"SIP/2.0 401" in replies[0][2], f"no 401 over the old SA: {replies}")
        server = sip_text.header(replies[0][2], "Security-Server")[0]
        m = ue.protect_with(server, 2224)
        expect(m["port-s"] == old["port-s"], "port_ps changed")
        expect(m["port-c"] != old["port-c"], "port_pc did not change")
        cap = ue.send_protected(6102, ue.register(ue.security_client(6102, 1113, 2224), server,
                                                  response="0123456789abcdef"))
        sm7 = core.recv()
        core.send(sip_text.response(sm7, 200, "OK", [f"Contact: <sip:x@{ue.via()}>;expires=600"]))
        replies = ue.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p and sp == int(m["port-c"]) for sp, _, p in replies),
               f"no 200 over the new SA: {replies}")
        expect(len(sas_of(ue.impi)) == 6, f"expected the new set and the kept old pair: {len(sas_of(ue.impi))}")
        # The first message over the new set retires the kept pair.
        cap = ue.send_protected(6102, ue.message())
        core.send(sip_text.response(core.recv(), 200, "OK"))
        ue.protected_replies(cap)
        wait_until(lambda: len(sas_of(ue.impi)) == 4, 5)
        expect(len(sas_of(ue.impi)) == 4, f"kept pair not retired: {len(sas_of(ue.impi))} SAs")
        state["m"] = m

    def registration_right_after_deregistration_keeps_its_sas():
        # De-register, then register again at once with a new port_uc (port_us stays): the
        # de-registration's deletion, a grace later, must take only the old set.
        cap = ue.send_protected(6102, ue.register(ue.security_client(6102, 1113, 2224), expires=0))
        core.send(sip_text.response(core.recv(), 200, "OK"))
        replies = ue.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"the de-registration's 200 not over ESP: {replies}")
        state["m"] = initial_registration(ue, 6104, 1115, 2226)
        time.sleep(2.5)  # past both graces of the de-registered set
        new = sas_of(ue.impi)
        expect(len(new) == 4 and all(x["state"] == "active" for x in new), f"SAs after the grace: {new}")
        expect(topo.ctl.sip()["ues"] == 1, "the new registration is gone")
        cap = ue.send_protected(6104, ue.message())
        got = core.recv()
        expect(sip_text.start_line(got).startswith("MESSAGE"), "the core did not get the MESSAGE")
        core.send(sip_text.response(got, 200, "OK"))
        replies = ue.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"no 200 over the new set: {replies}")

    def ue_at_the_second_address():
        u3 = Ue(topo, False, "dave@ims.example.net", "sip:dave@ims.example.net", pcscf=topo.PCSCF4_SECOND,
                port_us=6301)
        u3.plain.sendto(u3.register(u3.security_client(6300, 5555, 6666)), (u3.pcscf, 5060))
        core.send(challenge_checked(core.recv()))
        sm6, source = u3.plain.recvfrom(65535)
        expect(source[0] == topo.PCSCF4_SECOND, f"the 401 came from {source[0]}")
        sas = sas_of(u3.impi)
        expect(len(sas) == 4 and all(x["pcscf"] == topo.PCSCF4_SECOND for x in sas),
               f"the SAs are not at the address SM1 reached: {sas}")
        server = sip_text.header(sm6, "Security-Server")[0]
        u3.protect_with(server, 6666)
        cap = u3.send_protected(6300, u3.register(u3.security_client(6300, 5555, 6666), server,
                                                  response="0123456789abcdef"))
        core.send(sip_text.response(core.recv(), 200, "OK", [f"Contact: <sip:d@{u3.via()}>;expires=600"]))
        inner = u3.peer.wait(cap, lambda got: any(UDP in p and b"SIP/2.0 200" in bytes(p[UDP].payload)
                                                  for p in got))
        ok = [p for p in inner if UDP in p and b"SIP/2.0 200" in bytes(p[UDP].payload)]
        expect(ok and ok[0][IP].src == topo.PCSCF4_SECOND, f"no 200 over ESP from the second address: {inner}")
        # The core's request reaches the UE over ESP from that address, and our Via names it.
        cap = u3.peer.sniffer()
        core.send(sip_text.request("MESSAGE", u3.impu, f"{topo.CORE4}:5060", "z9hG4bKcore3", "sip:bob@ims.example.net",
                                   u3.impu, "core-msg-3", 1, ["Content-Type: text/plain"], "hi dave"))
        inner = u3.peer.wait(cap, lambda got: any(UDP in p for p in got))
        msg = [p for p in inner if UDP in p]
        expect(msg and msg[0][IP].src == topo.PCSCF4_SECOND, f"no MESSAGE over ESP from the second address: {inner}")
        via = sip_text.header(bytes(msg[0][UDP].payload), "Via")[0]
        expect(f"{topo.PCSCF4_SECOND}:" in via, f"our Via does not name the second address: {via}")
        u3.send_protected(6300, sip_text.response(bytes(msg[0][UDP].payload), 200, "OK")).stop()
        answer = core.recv()
        expect(sip_text.start_line(answer).startswith("SIP/2.0 200"), f"core got {sip_text.start_line(answer)}")
        cap = u3.send_protected(6300, u3.register(u3.security_client(6300, 5555, 6666), expires=0))
        core.send(sip_text.response(core.recv(), 200, "OK"))
        u3.peer.wait(cap, lambda got: any(UDP in p for p in got))
        wait_until(lambda: not sas_of(u3.impi), 5)
        expect(not sas_of(u3.impi), "the second address's SAs were not deleted")

    def silent_core_gets_the_ue_a_408():
        u4 = Ue(topo, False, "erin@ims.example.net", "sip:erin@ims.example.net", port_us=6401)
        before = topo.ctl.sip()["timeout_core"]
        u4.plain.sendto(u4.register(u4.security_client(6400, 7777, 8888)), (u4.pcscf, 5060))
        core.recv()  # and no answer
        started = time.time()
        got, _ = u4.plain.recvfrom(65535)
        expect(sip_text.start_line(got).startswith("SIP/2.0 408"), f"got {sip_text.start_line(got)}")
        expect(time.time() - started > 1.0, "the 408 came before --core-timeout-ms")
        expect(topo.ctl.sip()["timeout_core"] == before + 1, "not counted")
        expect(not sas_of(u4.impi), f"SAs left: {sas_of(u4.impi)}")

    def deregistration_deletes_every_sa():
        cap = ue.send_protected(6104, ue.register(ue.security_client(6104, 1115, 2226), expires=0))
        got = core.recv()
        core.send(sip_text.response(got, 200, "OK"))
        replies = ue.protected_replies(cap)
        expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"the de-registration's 200 not over ESP: {replies}")
        wait_until(lambda: not topo.ctl.sas(), 5)
        expect(not topo.ctl.sas(), f"SAs left: {topo.ctl.sas()}")
        expect(topo.ctl.sip()["ues"] == 0, "the UE is still registered")

    t.check("initial registration over UDP/IPv4: SM1 / 401 with Security-Server (the same 401 again for SM1 "
            "sent again) / SM7 over ESP / 200 over ESP",
            register_v4)
    t.check("a protected MESSAGE from the UE reaches the core; its 200 returns over ESP", protected_request_from_ue)
    t.check("a MESSAGE from the core reaches the UE over ESP; the UE's 200 reaches the core",
            protected_request_from_core)
    t.check("an unprotected MESSAGE to 5060 is dropped and counted (TS 33.203 7.1)", unprotected_request_dropped)
    t.check("malformed SIP is dropped and counted; a REGISTER with no offer gets 494 saying why, counted",
            bad_sip_refused_or_counted)
    t.check("a protected request with an IMPU not registered over its SA is dropped", wrong_impu_dropped)
    t.check("IPv6 UE: SM7 with a forged Security-Verify gets 403 over the temporary SA, which is then deleted",
            sm7_with_wrong_verify_refused)
    t.check("re-registration over the old SA: 401 over it, SM7 over the new set, port_ps kept, port_pc changed; "
            "the kept old pair goes with the first message over the new set", re_registration)
    t.check("a registration right after a de-registration (new port_uc, same port_us) keeps its SAs once the "
            "de-registered set is deleted", registration_right_after_deregistration_keeps_its_sas)
    t.check("a UE at the second IPv4 access address: SAs at that address, the 401, the 200 over ESP and the "
            "core's requests from it, our Via naming it", ue_at_the_second_address)
    t.check("the core silent: the UE's REGISTER gets a 408 after --core-timeout-ms, counted, nothing left",
            silent_core_gets_the_ue_a_408)
    t.check("de-registration: its 200 goes over ESP, then every SA is deleted", deregistration_deletes_every_sa)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-2000:]}"))
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-60:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
