"""AES-GMAC-128 ESP (RFC 4543, ENCR_NULL_AUTH_AES_GMAC) for scapy, which has no such
algorithm (scapy 2.5): the ICV is the tag of AES-GCM over no plaintext with the whole ESP
packet up to the ICV as additional authenticated data. Built on python3-cryptography's
AESGCM, so an implementation independent of pcscf-espd's.

  ESP = SPI || seq || IV (8) || payload || padding || pad length || next header || ICV (16)
  nonce = salt (4) || IV; AAD = SPI || seq || IV || payload .. next header (RFC 4543 3.3);
  nothing is encrypted; padding 1, 2, 3 .. to a 4-byte multiple (RFC 4543 3.2).

gmac_sa(spi, key_salt) gives a scapy SecurityAssociation that encrypts and decrypts
transport-mode ESP with it (scapy does the IP side: transport split, lengths, checksum);
a bad ICV raises scapy's IPSecIntegrityError, as its own AEADs do."""
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.layers.ipsec import ESP, CryptAlgo, IPSecIntegrityError, SecurityAssociation, _ESPPlain

IV_LEN, ICV_LEN, SALT_LEN = 8, 16, 4


def gmac_icv(key, salt, spi, seq, iv, clear):
    """The 16-byte ICV of an ESP packet: `clear` is payload || padding || trailer."""
    aad = struct.pack("!LL", spi, seq) + iv + clear
    return AESGCM(key).encrypt(salt + iv, b"", aad)


class _AesGmac(CryptAlgo):
    """scapy's CryptAlgo interface (pad, encrypt, decrypt) for ENCR_NULL_AUTH_AES_GMAC."""

    def __init__(self):
        super().__init__("AES-GMAC", cipher=AESGCM, mode=None, key_size=(16,), salt_size=SALT_LEN,
                         block_size=1, iv_size=IV_LEN, icv_size=ICV_LEN)

    def encrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        clear = esp.data_for_encryption()
        icv = gmac_icv(key, sa.crypt_salt, esp.spi, esp.seq, esp.iv, clear)
        return ESP(spi=esp.spi, seq=esp.seq, data=esp.iv + clear + icv)

    def decrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        data = bytes(esp.data)
        if len(data) < IV_LEN + 2 + ICV_LEN:
            raise IPSecIntegrityError("ESP too short for AES-GMAC")
        iv, clear, icv = data[:IV_LEN], data[IV_LEN:-ICV_LEN], data[-ICV_LEN:]
        try:
            AESGCM(key).decrypt(sa.crypt_salt + iv, icv, struct.pack("!LL", esp.spi, esp.seq) + iv + clear)
        except InvalidTag as err:
            raise IPSecIntegrityError(err)
        padlen, nh = clear[-2], clear[-1]
        payload = clear[:len(clear) - padlen - 2]
        return _ESPPlain(spi=esp.spi, seq=esp.seq, iv=iv, data=payload,
                         padding=clear[len(clear) - padlen - 2:-2], padlen=padlen, nh=nh, icv=icv)


AES_GMAC = _AesGmac()


def gmac_sa(spi, key_salt):
    """A scapy SA for AES-GMAC-128: key_salt is the AES key (16 bytes) then the salt (4)."""
    if len(key_salt) != 16 + SALT_LEN:
        raise ValueError(f"AES-GMAC-128 takes a 20-byte key || salt, got {len(key_salt)}")
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo="NULL", auth_algo="NULL")
    sa.crypt_algo, sa.crypt_key, sa.crypt_salt = AES_GMAC, key_salt[:16], key_salt[16:]
    return sa
