#!/usr/bin/python3
"""pcscf-espd's Prometheus endpoint (--metrics-listen), scraped with curl and read with
the Prometheus client library's own parsers (python3-prometheus-client), in both
formats it serves: every family well formed, every value the same as telemetry's.

The daemon runs in a network namespace with two workers and sec-agree; the UE namespace
sends it plain UDP to a protected port (dropped, counted per reason) and a SIP request
on the unprotected port that is not a REGISTER (dropped by the proxy); SAs are added by
hand. Telemetry is read before and after each scrape: a counter's value must lie
between the two. Output is TAP.

usage (root): metrics_test.py"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netns import ROOT, Topology, sh  # noqa: E402
from tap import Tap, expect, wait_until  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus  # noqa: E402
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics  # noqa: E402

LISTEN = "127.0.0.1:9464"
URL = f"http://{LISTEN}/metrics"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
PLAIN_TO_PROTECTED = 5
KEY = "0102030405060708090a0b0c0d0e0f1011121314"


def curl(topo, *args):
    return sh("curl", "-s", "--max-time", "5", *args, ns=topo.pcscf_ns).stdout


def scrape(topo, openmetrics):
    """{(name, frozenset(labels)): value}, and the families as the parser gave them."""
    text = curl(topo, *(["-H", f"Accept: {OPENMETRICS}"] if openmetrics else []), URL)
    families = list((parse_openmetrics if openmetrics else parse_prometheus)(text))
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return samples, families, text


def send_from_ue(topo, script):
    sh("/usr/bin/python3", "-c", script, ns=topo.ue_ns)


def main():
    tap = Tap()
    topo = Topology(core=True).create()
    topo.start_daemon(workers=2, extra=topo.sec_agree_args() + ["--metrics-listen", LISTEN])
    ctl = topo.ctl
    for i in range(3):
        ctl.add_sa(dir="in", alg="hmac-sha-1-96", key=KEY, ue=topo.UE4, ue_port=6000 + i, pcscf=topo.PCSCF4,
                   pcscf_port=5101)
    send_from_ue(topo, f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range({PLAIN_TO_PROTECTED}):
    s.sendto(b"plain", ("{topo.PCSCF4}", 5101))
s.sendto(b"OPTIONS sip:p@{topo.PCSCF4} SIP/2.0\\r\\nVia: SIP/2.0/UDP {topo.UE4}:5060;branch=z9hG4bKm1\\r\\n"
         b"Max-Forwards: 70\\r\\nFrom: <sip:u@x>;tag=1\\r\\nTo: <sip:p@x>\\r\\nCall-ID: m1\\r\\nCSeq: 1 OPTIONS\\r\\n"
         b"Content-Length: 0\\r\\n\\r\\n", ("{topo.PCSCF4}", 5060))
""")
    wait_until(lambda: ctl("/pcscf/sip")["dropped"].get("unprotected", 0) >= 1, timeout=5)

    def telemetry():
        return {"stats": ctl("/pcscf/stats"), "drops": ctl("/pcscf/drops"), "sip": ctl("/pcscf/sip"),
                "count": ctl("/pcscf/sa/count")}

    def sandwiched(openmetrics):
        before = telemetry()
        samples, _, _ = scrape(topo, openmetrics)
        after = telemetry()

        def between(name, labels, path):
            lo, hi = before, after
            for k in path:
                lo, hi = lo[k], hi[k]
            got = samples.get((name, frozenset(labels.items())))
            expect(got is not None, f"no {name}{labels}")
            expect(lo <= got <= hi, f"{name}{labels} = {got}, telemetry {lo} .. {hi}")
            return got

        workers = before["stats"]["workers"]
        counters = [k for k in before["stats"]["worker0"] if k not in ("drops", "sas_inbound", "sas_outbound")]
        expect(len(counters) >= 16, f"only {counters}")
        for w in range(workers):
            for c in counters:
                between(f"pcscf_worker_{c}_total", {"worker": str(w)}, ["stats", f"worker{w}", c])
            between("pcscf_worker_sas", {"worker": str(w), "direction": "inbound"}, ["stats", f"worker{w}", "sas_inbound"])
        for reason, n in before["drops"].items():
            got = sum(samples.get(("pcscf_dropped_packets_total", frozenset({"worker": str(w), "reason": reason}.items())), -1e9)
                      for w in range(workers))
            expect(n <= got <= after["drops"][reason], f"drops {reason}: {got}, telemetry {n} .. {after['drops'][reason]}")
        for d in ("from_ue", "from_core", "to_ue", "to_core"):
            between("pcscf_sip_messages_total", {"direction": d}, ["sip", d])
        between("pcscf_sip_refused_total", {}, ["sip", "refused"])
        between("pcscf_sip_dropped_total", {"reason": "unprotected"}, ["sip", "dropped", "unprotected"])
        between("pcscf_registered_ues", {}, ["sip", "ues"])
        between("pcscf_sas", {}, ["count", "sas"])
        return samples

    def prometheus_format():
        samples, families, text = scrape(topo, False)
        expect(not text.rstrip().endswith("# EOF"), "an EOF line in the 0.0.4 format")
        for f in families:
            expect(f.name.startswith("pcscf_") and f.documentation and f.type in ("counter", "gauge", "histogram"),
                   f"family {f.name}: {f.type}, {f.documentation!r}")
        names = {f.name for f in families}
        for want in ("pcscf_build_info", "pcscf_role", "pcscf_worker_esp_in", "pcscf_dropped_packets",
                     "pcscf_sa_install_seconds", "pcscf_sip_messages", "pcscf_sip_shed", "pcscf_registered_ues"):
            expect(want in names, f"no family {want} in {sorted(names)}")
        sandwiched(False)

    tap.check("Prometheus text format: every family named, typed and described; values as telemetry's",
              prometheus_format)

    def openmetrics_format():
        text = curl(topo, "-H", f"Accept: {OPENMETRICS}", URL)
        expect(text.endswith("# EOF\n"), "no '# EOF' at the end")
        headers = curl(topo, "-H", f"Accept: {OPENMETRICS}", "-D", "-", "-o", "/dev/null", URL)
        expect("application/openmetrics-text; version=1.0.0" in headers, headers)
        sandwiched(True)  # the OpenMetrics parser is strict: a malformed line fails here

    tap.check("OpenMetrics when asked for (the client library's strict parser reads it); values as telemetry's",
              openmetrics_format)

    def drops_and_installs_counted():
        samples, _, _ = scrape(topo, False)
        plain = sum(v for (n, l), v in samples.items()
                    if n == "pcscf_dropped_packets_total" and dict(l)["reason"] == "unprotected_to_protected_port")
        expect(plain >= PLAIN_TO_PROTECTED, f"unprotected_to_protected_port {plain}")
        count = samples[("pcscf_sa_install_seconds_count", frozenset())]
        inf = samples[("pcscf_sa_install_seconds_bucket", frozenset({"le": "+Inf"}.items()))]
        expect(count == 3 and inf == 3, f"3 SAs added, the histogram has {count} ({inf} in +Inf)")
        expect(0 < samples[("pcscf_sa_install_seconds_sum", frozenset())] < 3, "install time sum")
        expect(samples[("pcscf_role", frozenset({"role": "single"}.items()))] == 1, "role")
        build = [dict(l) for (n, l), v in samples.items() if n == "pcscf_build_info" and v == 1]
        binary = os.path.join(os.environ.get("PCSCF_BUILD", os.path.join(ROOT, "build")), "control", "pcscf-espd")
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        expect(build and build[0]["version"] in version and build[0]["revision"] in version,
               f"build_info {build} against {version!r}")

    tap.check("the packets dropped per reason, the SA install histogram, the role and the build",
              drops_and_installs_counted)

    def http_errors():
        code = lambda *a: curl(topo, "-o", "/dev/null", "-w", "%{http_code}", *a)  # noqa: E731
        expect(code(f"http://{LISTEN}/") == "404", "/ is not 404")
        expect(code("-X", "POST", URL) == "405", "POST is not 405")
        hostile = sh("/usr/bin/python3", "-c", f"""
import socket
s = socket.create_connection(("127.0.0.1", {LISTEN.split(':')[1]}))
s.sendall(b"GET /metrics HTTP/1.1\\r\\nX: " + b"a" * 20000)
print(s.recv(100).decode())
""", ns=topo.pcscf_ns).stdout
        expect(hostile.startswith("HTTP/1.1 431"), f"a huge request: {hostile!r}")
        expect(curl(topo, URL).startswith("# HELP"), "the endpoint still answers")

    tap.check("another path 404, another method 405, a huge request 431, and it still answers", http_errors)
    tap.check("the daemon stops cleanly with the endpoint open", lambda: expect(topo.stop_daemon() == 0, "exit"))
    topo.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
