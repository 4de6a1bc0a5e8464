"""Test hosts in network namespaces: the UE side and the P-CSCF side joined by a veth
pair, pcscf-espd on the P-CSCF's end of it, and helpers to run things in each.

Names carry a per-run tag so two runs (or a stale one) never collide; everything is torn
down on exit, also on failure."""
import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def sh(*args, check=True, ns=None, capture=True, timeout=30):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r



_libc = ctypes.CDLL(None, use_errno=True)


def dies_with_test():
    """Popen's preexec_fn: the child gets SIGKILL when the test dies without cleaning up (a
    timeout's SIGTERM), so no daemon outlives it holding addresses, ports or EAL files."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def read(path):
    with open(path) as f:
        return f.read()


def terminate(proc, timeout=20):
    """SIGTERM to `proc` (a Popen or None), SIGKILL if it has not ended within `timeout`
    seconds; its exit status (None for no process)."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode if proc else None


def dpdk_port(ns, ifname):
    """Makes a veth of namespace `ns` DPDK's: no addresses, no IPv6 of its own. The kernel must
    not answer on it either: it holds the P-CSCF's addresses (on the tap) in the same namespace
    and, as a weak host, would accept packets for them arriving on the veth behind DPDK's back.
    No ARP replies there, and a blackhole rule for anything received there, ahead of the local
    table."""
    sh("sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", ns=ns)
    sh("sysctl", "-qw", f"net.ipv4.conf.{ifname}.arp_ignore=8", ns=ns)
    sh("ip", "rule", "add", "priority", "1000", "lookup", "local", ns=ns)
    sh("ip", "rule", "del", "priority", "0", ns=ns)
    sh("ip", "rule", "add", "iif", ifname, "priority", "100", "blackhole", ns=ns)
    sh("ip", "link", "set", ifname, "up", ns=ns)


def espd_argv(prefix, access_port, workers, tap, local_addrs, extra):
    """pcscf-espd's command line: EAL without hugepages, the access port, the tap."""
    build = os.environ.get("PCSCF_BUILD", os.path.join(ROOT, "build"))
    # Workers share the second CPU when there are more of them than CPUs.
    lcores = "0@0," + ",".join(f"{i + 1}@{min(i + 1, os.cpu_count() - 1)}" for i in range(workers))
    addrs = [a for addr in local_addrs for a in ("--local-addr", addr)]
    return [os.path.join(build, "control", "pcscf-espd"),
            "--lcores", lcores, "--file-prefix", prefix, "--no-huge", "--memory", "1024", *access_port, *addrs,
            "--tap-name", tap, "--mbufs", "8191", "--inbound-sas", "65536", "--outbound-sas", "65536", *extra]


def start_espd(ns, args, log_path, timeout=30):
    """Starts pcscf-espd in `ns`, its output to `log_path`; returns once it says it runs."""
    log_file = open(log_path, "w")
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=log_file, stderr=subprocess.STDOUT,
                            preexec_fn=dies_with_test)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pcscf-espd exited ({proc.returncode}):\n{read(log_path)}")
        if "running:" in read(log_path):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"pcscf-espd did not start:\n{read(log_path)}")


