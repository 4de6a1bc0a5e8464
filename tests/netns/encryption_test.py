#!/usr/bin/python3
"""ESP with encryption end to end in network namespaces: UEs that offer only a ciphered
mechanism (alg=hmac-sha-1-96 / hmac-md5-96 with ealg=aes-cbc / des-ede3-cbc), or only an
AEAD of TS 33.203 Annex H (alg=null with ealg=aes-gcm, RFC 4106; alg=aes-gmac with
ealg=null, RFC 4543), or alg=hmac-sha-256-128 (RFC 4868, which the operator allows here
with --allowed-algorithms: no release of Annex H names it) with ealg=null or a CBC cipher,
register through pcscf-espd, exchange protected requests both ways and de-register; a
handset offering several pairs, aes-gcm among them, gets aes-gcm.

The UE's ESP is scapy's, keyed by TS 33.203 Annex I from the IK and CK of the core's 401
(tests/netns/lib/milenage.py: an implementation separate from pcscf-espd's). Every ESP
frame on the UE's link is then decoded by tshark with the same keys: its ICV must be good
and the SIP inside readable, so both directions are proven against two implementations no
one here wrote. tshark 4.0 has no AES-GMAC: for those frames it reads the ESP header and
tests/esp/vectors/esp_gmac.py (python3-cryptography's AES-GCM over no plaintext, as
RFC 4543 has it) checks the ICV and reads the SIP, as it does on the UE's side. A second run restricts the operator policy (--allowed-algorithms) and
checks that a UE offering only what it excludes (aes-cbc; hmac-sha-256-128) gets a 494
listing what is accepted.
--look-ahead: the first run's daemon takes every SA as many (--look-ahead-sas 0
--early-key-sas 0): its workers look a burst ahead and request the SAs' key blocks before
each burst's checks, both directions.
Output is TAP."""
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import esp_capture  # noqa: E402
import sip_text  # noqa: E402
import ue_fleet  # noqa: E402
import ue_peer  # noqa: E402
from scripted_ue import CK, IK, Ue, challenge  # noqa: E402
from scapy.all import wrpcap  # noqa: E402

PAIRS = [("hmac-sha-1-96", "aes-cbc"), ("hmac-md5-96", "aes-cbc"),
         ("hmac-sha-1-96", "des-ede3-cbc"), ("hmac-md5-96", "des-ede3-cbc")]
AEAD_PAIRS = [("null", "aes-gcm"), ("aes-gmac", "null")]  # the only pairs Annex H allows them in
SHA256_PAIRS = [("hmac-sha-256-128", "null"), ("hmac-sha-256-128", "aes-cbc"), ("hmac-sha-256-128", "des-ede3-cbc")]
# hmac-sha-256-128 is allowed only by an operator's --allowed-algorithms; here with every
# other name, eleven pairs: an IPv4 UE's SM7 echoes each in Security-Verify and passes
# 2 kB, which the kernel reassembles for the af_packet port into one 4 KiB frame
# (framesz, docs/operations.md).
SHA256_ALLOWED = "hmac-sha-256-128,hmac-sha-1-96,hmac-md5-96,aes-gmac,aes-cbc,des-ede3-cbc,aes-gcm,null"


def sas_of(topo, impi):
    return [s for s in topo.ctl.sas() if s.get("label") == impi]


def register(topo, core, u, port_uc, spi_uc, spi_us):
    """SM1 .. SM12 for `u`; returns the mechanism the P-CSCF chose."""
    u.plain.sendto(u.register(u.security_client(port_uc, spi_uc, spi_us)), (u.pcscf, 5060))
    core.send(challenge(core.recv()))
    sm6, _ = u.plain.recvfrom(65535)
    expect(sip_text.start_line(sm6).startswith("SIP/2.0 401"), f"got {sip_text.start_line(sm6)}")
    server = sip_text.header(sm6, "Security-Server")
    expect(len(server) == 1, f"Security-Server: {server}")
    u.server = server[0]
    m = u.protect_with(server[0], spi_us)
    sm7_out = u.register(u.security_client(port_uc, spi_uc, spi_us), server[0], response="0123456789abcdef")
    u.sm7_len = len(sm7_out)
    cap = u.send_protected(port_uc, sm7_out)
    try:
        sm7 = core.recv()
    except socket.timeout:
        raise AssertionError(f"SM7 did not reach the core; drops: {topo.ctl.drops()}") from None
    expect('integrity-protected="yes"' in sip_text.header(sm7, "Authorization")[0], "SM7 not marked protected")
    core.send(sip_text.response(sm7, 200, "OK", [f"Contact: <sip:x@{u.via()}>;expires=600",
                                                  f"P-Associated-URI: <{u.impu}>"]))
    replies = u.protected_replies(cap)
    expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"no 200 over ESP: {replies}")
    return m


