"""A capture of a UE's ESP decoded by tshark (Wireshark: an implementation no one here
wrote) with the keys of the SAs the UE learnt: ICV checked, the SIP inside dissected.

decode(pcap, sets, ue, pcscf) takes the sa_set events of lib/ue_ipsec.py (alg, ik hex,
spi_uc / spi_us / spi_pc / spi_ps; ealg and ck hex when encrypted) and the two addresses, and returns one dict per ESP
frame: frame, dir ("ue>pc" or "pc>ue"), spi, seq, icv ("good", "bad", or None when
tshark had no SA for it) and sip (the Request-Line / Status-Line inside, or ""), and by
(who checked the ICV and opened the packet: "tshark", or "esp_gmac" for AES-GMAC).

Wireshark 4.0 (Debian 12's tshark 4.0.17) has no ENCR_NULL_AUTH_AES_GMAC (RFC 4543): its
ESP SA table offers no such algorithm, and its NULL-encryption heuristic says it assumes
no IV. For alg=aes-gmac SAs tshark is given no SA and dissects the ESP header only (SPI,
sequence number); esp_gmac.py (tests/esp/vectors, on python3-cryptography's AESGCM)
then checks each such frame's ICV and reads the SIP inside."""
import subprocess

from scapy.all import IP, IPv6, UDP, defragment, rdpcap
from scapy.layers.inet6 import IPv6ExtHdrFragment, defragment6
from scapy.layers.ipsec import ESP, IPSecIntegrityError

import milenage
from ue_peer import gmac_sa

# Wireshark's names for the algorithms (its ESP SA table, "uat:esp_sa", takes them as is;
# packet-ipsec.c's esp_authentication_type_vals and esp_encryption_type_vals). AES-GCM as
# Annex H uses it has a 16-octet ICV; its key is the AES key then the salt, 160 bits.
AUTH = {"hmac-sha-1-96": "HMAC-SHA-1-96 [RFC2404]", "hmac-md5-96": "HMAC-MD5-96 [RFC2403]",
        "hmac-sha-256-128": "HMAC-SHA-256-128 [RFC4868]", "null": "NULL"}
ENCRYPTION = {"null": "NULL", "aes-cbc": "AES-CBC [RFC3602]", "des-ede3-cbc": "TripleDES-CBC [RFC2451]",
              "aes-gcm": "AES-GCM with 16 octet ICV [RFC4106]"}
NOT_IN_TSHARK = {"aes-gmac"}  # alg values tshark 4.0 cannot check: see above
FIELDS = ["frame.number", "ip.src", "ipv6.src", "esp.spi", "esp.sequence", "esp.icv_good",
          "esp.icv_bad", "sip.Request-Line", "sip.Status-Line"]


def auth_key(alg, ik_hex, ck_hex=""):
    """The SA's integrity key as Wireshark's table takes it (hex, 0x-prefixed), or "" for
    alg=null."""
    key = milenage.ik_esp(alg, bytes.fromhex(ik_hex), bytes.fromhex(ck_hex))
    return "0x" + key.hex() if key else ""


def encryption_key(ealg, ck_hex, ik_hex=""):
    """The SA's encryption key as Wireshark's table takes it, or "" for null."""
    key = milenage.ck_esp(ealg, bytes.fromhex(ck_hex), bytes.fromhex(ik_hex)) if ealg != "null" else None
    return "0x" + key.hex() if key else ""


def sa_spis(s):
    """The four SPIs of a set: the P-CSCF's (UE -> P-CSCF), then the UE's."""
    return s["spi_pc"], s["spi_ps"], s["spi_uc"], s["spi_us"]


def sa_records(sets, ue, pcscf):
    """One uat:esp_sa record per SA: protocol, source, destination, SPI, encryption
    algorithm, encryption key, authentication algorithm, authentication key."""
    proto = "IPv6" if ":" in ue else "IPv4"
    recs = []
    for s in sets:
        if s["alg"] in NOT_IN_TSHARK:
            continue
        key, auth = auth_key(s["alg"], s["ik"], s.get("ck", "")), AUTH[s["alg"]]
        ealg = s.get("ealg", "null")
        enc, ekey = ENCRYPTION[ealg], encryption_key(ealg, s.get("ck", ""), s["ik"])
        for src, dst, spi in ((ue, pcscf, s["spi_pc"]), (ue, pcscf, s["spi_ps"]),
                              (pcscf, ue, s["spi_uc"]), (pcscf, ue, s["spi_us"])):
            recs.append(f'"{proto}","{src}","{dst}","{spi:#x}","{enc}","{ekey}","{auth}","{key}"')
    return recs


