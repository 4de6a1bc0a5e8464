"""A capture of a UE's ESP decoded by tshark (Wireshark: an implementation no one here
wrote) with the keys of the SAs the UE learnt: ICV checked, the SIP inside dissected.

decode(pcap, sets, ue, pcscf) takes the sa_set events of lib/ue_ipsec.py (alg, ik hex,
spi_uc / spi_us / spi_pc / spi_ps; ealg and ck hex when encrypted) and the two addresses, and returns one dict per ESP
frame: frame, dir ("ue>pc" or "pc>ue"), spi, seq, icv ("good", "bad", or None when
tshark had no SA for it) and sip (the Request-Line / Status-Line inside, or "")."""
import subprocess

import milenage

# Wireshark's names for the algorithms (its ESP SA table, "uat:esp_sa", takes them as is).
AUTH = {"hmac-sha-1-96": "HMAC-SHA-1-96 [RFC2404]", "hmac-md5-96": "HMAC-MD5-96 [RFC2403]"}
ENCRYPTION = {"null": "NULL", "aes-cbc": "AES-CBC [RFC3602]", "des-ede3-cbc": "TripleDES-CBC [RFC2451]"}
FIELDS = ["frame.number", "ip.src", "ipv6.src", "esp.spi", "esp.sequence", "esp.icv_good",
          "esp.icv_bad", "sip.Request-Line", "sip.Status-Line"]


def auth_key(alg, ik_hex):
    """The SA's integrity key as Wireshark's table takes it (hex, 0x-prefixed)."""
    return "0x" + milenage.ik_esp(alg, bytes.fromhex(ik_hex)).hex()


def encryption_key(ealg, ck_hex):
    """The SA's encryption key as Wireshark's table takes it, or "" for null."""
    key = milenage.ck_esp(ealg, bytes.fromhex(ck_hex)) if ealg != "null" else None
    return "0x" + key.hex() if key else ""


def sa_records(sets, ue, pcscf):
    """One uat:esp_sa record per SA: protocol, source, destination, SPI, encryption
    algorithm, encryption key, authentication algorithm, authentication key."""
    proto = "IPv6" if ":" in ue else "IPv4"
    recs = []
    for s in sets:
        key, auth = auth_key(s["alg"], s["ik"]), AUTH[s["alg"]]
        ealg = s.get("ealg", "null")
        enc, ekey = ENCRYPTION[ealg], encryption_key(ealg, s.get("ck", ""))
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
                       "sip": f["sip.Request-Line"] or f["sip.Status-Line"]})
    return frames


def table(frames):
    """Readable lines, one per frame (for a TAP comment); a good frame whose SPI and
    sequence number an earlier good frame had is marked as a replay of it."""
    lines = [f"{'frame':>5}  {'dir':5}  {'spi':>6}  {'seq':>3}  {'ICV':4}  SIP inside"]
    first = {}
    for f in frames:
        note = ""
        if f["icv"] == "good":
            seen = first.setdefault((f["spi"], f["seq"]), f["frame"])
            note = f"  (replay of frame {seen})" if seen != f["frame"] else ""
        lines.append(f"{f['frame']:>5}  {f['dir']:5}  {f['spi']:>6}  {f['seq']:>3}  {f['icv'] or '-':4}  "
                     f"{f['sip'][:90]}{note}")
    return lines
