#!/usr/bin/python3
"""pcscf-espd's command line and config file (issue 3): every option documented, every
bad value refused with a message that names it, a missing port reported with the ports
that exist. Output is TAP.

usage (root): daemon_cli_test.py"""
import os
import shutil
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import ROOT  # noqa: E402
from tap import Tap, expect  # noqa: E402

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
    tap.check("reversed port range refused", refused(OK + ["--protected-ports", "5200-5100"], "--protected-ports"))
    core = OK + ["--core", "10.1.0.2:5060"]
    tap.check("--core without --core-local refused", refused(core, "--core needs --core-local"))
    tap.check("bad --core address refused", refused(OK + ["--core", "10.1.0:5060", "--core-local", "10.1.0.1"], "--core:"))
    tap.check("--port-ps outside --protected-ports refused",
              refused(core + ["--core-local", "10.1.0.1", "--port-ps", "6000"], "--port-ps must be inside --protected-ports"))
    tap.check("--port-pc equal to --port-ps refused",
              refused(core + ["--core-local", "10.1.0.1", "--port-pc", "5101"], "--port-pc 5101 must be inside"))
    tap.check("unknown algorithm refused",
              refused(core + ["--core-local", "10.1.0.1", "--alg-priority", "hmac-sha-256"], "--alg-priority: 'hmac-sha-256'"))
    sip = core + ["--core-local", "10.1.0.1"]
    tap.check("overload limits out of range refused", lambda: [
        refused(sip + ["--overload-queue-ms", "0"], "--overload-queue-ms must be 1..60000")(),
        refused(sip + ["--max-transactions", "10"], "--max-transactions must be at least 1000")(),
        refused(sip + ["--retry-after", "0"], "--retry-after must be 1..3600")()])
    tap.check("unreadable config file refused", refused(["-c", "/nonexistent/pcscf.conf"], "cannot read config file"))

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
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)  # EAL's runtime folder of that start
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
