"""A UE whose SIP runs over TCP on the kernel's sockets (TS 33.203 7.1, 7.2): what sipp
cannot be, since it cannot open a new connection in the middle of a call. Its ESP is
ue_ipsec.py's (scapy), which the kernel routes the protected ports through.

The sequence of sipp/ue_uac.xml, against sipp/core_uas.xml behind the P-CSCF:
  SM1 over a plain connection to :5060              <- 401 + Security-Server
  SM7 over a new connection port_uc -> port_ps      <- 200
  MESSAGE on that connection                        <- 200
  <- MESSAGE from the core, on the P-CSCF's connection port_pc -> port_us; 200 on it
  re-REGISTER over the first protected connection   <- 401
  SM7 over a new connection port_uc2 -> port_ps     <- 200
  de-REGISTER on it                                 <- 200
Each connection is closed (our FIN, then the P-CSCF's) once its SAs have carried their
last message and before the message that retires them, so no segment is left for the
datapath to drop. One JSON line per message on stdout.

  ip netns exec UE /usr/bin/python3 tcp_ue.py --ue 10.99.0.2 --pcscf 10.99.0.1 --k HEX --op HEX
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milenage  # noqa: E402
import sip_text  # noqa: E402

REALM, IMPI, IMPU, PEER = "ims.example.net", "alice@ims.example.net", "sip:alice@ims.example.net", \
    "sip:bob@ims.example.net"


class Failed(Exception):
    pass


class TimedOut(Failed):
    pass


def log(**kw):
    print(json.dumps(kw), flush=True)


class Conn:
    """One SIP connection: writes messages, reads them whole (Content-Length framing)."""

    def __init__(self, sock, name):
        self.sock, self.name, self.buf = sock, name, b""

    def send(self, msg):
        self.sock.sendall(msg)
        log(dir="out", conn=self.name, local=self.sock.getsockname()[1], remote=self.sock.getpeername()[1],
            sip=sip_text.start_line(msg))

    def recv(self, timeout=10):
        self.sock.settimeout(timeout)
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if sep:
                length = int((sip_text.header(head + b"\r\n", "Content-Length") or ["0"])[0])
                if len(rest) >= length:
                    msg, self.buf = head + sep + rest[:length], rest[length:]
                    log(dir="in", conn=self.name, local=self.sock.getsockname()[1], sip=sip_text.start_line(msg))
                    return msg
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimedOut(f"{self.name}: nothing within {timeout} s") from None
            if not data:
                raise Failed(f"{self.name}: closed by the P-CSCF")
            self.buf += data

    def expect(self, code):
        msg = self.recv()
        if not sip_text.start_line(msg).startswith(f"SIP/2.0 {code} "):
            raise Failed(f"{self.name}: expected {code}, got {sip_text.start_line(msg)}")
        return msg

    def close(self):
        """Both FINs before going on: the SAs that carry them may go with our next message."""
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(5)
        try:
            while self.sock.recv(65536):
                pass
        except socket.timeout:
            raise Failed(f"{self.name}: the P-CSCF did not close its side") from None
        self.sock.close()


def connect(family, local, remote, name):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(local)
    s.settimeout(10)
    s.connect(remote)
    return Conn(s, name)


def security_client(spi_c, spi_s, port_c, port_s):
    return "Security-Client: " + ", ".join(
        f"ipsec-3gpp;alg={alg};ealg=null;prot=esp;mod=trans;spi-c={spi_c};spi-s={spi_s};port-c={port_c};"
        f"port-s={port_s}" for alg in ("hmac-sha-1-96", "hmac-md5-96"))


def aka_authorization(k, op, amf, challenge):
    """RFC 3310: the digest of the REGISTER with RES as the password, after checking AUTN."""
    nonce = challenge.split('nonce="', 1)[1].split('"', 1)[0]
    if not milenage.check_autn(k, op, amf, nonce):
        raise Failed("the network's AUTN does not verify")
    res = milenage.f2(k, op, base64.b64decode(nonce)[:16])
    uri, cnonce = f"sip:{REALM}", "0a4f113b"
    ha1 = hashlib.md5(f"{IMPI}:{REALM}:".encode() + res).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    resp = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{IMPI}", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=AKAv1-MD5, qop=auth, nc=00000001, cnonce="{cnonce}"')


class Ue:
    """The UE's SIP state: its address, Call-ID and CSeq, and how it writes a REGISTER."""

    def __init__(self, a):
        self.a = a
        self.fam = socket.AF_INET6 if ":" in a.ue else socket.AF_INET
        self.host = f"[{a.ue}]" if self.fam == socket.AF_INET6 else a.ue
        self.pcscf_host = f"[{a.pcscf}]" if self.fam == socket.AF_INET6 else a.pcscf
        self.keys = bytes.fromhex(a.k), bytes.fromhex(a.op), bytes.fromhex(a.amf)
        self.call_id = f"tcp-ue-{os.getpid()}@{a.ue}"
        self.cseq = 0

    def register(self, conn, port_uc, spis, expires=600, auth=None, verify=None, via=None, port_s=None):
        self.cseq += 1
        a = self.a
        hdrs = [f"Contact: <sip:ue@{self.host}:{a.port_us};transport=tcp>;expires={expires}", f"Expires: {expires}",
                auth or f'Authorization: Digest username="{IMPI}", realm="{REALM}", uri="sip:{REALM}", nonce="", '
                        'response=""',
                security_client(*spis, port_uc, port_s or a.port_us),
                *(["Security-Verify: " + verify] if verify else []),
                "Require: sec-agree", "Proxy-Require: sec-agree", "Supported: path,sec-agree"]
        conn.send(sip_text.request("REGISTER", f"sip:{REALM}", f"{via or self.host}:{a.port_us}",
                                   f"z9hG4bKtcp{self.cseq}", IMPU, IMPU, self.call_id, self.cseq, hdrs,
                                   transport="TCP"))

    def message(self, conn, frm=IMPU, route=(), text="hello from the UE"):
        self.cseq += 1
        conn.send(sip_text.request("MESSAGE", PEER, f"{self.host}:{self.a.port_us}", f"z9hG4bKtcpm{self.cseq}", frm,
                                   PEER, "msg///" + self.call_id, self.cseq, list(route), text, transport="TCP"))

    def challenged(self, conn):
        """The 401: its Security-Server, port_ps, and our answer to its challenge."""
        ch = conn.expect(401)
        srv = sip_text.header(ch, "Security-Server")
        auth = aka_authorization(*self.keys, sip_text.header(ch, "WWW-Authenticate")[0])
        return srv, int(sip_text.mechanism(srv[0])["port-s"]), auth

    def connect(self, port, port_ps, name):
        return connect(self.fam, (self.a.ue, port), (self.a.pcscf, port_ps), name)

    def listen(self):
        listener = socket.socket(self.fam, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.a.ue, self.a.port_us))
        listener.listen(4)
        listener.settimeout(15)
        return listener


