#!/usr/bin/python3
"""pcscf-espd's command line and config file (issue 3): every option documented, every
bad value refused with a message that names it, a missing port reported with the ports
that exist. Output is TAP.

usage (root): daemon_cli_test.py"""
import os
import shutil
import signal
import socket
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import ROOT, Ctl  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402

BIN = os.path.join(os.environ.get("PCSCF_BUILD", os.path.join(ROOT, "build")), "control", "pcscf-espd")
OK = ["--local-addr", "10.0.0.1/24", "--access-port", "x"]


def run(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def refused(args, message, status=2):
    """status: 2 for a usage error, 1 for a start that failed."""
    def check():
        r = run(*args)
        out = r.stdout + r.stderr
        expect(r.returncode == status, f"exit {r.returncode} for {args}")
        expect(message in out, f"no {message!r} in: {out.strip()[:300]}")
    return check


def syslog_and_runtime_levels(null):
    """The daemon logs to a syslog socket of the test's own (/dev/log in a mount namespace
    of its own when the host has one); the core is a UDP socket on loopback whose
    requests the proxy refuses (no such UE), which the sip area traces at debug only."""
    tmp = tempfile.mkdtemp()
    sink_path = os.path.join(tmp, "log")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(sink_path)
    sink.settimeout(0.2)
    core = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    core.bind(("127.0.0.1", 0))
    core_port = core.getsockname()[1]
    local_port = core_port + 1 if core_port < 65000 else core_port - 1
    args = [*null, "--core", f"127.0.0.1:{core_port}", "--core-local", f"127.0.0.1:{local_port}",
            "--log-target", "syslog"]
    own_dev_log = not os.path.exists("/dev/log")
    if own_dev_log:
        os.symlink(sink_path, "/dev/log")
        cmd = [BIN, *args]
    else:
        cmd = ["unshare", "-m", "sh", "-c", f'mount --bind "{sink_path}" /dev/log && exec "$0" "$@"', BIN, *args]
    daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    got = []

    def drain(seconds, until=None):
        end = time.time() + seconds
        while time.time() < end:
            try:
                got.append(sink.recv(65536).decode(errors="replace"))
            except socket.timeout:
                continue
            if until and until(got[-1]):
                return got[-1]
        return None

    def options(n):
        core.sendto((f"OPTIONS sip:nobody@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{core_port};branch=z9hG4bK-t{n}\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:core@example.net>;tag=c{n}\r\nTo: <sip:nobody@example.net>\r\n"
                     f"Call-ID: log-test-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
                    ("127.0.0.1", local_port))

    try:
        running = drain(20, lambda m: "running: access port net_null0" in m)
        expect(running is not None, f"no 'running' line on the syslog socket: {got[-5:]} {daemon.stderr}")
        # <30>: facility daemon (3) * 8 + info (6); the ident and pid before the message.
        expect(re.match(r"^<30>.*pcscf-espd\[\d+\]: running: ", running), running)
        expect(any(m.startswith("<30>") and "EAL: " in m for m in got), "EAL's lines are not in syslog")
        ctl = Ctl(f"/var/run/dpdk/{null[-1]}/dpdk_telemetry.v2")
        expect(ctl("/pcscf/log")["sip"] == "info", ctl("/pcscf/log"))
        options(1)
        expect(drain(1.5, lambda m: "sip: " in m) is None, f"a SIP line at info: {got[-3:]}")
        levels = ctl("/pcscf/log,sip=debug")
        expect(levels["sip"] == "debug" and levels["daemon"] == "info", levels)
        time.sleep(0.3)
        options(2)
        line = drain(5, lambda m: "sip: core 127.0.0.1" in m)
        expect(line is not None, f"no SIP trace at debug: {got[-5:]}")
        expect(line.startswith("<31>"), f"a debug line's priority: {line}")  # daemon * 8 + debug (7)
        expect("error" in ctl("/pcscf/log,sip=chatty"), "a bad level accepted")
        ctl("/pcscf/log,sip=info")
        time.sleep(0.3)
        options(3)
        expect(drain(1.5, lambda m: "sip: " in m) is None, f"a SIP line after going back to info: {got[-3:]}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        if own_dev_log:
            os.unlink("/dev/log")
        sink.close()
        core.close()
        shutil.rmtree(tmp, ignore_errors=True)


def reload_on_sighup(null):
    """SIGHUP: the config file read again; the live settings change, the others are
    refused by name, a config that does not parse changes nothing, the SAs stay."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        conf = f.name
    args = [a for a in null if a != "--no-huge"]
    base = "".join(f"{k.removeprefix('--')} = {v}\n" for k, v in zip(args[0::2], args[1::2]))
    base += "no-huge = true\ncore = 127.0.0.1:5999\ncore-local = 127.0.0.1:5998\nretry-after = 10\n"
    open(conf, "w").write(base)
    daemon = subprocess.Popen([BIN, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        sock = f"/var/run/dpdk/{null[null.index('--file-prefix') + 1]}/dpdk_telemetry.v2"

        def connect():  # a socket file an earlier run left answers nobody until this one binds it
            try:
                return Ctl(sock)
            except OSError:
                return None

        ctl = wait_until(connect, 20)
        expect(ctl is not None, "the daemon's telemetry never answered")
        expect(wait_until(lambda: "retry_after" in (ctl("/pcscf/config") or {}), 20), "the daemon never ran")
        ctl.add_sa(dir="in", alg="hmac-sha-1-96", key="00" * 20, ue="10.0.0.5", ue_port=5000, pcscf="10.0.0.1",
                   pcscf_port=5101)
        expect(ctl("/pcscf/config")["retry_after"] == 10, ctl("/pcscf/config"))
        open(conf, "w").write(base.replace("retry-after = 10", "retry-after = 30").replace("5999", "6999")
                              + "log-level = info,sip=debug\nalg-priority = hmac-md5-96\nlcores = 0,1\n")
        daemon.send_signal(signal.SIGHUP)
        cfg = wait_until(lambda: (lambda c: c if c["retry_after"] == 30 else None)(ctl("/pcscf/config")), 5)
        expect(cfg and cfg["core"] == "127.0.0.1:6999" and cfg["alg_priority"] == "hmac-md5-96", f"after reload: {cfg}")
        expect(ctl("/pcscf/log")["sip"] == "debug", ctl("/pcscf/log"))
        expect(ctl("/pcscf/sa/count")["sas"] == 1, "an SA lost in the reload")
        open(conf, "a").write("burst = 500\n")
        daemon.send_signal(signal.SIGHUP)
        time.sleep(1)
        expect(ctl("/pcscf/config")["retry_after"] == 30, "a config that does not parse changed something")
        expect(daemon.poll() is None, "the daemon stopped")
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        os.unlink(conf)
    log = daemon.stderr.read()
    expect("reload: --lcores cannot change while running (0-1 kept; restart to apply 0,1)" in log, log[-600:])
    expect(re.search(r"reload: --alg-priority \S+ -> hmac-md5-96, --core 127.0.0.1:5999 -> 127.0.0.1:6999, "
                     r"--log-level info -> info,sip=debug, --retry-after 10 -> 30; 1 change\(s\) refused", log), log[-600:])
    expect(re.search(r"reload: \S+, line \d+: --burst must be 1..64; the running configuration is kept", log), log[-400:])


def main():
    tap = Tap()

    def help_lists_documented_options():
        r = run("--help")
        expect(r.returncode == 0, f"--help exited {r.returncode}")
        options = set(re.findall(r"--([a-z][a-z0-9-]+)", r.stdout))
        expect(len(options) > 20, f"only {len(options)} options in --help")
        with open(os.path.join(ROOT, "docs", "operations.md")) as f:
            doc = f.read()
        missing = sorted(o for o in options if f"--{o}" not in doc)
        expect(not missing, f"options not in docs/operations.md: {missing}")

    tap.check("--help lists every option, and docs/operations.md documents each", help_lists_documented_options)
    tap.check("unknown option refused", refused(["--bogus"], "unrecognised option '--bogus'"))
    tap.check("missing --local-addr refused", refused(["--access-port", "x"], "'--local-addr' is required"))
    tap.check("replay window out of range refused", refused(OK + ["--replay-window", "10"], "--replay-window must be 64..65536"))
    tap.check("record interval out of range refused",
              refused(OK + ["--record-interval-us", "20000"], "--record-interval-us must be 0..10000"))
    tap.check("bad prefix refused", refused(["--local-addr", "10.0.0.1/33", "--access-port", "x"], "prefix must be 0..32"))
    tap.check("an access address given twice refused",
              refused(OK + ["--local-addr", "10.0.0.1/16"], "--local-addr 10.0.0.1 is given twice"))
    tap.check("more than eight access addresses refused",
              refused(OK + [x for i in range(2, 10) for x in ("--local-addr", f"10.0.0.{i}/24")],
                      "at most 8 access addresses"))
    tap.check("reversed port range refused", refused(OK + ["--protected-ports", "5200-5100"], "--protected-ports"))
    tap.check("--access-vlan out of range refused", refused(OK + ["--access-vlan", "4095"], "--access-vlan must be 1..4094"))
    core = OK + ["--core", "10.1.0.2:5060"]
    tap.check("--core without --core-local refused", refused(core, "--core needs --core-local"))
    tap.check("bad --core address refused", refused(OK + ["--core", "10.1.0:5060", "--core-local", "10.1.0.1"], "--core:"))
    tap.check("--port-ps outside --protected-ports refused",
              refused(core + ["--core-local", "10.1.0.1", "--port-ps", "6000"], "--port-ps must be inside --protected-ports"))
    tap.check("--port-pc equal to --port-ps refused",
              refused(core + ["--core-local", "10.1.0.1", "--port-pc", "5101"], "--port-pc 5101 must be inside"))
    tap.check("a --core transport other than tcp or udp refused",
              refused(core[:-1] + [core[-1] + ";transport=sctp", "--core-local", "10.1.0.1"],
                      "--core: only ;transport=tcp or ;transport=udp may follow"))
    tap.check("unknown algorithm refused",
              refused(core + ["--core-local", "10.1.0.1", "--alg-priority", "hmac-sha-256"], "--alg-priority: 'hmac-sha-256'"))
    sip = core + ["--core-local", "10.1.0.1"]
    tap.check("overload limits out of range refused", lambda: [
        refused(sip + ["--overload-queue-ms", "0"], "--overload-queue-ms must be 1..60000")(),
        refused(sip + ["--max-transactions", "10"], "--max-transactions must be at least 1000")(),
        refused(sip + ["--retry-after", "0"], "--retry-after must be 1..3600")(),
        refused(sip + ["--core-timeout-ms", "32000"], "--core-timeout-ms must be 1000..31000")()])
    tap.check("unreadable config file refused", refused(["-c", "/nonexistent/pcscf.conf"], "cannot read config file"))
    tap.check("a negative number for an unsigned option refused, not wrapped",
              refused(sip + ["--reg-await-auth", "-1"], "--reg-await-auth: '-1' is not a whole number >= 0"))
    tap.check("--metrics-listen without a port refused",
              refused(OK + ["--metrics-listen", "127.0.0.1"], "--metrics-listen needs a port"))
    tap.check("--max-tcp-connections out of range refused",
              refused(sip + ["--max-tcp-connections", "0"], "--max-tcp-connections must be 1..1000000"))
    tap.check("--log-level with an unknown area or level refused", lambda: [
        refused(OK + ["--log-level", "info,radio=debug"], "the area must be daemon, sip, sa")(),
        refused(OK + ["--log-level", "loud"], "the level must be debug, info, warn or error")(),
        refused(OK + ["--log-target", "file"], "--log-target must be stderr or syslog")()])
    tap.check("--lcores with one lcore refused before EAL",
              refused(OK + ["--lcores", "0"], "needs at least two lcores, the first for the control thread"))
    tap.check("--lcores naming a CPU the process may not use refused before EAL",
              refused(OK + ["--lcores", "0,1000"], "CPU 1000 is not one this process may run on"))
    tap.check("more --workers than --lcores gives refused",
              refused(OK + ["--lcores", "0-1", "--workers", "3"], "--workers 3 needs 4 lcores"))

    def version():
        r = run("--version")
        expect(r.returncode == 0, f"--version exited {r.returncode}")
        with open(os.path.join(ROOT, "meson.build")) as f:
            project = re.search(r"version: '([^']+)'", f.read()).group(1)
        m = re.fullmatch(r"pcscf-espd (\S+) \(git (\S+)\)\n", r.stdout)
        expect(m is not None, f"--version said {r.stdout!r}")
        expect(m.group(1) == project, f"version {m.group(1)}, meson.build has {project}")
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        expect(not head or head.startswith(m.group(2).removesuffix("-dirty")) or m.group(2) == "unknown",
               f"git revision {m.group(2)}, HEAD is {head}")

    tap.check("--version gives meson's project version and the git revision", version)

    def config_file_errors_name_the_line():
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("# pcscf-espd\nlocal-addr = 10.0.0.1/24\naccess-port = x\n\nburst = 500\n")
            f.flush()
            refused(["-c", f.name], f"{f.name}, line 5: --burst must be 1..64")()
        for body, line, message in (("local-addr = 10.0.0.1/24\nbogus = 1\n", 2, "unrecognised option"),
                                    ("local-addr = 10.0.0.1/24\naccess-port = x\njunk\n", 3, "invalid line"),
                                    ("local-addr = 10.0.0.1/24\naccess-port = x\nburst = many\n", 3, "invalid"),
                                    ("local-addr = 10.0.0.1/24\naccess-port = x\nmemory = -5\n", 3,
                                     "--memory: '-5' is not a whole number")):
            with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
                f.write(body)
                f.flush()
                refused(["-c", f.name], f"{f.name}, line {line}: ")()
                refused(["-c", f.name], message)()

    tap.check("config file errors name the file and line", config_file_errors_name_the_line)

    def config_file_values_are_checked():
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("local-addr = 10.0.0.1/24\naccess-port = x\nburst = 500\n")
            f.flush()
            refused(["-c", f.name], "--burst must be 1..64")()

    tap.check("config file read, and its values checked like the command line's", config_file_values_are_checked)
    prefix = f"pcscf-cli-{os.getpid()}"
    tap.check("missing access port reported with the ports that exist",
              refused(OK[:2] + ["--access-port", "nope", "--no-huge", "--file-prefix", prefix],
                      "no DPDK port named 'nope' (ports: ", status=1))
    null = ["--local-addr", "10.0.0.1/24", "--access-port", "net_null0", "--vdev", "net_null0", "--no-huge",
            "--memory", "256", "--tap-setup", "false", "--file-prefix", prefix]

    def eal_refusal_is_explained():
        r = run(*null, "--eal-args", "--bogus")
        expect(r.returncode == 1, f"exit {r.returncode}")
        expect("it refused its arguments" in r.stderr and "--eal-args" in r.stderr, r.stderr[-400:])
        expect("hugepages" not in r.stderr.split("EAL failed")[-1], "blames hugepages: " + r.stderr[-300:])
        expect(r.stdout.strip() == "", "EAL's usage text printed: " + r.stdout[:200])

    tap.check("arguments EAL refuses: its own line, then ours naming what to check, no usage page",
              eal_refusal_is_explained)

    def eal_probes_no_pci_for_a_virtual_port():
        r = run(*null, "--core", "10.1.0.2", "--core-local", "10.77.0.1")
        line = next((l for l in r.stderr.splitlines() if "starting EAL:" in l), "")
        expect(line.endswith("--no-pci"), f"EAL arguments: {line}")
        expect(r.returncode == 1 and "--core-local 10.77.0.1: no interface has this address" in r.stderr,
               f"exit {r.returncode}: {r.stderr[-300:]}")

    tap.check("a virtual access port: EAL probes no PCI device; a --core-local no interface has is refused",
              eal_probes_no_pci_for_a_virtual_port)

    def second_instance_on_the_same_prefix():
        first = subprocess.Popen([BIN, *null], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            sock = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.1)
            r = run(*null)
            expect(r.returncode == 1, f"exit {r.returncode}")
            expect(f"another pcscf-espd runs with --file-prefix {prefix}" in r.stderr, r.stderr[-300:])
            expect(first.poll() is None, "the first instance stopped")
        finally:
            first.terminate()
            first.wait(timeout=20)

    tap.check("a second instance with the same --file-prefix is told so", second_instance_on_the_same_prefix)

    def lines_carry_date_and_time():
        r = run(*null, "--eal-args", "--bogus")
        lines = [l for l in r.stderr.splitlines() if l and not l.startswith(" ")]
        ours = [l for l in lines if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) ", l)]
        expect(len(ours) >= 4, f"{len(ours)} dated lines of {len(lines)}: {lines[:6]}")
        expect(any(" EAL: " in l for l in ours), f"EAL's lines do not come through the log: {lines[:8]}")

    tap.check("every log line, EAL's too, starts with the date and time and a level", lines_carry_date_and_time)
    tap.check("SIGHUP reloads the config: live settings change, the others are refused by name, a bad config "
              "changes nothing, no SA is lost", lambda: reload_on_sighup(null))
    tap.check("syslog target with priorities; a SIP trace switched on and off while it runs",
              lambda: syslog_and_runtime_levels(null))
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)  # EAL's runtime folder of that start
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
