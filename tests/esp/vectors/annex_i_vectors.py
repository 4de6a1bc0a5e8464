#!/usr/bin/python3
# Independent vectors for sa_contract/esp_keys (TS 33.203 Annex I, TS 33.220 Annex B).
# Uses only the Debian python3-cryptography package (38.0.4) and the standard library.
# Run, it prints the vectors; imported (make_vectors.py, tests/netns/lib/milenage.py), it
# gives kdf() and aead_key().
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")
IK = bytes.fromhex("f769bcd751044604127672711c6d3441")
CK2 = bytes(range(0x00, 0x10))            # a second, structured input
IK2 = bytes(range(0xf0, 0x100))

def kdf(key, fc, *params):
    """TS 33.220 B.2.0: S = FC || P0 || L0 || ... ; KDF = HMAC-SHA-256(Key, S)."""
    s = bytes([fc])
    for p in params:
        s += p + len(p).to_bytes(2, "big")
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(s)
    return s, h.finalize()

# TS 33.203 Annex I (Rel-12+): FC and P0 of the salt of each AEAD, and the AKA key that
# is the AES-128 key (the salt's KDF key is CK || IK for both).
AEAD_SALT = {"aes-gcm": (0x59, b"AES_GCM_SALT"), "aes-gmac": (0x58, b"AES_GMAC_SALT")}


def aead_key(name, ck, ik):
    """Annex I: the 20 bytes an AES-GCM (name "aes-gcm", key CK) or AES-GMAC ("aes-gmac",
    key IK) SA is keyed with: the AES-128 key, then the salt, the last 4 octets of
    KDF(CK || IK, FC || P0 || L0)."""
    fc, label = AEAD_SALT[name]
    key = ck if name == "aes-gcm" else ik
    return key + kdf(ck + ik, fc, label)[1][-4:]


def odd_parity(b):
    return bytes((x & 0xFE) | (1 ^ (bin(x & 0xFE).count("1") & 1)) for x in b)

def des3(ck):
    k1, k2 = ck[:8], ck[8:]
    return odd_parity(k1 + k2 + k1)


def main():
    for name, ck, ik in (("set1", CK, IK), ("set2", CK2, IK2)):
        print(f"== {name}: CK={ck.hex()} IK={ik.hex()}")
        print("IK_ESP hmac-md5-96   ", ik.hex())
        print("IK_ESP hmac-sha-1-96 ", (ik + bytes(4)).hex())
        print("CK_ESP aes-cbc       ", ck.hex())
        k3 = des3(ck)
        print("CK_ESP des-ede3-cbc  ", k3.hex())
        # Parity bits are not key bits: the raw CK1||CK2||CK1 encrypts identically.
        raw = ck[:8] + ck[8:] + ck[:8]
        iv, pt = bytes(8), bytes(range(16))
        e1 = Cipher(algorithms.TripleDES(k3), modes.CBC(iv)).encryptor()
        e2 = Cipher(algorithms.TripleDES(raw), modes.CBC(iv)).encryptor()
        assert e1.update(pt) + e1.finalize() == e2.update(pt) + e2.finalize()
        for aead, key in (("aes-gcm", ck), ("aes-gmac", ik)):
            fc, label = AEAD_SALT[aead]
            s, out = kdf(ck + ik, fc, label)
            assert aead_key(aead, ck, ik) == key + out[-4:]
            print(f"FC=0x{fc:02x} S={s.hex()}")
            print(f"  KDF out  {out.hex()}")
            print(f"  key {key.hex()} salt {out[-4:].hex()}")

    # HMAC-SHA-256 check against RFC 4231 test cases 1 and 2 (published values).
    for key, msg, want in ((b"\x0b" * 20, b"Hi There",
                            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
                           (b"Jefe", b"what do ya want for nothing?",
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")):
        h = hmac.HMAC(key, hashes.SHA256()); h.update(msg)
        assert h.finalize().hex() == want
    print("RFC 4231 cases 1-2 reproduced")


if __name__ == "__main__":
    main()
