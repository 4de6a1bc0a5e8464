"""Two P-CSCF hosts in a pair (docs/operations.md, "Running a pair"), each a namespace with
pcscf-espd and keepalived, a UE namespace and a core namespace with redis-server:

    ue ns: br-acc (the UEs' addresses)        core ns: br-core (the core, Redis)
       |-- u-a ===== veth-p [DPDK] pa ns veth-core ===== c-a --|
       |-- u-b ===== veth-p [DPDK] pb ns veth-core ===== c-b --|

keepalived (VRRP over veth-core) gives the master the access address on its tap and the
core-side address on veth-core, and tells pcscf-espd its role through pcscf-espctl. Both
daemons start with --standby; keepalived makes the first one primary. Everything is torn
down on exit, also on failure."""
import atexit
import os
import shutil
import subprocess
import tempfile
import time

from netns import ROOT, Ctl, dies_with_test, dpdk_port, espd_argv, read, sh, start_espd, terminate


class Host:
    """One P-CSCF host: its namespace, pcscf-espd and keepalived."""

    def __init__(self, pair, name, addr, priority):
        self.pair, self.name, self.addr, self.priority = pair, name, addr, priority
        self.ns = f"p{name}-{pair.tag}"
        self.prefix = f"pcscf-{pair.tag}-{name}"
        self.log_path = f"/tmp/pcscf-espd-{pair.tag}-{name}.log"
        self.daemon = self.keepalived = self.ctl = None

    def start_daemon(self, workers, extra):
        args = espd_argv(self.prefix, ["--vdev", "net_af_packet0,iface=veth-p,qpairs=" + str(workers),
                                       "--access-port", "net_af_packet0"], workers, "pcscf0",
                         [f"{self.pair.PCSCF4}/24"], ["--standby", "--state-redis", self.pair.redis_url(), *extra])
        self.daemon = start_espd(self.ns, args, self.log_path)
        self.ctl = Ctl(f"/var/run/dpdk/{self.prefix}/dpdk_telemetry.v2")

    def start_keepalived(self):
        """VRRP over veth-core; the tap (pcscf0) exists by now, keepalived wants it at start."""
        d = self.pair.dir
        ctl = f"/usr/bin/python3 {ROOT}/scripts/pcscf-espctl -p {self.prefix} role"
        conf = f"""global_defs {{
    router_id pcscf-{self.name}
    vrrp_version 3
    enable_script_security
    script_user root
    vrrp_garp_master_repeat 3
}}
vrrp_instance pcscf {{
    state BACKUP
    nopreempt
    interface veth-core
    virtual_router_id 51
    priority {self.priority}
    advert_int {self.pair.ADVERT_INT}
    virtual_ipaddress {{
        {self.pair.PCSCF_CORE4}/24 dev veth-core
        {self.pair.PCSCF4}/24 dev pcscf0
    }}
    notify_master "{ctl} primary"
    notify_backup "{ctl} standby"
    notify_fault "{ctl} standby"
    notify_stop "{ctl} standby"
}}
"""
        path = os.path.join(d, f"keepalived-{self.name}.conf")
        with open(path, "w") as f:
            f.write(conf)
        log = open(os.path.join(d, f"keepalived-{self.name}.log"), "w")
        self.keepalived = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
             "-f", path, "-p", os.path.join(d, f"k-{self.name}.pid"), "-r", os.path.join(d, f"v-{self.name}.pid")],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=dies_with_test)

    def keepalived_log(self):
        return read(os.path.join(self.pair.dir, f"keepalived-{self.name}.log"))

    def log(self):
        return read(self.log_path)

    def role(self):
        try:
            return self.ctl("/pcscf/role")["role"]
        except (OSError, ValueError):
            return None

    def fail(self):
        """The host is gone: both processes killed (-9), its links down. keepalived leaves its
        addresses behind when killed; the links going down takes them off the network."""
        for p in (self.keepalived, self.daemon):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        sh("ip", "link", "set", "veth-core", "down", ns=self.ns)
        sh("ip", "link", "set", "veth-p", "down", ns=self.ns)

    def recover(self, workers, extra):
        """The host is back: links up, pcscf-espd (a standby) and keepalived started again."""
        sh("ip", "link", "set", "veth-core", "up", ns=self.ns)
        sh("ip", "link", "set", "veth-p", "up", ns=self.ns)
        self.start_daemon(workers, extra)
        self.start_keepalived()

    def stop_keepalived(self):
        self.keepalived.terminate()
        self.keepalived.wait(timeout=10)

    def stop(self):
        """SIGTERM to pcscf-espd then keepalived (whose notify_stop would make a primary stand
        down first); pcscf-espd's exit status."""
        rc = terminate(self.daemon)
        terminate(self.keepalived)
        return rc


