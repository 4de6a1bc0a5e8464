#!/usr/bin/env python3
"""UDP and TCP echo servers for the P-CSCF's namespace: they stand in for the SIP
application on the kernel's sockets. Each datagram or TCP read is answered with
b"echo:" + the data; every receipt is logged as a JSON line on stdout, so a test can
see exactly what reached the kernel.

usage: echo_server.py <addr> <udp|tcp>:<port> [...]"""
import json
import selectors
import socket
import sys


def main(addr, specs):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sel = selectors.DefaultSelector()
    for spec in specs:
        proto, port = spec.split(":")
        s = socket.socket(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(port)))
        if proto == "tcp":
            s.listen(16)
        sel.register(s, selectors.EVENT_READ, proto)
    print(json.dumps({"ready": specs}), flush=True)
    while True:
        for key, _ in sel.select():
            s, kind = key.fileobj, key.data
            if kind == "udp":
                data, peer = s.recvfrom(65535)
                print(json.dumps({"udp": s.getsockname()[1], "from": list(peer[:2]), "len": len(data)}), flush=True)
                s.sendto(b"echo:" + data, peer)
            elif kind == "tcp":
                c, peer = s.accept()
                sel.register(c, selectors.EVENT_READ, "conn")
            else:
                try:
                    data = s.recv(65535)
                except ConnectionResetError:  # the test's peer ends with a RST
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    continue
                print(json.dumps({"tcp": s.getsockname()[1], "from": list(s.getpeername()[:2]), "len": len(data)}), flush=True)
                s.sendall(b"echo:" + data)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