def exchange(topo, core, u, port_uc):
    """A MESSAGE each way over the SAs, each answered."""
    cap = u.send_protected(port_uc, u.message(text="ciphered hello"))
    got = core.recv()
    expect(sip_text.start_line(got).startswith("MESSAGE") and got.endswith(b"ciphered hello"),
           f"the core got {got[:80]}")
    core.send(sip_text.response(got, 200, "OK"))
    replies = u.protected_replies(cap)
    expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"no 200 over ESP: {replies}")
    cap = u.peer.sniffer()
    core.send(sip_text.request("MESSAGE", u.impu, f"{topo.CORE4}:5060", f"z9hG4bKc{port_uc}", "sip:bob@ims.example.net",
                               u.impu, f"core-{port_uc}", 1, ["Content-Type: text/plain"], "ciphered hi"))
    got = u.protected_replies(cap)
    expect(got and got[0][2].startswith(b"MESSAGE"), f"no MESSAGE over ESP: {got}")
    u.send_protected(port_uc, sip_text.response(got[0][2], 200, "OK")).stop()
    answer = core.recv()
    expect(sip_text.start_line(answer).startswith("SIP/2.0 200"), f"core got {sip_text.start_line(answer)}")


def deregister(topo, core, u, port_uc, spi_uc, spi_us):
    cap = u.send_protected(port_uc, u.register(u.security_client(port_uc, spi_uc, spi_us), expires=0))
    core.send(sip_text.response(core.recv(), 200, "OK"))
    replies = u.protected_replies(cap)
    expect(any(b"SIP/2.0 200" in p for _, _, p in replies), f"the de-registration's 200 not over ESP: {replies}")
    wait_until(lambda: not sas_of(topo, u.impi), 5)
    expect(not sas_of(topo, u.impi), f"SAs left: {sas_of(topo, u.impi)}")


def decoded_by_tshark(frames, m, u, alg, ealg, spi_uc, spi_us):
    """Every ESP frame of this UE on the link, decoded by tshark with the Annex I keys."""
    with tempfile.TemporaryDirectory() as d:
        pcap = os.path.join(d, "esp.pcap")
        wrpcap(pcap, frames)
        sets = [{"alg": alg, "ealg": ealg, "ik": IK.hex(), "ck": CK.hex(), "spi_uc": spi_uc, "spi_us": spi_us,
                 "spi_pc": int(m["spi-c"]), "spi_ps": int(m["spi-s"])}]
        got = esp_capture.decode(pcap, sets, u.addr, u.pcscf)
    mine = [f for f in got if f["spi"] in (spi_uc, spi_us, int(m["spi-c"]), int(m["spi-s"]))]
    table = "\n".join(esp_capture.table(mine))
    # SM7 and its 200, a MESSAGE and its 200 each way, the de-registration and its 200.
    expect(len(mine) >= 8, f"only {len(mine)} ESP frames of this UE:\n{table}")
    checker = "esp_gmac" if alg == "aes-gmac" else "tshark"
    expect(all(f["by"] == checker for f in mine), f"not all frames checked by {checker}:\n{table}")
    expect(all(f["icv"] == "good" for f in mine), f"{checker} found a bad or unchecked ICV:\n{table}")
    expect(all(f["sip"] for f in mine), f"{checker} could not read the SIP inside every frame:\n{table}")
    directions = {f["dir"] for f in mine}
    expect(directions == {"ue>pc", "pc>ue"}, f"directions seen: {directions}\n{table}")


