"""Milenage against the TS 35.208 test sets, and the sipp scenarios (sipp/ue_uac.xml and
sipp/core_uas.xml) against each other over loopback in a network namespace of their own
(root; TAP output): sipp's UAC checks AUTN's MAC, so a run that registers shows that the
vectors from aka_vector are ones a UE accepts, and the digest it answers is checked
against our XRES."""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import milenage  # noqa: E402
from tap import Tap, expect  # noqa: E402

SIPP = os.path.join(HERE, "sipp")
h = bytes.fromhex

# TS 35.208 4.3: K, RAND, SQN, AMF, OP, OPc, f1, f2, f3, f4, f5
TEST_SETS = {
    1: ("465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607",
        "b9b9", "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf",
        "4a9ffac354dfafb3", "a54211d5e3ba50bf", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
        "f769bcd751044604127672711c6d3441", "aa689c648370"),
    2: ("0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d",
        "af17", "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2",
        "5df5b31807e258b0", "d3a628ed988620f0", "58c433ff7a7082acd424220f2b67c556",
        "21a8c1f929702adb3e738488b9f5c5da", "c47783995f72"),
}

# sipp reads aka_K/aka_OP/aka_AMF as raw strings, hence printable keys.
K, OP, AMF = "0123456789abcdef", "fedcba9876543210", "ab"


def check_set(n):
    k, rand, sqn, amf, op, opc, mac, res, ck, ik, ak = map(h, TEST_SETS[n])
    got = (milenage.opc(k, op), milenage.f1(k, op, rand, sqn, amf), milenage.f2(k, op, rand),
           milenage.f3(k, op, rand), milenage.f4(k, op, rand), milenage.f5(k, op, rand))
    want = (opc, mac, res, ck, ik, ak)
    for name, g, w in zip(("OPc", "f1", "f2", "f3", "f4", "f5"), got, want):
        expect(g == w, f"{name} {g.hex()} != {w.hex()}")


def check_vector():
    k, rand, sqn, amf, op, _opc, mac, res, ck, ik, ak = map(h, TEST_SETS[1])
    v = milenage.aka_vector(k, op, sqn, amf, rand)
    expect(v["autn"] == bytes(a ^ b for a, b in zip(sqn, ak)) + amf + mac, "AUTN")
    expect((v["xres"], v["ck"], v["ik"]) == (res, ck, ik), "XRES/CK/IK")
    expect(base64.b64decode(v["nonce"]) == rand + v["autn"], "nonce = RAND || AUTN")
    expect(milenage.ik_from_nonce(k, op, v["nonce"]) == ik, "ik_from_nonce")
    expect(milenage.check_autn(k, op, amf, v["nonce"]), "AUTN accepted")
    expect(not milenage.check_autn(k, op, b"\0\0", v["nonce"]), "AUTN with another AMF")