class Topology:
    """ue namespace --veth-- pcscf namespace (DPDK af_packet) + tap in the kernel; with
    `core`, a third namespace for the IMS core joined to the P-CSCF's kernel by a veth."""

    UE4, PCSCF4 = "10.99.0.2", "10.99.0.1"
    UE6, PCSCF6 = "2001:db8:99::2", "2001:db8:99::1"
    PCSCF4_SECOND = "10.99.0.3"  # a second IPv4 access address, when a test asks for it
    CORE4, PCSCF_CORE4 = "10.98.0.2", "10.98.0.1"

    def __init__(self, tag=None, core=False):
        self.tag = tag or f"p{os.getpid() % 100000}"
        self.ue_ns, self.pcscf_ns = f"ue-{self.tag}", f"pc-{self.tag}"
        self.core_ns = f"core-{self.tag}" if core else None
        self.ue_if, self.p_if, self.tap = "veth-ue", "veth-p", "pcscf0"
        self.daemon = None
        self.prefix = f"pcscf-{self.tag}"
        atexit.register(self.close)

    def create(self):
        self.close()
        for ns in (self.ue_ns, self.pcscf_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", self.ue_if, "netns", self.ue_ns, "type", "veth",
           "peer", "name", self.p_if, "netns", self.pcscf_ns)
        dpdk_port(self.pcscf_ns, self.p_if)
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.ue_if}.accept_dad=0", ns=self.ue_ns)
        sh("ip", "addr", "add", f"{self.UE4}/24", "dev", self.ue_if, ns=self.ue_ns)
        sh("ip", "addr", "add", f"{self.UE6}/64", "dev", self.ue_if, "nodad", ns=self.ue_ns)
        sh("ip", "link", "set", self.ue_if, "up", ns=self.ue_ns)
        # A veth hands its packets over with the UDP/TCP checksum still to be filled in
        # (offload); DPDK's af_packet reads them as they are and the P-CSCF's kernel would
        # reject them. A real UE's packets arrive complete: make the UE's veth do the same.
        sh("ethtool", "-K", self.ue_if, "tx", "off", ns=self.ue_ns)
        if self.core_ns:
            sh("ip", "netns", "add", self.core_ns)
            sh("ip", "link", "set", "lo", "up", ns=self.core_ns)
            sh("ip", "link", "add", "veth-core", "netns", self.pcscf_ns, "type", "veth",
               "peer", "name", "veth-c", "netns", self.core_ns)
            sh("ip", "addr", "add", f"{self.PCSCF_CORE4}/24", "dev", "veth-core", ns=self.pcscf_ns)
            sh("ip", "addr", "add", f"{self.CORE4}/24", "dev", "veth-c", ns=self.core_ns)
            sh("ip", "link", "set", "veth-core", "up", ns=self.pcscf_ns)
            sh("ip", "link", "set", "veth-c", "up", ns=self.core_ns)
        return self

    def sec_agree_args(self, core_port=5060, encryption=False):
        """pcscf-espd options for the sec-agree proxy towards the core namespace. Integrity
        only unless `encryption`: the UEs of most tests protect with NULL encryption, and
        the IPv6 SM7 of a forged Security-Verify must fit one datagram."""
        return ["--core", f"{self.CORE4}:{core_port}", "--core-local", f"{self.PCSCF_CORE4}:5060",
                *([] if encryption else ["--allowed-algorithms", "hmac-sha-1-96,hmac-md5-96,null"])]

    def start_daemon(self, workers=1, extra=(), log=None, pmd="af_packet", second_v4=False):
        """pmd: af_packet (the kernel defragments IP for it, PACKET_FANOUT_FLAG_DEFRAG),
        af_xdp (XDP on the veth), or pcap (one queue; fragments arrive as they are).
        second_v4: PCSCF4_SECOND is an access address too."""
        addrs = [f"{self.PCSCF4}/24", f"{self.PCSCF6}/64"] + ([f"{self.PCSCF4_SECOND}/24"] if second_v4 else [])
        args = espd_argv(self.prefix, self.access_port(pmd, workers), workers, self.tap, addrs, extra)
        self.log_path = log or f"/tmp/pcscf-espd-{self.tag}.log"
        self.daemon = start_espd(self.pcscf_ns, args, self.log_path)
        self.ctl = Ctl(f"/var/run/dpdk/{self.prefix}/dpdk_telemetry.v2")
        # Neighbours learn each other once, so the first test packet is not an ARP exchange.
        sh("ping", "-c1", "-W2", self.PCSCF4, ns=self.ue_ns, check=False)
        sh("ping", "-6", "-c1", "-W2", self.PCSCF6, ns=self.ue_ns, check=False)
        return self

    def access_port(self, pmd, workers):
        # framesz: the kernel reassembles IP fragments for net_af_packet, and a frame must
        # hold the whole datagram (a UE's REGISTER with every algorithm passes 2 kB).
        vdev = {"af_packet": f"net_af_packet0,iface={self.p_if},qpairs={workers},framesz=4096",
                "af_xdp": f"net_af_xdp0,iface={self.p_if},start_queue=0,queue_count={workers}",
                "pcap": f"net_pcap0,iface={self.p_if}"}[pmd]
        return ["--vdev", vdev, "--access-port", vdev.split(",")[0]]

    def log(self):
        return read(self.log_path)

    def stop_daemon(self):
        rc = terminate(self.daemon)
        self.daemon = None
        return rc

    def close(self):
        self.stop_daemon()
        for ns in (self.ue_ns, self.pcscf_ns, self.core_ns):
            if ns:
                sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)  # EAL leaves it behind


class Ctl:
    """pcscf-espd's telemetry socket (what scripts/pcscf-espctl talks to)."""

    def __init__(self, path):
        deadline = time.time() + 10
        while not os.path.exists(path):
            if time.time() > deadline:
                raise RuntimeError(f"no telemetry socket {path}")
            time.sleep(0.05)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.s.recv(65536)

    def __call__(self, cmd):
        self.s.send(cmd.encode())
        return json.loads(self.s.recv(1 << 20).decode())[cmd.split(",")[0]]

    def drops(self):
        return self("/pcscf/drops")

    def stats(self):
        return self("/pcscf/stats")

    def add_sa(self, **kv):
        r = self("/pcscf/sa/add," + ",".join(f"{k}={v}" for k, v in kv.items()))
        if "error" in r:
            raise RuntimeError(r["error"])
        return r

    def del_sa(self, sa_id):
        return self(f"/pcscf/sa/del,{sa_id}")

    def sip(self):
        return self("/pcscf/sip")

    def sas(self):
        rows, off = [], 0
        while True:
            page = list((self(f"/pcscf/sa/list,{off}") or {}).values())
            if not page:
                return rows
            rows += page
            off += len(page)
