#!/usr/bin/python3
"""The Debian package, built by scripts/package, installed in a fresh root and run as the
systemd unit would run it. Output is TAP.

The fresh root is this machine's own filesystem under an overlay, in a mount and network
namespace of the test's own (nothing of the package exists there before, nothing of it
reaches the host). In it the test installs the .deb with dpkg, checks what went where,
and starts pcscf-espd with the unit's ExecStart, user, group, environment and ambient
capabilities (setpriv standing in for systemd, which does not run here), with
NOTIFY_SOCKET and WATCHDOG_USEC set as systemd sets them: the daemon must say READY,
pet the watchdog, keep only the unit's capabilities, let the operators' group (and
nobody else) use pcscf-espctl, and stop with STOPPING. Then dpkg removes and purges it.

usage (root): package_test.py [--deb FILE]   (without --deb, scripts/package builds it)
The part inside the fresh root is this file again, run with --inside."""
import argparse
import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from netns import ROOT  # noqa: E402
from tap import Tap, expect  # noqa: E402

UNIT = "pcscf-espd.service"
CONFIG = """access-port = net_null0
vdev = net_null0
local-addr = 10.0.0.1/24
local-addr = 2001:db8::1/64
tap-mtu = 1400
no-huge = true
memory = 256
file-prefix = pcscf
"""
CAPS = {"cap_net_admin": 12, "cap_net_raw": 13, "cap_ipc_lock": 14, "cap_sys_rawio": 17}


# ---- inside the fresh root ---------------------------------------------------------------

def unit_settings(path):
    """The [Service] settings of a unit file: {key: [values]}."""
    out, section = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stdout[-500:]} {r.stderr[-800:]}")
    return r


def inside(deb):
    """Runs in the fresh root; prints one JSON object of what it found."""
    found = {}
    found["user_before"] = subprocess.run(["id", "pcscf-esp"], capture_output=True).returncode == 0
    r = sh("dpkg", "-i", deb, check=False)
    found["install"] = [r.returncode, r.stdout[-400:] + r.stderr[-800:]]
    found["files"] = {p: os.path.exists(p) for p in (
        "/usr/sbin/pcscf-espd", "/usr/bin/pcscf-espctl", "/etc/pcscf-esp/pcscf-espd.conf",
        "/usr/share/man/man8/pcscf-espd.8.gz", "/usr/share/man/man1/pcscf-espctl.1.gz")}
    units = glob.glob(f"/usr/lib/systemd/system/{UNIT}") + glob.glob(f"/lib/systemd/system/{UNIT}")
    found["unit"] = units[0] if units else None
    found["docs"] = sorted(os.path.basename(p) for p in glob.glob("/usr/share/doc/pcscf-esp/*"))
    found["conffiles"] = sh("dpkg-query", "-W", "-f=${Conffiles}", "pcscf-esp", check=False).stdout
    found["version"] = sh("/usr/sbin/pcscf-espd", "--version", check=False).stdout.strip()
    found["espctl_version"] = sh("/usr/bin/pcscf-espctl", "--version", check=False).stdout.strip()
    found["man"] = sh("man", "-P", "cat", "8", "pcscf-espd", check=False, env={**os.environ, "MANWIDTH": "100"}).stdout
    found["user"] = sh("id", "pcscf-esp", check=False).stdout.strip()
    if found["unit"]:
        r = sh("systemd-analyze", "verify", found["unit"], check=False)
        found["verify"] = [r.returncode, (r.stdout + r.stderr)[-1500:]]
        found["run"] = run_as_the_unit(unit_settings(found["unit"]))
    r = sh("dpkg", "-r", "pcscf-esp", check=False)
    found["remove"] = [r.returncode, os.path.exists("/usr/sbin/pcscf-espd"), os.path.exists("/etc/pcscf-esp/pcscf-espd.conf")]
    os.makedirs("/var/lib/pcscf-esp", exist_ok=True)  # what StateDirectory= left behind
    r = sh("dpkg", "-P", "pcscf-esp", check=False)
    found["purge"] = [r.returncode, os.path.exists("/etc/pcscf-esp/pcscf-espd.conf"), os.path.exists("/var/lib/pcscf-esp")]
    print(json.dumps(found))


