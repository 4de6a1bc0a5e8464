"""The far end of kamailio_test.py: a user behind the IMS core (Kamailio sends it what is
for an IMPU not registered there), a UDP socket in the core namespace. It answers the UE's
MESSAGE and call, then sends a MESSAGE and a call of its own to the UE through the core,
recording what it saw for the test to check (RFC 3261: the UAS copies Record-Route into
its answers; a UAC's in-dialog requests follow the reversed Record-Route)."""
import re
import socket
import time
import uuid

import sip_text


def values(msg, name):
    """Every value of a comma-separated header (Route, Record-Route), in order."""
    return [v.strip() for h in sip_text.header(msg, name) for v in re.split(r",(?=\s*<)", h)]


class FarEnd:
    def __init__(self, addr, core, user="sip:bob@ims.example.net"):
        self.addr, self.core, self.user = addr, core, user
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(addr)
        self.seen = {}  # what the test checks: name -> message bytes
        self.cseq = 0

    def recv(self, want, timeout=10.0):
        """The next message `want(msg)` accepts; others (100 Trying, retransmissions) pass."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.s.settimeout(max(0.05, deadline - time.time()))
            try:
                msg, _ = self.s.recvfrom(65535)
            except socket.timeout:
                break
            if want(msg):
                return msg
        raise AssertionError(f"the far end waited {timeout} s in vain")

    @staticmethod
    def is_request(method):
        return lambda m: sip_text.start_line(m).startswith(method + " ")

    @staticmethod
    def is_status(code):
        return lambda m: sip_text.start_line(m).startswith(f"SIP/2.0 {code}")

    def answer(self, req, code, reason, headers=()):
        rr = [f"Record-Route: {v}" for v in sip_text.header(req, "Record-Route")]
        self.s.sendto(sip_text.response(req, code, reason, [*rr, *headers]), self.core)

    def request(self, method, ruri, to, call_id, cseq, route=(), from_tag="fe"):
        via = f"{self.addr[0]}:{self.addr[1]}"
        msg = sip_text.request(method, ruri, via, "z9hG4bK" + uuid.uuid4().hex[:12], self.user, to, call_id, cseq,
                               [*(["Route: " + ", ".join(route)] if route else []),
                                f"Contact: <sip:bob@{via}>"])
        msg = msg.replace(f";tag=ue{cseq}".encode(), f";tag={from_tag}".encode(), 1)
        self.s.sendto(msg, self.core)
        return msg

    def in_dialog(self, method, ok, cseq, route):
        """ACK or BYE in the dialog the 200 `ok` set up: to its Contact over `route`."""
        contact = re.search(r"<([^>]+)>", sip_text.header(ok, "Contact")[0]).group(1)
        to = sip_text.header(ok, "To")[0]
        call_id = sip_text.header(ok, "Call-ID")[0]
        via = f"{self.addr[0]}:{self.addr[1]}"
        lines = [f"{method} {contact} SIP/2.0", f"Via: SIP/2.0/UDP {via};branch=z9hG4bK{uuid.uuid4().hex[:12]}",
                 "Max-Forwards: 70", f"Route: {', '.join(route)}", f"From: <{self.user}>;tag=fe", f"To: {to}",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}", "Content-Length: 0", "", ""]
        self.s.sendto("\r\n".join(lines).encode(), self.core)

    def play(self, ue_impu):
        """The far end's side of ue_dialogs.xml, in order."""
        msg = self.seen["ue_message"] = self.recv(self.is_request("MESSAGE"))
        self.answer(msg, 200, "OK")
        ue_call = sip_text.header(msg, "Call-ID")[0].split("///")[-1]
        # The core may pass two messages on in either order: the UE wants the 200 first.
        time.sleep(0.3)
        self.request("MESSAGE", ue_impu, ue_impu, f"fe-msg///{ue_call}", 1)
        self.seen["message_answer"] = self.recv(self.is_status(200))

        invite = self.seen["ue_invite"] = self.recv(self.is_request("INVITE"))
        self.answer(invite, 180, "Ringing", ["Contact: <sip:bob@%s:%d>" % self.addr])
        time.sleep(0.1)  # a 180 overtaken by the 200 would be a retransmission of nothing
        self.answer(invite, 200, "OK", ["Contact: <sip:bob@%s:%d>" % self.addr])
        self.seen["ue_ack"] = self.recv(self.is_request("ACK"))
        update = self.seen["ue_update"] = self.recv(self.is_request("UPDATE"))
        self.answer(update, 200, "OK", ["Contact: <sip:bob@%s:%d>" % self.addr])
        bye = self.seen["ue_bye"] = self.recv(self.is_request("BYE"))
        self.answer(bye, 200, "OK")

        time.sleep(0.3)
        self.request("INVITE", ue_impu, ue_impu, f"fe-inv///{ue_call}", 1)
        ok = self.seen["invite_answer"] = self.recv(self.is_status(200))
        route = list(reversed(values(ok, "Record-Route")))  # the UAC's route set
        self.in_dialog("ACK", ok, 1, route)
        time.sleep(0.3)
        self.in_dialog("BYE", ok, 2, route)
        self.seen["bye_answer"] = self.recv(self.is_status(200))