def refused(conn, why):
    """A 403 whose Warning says `why`."""
    msg = conn.expect(403)
    warning = " ".join(sip_text.header(msg, "Warning"))
    if why not in warning:
        raise Failed(f"{conn.name}: 403 with Warning {warning!r}, not about {why!r}")
    log(event="refused", conn=conn.name, warning=warning)


def silence(conn, what):
    """Nothing may come back: the P-CSCF dropped it."""
    try:
        msg = conn.recv(timeout=1.5)
    except TimedOut:
        log(event="dropped", conn=conn.name, what=what)
        return
    raise Failed(f"{conn.name}: {what} was answered: {sip_text.start_line(msg)}")


def run(a):
    ue = Ue(a)
    listener = ue.listen()  # our protected server port listens before the P-CSCF learns it

    # SM1 over a plain connection to the unprotected port.
    plain = ue.connect(0, 5060, "plain")
    set1 = (a.spi_c, a.spi_s)
    ue.register(plain, a.port_uc, set1)
    srv, port_ps, auth = ue.challenged(plain)
    plain.close()

    # SM7 on a new connection over the new SAs: port_uc -> port_ps.
    first = ue.connect(a.port_uc, port_ps, "set1")
    ue.register(first, a.port_uc, set1, auth=auth, verify=", ".join(srv))
    ok = first.expect(200)
    route = [f"Route: <sip:{ue.pcscf_host}:{port_ps};lr;transport=tcp>",
             *("Route: " + r for r in sip_text.header(ok, "Service-Route"))]
    ue.message(first, route=route)
    first.expect(200)

    # The core's MESSAGE comes on the P-CSCF's connection from port_pc to our port_us.
    try:
        sock, peer = listener.accept()
    except socket.timeout:
        raise Failed("the P-CSCF did not connect to port_us") from None
    incoming = Conn(sock, "from-pcscf")
    req = incoming.recv()
    if not sip_text.start_line(req).startswith("MESSAGE "):
        raise Failed(f"expected the core's MESSAGE, got {sip_text.start_line(req)}")
    via = sip_text.header(req, "Via")[0]
    log(event="core request", from_port=peer[1], via=via)
    if "SIP/2.0/TCP" not in via.upper():
        raise Failed(f"the P-CSCF's Via does not say TCP: {via}")
    incoming.send(sip_text.response(req, 200, "OK"))
    incoming.close()

    # Re-registration over the first set; the new set on a new connection from port_uc2.
    set2 = (a.spi_c2, a.spi_s2)
    ue.register(first, a.port_uc2, set2, verify=", ".join(srv))
    srv2, port_ps2, auth = ue.challenged(first)
    if port_ps2 != port_ps:
        raise Failed(f"port_ps changed on re-registration: {srv2[0]}")
    second = ue.connect(a.port_uc2, port_ps, "set2")
    ue.register(second, a.port_uc2, set2, auth=auth, verify=", ".join(srv2))
    second.expect(200)
    first.close()  # the old pair still exists until the first message over the new set

    ue.register(second, a.port_uc2, set2, expires=0, auth=auth, verify=", ".join(srv2))
    second.expect(200)
    second.close()  # within the P-CSCF's grace: the FINs still have their SAs
    listener.close()


