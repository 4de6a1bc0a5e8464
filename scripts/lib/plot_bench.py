#!/usr/bin/env python3
"""Turns the raw output of scripts/bench into results/<date>/report.md and PNG plots.

Reads from the results folder, each if present:
  machine.txt            what scripts/bench recorded about the machine and the build
  ipsec_compare.csv      bench/ipsec_compare --csv (one row per contender and round)
  engine_benchmark.json  bench/engine_benchmark --benchmark_out (Google Benchmark JSON)
  sa_scale_benchmark.csv bench/sa_scale_benchmark --csv (one row per SA count, figure and round)
  *.txt                  every program's console output, linked from the report
                         (pipeline_benchmark.txt, registration_benchmark.txt, state_restore_benchmark.txt,
                         handoff_benchmark.txt and memory_latency.txt: shown in it)
Every ratio is taken round by round (a contender against the ceiling or librte_ipsec of
the same round), then summarised as min / median / max over the rounds.

usage: plot_bench.py <results dir>"""
import csv
import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ALG = {"sha1": "HMAC-SHA-1-96", "md5": "HMAC-MD5-96"}
TARGET_NOT_SLOWER, TARGET_BEYOND = 1.0, 5.0  # engine / librte; librte / engine beyond the hash
TARGET_VS_IDEAL = 0.9  # engine scale (N SAs / 1 SA) against the ideal loop's
TARGET_ENGINE_VS_IDEAL = 0.9  # engine_benchmark: engine / its ideal ESP loop, warm


def spread(values):
    v = sorted(values)
    return (v[0], statistics.median(v), v[-1]) if v else (0.0, 0.0, 0.0)


def fmt(s):
    return f"{s[1]:.2f} ({s[0]:.2f}-{s[2]:.2f})"


# ---- ipsec_compare ----

def load_compare(path):
    """{(ip, alg, bytes, sas): {"librte_sas": n, contender: [mpps by round]}}"""
    runs = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (int(row["ip"]), row["alg"], int(row["bytes"]), int(row["sas"]))
            runs[key]["librte_sas"] = int(row["librte_sas"])
            runs[key][row["contender"]].append(float(row["mpps"]))
    return runs


def ratio(cfg, who, base):
    return spread([a / b for a, b in zip(cfg[who], cfg[base]) if b > 0])


def beyond_hash(cfg, who):
    """ns/packet of `who` minus the ceiling's, round by round: its time beyond the hash."""
    return [1e3 / a - 1e3 / c for a, c in zip(cfg[who], cfg["ceiling"])]


def beyond_ratio(cfg, eng, lib):
    e, lb = beyond_hash(cfg, eng), beyond_hash(cfg, lib)
    return spread([b / a if a > 0 else float("inf") for a, b in zip(e, lb)])


def compare_rows(runs):
    rows = []
    for key in sorted(runs, key=lambda k: (k[0], k[1] != "sha1", k[3], k[2])):
        cfg = runs[key]
        for d in ("in", "out"):
            eng, lib = f"engine_{d}", f"librte_{d}"
            rows.append({
                "key": key, "dir": d, "librte_sas": cfg["librte_sas"],
                "engine": spread(cfg[eng]), "librte": spread(cfg[lib]),
                "ceiling": spread(cfg["ceiling"]), "single": spread(cfg["single_buffer"]),
                "eng_lib": ratio(cfg, eng, lib), "eng_ceil": ratio(cfg, eng, "ceiling"),
                "lib_ceil": ratio(cfg, lib, "ceiling"),
                "eng_beyond": spread(beyond_hash(cfg, eng)), "lib_beyond": spread(beyond_hash(cfg, lib)),
                "beyond": beyond_ratio(cfg, eng, lib),
            })
    return rows