def tshark_args(sets, ue, pcscf):
    args = ["-n", "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
            # the SIP runs between protected ports, not 5060: the heuristic (on by default) finds it
            "--enable-heuristic", "sip_udp", "--enable-heuristic", "sip_tcp",
            # Over TCP each segment holds whole messages here: decode each on its own, so a
            # replayed segment (or the real one after its tampered copy) is not skipped as
            # a retransmission of bytes already seen.
            "-o", "tcp.analyze_sequence_numbers:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE"]
    for rec in sa_records(sets, ue, pcscf):
        args += ["-o", "uat:esp_sa:" + rec]
    return args


def decode(pcap, sets, ue, pcscf):
    cmd = ["tshark", "-r", pcap, *tshark_args(sets, ue, pcscf), "-Y", "esp", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=f", *sum((["-e", f] for f in FIELDS), [])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # tshark warns about running as root on stderr; anything else there is a real complaint
    errs = [line for line in r.stderr.splitlines() if line.strip() and "Running as user" not in line]
    if r.returncode != 0 or errs:
        raise RuntimeError(f"tshark exit {r.returncode}: {' | '.join(errs)[:1500]}\n  cmd: {' '.join(cmd)}")
    frames = []
    for line in r.stdout.splitlines():
        f = dict(zip(FIELDS, line.split("\t")))
        src = f["ip.src"] or f["ipv6.src"]
        icv = "good" if f["esp.icv_good"] == "1" else "bad" if f["esp.icv_bad"] == "1" else None
        frames.append({"frame": int(f["frame.number"]), "dir": "ue>pc" if src == ue else "pc>ue",
                       "spi": int(f["esp.spi"], 0), "seq": int(f["esp.sequence"]), "icv": icv,
                       "sip": f["sip.Request-Line"] or f["sip.Status-Line"], "by": "tshark"})
    gmac = {spi: milenage.ik_esp("aes-gmac", bytes.fromhex(s["ik"]), bytes.fromhex(s["ck"]))
            for s in sets if s["alg"] == "aes-gmac" for spi in sa_spis(s)}
    if gmac:
        packets = rdpcap(pcap)
        for f in frames:
            if f["spi"] in gmac:
                f["icv"], f["sip"] = check_gmac(reassembled(packets, f["frame"] - 1), gmac[f["spi"]])
                f["by"] = "esp_gmac"
    return frames


def _fragment_key(frame):
    """(src, dst, id) of an IP fragment, None for a whole datagram."""
    if IP in frame and (frame[IP].flags.MF or frame[IP].frag):
        return 4, frame[IP].src, frame[IP].dst, frame[IP].id
    if IPv6ExtHdrFragment in frame:
        return 6, frame[IPv6].src, frame[IPv6].dst, frame[IPv6ExtHdrFragment].id
    return None


def reassembled(packets, i):
    """The IP datagram of frame index i: as is, or, when it is the fragment that completed
    one (the frame tshark reports it in), put together from the run of fragments of the
    same datagram that ends there."""
    frame = packets[i]
    key = _fragment_key(frame)
    if key is None:
        return frame[IP] if IP in frame else frame[IPv6] if IPv6 in frame else None
    first = i
    while first > 0 and _fragment_key(packets[first - 1]) == key:
        first -= 1
    pieces = [p[IP] if key[0] == 4 else p[IPv6] for p in packets[first:i + 1]]
    pieces = [p.__class__(bytes(p)) for p in pieces]  # scapy's defragment changes what it gets
    whole = defragment(pieces) if key[0] == 4 else [defragment6(pieces)]
    return whole[0] if len(whole) == 1 else None


def check_gmac(ip, key_salt):
    """ICV ("good" / "bad", None if there is no whole ESP packet) and the SIP start line
    inside, checked by esp_gmac.py (tshark's SPI and sequence number stand)."""
    if ip is None or ESP not in ip:
        return None, ""
    ip = ip.__class__(bytes(ip))
    try:
        inner = gmac_sa(ip[ESP].spi, key_salt).decrypt(ip)
    except IPSecIntegrityError:
        return "bad", ""
    line = bytes(inner[UDP].payload).split(b"\r\n", 1)[0].decode(errors="replace") if UDP in inner else ""
    return "good", line if "SIP/2.0" in line else ""


def table(frames):
    """Readable lines, one per frame (for a TAP comment); a good frame whose SPI and
    sequence number an earlier good frame had is marked as a replay of it."""
    lines = [f"{'frame':>5}  {'dir':5}  {'spi':>6}  {'seq':>3}  {'ICV':4}  {'by':8}  SIP inside"]
    first = {}
    for f in frames:
        note = ""
        if f["icv"] == "good":
            seen = first.setdefault((f["spi"], f["seq"]), f["frame"])
            note = f"  (replay of frame {seen})" if seen != f["frame"] else ""
        lines.append(f"{f['frame']:>5}  {f['dir']:5}  {f['spi']:>6}  {f['seq']:>3}  {f['icv'] or '-':4}  "
                     f"{f.get('by', ''):8}  "
                     f"{f['sip'][:90]}{note}")
    return lines
