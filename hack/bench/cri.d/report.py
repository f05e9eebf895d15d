#!/usr/bin/env python3
"""Prints hack/bench/cri's tables from the JSON files of its runs.

usage: report.py OUT RUNTIME... -- reads OUT/<runtime>/bench/bench/*_benchmark_data.json (critest's
LifecycleBenchmarksResultsSet: operationsNames + datapoints[].operationsDurationsNs), the
start-container experiment in OUT/<runtime>/bench/report.json, and OUT/<runtime>/mem/memory.json.
The first runtime is the one measured, the second the reference (ratio = first / second).
Exits 1 if some expected result is missing.
"""
import glob
import json
import math
import os
import sys

FILES = [  # (file, benchmark label)
    ("container_benchmark_data.json", "container"),
    ("pod_benchmark_data.json", "pod"),
    ("image_lifecycle_benchmark_data.json", "image"),
    ("image_listing_benchmark_data.json", "image"),
]


def pct(xs, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def load_ops(d):
    """{(label, op): [ms...]} from one runtime's benchmark output dir."""
    ops = {}
    for f, label in FILES:
        try:  # hack/critest writes them to $CRITEST_OUT/bench
            rs = json.load(open(os.path.join(d, "bench", f)))
        except (OSError, ValueError):
            continue
        names = rs.get("operationsNames") or []
        for dp in rs.get("datapoints") or []:
            durs = dp.get("operationsDurationsNs") or []
            for i, name in enumerate(names):
                if i < len(durs):
                    ops.setdefault((label, name), []).append(durs[i] / 1e6)
            if len(names) > 1 and len(durs) == len(names):
                # the whole cycle: splits between operations differ (e.g. work done at create vs start)
                ops.setdefault((label, "cycle: " + "+".join(n.replace(label.capitalize(), "") for n in names)), []).append(
                    sum(durs) / 1e6)
    # critest's one-shot "create PodSandbox and container" experiment (ginkgo report entry)
    try:
        suites = json.load(open(os.path.join(d, "report.json")))
    except (OSError, ValueError):
        suites = []
    for s in suites:
        for sp in s.get("SpecReports") or []:
            for e in sp.get("ReportEntries") or []:
                if e.get("Name") != "start-container-benchmark":
                    continue
                try:
                    exp = json.loads((e.get("Value") or {}).get("AsJSON") or "{}")
                except ValueError:
                    continue
                for m in exp.get("Measurements") or []:
                    durs = m.get("Durations") or []
                    if durs:
                        key = ("pod+ctr", "RunPod+Create+StartContainer (1 sample)")
                        ops.setdefault(key, []).extend(x / 1e6 for x in durs)
    return ops


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def main():
    out, rts = sys.argv[1], sys.argv[2:]
    ok = True
    data = {rt: load_ops(os.path.join(out, rt, "bench")) for rt in rts}
    a = rts[0]
    b = rts[1] if len(rts) > 1 else None
    keys = []
    for rt in rts:
        for k in data[rt]:
            if k not in keys:
                keys.append(k)
    n = max((len(v) for rt in rts for v in data[rt].values()), default=0)
    print(f"CRI lifecycle benchmarks (critest -benchmark, sequential, up to {n} samples per operation; ms)")
    hdr = f"{'benchmark':<10} {'operation':<38}"
    for rt in rts:
        hdr += f" {rt + ' med':>15} {'p90':>8}"
    if b:
        hdr += f" {'ratio med':>10} {'ratio p90':>10}"
    print(hdr)
    for k in keys:
        row = f"{k[0]:<10} {k[1]:<38}"
        stats = {}
        for rt in rts:
            xs = data[rt].get(k)
            if xs:
                stats[rt] = (median(xs), pct(xs, 90))
                row += f" {stats[rt][0]:>15.2f} {stats[rt][1]:>8.2f}"
            else:
                stats[rt] = (None, None)
                row += f" {'-':>15} {'-':>8}"
        if b:
            row += f" {fmt_ratio(stats[a][0], stats[b][0]):>10} {fmt_ratio(stats[a][1], stats[b][1]):>10}"
        print(row)
    for rt in rts:
        if len(data[rt]) < 2:
            print(f"  no benchmark results for {rt} (see {out}/{rt}/bench/)")
            ok = False

    mem = {}
    for rt in rts:
        try:
            mem[rt] = json.load(open(os.path.join(out, rt, "mem", "memory.json")))
        except (OSError, ValueError):
            print(f"  no memory results for {rt} (see {out}/{rt}/mem/)")
            ok = False
    if mem:
        pods = max(m.get("pods", 0) for m in mem.values())
        print()
        print(f"Memory with {pods} pods running (one busybox sleep container each; MiB)")
        hdr = f"{'figure':<42}" + "".join(f" {rt:>12}" for rt in rts) + (f" {'ratio':>8}" if b else "")
        print(hdr)
        rows = [
            ("daemon VmRSS", lambda m: m["daemon_rss_kib"] / 1024),
            ("daemon PSS", lambda m: m["daemon_pss_kib"] / 1024),
            ("helper processes (count)", lambda m: m["helpers_count"]),
            ("helpers PSS sum", lambda m: m["helpers_pss_kib"] / 1024),
            ("helpers RSS sum", lambda m: m["helpers_rss_kib"] / 1024),
            ("daemon + helpers PSS", lambda m: (m["daemon_pss_kib"] + m["helpers_pss_kib"]) / 1024),
            ("daemon + helpers RSS", lambda m: (m["daemon_rss_kib"] + m["helpers_rss_kib"]) / 1024),
            ("helpers PSS per pod", lambda m: m["helpers_pss_kib"] / 1024 / max(1, m["pods"])),
            ("seconds to start all pods (crictl, serial)", lambda m: m["start_seconds"]),
        ]
        for label, f in rows:
            vals = {rt: f(mem[rt]) if rt in mem else None for rt in rts}
            row = f"{label:<42}" + "".join(
                f" {v:>12.1f}" if v is not None else f" {'-':>12}" for v in vals.values())
            if b:
                row += f" {fmt_ratio(vals[a], vals[b]):>8}"
            print(row)
        for rt in rts:
            if rt in mem:
                parts = ", ".join(f"{k} x{h['count']}: PSS {h['pss_kib'] / 1024:.1f} RSS {h['rss_kib'] / 1024:.1f}"
                                  for k, h in sorted(mem[rt]["helpers"].items()))
                print(f"  {rt} helpers: {parts}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