def sh(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


class Loopback:
    """A network namespace with only lo, for the two sipp scenarios."""

    def __init__(self):
        self.ns = f"sipp-lo-{os.getpid()}"
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        self.dir = tempfile.mkdtemp(prefix="sipp-lo-")

    def close(self):
        sh("ip", "netns", "del", self.ns)

    def run(self, ip, k=K, v6=False):
        """core_uas.xml on port 5100 and ue_uac.xml on 5200 talk directly; the core's 401
        brings the Security-Server a P-CSCF would add. Returns (ue rc, core rc, vectors,
        the core's message log)."""
        k_b, op_b, amf_b = (milenage.sipp_bytes(x) for x in (K, OP, AMF))
        vectors = [milenage.sipp_vector(k_b, op_b, sqn, amf_b)
                   for sqn in (h("000000000021"), h("000000000041"))]
        inf = os.path.join(self.dir, "core.csv")
        milenage.core_inf(inf, vectors)
        host = f"[{ip}]" if v6 else ip
        sec_srv = ("Security-Server: ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;"
                   "spi-c=1111;spi-s=2222;port-c=5101;port-s=5100;q=0.1")
        common = ["-m", "1", "-t", "u1", "-timeout", "30s", "-timeout_error", "-nostdin",
                  "-trace_msg", "-trace_err", "-key", "realm", "ims.example.net",
                  "-key", "impu", "sip:alice@ims.example.net"]
        core_log = os.path.join(self.dir, "core_msg.log")
        core = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "sipp", "-sf", os.path.join(SIPP, "core_uas.xml"),
             "-i", ip, "-p", "5100", "-inf", inf, "-key", "core_hdr", sec_srv, *common,
             "-message_file", core_log, "-error_file", os.path.join(self.dir, "core_err.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        ue = sh("ip", "netns", "exec", self.ns, "sipp", "-sf", os.path.join(SIPP, "ue_uac.xml"),
                "-i", ip, "-p", "5200", f"{host}:5100", *common,
                "-key", "impi", "alice@ims.example.net", "-key", "peer_impu", "sip:bob@ims.example.net",
                "-key", "pcscf", ip, "-key", "spi_c", "3001", "-key", "spi_s", "3002",
                "-key", "port_uc", "5201", "-key", "spi_c2", "3003", "-key", "spi_s2", "3004",
                "-key", "port_uc2", "5202", "-key", "aka_k", k, "-key", "aka_op", OP,
                "-key", "aka_amf", AMF,
                # No P-CSCF in between: the UE brings the Path the core wants to see.
                "-key", "ue_hdr", f"Path: <sip:term@{host}:5100;lr>",
                "-message_file", os.path.join(self.dir, "ue_msg.log"),
                "-error_file", os.path.join(self.dir, "ue_err.log"), timeout=60)
        try:
            core_rc = core.wait(timeout=40)
        except subprocess.TimeoutExpired:
            core.kill()
            core_rc = core.wait()
        log = open(core_log).read() if os.path.exists(core_log) else ""
        return ue.returncode, core_rc, vectors, log

    def errors(self):
        out = ""
        for f in ("ue_err.log", "core_err.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                out += open(p).read()[-1500:]
        return out


def digest_ok(log, vector, nonce_index):
    """The AKAv1-MD5 response of the REGISTER answering challenge `nonce_index` is the
    RFC 2617 digest with XRES as the password."""
    nonce = vector["nonce"]
    auths = [a for a in re.findall(r"^Authorization: (Digest .*)$", log, re.M)
             if f'nonce="{nonce}"' in a and "cnonce" in a]
    expect(auths, f"no REGISTER answered challenge {nonce_index}")
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', auths[0]))
    md5 = lambda s: hashlib.md5(s if isinstance(s, bytes) else s.encode()).hexdigest()
    ha1 = md5(f'{p["username"]}:{p["realm"]}:'.encode() + vector["xres"])
    ha2 = md5(f'REGISTER:{p["uri"]}')
    want = md5(f'{ha1}:{nonce}:{p["nc"]}:{p["cnonce"]}:{p["qop"]}:{ha2}')
    expect(p["response"] == want, f'response {p["response"]} != {want}')


def main():
    t = Tap()
    t.check("TS 35.208 test set 1", lambda: check_set(1))
    t.check("TS 35.208 test set 2", lambda: check_set(2))
    t.check("aka_vector: AUTN, nonce, IK from the nonce", check_vector)
    if os.geteuid() != 0 or not any(os.access(os.path.join(d, "sipp"), os.X_OK)
                                    for d in os.environ.get("PATH", "").split(":")):
        print("# sipp checks skipped: need root and sipp")
        return t.done()
    lo = Loopback()
    try:
        for ip, v6 in (("127.0.0.1", False), ("::1", True)):
            res = {}

            def run(ip=ip, v6=v6, res=res):
                res["r"] = lo.run(ip, v6=v6)
                ue_rc, core_rc, _, _ = res["r"]
                expect(ue_rc == 0 and core_rc == 0, f"ue rc {ue_rc}, core rc {core_rc}:\n{lo.errors()}")

            def responses(res=res):
                _, _, vectors, log = res["r"]
                digest_ok(log, vectors[0], 1)
                digest_ok(log, vectors[1], 2)

            fam = "IPv6" if v6 else "IPv4"
            t.check(f"sipp UE and core scenarios run through ({fam})", run)
            t.check(f"sipp's AKA responses use our XRES ({fam})", responses)

        def wrong_key():
            ue_rc, _, _, _ = lo.run("127.0.0.1", k="0123456789abcdeX")
            expect(ue_rc != 0, "sipp accepted a challenge made with another K")
        t.check("sipp UE rejects AUTN made with another K", wrong_key)
    finally:
        lo.close()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
