#!/usr/bin/env python3
"""Summarise bench/apiserver.sh's raw runs (one JSON per configuration, object,
concurrency and round, from e2e/k8s-tools/loadgen): apiserver.json, apiserver.png
(when matplotlib is there), and the table between the apiserver markers in
BENCHMARKS.md (when a document is given). Prints the table and the targets.

usage: apiserver_report.py RAW_DIR|apiserver.json OUT_DIR [BENCHMARKS.md]
(given an apiserver.json of an earlier run, the report is made again from its medians)"""
import glob
import json
import os
import statistics
import sys

from publish import publish

raw, out = sys.argv[1], sys.argv[2]
doc = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
CONFIGS = ["none", "sg-validating", "sg-both", "vap", "null", "null-patch"]
LABEL = {"none": "no webhook", "sg-validating": "secretgate validating", "sg-both": "secretgate validating + mutating",
         "vap": "ValidatingAdmissionPolicy (CEL)", "null": "null webhook (validating + mutating)",
         "null-patch": "null webhook answering secretgate's patch"}
KEYS = ["rps", "p50", "p90", "p99", "max", "apiserver_cpu_us", "webhook_cpu_us_per_review", "webhook_ms", "steps_ms"]


def run_figures(r):
    lat = r["latency_ms"]
    hooks = r.get("apiserver_webhooks") or {}
    reviews = sum(s["count"] for s in hooks.values())
    cpu = r.get("cpu_seconds") or {}
    steps = r.get("apiserver_steps") or {}
    return {
        "rps": r["rps"], "p50": lat["p50"], "p90": lat["p90"], "p99": lat["p99"], "max": lat["max"],
        "apiserver_cpu_us": cpu.get("apiserver", 0) * 1e6 / r["count"],
        # webhook CPU per review the API server sent it (Pods: validate and mutate are two)
        "webhook_cpu_us_per_review": cpu["webhook"] * 1e6 / reviews if "webhook" in cpu and reviews else None,
        # the API server's own view: mean time in webhooks per request, and in the admission steps
        "webhook_ms": sum(s["sum_seconds"] for s in hooks.values()) * 1e3 / r["count"],
        "steps_ms": sum(s["sum_seconds"] for s in steps.values()) * 1e3 / r["count"],
    }


cells = {}
earlier = None
if raw.endswith(".json"):
    with open(raw) as f:
        earlier = json.load(f)["cells"]
    for key, m in earlier.items():
        obj, conc, config = key.split("/")
        cells[(config, obj, conc)] = [{k: m.get(k) for k in KEYS}]
for path in [] if earlier else sorted(glob.glob(os.path.join(raw, "*.json"))):
    name = os.path.basename(path)[:-5]
    config, obj, conc, _round = name.rsplit("-", 3)
    with open(path) as f:
        cells.setdefault((config, obj, conc), []).append(run_figures(json.load(f)))
if not cells:
    sys.exit(f"no runs in {raw}")


def median(config, obj, conc):
    runs = cells.get((config, obj, conc))
    if not runs:
        return None
    m = {}
    for k in KEYS:
        values = [r[k] for r in runs if r[k] is not None]
        m[k] = statistics.median(values) if values else None
    m["rounds"] = earlier[f"{obj}/{conc}/{config}"]["rounds"] if earlier else len(runs)
    return m


results = {"cells": {}}
for obj in ["pod", "secret"]:
    for conc in ["c1", "c16"]:
        for config in CONFIGS:
            m = median(config, obj, conc)
            if m:
                results["cells"][f"{obj}/{conc}/{config}"] = m

