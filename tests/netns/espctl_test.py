#!/usr/bin/python3
"""scripts/pcscf-espctl, the operator's command line, against a real pcscf-espd in network
namespaces: usage errors (exit 2, no traceback, no connection tried), a daemon that is not
there (exit 1, one line), --json anywhere on the line, the empty results, the SIP
counters; then one UE registers (a scripted UE on scapy's ESP, a scripted core) while
`monitor` watches: the SA installs it streams, `ue list` / `ue show`, and `keys
--wireshark`, whose records must be the keys the UE derived itself and let tshark (an
implementation no one here wrote) check the ICVs of a capture of that registration.
Output is TAP.

usage (root): espctl_test.py"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import ROOT, Topology  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
import esp_capture  # noqa: E402
import milenage  # noqa: E402
import sip_text  # noqa: E402
import ue_fleet  # noqa: E402
import ue_peer  # noqa: E402
from scapy.all import IP, UDP, Raw  # noqa: E402

CTL = os.path.join(ROOT, "scripts", "pcscf-espctl")
IK = bytes.fromhex("00112233445566778899aabbccddeeff")
CK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
REALM = "ims.example.net"
IMPI, IMPU = f"alice@{REALM}", f"sip:alice@{REALM}"
PORT_UC, PORT_US, SPI_UC, SPI_US = 6100, 6101, 1111, 2222


def run(*args, timeout=15):
    return subprocess.run(["/usr/bin/python3", CTL, *args], capture_output=True, text=True, timeout=timeout)


def no_traceback(r):
    expect("Traceback" not in r.stderr + r.stdout, f"a Python traceback:\n{r.stderr[-1500:]}")


def usage_error(*args, says):
    def check():
        r = run(*args)
        expect(r.returncode == 2, f"pcscf-espctl {' '.join(args)}: exit {r.returncode}, not 2: {r.stderr.strip()}")
        no_traceback(r)
        expect(says in r.stderr, f"no {says!r} in: {r.stderr.strip()}")
    return check


class Ue:
    """One UE over UDP/IPv4: a plain socket for SM1 and its 401, scapy's ESP after."""

    def __init__(self, topo):
        self.topo = topo
        self.plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.plain.bind((topo.UE4, PORT_US))
        self.plain.settimeout(5)
        self.cseq = 0
        self.mech = self.peer = None

    def client(self):
        return (f"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c={SPI_UC};spi-s={SPI_US};"
                f"port-c={PORT_UC};port-s={PORT_US}")

    def register(self, verify=None):
        self.cseq += 1
        via = f"{self.topo.UE4}:{PORT_US}"
        return sip_text.request("REGISTER", f"sip:{REALM}", via, f"z9hG4bKctl{self.cseq}", IMPU, IMPU, "reg-ctl",
                                self.cseq, sip_text.register_headers(self.client(), IMPI, REALM, via, verify))

    def registers(self, core):
        """SM1 / 401 in the clear, SM7 over the new SAs / 200 back over them."""
        self.plain.sendto(self.register(), (self.topo.PCSCF4, 5060))
        sm1 = core.recv()
        core.send(sip_text.response(sm1, 401, "Unauthorized", [
            f'WWW-Authenticate: Digest realm="{REALM}", nonce="bm9uY2U=", algorithm=AKAv1-MD5, '
            f'qop="auth", ik="{IK.hex()}", ck="{CK.hex()}"']))
        sm6, _ = self.plain.recvfrom(65535)
        expect(sip_text.start_line(sm6).startswith("SIP/2.0 401"), f"got {sip_text.start_line(sm6)}")
        server = sip_text.header(sm6, "Security-Server")[0]
        self.mech = m = sip_text.mechanism(server)
        self.peer = ue_peer.EspPeer(self.topo.ue_if, m["alg"], milenage.ik_esp(m["alg"], IK), int(m["spi-s"]), SPI_US)
        cap = self.peer.sniffer()
        sm7 = self.register(server)
        ue_peer.send_l3(self.peer.seal(IP(src=self.topo.UE4, dst=self.topo.PCSCF4) /
                                       UDP(sport=PORT_UC, dport=int(m["port-s"])) / Raw(sm7)))
        got = core.recv()
        expect(sip_text.start_line(got).startswith("REGISTER"), "SM7 did not reach the core")
        core.send(sip_text.response(got, 200, "OK", [f"Contact: <sip:ue@{self.topo.UE4}:{PORT_US}>;expires=600",
                                                      f"P-Associated-URI: <{IMPU}>"]))
        inner = self.peer.wait(cap, lambda ps: any(b"SIP/2.0 200" in bytes(p[UDP].payload) for p in ps if UDP in p))
        expect(any(b"SIP/2.0 200" in bytes(p[UDP].payload) for p in inner if UDP in p), "no 200 over ESP")

    def sa_set(self):
        """The set as lib/esp_capture.py takes it: what the UE itself knows of its SAs."""
        return {"alg": self.mech["alg"], "ik": IK.hex(), "spi_uc": SPI_UC, "spi_us": SPI_US,
                "spi_pc": int(self.mech["spi-c"]), "spi_ps": int(self.mech["spi-s"])}