def run_as_the_unit(unit):
    """Starts ExecStart as systemd would for this unit; returns what happened."""
    got = {"settings": unit}
    with open("/etc/pcscf-esp/pcscf-espd.conf", "w") as f:
        f.write(CONFIG)
    user, group = unit["User"][0], unit["Group"][0]
    pw = pwd.getpwnam(user)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for e in unit.get("Environment", []):
        k, v = e.split("=", 1)
        env[k] = v
    for d in unit.get("RuntimeDirectory", []):  # systemd makes it, owned by the user
        path = f"/run/{d}"
        os.makedirs(path, exist_ok=True)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, int(unit.get("RuntimeDirectoryMode", ["0755"])[0], 8))
    notify_path = "/run/notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_path, 0o777)
    notify.settimeout(0.2)
    env["NOTIFY_SOCKET"] = notify_path
    env["WATCHDOG_USEC"] = "2000000"
    ambient = [c.lower() for c in unit["AmbientCapabilities"][0].split()]
    bounding = [c.lower() for c in unit["CapabilityBoundingSet"][0].split()]
    caps = ",".join("+" + c.removeprefix("cap_") for c in ambient)
    argv = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", f"--inh-caps=-all,{caps}",
            f"--ambient-caps=-all,{caps}",
            "--bounding-set=-all," + ",".join("+" + c.removeprefix("cap_") for c in bounding)]
    if unit.get("NoNewPrivileges", ["no"])[0] == "yes":
        argv.append("--no-new-privs")
    argv += unit["ExecStart"][0].split()
    daemon = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    messages = []

    def listen(seconds, until=None):
        end = time.time() + seconds
        while time.time() < end:
            try:
                messages.append(notify.recv(4096).decode())
            except socket.timeout:
                if daemon.poll() is not None:
                    return False  # gone, and nothing more was sent
                continue
            if until and until(messages[-1]):
                return True
        return False

    try:
        got["ready"] = listen(60, lambda m: "READY=1" in m)
        listen(3.5)
        got["pets"] = sum("WATCHDOG=1" in m for m in messages)
        status = open(f"/proc/{daemon.pid}/status").read()
        got["uid"] = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        got["cap_eff"] = int(re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1), 16)
        got["pcscf_esp_uid"] = pw.pw_uid
        sock = glob.glob("/run/pcscf-esp/dpdk/*/dpdk_telemetry.v2")
        got["socket"] = sock
        got["tap"] = [sh("ip", "-o", "addr", "show", "dev", "pcscf0", check=False).stdout,
                      sh("ip", "-o", "link", "show", "dev", "pcscf0", check=False).stdout]
        # An operator in the service's group may use pcscf-espctl; another user may not.
        sh("adduser", "--quiet", "--system", "--no-create-home", "operator1")
        sh("adduser", "--quiet", "--system", "--no-create-home", "stranger1")
        sh("adduser", "--quiet", "operator1", group)
        for who in ("operator1", "stranger1"):
            r = sh("setpriv", f"--reuid={who}", "--regid=nogroup", "--init-groups", "pcscf-espctl", "sa", "count",
                   check=False)
            got[who] = [r.returncode, (r.stdout + r.stderr).strip()[-300:]]
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        listen(0.5)
        got["messages"] = messages[:3] + messages[-2:]
        got["stopping"] = any("STOPPING=1" in m for m in messages)
        got["exit"] = daemon.returncode
        got["log"] = daemon.stderr.read()[-1500:]
    return got


# ---- outside: build, the fresh root, the checks ------------------------------------------