lines = ["| object | concurrency | configuration | req/s | vs baseline | p50 / p90 / p99 / max ms | added p50 ms | "
         "API server CPU µs/req | webhook CPU µs/review | in webhooks ms/req (API server) | in admission ms/req (API server) |",
         "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for key, m in results["cells"].items():
    obj, conc, config = key.split("/")
    base = results["cells"].get(f"{obj}/{conc}/none")
    ratio = f"{m['rps'] / base['rps']:.0%}" if base else "-"
    added = f"{m['p50'] - base['p50']:+.2f}" if base else "-"
    wcpu = f"{m['webhook_cpu_us_per_review']:.0f}" if m["webhook_cpu_us_per_review"] is not None else "-"
    lines.append(f"| {obj} | {conc[1:]} | {LABEL[config]} | {m['rps']:,.0f} | {ratio} | "
                 f"{m['p50']:.2f} / {m['p90']:.2f} / {m['p99']:.2f} / {m['max']:.2f} | {added} | "
                 f"{m['apiserver_cpu_us']:.0f} | {wcpu} | {m['webhook_ms']:.2f} | {m['steps_ms']:.2f} |")

# Where secretgate's added time goes (Pods, validating + mutating): what any two
# webhooks cost (null over none), what applying the mutation's patch costs the
# API server (null-patch over null), and what is secretgate's own (sg-both over
# null-patch), in p50 latency and in API server CPU.
split = []
for conc in ["c1", "c16"]:
    c = {k: results["cells"].get(f"pod/{conc}/{k}") for k in ["none", "null", "null-patch", "sg-both"]}
    if all(c.values()):
        step = lambda a, b, k: c[b][k] - c[a][k]
        split.append(f"| {conc[1:]} | {step('none', 'null', 'p50'):+.2f} ms, {step('none', 'null', 'apiserver_cpu_us'):+.0f} µs | "
                     f"{step('null', 'null-patch', 'p50'):+.2f} ms, {step('null', 'null-patch', 'apiserver_cpu_us'):+.0f} µs | "
                     f"{step('null-patch', 'sg-both', 'p50'):+.2f} ms, {step('null-patch', 'sg-both', 'apiserver_cpu_us'):+.0f} µs |")
if split:
    lines += ["", "Where the added time of a Pod create goes (validating + mutating; p50 latency and API server CPU per request):", "",
              "| concurrency | two webhook calls (null over none) | applying the patch (null-patch over null) | secretgate itself (secretgate over null-patch) |",
              "|---:|---:|---:|---:|"] + split
table = "\n".join(lines)

verdicts = []
for obj in ["pod", "secret"]:
    c = lambda conc, config: results["cells"].get(f"{obj}/{conc}/{config}")
    none16, both16, null16 = c("c16", "none"), c("c16", "sg-both"), c("c16", "null")
    none1, both1, null1 = c("c1", "none"), c("c1", "sg-both"), c("c1", "null")
    if none16 and both16:
        r = both16["rps"] / none16["rps"]
        verdicts.append((f"{obj}: throughput at concurrency 16, validating + mutating ≥ 90 % of no webhook", r >= 0.9, f"{r:.0%}"))
    if none1 and both1 and null1:
        added, vs_null = both1["p50"] - none1["p50"], both1["p50"] - null1["p50"]
        verdicts.append((f"{obj}: added p50 at concurrency 1 ≤ 1 ms over no webhook and ≤ 0.5 ms over the null webhook",
                         added <= 1.0 and vs_null <= 0.5, f"+{added:.2f} ms over no webhook, {vs_null:+.2f} ms over the null webhook"))
    if both16 and null16:
        d = both16["p99"] - null16["p99"]
        verdicts.append((f"{obj}: p99 at concurrency 16 within 2 ms of the null webhook's", d <= 2.0, f"{d:+.2f} ms"))
# The null webhook sends no patch, so beside it secretgate's mutation also pays
# for the API server applying a patch. Against the null webhook that answers
# with secretgate's own patch, what is left is secretgate's own.
c = lambda conc, config: results["cells"].get(f"pod/{conc}/{config}")
both16, patch16, both1, patch1 = c("c16", "sg-both"), c("c16", "null-patch"), c("c1", "sg-both"), c("c1", "null-patch")
if both16 and patch16 and both1 and patch1:
    r = both16["rps"] / patch16["rps"]
    verdicts.append(("pod, beside the null webhook answering secretgate's patch: throughput at concurrency 16 ≥ 90 %",
                     r >= 0.9, f"{r:.0%}"))
    d1 = both1["p50"] - patch1["p50"]
    verdicts.append(("pod, beside the null webhook answering secretgate's patch: added p50 at concurrency 1 ≤ 0.5 ms",
                     d1 <= 0.5, f"{d1:+.2f} ms"))
    d16 = both16["p99"] - patch16["p99"]
    verdicts.append(("pod, beside the null webhook answering secretgate's patch: p99 at concurrency 16 within 2 ms",
                     d16 <= 2.0, f"{d16:+.2f} ms"))
results["targets"] = [{"target": t, "met": met, "figure": f} for t, met, f in verdicts]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "apiserver.json"), "w") as f:
    json.dump(results, f, indent=2)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = [(o, c) for o in ["pod", "secret"] for c in ["c1", "c16"]]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    w = 0.13
    for i, config in enumerate(CONFIGS):
        xs = [g + (i - 2.5) * w for g in range(len(groups))]
        ms = [results["cells"].get(f"{o}/{c}/{config}") for o, c in groups]
        ax1.bar(xs, [m["rps"] if m else 0 for m in ms], w, label=LABEL[config])
        ax2.bar(xs, [m["p99"] if m else 0 for m in ms], w, label=LABEL[config])
    ax1.set_ylabel("dry-run creates / s")
    ax1.set_title("Through the real kube-apiserver: Pod and Secret creates (server-side dry run)")
    ax1.legend(fontsize=8)
    ax2.set_ylabel("p99 latency (ms)")
    ax2.set_xticks(range(len(groups)))
    ax2.set_xticklabels([f"{o}, concurrency {c[1:]}" for o, c in groups])
    fig.tight_layout()
    fig.savefig(os.path.join(out, "apiserver.png"), dpi=110)
except ImportError:
    print("matplotlib is not installed: no chart", file=sys.stderr)

publish(doc, "apiserver", table, verdicts)