def compare_markdown(rows):
    out = ["| IP | algorithm | bytes | SAs (librte) | dir | engine Mpps | librte Mpps | "
           "ceiling Mpps | single Mpps | engine / librte | engine / ceiling | librte / ceiling | "
           "engine ns beyond hash | librte ns beyond hash | librte / engine beyond hash |",
           "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ip, alg, size, sas = r["key"]
        lib_sas = "" if r["librte_sas"] == sas else f" ({r['librte_sas']:,})"
        out.append(
            f"| v{ip} | {ALG[alg]} | {size} | {sas:,}{lib_sas} | {r['dir']} | "
            f"{r['engine'][1]:.2f} | {r['librte'][1]:.2f} | {r['ceiling'][1]:.2f} | "
            f"{r['single'][1]:.2f} | {fmt(r['eng_lib'])} | {fmt(r['eng_ceil'])} | "
            f"{fmt(r['lib_ceil'])} | {r['eng_beyond'][1]:.1f} | {r['lib_beyond'][1]:.1f} | "
            f"{fmt(r['beyond'])} |")
    not_slower = sum(r["eng_lib"][1] >= TARGET_NOT_SLOWER for r in rows)
    lean = sum(r["beyond"][1] >= TARGET_BEYOND for r in rows)
    out += ["", "Targets, counted over configurations and directions (medians):", "",
            f"* engine never slower than librte_ipsec: {not_slower} of {len(rows)}",
            f"* librte_ipsec's time beyond the hash >= {TARGET_BEYOND:.0f}x the engine's: {lean} of {len(rows)}"]
    return out


def plot_mpps(runs, path, many):
    ips = sorted({k[0] for k in runs})
    algs = [a for a in ("sha1", "md5") if any(k[1] == a for k in runs)]
    fig, axes = plt.subplots(len(ips), len(algs), figsize=(4.2 * len(algs), 3.0 * len(ips)),
                             squeeze=False)
    style = {"ceiling": ("black", "-", "ceiling (hash only)"),
             "engine_in": ("tab:blue", "-", "pcscf-esp inbound"),
             "engine_out": ("tab:blue", "--", "pcscf-esp outbound"),
             "librte_in": ("tab:red", "-", "librte_ipsec inbound"),
             "librte_out": ("tab:red", "--", "librte_ipsec outbound"),
             "single_buffer": ("tab:gray", ":", "single-buffer")}
    for i, ip in enumerate(ips):
        for j, alg in enumerate(algs):
            ax = axes[i][j]
            keys = sorted(k for k in runs if k[0] == ip and k[1] == alg and (k[3] > 1) == many)
            if not keys:
                ax.set_visible(False)
                continue
            sas = keys[0][3]
            for who, (color, ls, label) in style.items():
                ys = [spread(runs[k][who])[1] for k in keys]
                ax.plot(range(len(keys)), ys, color=color, linestyle=ls, marker="o", markersize=3,
                        label=label)
            ax.set_title(f"IPv{ip} {ALG[alg]}, {sas:,} SA{'s' if sas > 1 else ''}", fontsize=9)
            ax.set_xticks(range(len(keys)))  # one step per size measured
            ax.set_xticklabels([str(k[2]) for k in keys], fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("Mpps, one core", fontsize=8)
            if i == len(ips) - 1:
                ax.set_xlabel("ESP packet, bytes (IP length)", fontsize=8)
    handles, labels = next(a for row in axes for a in row if a.get_visible()).get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_ratios(rows, path):
    labels = [f"v{r['key'][0]} {r['key'][1]} {r['key'][2]}B\n"
              f"{'1 SA' if r['key'][3] == 1 else format(r['key'][3], ',') + ' SAs'} {r['dir']}"
              for r in rows]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.32 * len(rows)), 6), sharex=True)
    for ax, field, target, name in ((axes[0], "eng_lib", TARGET_NOT_SLOWER, "pcscf-esp / librte_ipsec"),
                                    (axes[1], "beyond", TARGET_BEYOND, "librte / pcscf-esp beyond the hash")):
        med = [r[field][1] for r in rows]
        err = [[r[field][1] - r[field][0] for r in rows], [r[field][2] - r[field][1] for r in rows]]
        colors = ["tab:green" if m >= target else "tab:orange" for m in med]
        ax.bar(range(len(rows)), med, yerr=err, color=colors, capsize=2, width=0.7)
        ax.axhline(target, color="black", linestyle="--", linewidth=1)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.text(-0.5, target, f"target {target}", fontsize=7, va="bottom", ha="left")
    axes[1].set_xticks(range(len(rows)))
    axes[1].set_xticklabels(labels, rotation=90, fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ---- engine_benchmark ----

def per_round(a, b, f):
    """f(a[i], b[i]) for each round i measured in both, as (min, median, max)."""
    return spread([f(x, y) for x, y in zip(a, b) if y])


def engine_markdown(path):
    """Names: <inbound|outbound|hash_only|single_buffer|ideal|ideal_out>/<alg>/<size>B/<warm|cold|cold_<N>sa>
    (ideal, ideal_out: the ideal loops, inbound and outbound, every transform but 3DES);
    a benchmark's rounds are in run order, so round i of two benchmarks is their i-th run."""
    with open(path) as f:
        data = json.load(f)
    rates = defaultdict(list)
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "iteration" and "items_per_second" in b and not b.get("error_occurred"):
            rates[b["name"].removesuffix("/manual_time")].append(b["items_per_second"] / 1e6)

    def ratio(num, den):
        s = per_round(rates.get(num, []), rates.get(den, []), lambda x, y: x / y)
        return fmt(s) if rates.get(num) and rates.get(den) else "-"

    def above(num, den):  # ns per packet num adds to den, round by round
        s = per_round(rates.get(num, []), rates.get(den, []), lambda e, h: 1e3 / e - 1e3 / h)
        return fmt_digits(s, 1) if rates.get(num) and rates.get(den) else "-"

    out = ["| engine, 1 SA | Mpps warm | / hash-only warm | ns above hash | / ideal warm | "
           "ideal / hash-only warm | ns above ideal | cold / warm | "
           "hash-only cold / warm | / single-buffer warm | hash-only / single-buffer warm |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(rates):
        direction, _, tail = name.partition("/")
        if direction not in ("inbound", "outbound") or not tail.endswith("/warm"):
            continue
        row = tail.removesuffix("/warm")
        hash_warm = "hash_only/" + tail
        ideal_warm = ("ideal/" if direction == "inbound" else "ideal_out/") + tail
        out.append(f"| {direction}/{row} | {spread(rates[name])[1]:.2f} | {ratio(name, hash_warm)} | "
                   f"{above(name, hash_warm)} | {ratio(name, ideal_warm)} | {ratio(ideal_warm, hash_warm)} | "
                   f"{above(name, ideal_warm)} | "
                   f"{ratio(f'{direction}/{row}/cold', name)} | {ratio(f'hash_only/{row}/cold', hash_warm)} | "
                   f"{ratio(name, 'single_buffer/' + tail)} | {ratio(hash_warm, 'single_buffer/' + tail)} |")
    return out


# ---- sa_scale_benchmark ----

def load_scale(path):
    """{sas: {figure: [(value, ratio to its baseline) by round]}}"""
    data = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for row in csv.DictReader(f):
            data[int(row["sas"])][row["figure"]].append((float(row["value"]), float(row["ratio"])))
    return data


def scale_markdown(data, text):
    def value(d, fig, digits, scale=1.0):
        v = spread([x * scale for x, _ in d.get(fig, [])])
        return f"{v[1]:,.{digits}f}" if fig in d else "-"

    def rate(d, fig):  # median (min-max)
        return fmt_digits(spread([r for _, r in d.get(fig, [])]), 3) if fig in d else "-"

    def times(d, fig):  # value (median ratio)
        r = spread([r for _, r in d.get(fig, [])])[1]
        return f" ({r:.2f})" if fig in d else ""

    out = ["| SAs | in B/SA | out B/SA | in Mpps | in / 1 SA | out Mpps | out / 1 SA | ideal / 1 SA | "
           "in scale / ideal scale | out scale / ideal scale | "
           "in lookup ns (x 1 SA) | out lookup ns (x 1 SA) | in M records/s (/ 1 SA) | "
           "out M records/s (/ 1 SA) | with records / without, in | out |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for sas in sorted(data):
        d = data[sas]
        out.append(
            f"| {sas:,} | {value(d, 'in_bytes_per_sa', 0)} | {value(d, 'out_bytes_per_sa', 0)} | "
            f"{value(d, 'in_mpps', 2)} | {rate(d, 'in_mpps')} | {value(d, 'out_mpps', 2)} | "
            f"{rate(d, 'out_mpps')} | {rate(d, 'ideal_mpps')} | "
            f"{rate(d, 'in_scale_vs_ideal')} | {rate(d, 'out_scale_vs_ideal')} | "
            f"{value(d, 'in_lookup_ns', 1)}{times(d, 'in_lookup_ns')} | "
            f"{value(d, 'out_lookup_ns', 1)}{times(d, 'out_lookup_ns')} | "
            f"{value(d, 'in_records_per_s', 2, 1e-6)}{times(d, 'in_records_per_s')} | "
            f"{value(d, 'out_records_per_s', 2, 1e-6)}{times(d, 'out_records_per_s')} | "
            f"{rate(d, 'in_churn_mpps')} | {rate(d, 'out_churn_mpps')} |")
    # The program's own verdict and what it skipped, as it printed them.
    lines = text.splitlines()
    notes = [l for l in lines if l.startswith("verdict:")]
    if "Skipped or measured in part:" in lines:
        at = lines.index("Skipped or measured in part:") + 1
        while at < len(lines) and lines[at].startswith("  "):
            notes.append("skipped:" + lines[at])
            at += 1
    return out + [""] + [f"* {n}" for n in notes]


def fmt_digits(s, digits):
    return f"{s[1]:.{digits}f} ({s[0]:.{digits}f}-{s[2]:.{digits}f})"


def plot_scale(data, path):
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    style = {"in_mpps": ("tab:blue", "-", "inbound / 1 SA"),
             "out_mpps": ("tab:blue", "--", "outbound / 1 SA"),
             "ideal_mpps": ("tab:orange", "-", "ideal / 1 SA"),
             "in_churn_mpps": ("tab:green", "-", "inbound with records / without"),
             "out_churn_mpps": ("tab:green", "--", "outbound with records / without")}
    for figname, (color, ls, label) in style.items():
        xs = [n for n in sorted(data) if figname in data[n]]
        if not xs:
            continue
        s = [spread([r for _, r in data[n][figname]]) for n in xs]
        err = [[m[1] - m[0] for m in s], [m[2] - m[1] for m in s]]
        ax.errorbar(xs, [m[1] for m in s], yerr=err, color=color, linestyle=ls, marker="o",
                    markersize=3, capsize=2, label=label)
    xs = [n for n in sorted(data) if "ideal_mpps" in data[n]]
    if xs:  # the target: the engine's curves at or above this one
        ax.plot(xs, [TARGET_VS_IDEAL * spread([r for _, r in data[n]["ideal_mpps"]])[1] for n in xs],
                color="black", linestyle=":", linewidth=1, label=f"target: {TARGET_VS_IDEAL} x ideal / 1 SA")
    ax.set_xscale("log")
    ax.set_xlabel("SAs per direction", fontsize=8)
    ax.set_ylabel("Mpps ratio, same round (median, min-max)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    md = ["# pcscf-esp benchmark report", ""]
    if os.path.exists(os.path.join(d, "machine.txt")):
        md += ["```", open(os.path.join(d, "machine.txt")).read().rstrip(), "```", ""]
    md += ["All figures are from one run on one core. Ratios are taken round by round against "
           "a baseline measured in the same round, on the same packets; shown as median "
           "(min-max) over the rounds.", ""]
    csv_path = os.path.join(d, "ipsec_compare.csv")
    if os.path.exists(csv_path):
        runs = load_compare(csv_path)
        rows = compare_rows(runs)
        md += ["## Side by side with librte_ipsec (`bench/ipsec_compare`)", ""]
        md += compare_markdown(rows) + [""]
        for name, many in (("ipsec_compare_1sa.png", False), ("ipsec_compare_many.png", True)):
            if any((k[3] > 1) == many for k in runs):
                plot_mpps(runs, os.path.join(d, name), many)
                md += [f"![{name}]({name})", ""]
        plot_ratios(rows, os.path.join(d, "ipsec_compare_ratios.png"))
        md += ["![ratios](ipsec_compare_ratios.png)", "",
               "Console output: [ipsec_compare.txt](ipsec_compare.txt)", ""]
    json_path = os.path.join(d, "engine_benchmark.json")
    if os.path.exists(json_path):
        md += ["## ESP engine alone (`bench/engine_benchmark`)", ""]
        md += ["Ratios within each round, median (min-max) over the rounds. Warm: a ring of 256 "
               "packets that stays in L2; cold: 16,384 packets, caches flushed every pass. Ideal: "
               "the least work RFC 4303 transport mode needs per packet (bench/ideal_esp.hpp), the "
               f"sound compute bound (target engine / ideal >= {TARGET_ENGINE_VS_IDEAL}).", ""]
        md += engine_markdown(json_path) + ["", "Console output (with the targets): "
                                            "[engine_benchmark.txt](engine_benchmark.txt)", ""]
    scale = os.path.join(d, "sa_scale_benchmark.csv")
    if os.path.exists(scale):
        data = load_scale(scale)
        txt = os.path.join(d, "sa_scale_benchmark.txt")
        text = open(txt).read() if os.path.exists(txt) else ""
        md += ["## Scale: 1 to 4,000,000 SAs (`bench/sa_scale_benchmark`)", "",
               "Median (min-max) over the rounds. Mpps and lookup against a 1-SA engine of the "
               "same round; ideal (per packet its HMAC and one random 128-byte record of N, "
               "prefetched a burst ahead, read and written) against the ideal at 1 SA; scale / "
               "ideal scale: the engine's N / 1 SA over the ideal's, round by round (target >= "
               f"{TARGET_VS_IDEAL}); records/s (adds and deletes applied) against adding and deleting "
               "1 SA; with records: the same engine while 100,000 SAs/s are added and as many "
               "deleted. B/SA: DPDK heap bytes of each table / SAs (the tables hold at least "
               "1,024).", ""]
        md += scale_markdown(data, text) + [""]
        if data:
            plot_scale(data, os.path.join(d, "sa_scale.png"))
            md += ["![scale](sa_scale.png)", ""]
        md += ["Console output: [sa_scale_benchmark.txt](sa_scale_benchmark.txt)", ""]
    verbatim = (
        ("memory_latency", "The machine's memory system",
         "Dependent random reads on 2 MiB and on 4 KiB pages, same run: whether the "
         "many-SA figures above pay a page walk per packet. Then a cache line moved "
         "between two CPUs, as the pipeline's frames are."),
        ("handoff_benchmark", "Handoff between workers",
         "Packets handed from one CPU to the other: one enqueue a burst on a "
         "single-producer ring per pair of workers, against one enqueue a packet on "
         "a shared multi-producer ring, same run."))
    for name, title, what in verbatim:  # console output shown as it is
        path = os.path.join(d, name + ".txt")
        if os.path.exists(path):
            md += [f"## {title} (`bench/{name}`)", "", what, "", "```", open(path).read().rstrip(), "```", ""]
    pipe = os.path.join(d, "pipeline_benchmark.txt")
    if os.path.exists(pipe):
        md += ["## Whole pipeline (`bench/pipeline_benchmark`)", "", "```",
               open(pipe).read().rstrip(), "```", ""]
    reg = os.path.join(d, "registration_benchmark.txt")
    if os.path.exists(reg):
        text = open(reg).read()
        summary = text[text.find("Summary over"):] if "Summary over" in text else text
        md += ["## Registrations through the sec-agree terminator (`bench/registration_benchmark`)", "",
               "Terminator against the same SIP load sent to the core directly, same run; every "
               "pass of every round: [registration_benchmark.txt](registration_benchmark.txt)", "",
               "```", summary.rstrip(), "```", ""]
    restore = os.path.join(d, "state_restore_benchmark.txt")
    if os.path.exists(restore):
        tables = [line for line in open(restore).read().splitlines() if line.startswith("|")]
        md += ["## A restart from the state store (`bench/state_restore_benchmark`)", "",
               "The store's SAs restored into the workers, against installing the same SAs through "
               "SaManager, same run; console output: "
               "[state_restore_benchmark.txt](state_restore_benchmark.txt)", ""] + tables + [""]
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(os.path.join(d, "report.md"))


if __name__ == "__main__":
    main()
