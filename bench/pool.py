#!/usr/bin/env python3
"""Pools side-by-side runs (docs/performance.md): medians and paired per-round ratios.

  bench/pool.py RUN_A/results.jsonl [RUN_B/results.jsonl:swap ...]

A `:swap` suffix reads that run with its two wsgate binaries' labels exchanged: for a
repeat with BENCH_WSGATE_BIN and BENCH_WSGATE_B the other way round, so "wsgate" is the
same binary in every run pooled.

For each scenario: every target's median proxy CPU µs per operation (and its user share)
over all rounds of all runs, then the median over the rounds of the per-round ratio
wsgate / nginx, wsgate / HAProxy, and wsgate / wsgate-b (the A/B); with target `floor`
(bench/src/bin/floor.rs), floor / nginx, floor / HAProxy and wsgate / floor; with target
`haproxy-sig` (HAProxy checking only the signature and exp), wsgate / haproxy-sig and
haproxy-sig / haproxy. A per-round ratio
compares figures taken minutes apart at most, which drifts less than the machine does
between runs.
"""
import collections
import json
import statistics
import sys

ORDER = ["hs256", "rs256", "rtt64", "rtt512", "rtt16k", "tp1k", "tp16k", "tp64k"]
rounds = collections.defaultdict(dict)
SWAP = {"wsgate": "wsgate-b", "wsgate-b": "wsgate"}
for run, arg in enumerate(sys.argv[1:]):
    path, swap = (arg[: -len(":swap")], True) if arg.endswith(":swap") else (arg, False)
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if swap:
                row["target"] = SWAP.get(row["target"], row["target"])
            if "proxy_cpu_us_per_op" in row:
                rounds[(row["scenario"], run, row["round"])][row["target"]] = row
if not rounds:
    sys.exit(__doc__)


def cpu(row):
    return row["proxy_cpu_us_per_op"]


for scenario in sorted({k[0] for k in rounds}, key=lambda s: (s not in ORDER, ORDER.index(s) if s in ORDER else s)):
    keys = [k for k in rounds if k[0] == scenario]
    for target in ["wsgate", "wsgate-b", "floor", "floor-timer", "nginx", "haproxy", "haproxy-sig"]:
        rows = [rounds[k][target] for k in keys if target in rounds[k] and cpu(rounds[k][target])]
        if rows:
            total = statistics.median(cpu(r) for r in rows)
            user = statistics.median(cpu(r) - r["proxy_sys_us_per_op"] for r in rows)
            print(f"{scenario:7} {target:9} n={len(rows)} cpu {total:6.1f} user {user:5.1f}")

    def ratio(a, b):
        pairs = [cpu(rounds[k][a]) / cpu(rounds[k][b]) for k in keys
                 if a in rounds[k] and b in rounds[k] and cpu(rounds[k][b])]
        return f"{statistics.median(pairs):.3f}" if pairs else "-"

    print(f"  paired: wsgate vs nginx {ratio('wsgate', 'nginx')} vs haproxy {ratio('wsgate', 'haproxy')}"
          f" | wsgate-b vs nginx {ratio('wsgate-b', 'nginx')} vs haproxy {ratio('wsgate-b', 'haproxy')}"
          f" | wsgate / wsgate-b {ratio('wsgate', 'wsgate-b')}")
    if any("haproxy-sig" in rounds[k] for k in keys):
        print(f"  paired: wsgate vs haproxy-sig {ratio('wsgate', 'haproxy-sig')}"
              f" | wsgate-b vs haproxy-sig {ratio('wsgate-b', 'haproxy-sig')}"
              f" | haproxy-sig / haproxy {ratio('haproxy-sig', 'haproxy')}")
    if any("floor" in rounds[k] for k in keys):
        print(f"  paired: floor vs nginx {ratio('floor', 'nginx')} vs haproxy {ratio('floor', 'haproxy')}"
              f" | wsgate / floor {ratio('wsgate', 'floor')}")
    if any("floor-timer" in rounds[k] for k in keys):
        print(f"  paired: floor-timer vs floor {ratio('floor-timer', 'floor')} vs nginx {ratio('floor-timer', 'nginx')}"
              f" | wsgate / floor-timer {ratio('wsgate', 'floor-timer')}")