class Pair:
    UE4, PCSCF4 = "10.99.0.2", "10.99.0.1"  # PCSCF4: the access address keepalived moves
    CORE4, PCSCF_CORE4 = "10.98.0.2", "10.98.0.1"  # PCSCF_CORE4: the core-side address it moves
    REDIS_PORT, REDIS_PASSWORD = 6379, "pair-secret"
    ADVERT_INT = 0.2  # VRRP: the master is declared down after about 3 adverts

    def __init__(self, tag=None):
        self.tag = tag or f"f{os.getpid() % 100000}"
        self.ue_ns, self.core_ns = f"ue-{self.tag}", f"core-{self.tag}"
        self.ue_if = "br-acc"
        self.dir = tempfile.mkdtemp(prefix="pcscf-pair-")
        self.hosts = [Host(self, "a", "10.98.0.11", 150), Host(self, "b", "10.98.0.12", 100)]
        self.redis = None
        atexit.register(self.close)

    def redis_url(self):
        return f"redis://:{self.REDIS_PASSWORD}@{self.CORE4}:{self.REDIS_PORT}"

    def create(self):
        self.close_namespaces()
        for ns in (self.ue_ns, self.core_ns, *(h.ns for h in self.hosts)):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        for ns, br, addr in ((self.ue_ns, "br-acc", self.UE4), (self.core_ns, "br-core", self.CORE4)):
            sh("ip", "link", "add", br, "type", "bridge", ns=ns)
            sh("ip", "addr", "add", f"{addr}/24", "dev", br, ns=ns)
            sh("ip", "link", "set", br, "up", ns=ns)
        # A real UE's packets arrive with their checksums filled in (see netns.Topology).
        sh("ethtool", "-K", "br-acc", "tx", "off", ns=self.ue_ns)
        for h in self.hosts:
            sh("sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1", ns=h.ns)  # the addresses keepalived moves
            for mine, theirs, ns, br in (("veth-p", f"u-{h.name}", self.ue_ns, "br-acc"),
                                         ("veth-core", f"c-{h.name}", self.core_ns, "br-core")):
                sh("ip", "link", "add", mine, "netns", h.ns, "type", "veth", "peer", "name", theirs, "netns", ns)
                sh("ethtool", "-K", theirs, "tx", "off", ns=ns)
                sh("ip", "link", "set", theirs, "master", br, ns=ns)
                sh("ip", "link", "set", theirs, "up", ns=ns)
            dpdk_port(h.ns, "veth-p")
            sh("ip", "addr", "add", f"{h.addr}/24", "dev", "veth-core", ns=h.ns)
            sh("ip", "link", "set", "veth-core", "up", ns=h.ns)
        return self

    def start_redis(self):
        """redis-server in the core namespace with a password, appending every write to disk."""
        log = open(os.path.join(self.dir, "redis.log"), "a")
        self.redis = subprocess.Popen(
            ["ip", "netns", "exec", self.core_ns, "redis-server", "--bind", self.CORE4, "--port", str(self.REDIS_PORT),
             "--requirepass", self.REDIS_PASSWORD, "--appendonly", "yes", "--save", "", "--dir", self.dir],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=dies_with_test)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = sh("redis-cli", "-h", self.CORE4, "-p", str(self.REDIS_PORT), "--no-auth-warning", "-a",
                   self.REDIS_PASSWORD, "ping", ns=self.core_ns, check=False)
            if r.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not answer:\n" + read(os.path.join(self.dir, "redis.log")))

    def stop_redis(self):
        """A clean stop (SIGTERM): Redis writes its append-only file out; start_redis() again
        reads it back."""
        self.redis.terminate()
        self.redis.wait(timeout=10)

    def close_namespaces(self):
        for ns in (self.ue_ns, self.core_ns, *(h.ns for h in self.hosts)):
            sh("ip", "netns", "del", ns, check=False)

    def close(self):
        for h in self.hosts:
            h.stop()
            shutil.rmtree(f"/var/run/dpdk/{h.prefix}", ignore_errors=True)
        if self.redis and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait()
        self.close_namespaces()
        shutil.rmtree(self.dir, ignore_errors=True)
