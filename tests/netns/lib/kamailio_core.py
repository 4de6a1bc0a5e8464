"""Kamailio (Debian's) as the IMS core behind pcscf-espd: started in the topology's core
namespace with tests/netns/kamailio/ims_core.cfg, in the foreground, its log in a file.
It challenges REGISTERs with IMS AKA (RFC 3310) from vectors handed over here (computed
with Milenage, as an HSS would), checks the digest with RES as the password, keeps the
contact with its Path, and routes requests for a registered IMPU through that Path (the
P-CSCF); requests for anyone else go to `peer`."""
import hashlib
import os
import shutil
import subprocess
import time

import milenage
from netns import read, terminate

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(os.path.dirname(HERE), "kamailio", "ims_core.cfg")
REALM = "ims.example.net"


class KamailioCore:
    def __init__(self, topo, port=5060, peer=None, tcp=False):
        # tcp: SIP over TCP as well as UDP (for a P-CSCF that talks TCP to it)
        self.topo, self.port, self.peer, self.tcp = topo, port, peer, tcp
        self.run = f"/tmp/kamailio-{topo.tag}"
        self.ctl = f"unix:{self.run}/ctl.sock"
        self.log_path = f"{self.run}/kamailio.log"
        self.proc = None

    def start(self, timeout=10):
        shutil.rmtree(self.run, ignore_errors=True)
        os.makedirs(self.run)
        args = ["ip", "netns", "exec", self.topo.core_ns, "kamailio", "-DD", "-E", "-f", CONFIG, "-Y", self.run,
                "-l", f"udp:{self.topo.CORE4}:{self.port}", "-A", f'CTL_SOCK="{self.ctl}"', "-m", "32", "-M", "8"]
        if self.tcp:
            args += ["-l", f"tcp:{self.topo.CORE4}:{self.port}", "-A", "WITH_TCP"]
        if self.peer:
            args += ["-A", f'PEER="sip:{self.peer[0]}:{self.peer[1]}"']
        self.proc = subprocess.Popen(args, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if self.kamcmd("core.uptime").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"kamailio did not start:\n{self.log()[-2000:]}")

    def kamcmd(self, *args):
        return subprocess.run(["kamcmd", "-s", self.ctl, *args], capture_output=True, text=True, timeout=5)

    def give_vectors(self, impi, vectors):
        """The vectors (milenage.aka_vector) the core challenges `impi` with, one per
        challenge (the last one stays for later ones). Kamailio gets HA1 = MD5(IMPI:realm:
        RES) over the binary RES, never RES itself."""
        value = ";".join(f"{v['nonce']}:{v['ik'].hex()}:{v['ck'].hex()}:"
                         + hashlib.md5(impi.encode() + f":{REALM}:".encode() + v["xres"]).hexdigest()
                         for v in vectors)
        r = self.kamcmd("htable.sets", "av", f"s:{impi}", f"s:{value}")
        if r.returncode != 0:
            raise RuntimeError(f"kamcmd htable.sets: {r.stderr}{r.stdout}")

    def registered(self, impu):
        """Whether the core's location table holds a contact for `impu`."""
        return impu.split(":", 1)[-1] in self.kamcmd("ul.dump").stdout

    def log(self):
        return read(self.log_path) if os.path.exists(self.log_path) else ""

    def stop(self):
        return terminate(self.proc, timeout=10)


def sipp_vectors(n, k, op, amf):
    """`n` vectors a sipp UE can answer (no zero byte in RES: milenage.sipp_vector)."""
    return [milenage.sipp_vector(k, op, (i + 1).to_bytes(6, "big"), amf) for i in range(n)]