def rejects(a):
    """The rejected cases of sipp/ue_rejects.xml over TCP, against sipp/core_rejects.xml."""
    ue = Ue(a)
    listener = ue.listen()
    plain = ue.connect(0, 5060, "plain")
    set1, set2 = (a.spi_c, a.spi_s), (a.spi_c2, a.spi_s2)
    ue.message(plain, text="not a REGISTER, on the unprotected port")
    silence(plain, "a MESSAGE on 5060")
    ue.register(plain, a.port_uc, set1, via=a.other)
    refused(plain, "not the packet's source address")
    ue.register(plain, a.port_uc, set1, port_s=a.port_uc)
    refused(plain, "must differ")
    # SM7 with a forged Security-Verify, on its own connection over the temporary SAs.
    ue.register(plain, a.port_uc, set1)
    srv, port_ps, auth = ue.challenged(plain)
    forged = "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c=1;spi-s=2;port-c=5102;port-s=5101"
    temp = ue.connect(a.port_uc, port_ps, "temporary")
    ue.register(temp, a.port_uc, set1, auth=auth, verify=forged)
    refused(temp, "Security-Verify")
    temp.close()  # before the P-CSCF deletes that set, a second later
    time.sleep(1.5)
    # A registration that succeeds, then what is refused over it.
    ue.register(plain, a.port_uc2, set2)
    srv, port_ps, auth = ue.challenged(plain)
    plain.close()
    conn = ue.connect(a.port_uc2, port_ps, "set2")
    ue.register(conn, a.port_uc2, set2, auth=auth, verify=", ".join(srv))
    conn.expect(200)
    ue.message(conn, frm="sip:mallory@ims.example.net", text="from an IMPU not registered over this SA")
    silence(conn, "a MESSAGE from an IMPU not registered over the SA")
    ue.register(conn, a.port_uc2, set1, verify=", ".join(srv))  # offers the port_uc in use
    refused(conn, "already in use")
    ue.register(conn, a.port_uc2, set2, expires=0, auth=auth, verify=", ".join(srv))
    conn.expect(200)
    conn.close()
    listener.close()


def hostile(a):
    """Streams a P-CSCF must survive on its unprotected port: a keep-alive ping (RFC 5626
    4.4.1) gets its pong; a message without Content-Length, or one longer than any SIP
    message can be, makes the stream undelimitable: the P-CSCF closes the connection."""
    fam = socket.AF_INET6 if ":" in a.pcscf else socket.AF_INET
    results = {}
    c = connect(fam, (a.ue, 0), (a.pcscf, 5060), "ping")
    c.sock.sendall(b"\r\n\r\n")
    results["pong"] = c.sock.recv(16).decode()
    c.sock.close()
    for name, head in (("no_content_length", "Via: SIP/2.0/TCP x;branch=z9hG4bK1\r\n"),
                       ("huge_content_length", "Content-Length: 99999999\r\n")):
        c = connect(fam, (a.ue, 0), (a.pcscf, 5060), name)
        c.sock.sendall(f"REGISTER sip:{REALM} SIP/2.0\r\n{head}\r\n".encode())
        try:
            results[name] = "closed" if c.sock.recv(4096) == b"" else "answered"
        except socket.timeout:
            results[name] = "left open"
        except ConnectionResetError:
            results[name] = "closed"
        c.sock.close()
    log(hostile=results)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ue", required=True)
    ap.add_argument("--pcscf", required=True)
    ap.add_argument("--k", help="K, hex (not needed with --hostile)")
    ap.add_argument("--op", help="OP, hex (not needed with --hostile)")
    ap.add_argument("--amf", default="6162")  # sipp's "ab"
    ap.add_argument("--port-us", type=int, default=6101)
    ap.add_argument("--port-uc", type=int, default=6100)
    ap.add_argument("--port-uc2", type=int, default=6102)
    for n, v in (("spi-c", 3001), ("spi-s", 3002), ("spi-c2", 3003), ("spi-s2", 3004)):
        ap.add_argument("--" + n, type=int, default=v)
    ap.add_argument("--hostile", action="store_true", help="only the hostile streams")
    ap.add_argument("--rejects", action="store_true", help="the rejected cases instead of the sequence")
    ap.add_argument("--other", default="10.99.0.77", help="an address that is not ours (for Via)")
    a = ap.parse_args()
    try:
        if a.hostile:
            return hostile(a)
        if not a.k or not a.op:
            ap.error("--k and --op are needed for a registration")
        (rejects if a.rejects else run)(a)
    except (Failed, OSError, ValueError, IndexError, KeyError) as e:
        log(error=str(e))
        return 1
    log(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
