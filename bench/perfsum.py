#!/usr/bin/env python3
"""Per-handshake CPU by symbol from bench/perf.sh profiles (docs/performance.md).

  bench/perfsum.py DIR            # kernel and user µs per handshake, top symbols
  bench/perfsum.py DIR_A DIR_B    # the same for both, and the symbols that differ most

DIR holds perf.data (cpu-clock samples of one proxy) and closes.txt (`perf stat -x,` of
its close calls over the same window, two per proxied handshake, and of its context
switches).
"""
import collections
import re
import subprocess
import sys


def load(directory):
    with open(f"{directory}/closes.txt") as f:
        counts = {line.split(",")[2]: line.split(",")[0] for line in f if line.count(",") >= 2}
    handshakes = int(counts["syscalls:sys_enter_close"]) / 2
    switches = counts.get("context-switches", "")
    switches = int(switches) / handshakes if switches.isdigit() else None
    report = subprocess.run(
        ["perf", "report", "-i", f"{directory}/perf.data", "--stdio", "--sort", "dso,sym",
         "-F", "period,dso,sym"],
        capture_output=True, text=True, check=True).stdout
    per_symbol = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if m:
            period_ns, _dso, kind, symbol = m.groups()
            side = "kernel" if kind == "k" else "user"
            per_symbol[(side, symbol.strip()[:90])] += int(period_ns) / 1000 / handshakes
    return handshakes, per_symbol, switches


def totals(per_symbol):
    kernel = sum(v for (side, _), v in per_symbol.items() if side == "kernel")
    user = sum(v for (side, _), v in per_symbol.items() if side == "user")
    return kernel, user


def main():
    dirs = sys.argv[1:]
    if len(dirs) not in (1, 2):
        sys.exit(__doc__)
    loaded = [load(d) for d in dirs]
    for d, (handshakes, per_symbol, switches) in zip(dirs, loaded):
        kernel, user = totals(per_symbol)
        switched = f"; {switches:.2f} context switches per handshake" if switches is not None else ""
        print(f"{d}: {handshakes:.0f} handshakes sampled; µs per handshake: "
              f"kernel {kernel:.1f}, user {user:.1f}, total {kernel + user:.1f}{switched}")
    if len(loaded) == 1:
        top = loaded[0][1].most_common(40)
        for (side, symbol), us in top:
            print(f"{us:8.2f}  {side:6}  {symbol}")
        return
    a, b = loaded[0][1], loaded[1][1]
    keys = sorted(set(a) | set(b), key=lambda k: -abs(a[k] - b[k]))
    print(f"{'A':>8} {'B':>8} {'A-B':>8}  (µs per handshake; A = {dirs[0]}, B = {dirs[1]})")
    for key in keys[:40]:
        side, symbol = key
        print(f"{a[key]:8.2f} {b[key]:8.2f} {a[key] - b[key]:+8.2f}  {side:6}  {symbol}")


main()