class Background:
    """pcscf-espctl running on (monitor), its stderr read until it says it watches."""

    def __init__(self, *args):
        self.p = subprocess.Popen(["/usr/bin/python3", CTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.first = ""
        if select.select([self.p.stderr], [], [], 10)[0]:
            self.first = self.p.stderr.readline()

    def finish(self, timeout=10):
        """(exit code or None if it had to be killed, stdout, stderr). What it prints is a
        few lines: it fits the pipes while it runs."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = None
        return rc, self.p.stdout.read(), self.first + self.p.stderr.read()


def tshark(pcap, records, env=None):
    """The ESP frames of `pcap` as tshark decodes them with `records` (uat:esp_sa; none: the
    esp_sa file of the profile `env` points at): (src, spi, icv good?, SIP start line)."""
    fields = ["ip.src", "esp.spi", "esp.icv_good", "esp.icv_bad", "sip.Request-Line", "sip.Status-Line"]
    cmd = ["tshark", "-r", pcap, "-n", "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", "--enable-heuristic", "sip_udp",
           *sum((["-o", "uat:esp_sa:" + r] for r in records), []),
           "-Y", "esp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
           *sum((["-e", f] for f in fields), [])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    errs = [line for line in r.stderr.splitlines() if line.strip() and "Running as user" not in line]
    expect(r.returncode == 0 and not errs, f"tshark exit {r.returncode}: {' | '.join(errs)[:800]}")
    frames = []
    for line in r.stdout.splitlines():
        f = dict(zip(fields, line.split("\t")))
        frames.append((f["ip.src"], int(f["esp.spi"], 0), f["esp.icv_good"] == "1",
                       f["sip.Request-Line"] or f["sip.Status-Line"]))
    return frames


def main():
    t = Tap()
    work = tempfile.mkdtemp(prefix="espctl-")  # removed at the end unless a check failed

    # --- no daemon needed ---------------------------------------------------------------
    t.check("-p without a value: usage error, exit 2, no traceback",
            usage_error("-p", says="expected one argument"))
    t.check("sa show without an id: usage error, exit 2", usage_error("sa", "show", says="required: ID"))
    t.check("sa show with an id that is not a number: usage error, exit 2",
            usage_error("sa", "show", "x", says="not an SA id"))
    t.check("no command: usage error, exit 2", usage_error(says="required: COMMAND"))

    def unknown_command_connects_nowhere():
        path = os.path.join(work, "listener.sock")
        lsn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        lsn.bind(path)
        lsn.listen(4)
        lsn.setblocking(False)
        for args in (["-s", path, "bogus"], ["-s", path, "sa", "frobnicate"], ["bogus", "-s", path]):
            r = run(*args)
            expect(r.returncode == 2 and "invalid choice" in r.stderr,
                   f"{args}: exit {r.returncode}: {r.stderr.strip()}")
            no_traceback(r)
        try:
            lsn.accept()
            raise AssertionError("pcscf-espctl connected for an unknown command")
        except BlockingIOError:
            pass
        lsn.close()

    t.check("an unknown command says so (invalid choice), exit 2, without connecting", unknown_command_connects_nowhere)

    def no_daemon():
        prefix = f"pcscf-espctl-none-{os.getpid()}"
        r = run("-p", prefix, "stats")
        lines = r.stderr.strip().splitlines()
        expect(r.returncode == 1, f"exit {r.returncode}, not 1")
        no_traceback(r)
        expect(len(lines) == 1 and lines[0].startswith(f"pcscf-espctl: cannot reach pcscf-espd at "
                                                       f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2: ")
               and "is it running, with this --file-prefix?" in lines[0], f"stderr: {r.stderr!r}")
        # A socket file left behind by a daemon that is gone: refused, same message.
        path = os.path.join(work, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(path)
        s.close()
        r = run("sa", "list", "-s", path)
        expect(r.returncode == 1 and f"cannot reach pcscf-espd at {path}: Connection refused" in r.stderr,
               f"exit {r.returncode}: {r.stderr!r}")
        no_traceback(r)

    t.check("no daemon behind the prefix, or a stale socket: exit 1, one line saying so", no_daemon)

    # --- a daemon -----------------------------------------------------------------------
    topo = Topology(core=True).create()
    try:
        topo.start_daemon(workers=1, extra=topo.sec_agree_args())
    except Exception as e:  # noqa: BLE001
        why = str(e)
        t.check("pcscf-espd starts", lambda: expect(False, why))
        return t.done()
    p = ["-p", topo.prefix]

    def ok(*args):
        r = run(*args)
        no_traceback(r)
        expect(r.returncode == 0, f"pcscf-espctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def empty_results():
        expect(ok(*p, "sa", "list").strip() == "no SAs", "sa list on an empty daemon")
        expect(ok(*p, "ue", "list").strip() == "no UEs", "ue list on an empty daemon")
        expect(ok(*p, "events").strip() == "no events", "events on a daemon nobody watched")
        drops = {k: v for k, v in json.loads(ok(*p, "drops", "--json")).items() if v}
        text = ok(*p, "drops")
        if not drops:  # an idle daemon drops nothing, unless something odd reached the veth
            expect(text.strip() == "no drops", f"drops on an idle daemon:\n{text}")
        else:
            expect(sorted(line.split()[0] for line in text.splitlines()) == sorted(drops), f"drops:\n{text}")
        expect(json.loads(ok(*p, "sa", "list", "--json")) == [], "sa list --json is not []")

    t.check("empty results say so: no SAs, no UEs, no events (nobody watched), no drops", empty_results)

    def json_anywhere():
        for cmd in (["config"], ["sa", "count"], ["role"], ["ue", "list"]):
            before = json.loads(ok("--json", *p, *cmd))
            after = json.loads(ok(*cmd, *p, "--json"))
            expect(before == after, f"{cmd}: --json before {before} != after {after}")
            if len(cmd) == 2:  # between the two words too, and -p after everything
                mid = json.loads(ok(cmd[0], "--json", cmd[1], *p))
                expect(mid == before, f"{cmd}: --json in the middle gave {mid}")
        cfg = json.loads(ok(*p, "config", "--json"))
        expect(cfg.get("tap") == topo.tap and topo.PCSCF4 in cfg.get("local_addrs", ""), f"config: {cfg}")
        text = ok("config", "-p", topo.prefix)
        expect(re.search(rf"^tap\s+{topo.tap}$", text, re.M), f"config as text:\n{text}")

    t.check("--json before, between and after the subcommand gives the same JSON; -p anywhere", json_anywhere)

    def daemon_errors():
        r = run(*p, "sa", "show", "999")
        expect(r.returncode == 1 and r.stderr.strip() == "pcscf-espctl: no SA 999", f"{r.returncode}: {r.stderr!r}")
        r = run(*p, "ue", "show", "nobody@" + REALM)
        expect(r.returncode == 1 and r.stderr.strip() == f"pcscf-espctl: no UE with IMPI nobody@{REALM}",
               f"{r.returncode}: {r.stderr!r}")
        r = run(*p, "keys", "--wireshark", "nobody@" + REALM)
        expect(r.returncode == 1 and r.stderr.startswith("pcscf-espctl: ") and "nobody" in r.stderr,
               f"{r.returncode}: {r.stderr!r}")
        r = run(*p, "role", "primary")  # not in a pair
        expect(r.returncode == 1 and "not in a pair" in r.stderr, f"{r.returncode}: {r.stderr!r}")
        r = run(*p, "raw", "/pcscf/nothing")
        expect(r.returncode == 1 and "/pcscf/nothing" in r.stderr, f"{r.returncode}: {r.stderr!r}")
        for r in (run(*p, "sa", "show", "999", "--json"),):
            no_traceback(r)

    t.check("an error from the daemon: exit 1, \"pcscf-espctl: <error>\"", daemon_errors)

    def sip_counters():
        text = ok(*p, "sip")
        for name in ("enabled", "ues", "from_ue", "to_core", "refused", "transactions", "dropped"):
            expect(re.search(rf"^{name}\s+\S", text, re.M), f"no {name} in:\n{text}")
        d = json.loads(ok(*p, "sip", "--json"))
        expect(d["enabled"] == "yes" and isinstance(d["dropped"], dict), f"sip --json: {d}")
        expect(re.search(r"^enabled\s+yes$", text, re.M) and re.search(r"^dropped\s+none$", text, re.M),
               f"sip:\n{text}")

    t.check("sip shows the SIP proxy's counters, its drops nested", sip_counters)

    def existing_commands():
        st = ok(*p, "stats")
        expect(st.splitlines()[0].split() == ["counter", "worker0"] and "esp_in" in st, f"stats:\n{st}")
        expect("bad_icv" in ok(*p, "drops", "-a"), "drops -a does not list bad_icv")
        expect(re.search(r"^role\s+single$", ok(*p, "role"), re.M), "role is not single")
        expect(re.search(r"^enabled\s+no$", ok(*p, "state"), re.M), "state")
        expect("/pcscf/ue/list" in json.loads(ok(*p, "raw", "/")), "raw / does not list /pcscf/ue/list")
        added = json.loads(ok(*p, "sa", "add", "dir=in", "alg=hmac-md5-96", "key=" + "ab" * 16, "ue=10.97.0.1",
                              "ue_port=7100", "--json"))
        shown = ok(*p, "sa", "show", str(added["id"]))
        expect(re.search(rf"^spi\s+{added['spi']}$", shown, re.M), f"sa show:\n{shown}")
        expect(json.loads(ok(*p, "sa", "count", "--json"))["inbound"] == 1, "sa count")
        ok(*p, "sa", "del", str(added["id"]))
        wait_until(lambda: ok(*p, "sa", "list").strip() == "no SAs", 3)
        expect(ok(*p, "sa", "list").strip() == "no SAs", "SA not deleted")
        r = run(*p, "sa", "add", "dir=sideways")
        expect(r.returncode == 1 and "dir" in r.stderr, f"bad add: {r.returncode} {r.stderr!r}")
        # A UE behind a NAT (TS 33.203 Annex M): its public and own addresses, the NAT's port.
        natted = json.loads(ok(*p, "sa", "add", "dir=out", "alg=hmac-sha-1-96", "key=" + "cd" * 20, "spi=28672",
                               "ue=198.51.100.7", "ue_port=5060", "pcscf_port=5101", "mode=UDP-enc-tun",
                               "ue_inner=192.168.1.20", "encap_port=40000", "--json"))
        shown = json.loads(ok(*p, "sa", "show", str(natted["id"]), "--json"))
        expect((shown["mode"], shown["ue_inner"], shown["encap_port"]) == ("UDP-enc-tun", "192.168.1.20", 40000),
               f"sa show of a UDP-enc-tun SA: {shown}")
        ok(*p, "sa", "del", str(natted["id"]))
        r = run(*p, "sa", "add", "dir=in", "alg=hmac-md5-96", "key=" + "ab" * 16, "ue=10.97.0.1", "ue_inner=10.0.0.1")
        expect(r.returncode == 1 and "need mode=UDP-enc-tun" in r.stderr, f"stray ue_inner: {r.returncode} {r.stderr!r}")
        levels = json.loads(ok(*p, "log", "--json"))
        expect(levels.get("sip") == "info", f"log: {levels}")
        expect(re.search(r"^sip\s+debug$", ok(*p, "log", "sip=debug"), re.M), "log sip=debug did not change it")
        r = run(*p, "log", "sip=loud")
        expect(r.returncode == 1 and r.stderr.startswith("pcscf-espctl: "),
               f"log sip=loud: {r.returncode} {r.stderr!r}")
        expect(json.loads(ok(*p, "log", "info", "--json")) == levels, "log info did not set every area back")

    t.check("stats, drops -a, role, state, raw, sa add (transport and UDP-enc-tun) / show / count / del, log work",
            existing_commands)

    # --- one UE registers while monitor watches -------------------------------------------
    core = ue_fleet.Core(topo)
    ue_peer.enter_netns(topo.ue_ns)
    ue = Ue(topo)
    state = {}

    def registration_watched():
        # The registration's events: its 4 SAs installed, the first packet over one (SM7),
        # the registration itself.
        mon = Background(*p, "monitor", "--count", "6")
        mon_json = Background("monitor", *p, "--count", "6", "--json")
        for m in (mon, mon_json):
            expect("events from" in m.first, f"monitor did not start: {m.first!r} {m.p.poll()}")
        cap = subprocess.Popen(["ip", "netns", "exec", topo.ue_ns, "dumpcap", "-q", "-P", "-i", topo.ue_if,
                                "-f", "esp", "-w", f"{work}/ue.pcap"], stdout=subprocess.DEVNULL,
                               stderr=open(f"{work}/dumpcap.out", "w"))
        wait_until(lambda: "Capturing on" in open(f"{work}/dumpcap.out").read(), 10, 0.1)
        try:
            ue.registers(core)
        finally:
            time.sleep(0.3)
            cap.terminate()
            cap.wait(timeout=10)
        sas = [s for s in topo.ctl.sas() if s.get("label") == IMPI]
        expect(len(sas) == 4, f"SAs of {IMPI}: {sas}")
        state["sas"] = {s["id"]: s for s in sas}
        rc, out, err = mon.finish()
        expect(rc == 0, f"monitor --count 6: exit {rc}; stderr {err.strip()!r}\n{out}")
        lines = out.splitlines()
        expect(len(lines) == 6, f"monitor --count 6 printed {len(lines)} lines:\n{out}")
        stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        installed = set()
        for line in lines[:4]:  # the temporary set goes in before anything else happens
            m = re.match(stamp + r"SA (\d+) \((in|out) spi (\d+), (\S+)\): installed on worker \d+$", line)
            expect(m and m.group(4) == IMPI, f"not an SA install of {IMPI}: {line!r}\n{out}")
            sa = state["sas"].get(int(m.group(1)))
            expect(sa and sa["spi"] == int(m.group(3)) and sa["dir"] == m.group(2), f"{line!r}: not as sa list has it")
            installed.add(sa["id"])
        expect(installed == set(state["sas"]), f"installs of {sorted(installed)}, SAs {sorted(state['sas'])}")
        expect(any(re.match(stamp + f"registration of {re.escape(IMPI)} at {re.escape(topo.UE4)}: registered$", line)
                   for line in lines[4:]), f"the registration is not among the events:\n{out}")
        rc, out, err = mon_json.finish()
        evs = [json.loads(line) for line in out.splitlines()]
        expect(rc == 0 and [e["event"] for e in evs] == lines and all(isinstance(e["seq"], int) for e in evs),
               f"monitor --json: exit {rc}, {evs} vs {lines}")
        # Everything since: the registration itself among the events kept.
        history = ok(*p, "events")
        expect(f"registration of {IMPI} at {topo.UE4}: registered" in history, f"events:\n{history}")

    t.check("monitor --count 6 streams the events of a registration made while it runs: its 4 SA installs, "
            "the registration (text and --json)",
            registration_watched)

    def ue_list():
        text = ok(*p, "ue", "list")
        rows = text.splitlines()
        expect(rows[0].split() == ["impi", "ue", "transport", "state", "expires", "sas"], f"header: {rows[0]!r}")
        expect(len(rows) == 2, f"ue list:\n{text}")
        cur = json.loads(ok(*p, "ue", "list", "--json"))
        expect(len(cur) == 1, f"ue list --json: {cur}")
        u = cur[0]
        ids = sorted(int(x) for x in u["current_sas"].split())
        expect(u["impi"] == IMPI and u["ue"] == topo.UE4 and u["state"] == "registered" and u["transport"] == "udp"
               and 0 < u["expires_s"] <= 600, f"ue list --json: {u}")
        expect(ids == sorted(state["sas"]), f"current set {ids}, SAs {sorted(state['sas'])}")
        expect(re.search(rf"^{re.escape(IMPI)}\s+{re.escape(topo.UE4)}\s+udp\s+registered\s+\d+s\s+"
                         + r"\s+".join(u["current_sas"].split()) + "$", rows[1]), f"row: {rows[1]!r}")

    t.check("ue list: the UE's IMPI, address, transport, state registered, expiry, its 4 SA ids", ue_list)

    def ue_show():
        text = ok(*p, "ue", "show", IMPI)
        expect(text.splitlines()[0].split() == [IMPI, topo.UE4], f"first line: {text.splitlines()[0]!r}")
        expect(re.search(r"^\s+state\s+registered$", text, re.M), f"no state registered:\n{text}")
        m = ue.mech
        expect(re.search(rf"^\s+current\s+{m['alg']}\s+at {re.escape(topo.PCSCF4)}\s+ports pc={m['port-c']} ps={m['port-s']} uc={PORT_UC} "
                         rf"us={PORT_US}\s+spis pc={m['spi-c']} ps={m['spi-s']} uc={SPI_UC} us={SPI_US}$", text, re.M),
               f"the current set is not shown as the UE negotiated it:\n{text}")
        now = {s["id"]: s for s in topo.ctl.sas() if s.get("label") == IMPI}
        rows = [line.split() for line in text.splitlines() if line.startswith("current ")]
        expect(sorted(int(r[1]) for r in rows) == sorted(now), f"SA rows {rows}, SAs {sorted(now)}")
        for r in rows:
            sa = now[int(r[1])]
            expect([r[2], int(r[3]), r[6], int(r[7]), int(r[8]), int(r[9])] ==
                   [sa["dir"], sa["spi"], sa["state"], sa["packets"], sa["bytes"], sa["drops"]],
                   f"row {r} is not SA {sa}")
        # SM7 came in over the SA to port_ps, the 200 left over the one to the UE's port_us.
        shown = json.loads(ok(*p, "ue", "show", IMPI, "--json"))
        expect(len(shown) == 1 and len(shown[0]["sa"]) == 4, f"ue show --json: {shown}")
        by_spi = {s["spi"]: s for s in shown[0]["sa"].values()}
        expect(by_spi[int(m["spi-s"])]["packets"] >= 1 and by_spi[SPI_US]["packets"] >= 1,
               f"no packets counted on the SAs SM7 and its 200 used: {by_spi}")

    t.check("ue show: the UE's sets, each of its 4 SAs with packets, bytes, drops and state as sa list has them",
            ue_show)

    def keys_for_wireshark():
        out = ok(*p, "keys", "--wireshark", IMPI)
        recs = out.splitlines()
        expect(len(recs) == 4, f"{len(recs)} records:\n{out}")
        pat = re.compile(r'^"IPv4","([\d.]+)","([\d.]+)","0x([0-9a-f]{8})","NULL","",'
                         r'"(HMAC-SHA-1-96 \[RFC2404\]|HMAC-MD5-96 \[RFC2403\])","0x([0-9a-f]+)"$')
        parsed = []
        for rec in recs:
            m = pat.match(rec)
            expect(m, f"not a uat:esp_sa record: {rec!r}")
            parsed.append((m.group(1), m.group(2), int(m.group(3), 16), m.group(5)))
        listed = {s["spi"]: s for s in json.loads(ok(*p, "sa", "list", "--json")) if s["label"] == IMPI}
        expect(sorted(x[2] for x in parsed) == sorted(listed),
               f"SPIs {[x[2] for x in parsed]}, sa list {sorted(listed)}")
        for src, dst, spi, _ in parsed:
            want = (topo.UE4, topo.PCSCF4) if listed[spi]["dir"] == "in" else (topo.PCSCF4, topo.UE4)
            expect((src, dst) == want, f"SPI {spi} ({listed[spi]['dir']}): {src} -> {dst}, want {want}")
        # The same records the UE's own keys give (IK_ESP of TS 33.203 Annex I, its SPIs).
        own = {(s, d, int(spi, 16), k) for s, d, spi, k in
               (re.match(r'^"IPv4","(.*)","(.*)","(0x[0-9a-f]+)","NULL","",".*","0x(.*)"$', r).groups()
                for r in esp_capture.sa_records([ue.sa_set()], topo.UE4, topo.PCSCF4))}
        expect(set(parsed) == own, f"the daemon's records {sorted(parsed)}\n are not the UE's {sorted(own)}")
        ok(*p, "keys", IMPI, "--wireshark", "-o", f"{work}/esp_sa")
        expect(open(f"{work}/esp_sa").read().splitlines() == recs, "-o FILE does not hold the same records")
        table = ok(*p, "keys", IMPI)
        expect(all(f" {x[3]}" in table for x in parsed) and len(table.splitlines()) == 5, f"keys:\n{table}")
        state["recs"] = recs

    t.check("keys --wireshark: 4 uat:esp_sa records, SPIs as sa list's, directions, keys the UE derived; "
            "-o FILE and the table", keys_for_wireshark)

    def tshark_checks_the_capture():
        recs = state["recs"]
        frames = tshark(f"{work}/ue.pcap", recs)
        expect(frames, "no ESP in the capture")
        expect(all(good for _, _, good, _ in frames), f"frames whose ICV tshark did not find good: {frames}")
        sip = [(src, line.split(" ")[0] if not line.startswith("SIP/") else line[:11]) for src, _, _, line in frames]
        expect((topo.UE4, "REGISTER") in sip and (topo.PCSCF4, "SIP/2.0 200") in sip,
               f"SM7 and its 200 not decoded: {sip}")
        # The records as the esp_sa file of a Wireshark profile (the personal one here).
        home = os.path.join(work, "config")
        os.makedirs(os.path.join(home, "wireshark"), exist_ok=True)
        subprocess.run(["cp", f"{work}/esp_sa", os.path.join(home, "wireshark", "esp_sa")], check=True)
        from_file = tshark(f"{work}/ue.pcap", [], env=dict(os.environ, XDG_CONFIG_HOME=home, HOME=home))
        expect(from_file == frames, f"with the profile's esp_sa file: {from_file}, with -o: {frames}")
        # A key off by one bit: tshark finds the ICVs bad (it did check them).
        bad = [re.sub(r'"0x([0-9a-f])([0-9a-f]*)"$', lambda m: f'"0x{int(m.group(1), 16) ^ 1:x}{m.group(2)}"', r)
               for r in recs]
        expect(not any(good for _, _, good, _ in tshark(f"{work}/ue.pcap", bad)), "ICVs good with wrong keys")

    t.check("tshark, with those records (-o uat:esp_sa or a profile's esp_sa file), finds every ICV of the "
            "registration's ESP good and the SIP inside", tshark_checks_the_capture)

    def monitor_stops_on_ctrl_c():
        mon = Background("monitor", *p)
        expect("events from" in mon.first, f"monitor did not start: {mon.first!r}")
        time.sleep(0.5)
        mon.p.send_signal(signal.SIGINT)
        rc, out, err = mon.finish()
        expect(rc == 0 and "Traceback" not in err, f"monitor after Ctrl-C: exit {rc}, stderr {err!r}")

    t.check("monitor ends on Ctrl-C with exit 0, no traceback", monitor_stops_on_ctrl_c)

    rc = topo.stop_daemon()
    t.check("pcscf-espd stops cleanly", lambda: expect(rc == 0, f"exit {rc}\n{topo.log()[-2000:]}"))
    if t.failed:
        print(f"# work folder (capture, records): {work}")
        print("# daemon log:\n" + "\n".join("# " + line for line in topo.log().splitlines()[-40:]))
    else:
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
