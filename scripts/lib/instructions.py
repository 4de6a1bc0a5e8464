"""Instructions per packet under callgrind: see scripts/instructions, which runs this.

Each row is one engine_benchmark run with exactly `passes` timed passes, callgrind
collecting only inside engine_pass() (the engine's rows) or ideal_pass() (the ideal
loop's): every instruction counted belongs to the packets the passes took, which the
benchmark's packets_run counter gives (repeated passes included).
"""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# (transform label, small size, mid size) as engine_benchmark names its rows.
ROWS = [("sha1", "64B", "512B"), ("md5", "64B", "512B"), ("sha256", "64B", "512B"),
        ("aes-sha1", "64B", "512B"), ("gcm", "72B", "504B"), ("gmac", "72B", "504B")]
# What the rows' names say of the packets: AES-CBC rows are named by the HMAC rows' sizes.
WIRE = {("aes-sha1", "64B"): "72 B", ("aes-sha1", "512B"): "504 B"}


def count(bench, row, collect, passes, work):
    """(own, IPsec-MB) instructions per packet of one benchmark row."""
    out, js = work / "callgrind.out", work / "row.json"
    cmd = ["valgrind", "--tool=callgrind", f"--toggle-collect={collect}", f"--callgrind-out-file={out}",
           bench, "--rounds=1", f"--passes={passes}", "--no-huge", f"--benchmark_filter=^{row}/warm/",
           f"--benchmark_out={js}", "--benchmark_out_format=json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{row}: engine_benchmark under callgrind failed:\n{run.stderr[-2000:]}")
    results = [b for b in json.loads(js.read_text())["benchmarks"] if "packets_run" in b]
    if len(results) != 1 or results[0].get("error_occurred"):
        sys.exit(f"{row}: expected one result with packets_run, got {results}")
    packets = results[0]["packets_run"]
    annotated = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True, check=True).stdout
    total = imb = None
    for line in annotated.splitlines():
        m = re.match(r"\s*([\d,]+)\s", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = ir
        elif "libIPSec_MB" in line:
            imb = (imb or 0) + ir
    if total is None or packets <= 0:
        sys.exit(f"{row}: no instruction total or no packets in the callgrind output")
    imb = imb or 0
    return (total - imb) / packets, imb / packets


def main():
    bench, pattern, passes = sys.argv[1], re.compile(sys.argv[2]), int(sys.argv[3])
    rows = [(label, size, direction, ideal) for label, *sizes in ROWS for size in sizes
            for direction, ideal in (("inbound", "ideal"), ("outbound", "ideal_out"))
            if pattern.search(f"{direction}/{label}/{size}")]
    if not rows:
        sys.exit(f"no row matches {sys.argv[2]!r} (rows look like inbound/sha1/64B, outbound/gcm/504B)")
    print(f"Instructions per packet, own code (IPsec-MB apart), {passes} warm passes per row under callgrind")
    print("| row | packets | engine | ideal loop | engine - ideal | IPsec-MB (AVX2, for scale) |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, size, direction, ideal in rows:
            row = f"{direction}/{label}/{size}"
            engine, imb = count(bench, row, "*engine_pass*", passes, work)
            least, _ = count(bench, f"{ideal}/{label}/{size}", "*ideal_pass*", passes, work)
            wire = WIRE.get((label, size), size.replace("B", " B"))
            print(f"| {row} | {wire} | {engine:.0f} | {least:.0f} | {engine - least:.0f} | {imb:.0f} |", flush=True)


if __name__ == "__main__":
    main()
