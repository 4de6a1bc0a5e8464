"""SIP messages as text for the scripted UE and core of the sec-agree tests: just enough
to write requests and answer them (RFC 3261 8.2.6: Via, From, To, Call-ID, CSeq copied)."""
import re


def request(method, ruri, via, branch, frm, to, call_id, cseq, headers=(), body="", transport="UDP"):
    lines = [f"{method} {ruri} SIP/2.0", f"Via: SIP/2.0/{transport} {via};branch={branch}", "Max-Forwards: 70",
             f"From: <{frm}>;tag=ue{cseq}", f"To: <{to}>", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
             *headers, f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines).encode()


def register_headers(client, impi, realm, contact, verify=None, expires=600):
    """A UE's REGISTER headers for sec-agree (TS 33.203 7.1): its Security-Client offer, its
    IMPI in Authorization (a stand-in answer once challenged), its Contact; Security-Verify
    (the 401's Security-Server) once challenged, and Expires 0 to de-register."""
    h = [f"Security-Client: {client}", "Require: sec-agree", "Proxy-Require: sec-agree",
         f'Authorization: Digest username="{impi}", realm="{realm}", uri="sip:{realm}", nonce="", '
         f'response="{"0123" if verify else ""}"', f"Contact: <sip:ue@{contact}>;expires={expires}"]
    if verify:
        h.append(f"Security-Verify: {verify}")
    if expires == 0:
        h.append("Expires: 0")
    return h


def header(msg, name):
    """Values of every `name` header, in order."""
    text = msg.decode() if isinstance(msg, bytes) else msg
    return [m.group(1).strip() for m in re.finditer(rf"^{name}:[ \t]*(.*)$", text, re.M | re.I)]


def start_line(msg):
    return msg.decode().split("\r\n", 1)[0]


def response(req, code, reason, headers=()):
    text = req.decode()
    copied = [line for line in text.split("\r\n")
              if re.match(r"^(Via|From|To|Call-ID|CSeq):", line, re.I)]
    copied = [line + ";tag=core1" if line.lower().startswith("to:") and "tag=" not in line else line
              for line in copied]
    return "\r\n".join([f"SIP/2.0 {code} {reason}", *copied, *headers, "Content-Length: 0", "", ""]).encode()


def mechanisms(value):
    """Every mechanism of a Security-* value, in order, each as its parameters:
    [{'alg': ..., 'ealg': ..., 'spi-c': ..., ...}, ...]."""
    out = []
    for mech in value.split(","):
        params = {}
        for p in mech.split(";")[1:]:
            k, _, v = p.strip().partition("=")
            params[k.lower()] = v
        out.append(params)
    return out


def mechanism(value, alg="hmac-sha-1-96", ealg="null"):
    """The first mechanism of a Security-Server value with the pair alg/ealg: the one a UE
    that offered that pair takes (TS 33.203 7.2: the first listed that it supports)."""
    for m in mechanisms(value):
        if m.get("alg") == alg and m.get("ealg", "null") == ealg:
            return m
    raise ValueError(f"no {alg}/{ealg} mechanism in {value!r}")
