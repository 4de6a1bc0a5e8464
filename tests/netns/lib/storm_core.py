"""The IMS core of the registration storm: one UDP socket that challenges every REGISTER
the P-CSCF marks integrity-protected="no" (SM1 -> 401 with ik and ck, TS 33.203 7.2) and
accepts every other (SM7, de-registration -> 200), as fast as one process can. Run in the
core's namespace; stops on SIGTERM.

    storm_core.py --addr 10.98.0.2 --port 5060"""
import argparse
import signal
import socket
import sys

import sip_text

IK = bytes.fromhex("00112233445566778899aabbccddeeff")  # storm_ues.py keys its SAs with it
CK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
CHALLENGE = [f'WWW-Authenticate: Digest realm="ims.example.net", nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
             f'ik="{IK.hex()}", ck="{CK.hex()}"']


def answer(req):
    if b'integrity-protected="no"' in req:
        return sip_text.response(req, 401, "Unauthorized", CHALLENGE)
    contact = sip_text.header(req, "Contact")
    return sip_text.response(req, 200, "OK", [f"Contact: {contact[0]}"] if contact else [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=5060)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root): the storm waits here
    s.bind((args.addr, args.port))
    print("up", flush=True)
    while True:
        req, src = s.recvfrom(65535)
        if req.startswith(b"REGISTER "):
            s.sendto(answer(req), src)


if __name__ == "__main__":
    main()