def fresh_root_run(deb):
    """This file with --inside, chrooted in an overlay of / in new mount and network
    namespaces; returns what it printed."""
    work = tempfile.mkdtemp(prefix="pcscf-pkgroot.")
    upper, wdir, merged = (os.path.join(work, d) for d in ("upper", "work", "merged"))
    for d in (upper, wdir, merged):
        os.makedirs(d)
    shutil.copy(deb, os.path.join(work, "pcscf-esp.deb"))
    shutil.copy(os.path.abspath(__file__), os.path.join(work, "package_test.py"))
    shutil.copytree(os.path.join(HERE, "lib"), os.path.join(work, "lib"))
    script = f"""set -e
mount -t overlay overlay -o lowerdir=/,upperdir={upper},workdir={wdir} {merged}
mount -t proc proc {merged}/proc
mount --rbind /dev {merged}/dev
mount --rbind /sys {merged}/sys
mount -t tmpfs tmpfs {merged}/run
mount -t tmpfs tmpfs {merged}/tmp
mkdir -p {merged}/tmp/t
mount --bind {work} {merged}/tmp/t
ip link set lo up
exec chroot {merged} /usr/bin/python3 /tmp/t/package_test.py --inside /tmp/t/pcscf-esp.deb
"""
    try:
        r = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"the fresh root run failed: {r.returncode}: {r.stdout[-1000:]} {r.stderr[-2000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb")
    ap.add_argument("--inside")
    a = ap.parse_args()
    if a.inside:
        sys.path.insert(0, "/tmp/t/lib")
        return inside(a.inside)
    tap = Tap()
    with open(os.path.join(ROOT, "meson.build")) as f:
        version = re.search(r"version: '([^']+)'", f.read()).group(1)
    out = tempfile.mkdtemp(prefix="pcscf-deb.")
    state = {}

    def build():
        if a.deb:
            state["deb"] = a.deb
            return
        r = subprocess.run([os.path.join(ROOT, "scripts", "package"), out], capture_output=True, text=True,
                           timeout=3000)
        expect(r.returncode == 0, f"scripts/package: {r.returncode}: {r.stderr[-1500:]}")
        debs = glob.glob(os.path.join(out, "pcscf-esp_*.deb"))
        expect(len(debs) == 1, f"debs: {debs}")
        state["deb"] = debs[0]

    tap.check("scripts/package builds the .deb with debhelper", build)
    if "deb" not in state:
        return tap.done()

    def fields():
        info = subprocess.run(["dpkg-deb", "-f", state["deb"], "Package", "Version", "Architecture", "Depends"],
                              capture_output=True, text=True).stdout
        expect("Package: pcscf-esp" in info and f"Version: {version}" in info, info)
        expect(re.search(r"Depends:.*libdpdk|Depends:.*librte", info) and "adduser" in info, info)

    tap.check(f"the package is pcscf-esp {version}, depending on DPDK's libraries and adduser", fields)
    found = {}

    def install():
        found.update(fresh_root_run(state["deb"]))
        expect(not found["user_before"], "the fresh root already had the pcscf-esp user")
        expect(found["install"][0] == 0, f"dpkg -i: {found['install']}")
        missing = [p for p, there in found["files"].items() if not there]
        expect(not missing and found["unit"], f"not installed: {missing}, unit {found['unit']}")
        expect("operations.md.gz" in found["docs"] or "operations.md" in found["docs"], found["docs"])
        expect("/etc/pcscf-esp/pcscf-espd.conf" in found["conffiles"], f"conffiles: {found['conffiles']!r}")
        expect(re.fullmatch(rf"pcscf-espd {re.escape(version)} \(git [0-9a-f]{{12}}(-dirty)?\)", found["version"]),
               f"--version: {found['version']!r}")
        expect(version in found["espctl_version"], f"pcscf-espctl --version: {found['espctl_version']!r}")
        expect("--metrics-listen" in found["man"] and "PCSCF-ESPD" in found["man"].upper(), found["man"][:300])
        expect("pcscf-esp" in found["user"], found["user"])

    tap.check("dpkg installs it in a fresh root: the daemon, the CLI, man pages, the config (a conffile), the "
              "unit, the docs, the service user; --version names the git revision", install)
    if not found:
        return tap.done()

    def unit_is_valid():
        rc, text = found["verify"]
        expect(rc == 0, f"systemd-analyze verify: {text}")

    tap.check("systemd-analyze verify accepts the unit", unit_is_valid)
    run = found.get("run", {})

    def service():
        s = run["settings"]
        expect(s["Type"] == ["notify"] and s["User"] == ["pcscf-esp"] and "WatchdogSec" in s
               and s["Restart"] == ["on-failure"], s)
        expect(run["ready"], f"no READY=1: {run['messages']} {run['log']}")
        expect(run["pets"] >= 2, f"{run['pets']} WATCHDOG=1 in 3.5 s with WATCHDOG_USEC=2 s")
        expect(run["stopping"] and run["exit"] == 0, f"exit {run['exit']}, STOPPING {run['stopping']}: {run['log']}")

    tap.check("run as the unit runs it: READY once serving, the watchdog fed, STOPPING and exit 0 on SIGTERM",
              service)

    def least_privilege():
        expect(run["uid"] == run["pcscf_esp_uid"] and run["uid"] != 0, f"uid {run['uid']}")
        want = sum(1 << CAPS[c.lower()] for c in run["settings"]["AmbientCapabilities"][0].split())
        expect(run["cap_eff"] == want, f"effective capabilities {run['cap_eff']:#x}, the unit's {want:#x}")
        expect(want == (1 << 12) | (1 << 13) | (1 << 14), f"the unit grants {want:#x}")

    tap.check("it runs as pcscf-esp with CAP_NET_ADMIN, CAP_NET_RAW and CAP_IPC_LOCK only", least_privilege)

    def tap_set_up():
        addrs, link = run["tap"]
        expect("inet 10.0.0.1/24" in addrs and "inet6 2001:db8::1/64" in addrs, f"tap addresses: {addrs}")
        expect("tentative" not in addrs, f"IPv6 duplicate address detection ran: {addrs}")
        expect(re.search(r"<[^>]*\bUP\b[^>]*>", link) and "mtu 1400" in link, f"tap link: {link}")

    tap.check("as that user it gives the tap its addresses (IPv6 without DAD), its MTU and brings it up (netlink)",
              tap_set_up)

    def operators_group():
        expect(run["socket"], "no telemetry socket under /run/pcscf-esp/dpdk")
        rc, text = run["operator1"]
        expect(rc == 0 and "sas" in text, f"an operator in the group: exit {rc}: {text}")
        rc, text = run["stranger1"]
        expect(rc == 1 and "cannot reach" in text, f"a user outside the group: exit {rc}: {text}")

    tap.check("pcscf-espctl finds the service's socket; the group may use it, others may not", operators_group)

    def remove_and_purge():
        rc, binary, conf = found["remove"]
        expect(rc == 0 and not binary and conf, f"dpkg -r: exit {rc}, daemon left {binary}, config kept {conf}")
        rc, conf, state_dir = found["purge"]
        expect(rc == 0 and not conf and not state_dir, f"dpkg -P: exit {rc}, config {conf}, state {state_dir}")

    tap.check("dpkg -r removes it and keeps the config; dpkg -P removes the config and the state", remove_and_purge)
    shutil.rmtree(out, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
