"""3GPP Milenage (TS 35.206) and the IMS AKA vector (RFC 3310) built from it, so the test
can play the HSS/S-CSCF and the UE's IPsec layer can derive IK like a UE's ISIM does.

sipp takes aka_K, aka_OP and aka_AMF as raw strings (16, 16 and 2 bytes, not hex), so a
test that drives sipp picks printable keys and passes their bytes here (sipp_bytes)."""
import base64
import hmac
import os
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The Annex I KDF of the AES-GCM / AES-GMAC salts (TS 33.220 B.2.0), written once for the
# engine's key tests: tests/esp/vectors/annex_i_vectors.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "esp", "vectors"))
import annex_i_vectors  # noqa: E402


def _enc(k, block):
    e = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def _rot(x, bits):
    """Cyclic left rotation of the 128-bit block x by a multiple of 8 bits."""
    n = bits // 8
    return x[n:] + x[:n]


def _c(i):
    return bytes(15) + bytes([i])


def opc(k, op):
    return _xor(_enc(k, op), op)


def _temp(k, opc_, rand):
    return _enc(k, _xor(rand, opc_))


def f1(k, op, rand, sqn, amf, star=False):
    """MAC-A (or MAC-S for f1*), 8 bytes."""
    o = opc(k, op)
    in1 = sqn + amf + sqn + amf
    out1 = _xor(_enc(k, _xor(_xor(_temp(k, o, rand), _rot(_xor(in1, o), 64)), _c(0))), o)
    return out1[8:] if star else out1[:8]


def _out(k, op, rand, r, c):
    o = opc(k, op)
    return _xor(_enc(k, _xor(_rot(_xor(_temp(k, o, rand), o), r), _c(c))), o)


def f2(k, op, rand):
    """RES, 8 bytes."""
    return _out(k, op, rand, 0, 1)[8:]


def f5(k, op, rand):
    """AK, 6 bytes."""
    return _out(k, op, rand, 0, 1)[:6]


def f3(k, op, rand):
    """CK."""
    return _out(k, op, rand, 32, 2)


def f4(k, op, rand):
    """IK."""
    return _out(k, op, rand, 64, 4)


def aka_vector(k, op, sqn, amf, rand):
    """One authentication vector as the S-CSCF gets it from the HSS; `nonce` is what IMS
    AKA puts in WWW-Authenticate: base64(RAND || AUTN)."""
    ak = f5(k, op, rand)
    autn = _xor(sqn, ak) + amf + f1(k, op, rand, sqn, amf)
    return {"rand": rand, "autn": autn, "xres": f2(k, op, rand), "ck": f3(k, op, rand),
            "ik": f4(k, op, rand), "ak": ak, "nonce": base64.b64encode(rand + autn).decode()}


def ik_esp(alg, ik, ck=None):
    """TS 33.203 Annex I: the ESP integrity key is IK as is for HMAC-MD5-96, IK and 32 zero
    bits for HMAC-SHA-1-96; for AES-GMAC, IK then the 4-byte salt KDF(CK || IK, 0x58 ||
    "AES_GMAC_SALT" || 0x000d) ends with (so CK is needed too). None for alg=null (AES-GCM
    protects integrity with the encryption key). hmac-sha-256-128, which no release of
    Annex I covers, by HMAC-SHA-1-96's rule: IK and 128 zero bits, RFC 4868's 256 bits."""
    if alg == "hmac-md5-96":
        return ik
    if alg == "hmac-sha-1-96":
        return ik + bytes(4)
    if alg == "hmac-sha-256-128":
        return ik + bytes(16)
    if alg == "aes-gmac":
        return annex_i_vectors.aead_key("aes-gmac", ck, ik)
    if alg == "null":
        return None
    raise ValueError(f"no Annex I key for alg={alg}")


def _odd_parity(b):
    """A DES key byte with its low bit set so that the byte has odd parity."""
    high = b & 0xFE
    return high | (bin(high).count("1") + 1) % 2


def ck_esp(ealg, ck, ik=None):
    """TS 33.203 Annex I: the ESP encryption key. AES-CBC takes CK as is; for 3DES-CBC,
    CK = CK1 || CK2 gives CK1 || CK2 || CK1, each byte with odd parity (DES ignores those
    bits); AES-GCM takes CK then the 4-byte salt KDF(CK || IK, 0x59 || "AES_GCM_SALT" ||
    0x000c) ends with (so IK is needed too). None for null encryption."""
    if ealg == "null":
        return None
    if ealg == "aes-cbc":
        return ck
    if ealg == "aes-gcm":
        return annex_i_vectors.aead_key("aes-gcm", ck, ik)
    if ealg == "des-ede3-cbc":
        return bytes(_odd_parity(b) for b in ck + ck[:8])
    raise ValueError(f"no Annex I key for ealg={ealg}")


def ik_from_nonce(k, op, nonce_b64):
    """The UE's IK for a challenge, from the RAND at the start of the nonce."""
    return f4(k, op, base64.b64decode(nonce_b64)[:16])


def check_autn(k, op, amf, nonce_b64):
    """True if the nonce's AUTN carries a MAC the UE accepts (what sipp checks)."""
    raw = base64.b64decode(nonce_b64)
    rand, autn = raw[:16], raw[16:32]
    sqn = _xor(autn[:6], f5(k, op, rand))
    return hmac.compare_digest(autn[8:16], f1(k, op, rand, sqn, amf))


def sipp_bytes(s):
    """The key bytes sipp uses for a given aka_K/aka_OP/aka_AMF string."""
    return s.encode() if isinstance(s, str) else bytes(s)


def sipp_vector(k, op, sqn, amf):
    """A vector with a random RAND whose XRES has no zero byte: sipp 3.6.1 digests RES
    with strlen(), so it would answer with a truncated RES (and a real S-CSCF reject it)."""
    while True:
        v = aka_vector(k, op, sqn, amf, os.urandom(16))
        if 0 not in v["xres"]:
            return v


def core_inf(path, vectors):
    """Writes the -inf file of sipp/core_uas.xml: one line with nonce;ik;ck for each
    challenge of the scenario (two)."""
    fields = []
    for v in vectors:
        fields += [v["nonce"], v["ik"].hex(), v["ck"].hex()]
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n" + ";".join(fields) + "\n")
