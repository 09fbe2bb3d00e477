#!/usr/bin/env python3
"""Summarise bench/run.sh's raw results: results.json, chart.png, and the
table between the markers in BENCHMARKS.md. Prints the table and the targets."""
import glob
import json
import os
import platform
import statistics
import subprocess
import sys

from publish import publish

raw, out, doc = sys.argv[1], sys.argv[2], sys.argv[3]
SCENARIOS = ["pod-validate", "pod-mutate", "secret-1mib"]
PROTOS = {"h1": "HTTP/1.1, 16 connections", "h2": "HTTP/2, 16 streams on 1 connection"}
# null-uid: the stack's floor (reads only request.uid); null: decodes the review
# with kube's types, what a typical kube-rs webhook costs (the targets' base)
TARGETS = ["null-uid", "null", "secretgate"]
TARGET_RATIO = {"pod-validate": 0.85, "pod-mutate": 0.75, "secret-1mib": 0.90}


def load(name):
    with open(os.path.join(raw, name)) as f:
        return json.load(f)


def cell(scenario, proto, target):
    runs = []
    for path in sorted(glob.glob(os.path.join(raw, f"{scenario}-{proto}-{target}-[0-9]*.json"))):
        if path.endswith(".cpu.json"):
            continue
        o = load(os.path.basename(path))
        cpu = load(os.path.basename(path)[:-5] + ".cpu.json")
        ok = o["statusCodeDistribution"].get("200", 0)
        bad = {k: v for k, v in o["statusCodeDistribution"].items() if k != "200"}
        runs.append({
            "rps": o["summary"]["requestsPerSec"],
            "p50_ms": o["latencyPercentiles"]["p50"] * 1000,
            "p99_ms": o["latencyPercentiles"]["p99"] * 1000,
            "ok": ok, "non_200": bad,
            "cpu_us_per_req": cpu["cpu_ticks"] / cpu["ticks_per_second"] * 1e6 / max(ok, 1),
        })
    if not runs:
        return None
    return {k: statistics.median(r[k] for r in runs) for k in ["rps", "p50_ms", "p99_ms", "cpu_us_per_req"]} | {
        "runs": runs, "non_200": sum(sum(r["non_200"].values()) for r in runs)}


results = {"cells": {}, "idle": load("idle.json"), "loaded": load("loaded.json"), "scale": load("scale.json"),
           "audit": load("audit.json")}
for s in SCENARIOS:
    for p in PROTOS:
        results["cells"][f"{s}/{p}"] = {t: cell(s, p, t) for t in TARGETS}
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
results["machine"] = {"cpu": cpu_model, "cores": os.cpu_count(), "kernel": platform.release(),
                      "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=2)

lines = ["| scenario | protocol | floor (uid) req/s | null (typed) req/s | secretgate req/s | of typed null | target | of floor | p50 / p99 ms (floor · typed · secretgate) | CPU µs/req (floor · typed · secretgate) |",
         "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
verdicts = []
for key, c in results["cells"].items():
    s, p = key.split("/")
    f, n, g = c["null-uid"], c["null"], c["secretgate"]
    ratio = g["rps"] / n["rps"]
    target = TARGET_RATIO[s]
    met = ratio >= target and (s != "pod-validate" or g["p99_ms"] <= 1.5)
    want = f"≥ {target:.0%}" + (", p99 ≤ 1.5 ms" if s == "pod-validate" else "")
    floor = g["rps"] / f["rps"]
    verdicts.append((f"{s} {p}", met, f"{ratio:.0%} of the typed null, {floor:.0%} of the floor, p99 {g['p99_ms']:.2f} ms (target {want})"))
    lines.append(f"| {s} | {PROTOS[p]} | {f['rps']:,.0f} | {n['rps']:,.0f} | {g['rps']:,.0f} | {ratio:.0%} | {want} {'✅' if met else '❌'} | {floor:.0%} | "
                 f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} · {n['p50_ms']:.2f} / {n['p99_ms']:.2f} · {g['p50_ms']:.2f} / {g['p99_ms']:.2f} | "
                 f"{f['cpu_us_per_req']:.0f} · {n['cpu_us_per_req']:.0f} · {g['cpu_us_per_req']:.0f} |")
sc = results["scale"]
rss_mib = sc["rss_kib"] / 1024
verdicts.append(("RSS with 100k Secrets + 20k SAs", rss_mib <= 64, f"{rss_mib:.1f} MiB (target ≤ 64 MiB; high-water {sc['hwm_kib'] / 1024:.1f} MiB)"))
au = results["audit"]
verdicts.append(("audit peak RSS inside the chart's 256 MiB limit", au["max_rss_kib"] / 1024 <= 256,
                 f"{au['max_rss_kib'] / 1024:.1f} MiB in {au['seconds']:.1f} s"))
verdicts.append(("ready with that snapshot", sc["ready_ms"] <= 2000, f"{sc['ready_ms']} ms (target ≤ 2000 ms)"))
lines += ["", "| memory and start-up | value |", "|---|---:|",
          f"| RSS idle, example snapshot | {results['idle']['idle_rss_kib'] / 1024:.1f} MiB (typed null webhook {results['idle']['null_idle_rss_kib'] / 1024:.1f} MiB) |",
          f"| RSS after the load runs | {results['loaded']['loaded_rss_kib'] / 1024:.1f} MiB |",
          f"| RSS with 100k Secrets (5 keys each) + 20k ServiceAccounts | {rss_mib:.1f} MiB (high-water {sc['hwm_kib'] / 1024:.1f} MiB) |",
          f"| start to ready with that snapshot ({sc['snapshot_bytes'] / 1e6:.0f} MB of JSON) | {sc['ready_ms']} ms |",
          f"| `secretgate audit` over that snapshot plus 10k Pods and 1000 Deployments | {results['audit']['seconds']:.1f} s, peak RSS {results['audit']['max_rss_kib'] / 1024:.1f} MiB ({results['audit']['findings']} findings) |",
          "", f"Machine: {cpu_model}, {os.cpu_count()} cores, Linux {platform.release()}, {results['machine']['rustc']}."]
table = "\n".join(lines)
non_200 = sum(c[t]["non_200"] for c in results["cells"].values() for t in c)

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
labels = [k.replace("/", "\n") for k in results["cells"]]
x = range(len(labels))
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
w = 0.27
for i, (t, label, color) in enumerate([("null-uid", "floor (uid-only null)", "#d5dbe1"), ("null", "typed null", "#9aa5b1"),
                                       ("secretgate", "secretgate", "#2f6fb3")]):
    ax1.bar([v + (i - 1) * w for v in x], [c[t]["rps"] for c in results["cells"].values()], w, label=label, color=color)
    ax2.bar([v + (i - 1) * w for v in x], [c[t]["p99_ms"] for c in results["cells"].values()], w, label=label, color=color)
ax1.set_ylabel("requests / s")
ax1.set_title("secretgate vs two null webhooks on the same stack (one core, 16-way)")
ax1.legend()
ax2.set_ylabel("p99 latency (ms)")
ax2.set_xticks(list(x))
ax2.set_xticklabels(labels)
fig.tight_layout()
fig.savefig(os.path.join(out, "chart.png"), dpi=110)

publish(doc, "results", table, verdicts)
if non_200:
    print(f"WARNING: {non_200} responses were not 200")