def main():
    t = Tap()
    look_ahead = "--look-ahead" in sys.argv
    topo = Topology(core=True).create()
    try:
        topo.start_daemon(workers=1, extra=topo.sec_agree_args(encryption=True) +
                          (["--look-ahead-sas", "0", "--early-key-sas", "0"] if look_ahead else []))
    except Exception as e:  # noqa: BLE001
        print(f"not ok 1 - pcscf-espd starts: {e}\n1..1")
        return 1
    if look_ahead:
        def counts_every_sa_as_many():
            cfg = topo.ctl("/pcscf/config")
            expect(cfg["look_ahead_sas"] == 0 and cfg["early_key_sas"] == 0, cfg)

        t.check("every SA counts as many (--look-ahead-sas 0 --early-key-sas 0)", counts_every_sa_as_many)
    core = ue_fleet.Core(topo)
    ue_peer.enter_netns(topo.ue_ns)

    def one_pair(n, alg, ealg, v6):
        def run():
            name = f"{(alg if ealg == 'null' else ealg).replace('-', '')}{n}"
            u = Ue(topo, v6, f"{name}@ims.example.net", f"sip:{name}@ims.example.net", port_us=6301 + 10 * n,
                   offers=[(alg, ealg)])
            port_uc, spi_uc, spi_us = 6300 + 10 * n, 5000 + 2 * n, 5001 + 2 * n
            link = ue_peer.Capture(topo.ue_if)
            try:
                m = register(topo, core, u, port_uc, spi_uc, spi_us)
                expect((m["alg"], m.get("ealg")) == (alg, ealg), f"P-CSCF chose {m}")
                sas = sas_of(topo, u.impi)
                expect(len(sas) == 4 and all((s.get("alg"), s.get("ealg")) == (alg, ealg) for s in sas),
                       f"SAs: {sas}")
                exchange(topo, core, u, port_uc)
                deregister(topo, core, u, port_uc, spi_uc, spi_us)
            finally:
                frames = link.stop()
                u.close()
            decoded_by_tshark(frames, m, u, alg, ealg, spi_uc, spi_us)
        return run

    cases = [(alg, ealg, False) for alg, ealg in PAIRS] + [(*PAIRS[0], True), (*PAIRS[3], True)]
    cases += [(alg, ealg, v6) for alg, ealg in AEAD_PAIRS for v6 in (False, True)]

    def check_pairs(cases, first):
        for n, (alg, ealg, v6) in enumerate(cases, first):
            who = ("scapy and tshark decrypt and verify" if alg != "aes-gmac" else
                   "esp_gmac.py (cryptography's AES-GCM; tshark 4.0 has no GMAC) verifies and reads")
            t.check(f"UE over IPv{6 if v6 else 4} offering only alg={alg};ealg={ealg}: registers, a MESSAGE each "
                    f"way and de-registers over ESP; {who} every frame with the Annex I keys",
                    one_pair(n, alg, ealg, v6))

    check_pairs(cases, 0)

    def handset_offer():
        # A handset's list, the ciphered mechanisms first: the operator's default order picks.
        offers = [("hmac-md5-96", "des-ede3-cbc"), ("hmac-sha-1-96", "aes-cbc"), ("hmac-sha-1-96", "null")]
        u = Ue(topo, False, "handset@ims.example.net", "sip:handset@ims.example.net", port_us=6401, offers=offers)
        try:
            m = register(topo, core, u, 6400, 7000, 7001)
            expect((m["alg"], m.get("ealg")) == ("hmac-sha-1-96", "aes-cbc"), f"P-CSCF chose {m}")
            exchange(topo, core, u, 6400)
            deregister(topo, core, u, 6400, 7000, 7001)
        finally:
            u.close()

    t.check("a handset offering md5/3des, sha-1/aes-cbc and sha-1/null gets sha-1/aes-cbc by the default policy",
            handset_offer)

    def handset_offers_aead():
        # aes-gcm neither first nor last in the handset's list: the P-CSCF's policy picks it.
        # Over IPv6: its SM7 (five offers, and the 401's list echoed) is some 2 kB, in two
        # fragments, which pcscf-espd reassembles itself (IPv4 ones the kernel reassembles
        # for the af_packet port, into one frame that must fit an mbuf).
        offers = [("hmac-md5-96", "des-ede3-cbc"), ("hmac-sha-1-96", "aes-cbc"), ("aes-gmac", "null"),
                  ("null", "aes-gcm"), ("hmac-sha-1-96", "null")]
        u = Ue(topo, True, "aeadset@ims.example.net", "sip:aeadset@ims.example.net", port_us=6411, offers=offers)
        link = ue_peer.Capture(topo.ue_if)
        try:
            m = register(topo, core, u, 6410, 7010, 7011)
            first = sip_text.mechanisms(u.server)[0]
            expect((first.get("alg"), first.get("ealg")) == ("null", "aes-gcm"),
                   f"the 401's Security-Server does not list alg=null;ealg=aes-gcm first: {u.server}")
            expect((m["alg"], m.get("ealg")) == ("null", "aes-gcm"), f"P-CSCF chose {m}")
            sas = sas_of(topo, u.impi)
            expect(len(sas) == 4 and all((s.get("alg"), s.get("ealg")) == ("null", "aes-gcm") for s in sas),
                   f"SAs: {sas}")
            exchange(topo, core, u, 6410)
            deregister(topo, core, u, 6410, 7010, 7011)
        finally:
            frames = link.stop()
            u.close()
        decoded_by_tshark(frames, m, u, "null", "aes-gcm", 7010, 7011)

    t.check("a handset over IPv6 offering md5/3des, sha-1/aes-cbc, aes-gmac/null, null/aes-gcm and sha-1/null gets "
            "null/aes-gcm, listed first in the 401, by the default policy; tshark decrypts and verifies every frame",
            handset_offers_aead)
    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-2000:]}"))

    topo.start_daemon(workers=1, extra=topo.sec_agree_args(encryption=True) +
                      ["--allowed-algorithms", SHA256_ALLOWED])
    check_pairs([(*SHA256_PAIRS[0], False), (*SHA256_PAIRS[0], True), (*SHA256_PAIRS[1], False),
                 (*SHA256_PAIRS[2], True)], len(cases))

    def handset_offers_everything():
        # Every pair pcscf-espd knows, over IPv4: Security-Client and Security-Verify list
        # eleven each, and the protected SM7 leaves the UE in two fragments that the kernel
        # reassembles for the af_packet port into one frame of about 3 kB.
        offers = [(a, e) for e in ("null", "aes-cbc", "des-ede3-cbc")
                  for a in ("hmac-md5-96", "hmac-sha-1-96", "hmac-sha-256-128")] + [("null", "aes-gcm"),
                                                                                    ("aes-gmac", "null")]
        u = Ue(topo, False, "everything@ims.example.net", "sip:everything@ims.example.net", port_us=6451,
               offers=offers)
        try:
            m = register(topo, core, u, 6450, 7030, 7031)
            expect(u.sm7_len > 2048, f"the SM7 is only {u.sm7_len} bytes")
            expect(len(sip_text.mechanisms(u.server)) == 11, f"the 401's Security-Server: {u.server}")
            expect((m["alg"], m.get("ealg")) == ("null", "aes-gcm"), f"P-CSCF chose {m}")
            exchange(topo, core, u, 6450)
            deregister(topo, core, u, 6450, 7030, 7031)
        finally:
            u.close()
        expect(topo.ctl.drops().get("bad_ip_header", 0) == 0, f"drops: {topo.ctl.drops()}")

    t.check("a handset over IPv4 offering all eleven pairs, every one allowed: its SM7 of over 2 kB registers "
            "(null/aes-gcm by the default order), a MESSAGE each way, de-registers; no bad_ip_header drop",
            handset_offers_everything)
    rc = topo.stop_daemon()
    t.check(f"pcscf-espd with --allowed-algorithms {SHA256_ALLOWED} stops cleanly",
            lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-2000:]}"))

    def policy_excludes(impi, port, offer):
        u = Ue(topo, False, impi, f"sip:{impi}", port_us=port + 1, offers=[offer])
        try:
            u.plain.sendto(u.register(u.security_client(port, 7100 + port, 7101 + port)), (u.pcscf, 5060))
            answer, _ = u.plain.recvfrom(65535)
        finally:
            u.close()
        expect(sip_text.start_line(answer).startswith("SIP/2.0 494"), f"got {sip_text.start_line(answer)}")
        server = ", ".join(sip_text.header(answer, "Security-Server"))
        listed = {(m.get("alg"), m.get("ealg")) for m in sip_text.mechanisms(server)}
        expect(listed == {("hmac-sha-1-96", "null")},
               f"the 494's Security-Server does not list exactly what is accepted: {server}")
        expect(not core.drain(), "the refused REGISTER reached the core")
        expect(not sas_of(topo, u.impi), "SAs installed for a refused UE")

    def policy_excludes_encryption_and_sha256():
        topo.start_daemon(workers=1, extra=topo.sec_agree_args(encryption=True) +
                          ["--allowed-algorithms", "hmac-sha-1-96,null"])
        policy_excludes("cbconly@ims.example.net", 6500, ("hmac-sha-1-96", "aes-cbc"))
        policy_excludes("sha256only@ims.example.net", 6510, ("hmac-sha-256-128", "null"))
        rc = topo.stop_daemon()
        expect(rc == 0, f"exit {rc}")

    t.check("--allowed-algorithms hmac-sha-1-96,null: a UE offering only aes-cbc, and one offering only "
            "hmac-sha-256-128, each get a 494 listing sha-1/null; nothing reaches the core",
            policy_excludes_encryption_and_sha256)
    if t.failed:
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-60:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
