#!/usr/bin/env python3
"""Per-handshake CPU by symbol from bench/perf.sh profiles (docs/performance.md).

  bench/perfsum.py DIR            # kernel and user µs per handshake, top symbols
  bench/perfsum.py DIR_A DIR_B    # the same for both, and the symbols that differ most
  bench/perfsum.py --parts DIR [DIR_B]   # user time by part: libc's system call wrappers
                                         # (entry and exit count as user time), tokio,
                                         # each wsgate module, http/httparse, the allocator...

DIR holds perf.data (cpu-clock samples of one proxy) and closes.txt (`perf stat -x,` of
its close calls over the same window, two per proxied handshake, of its context
switches and of all its system calls).
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
    syscalls = counts.get("raw_syscalls:sys_enter", "")
    syscalls = int(syscalls) / handshakes if syscalls.isdigit() else None
    report = subprocess.run(
        ["perf", "report", "-i", f"{directory}/perf.data", "--stdio", "--sort", "dso,sym",
         "-F", "period,dso,sym"],
        capture_output=True, text=True, check=True).stdout
    per_symbol = collections.Counter()
    per_part = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if m:
            period_ns, dso, kind, symbol = m.groups()
            side = "kernel" if kind == "k" else "user"
            us = int(period_ns) / 1000 / handshakes
            per_symbol[(side, symbol.strip()[:90])] += us
            per_part["kernel" if side == "kernel" else part(dso, symbol.strip())] += us
    return handshakes, per_symbol, switches, syscalls, per_part


WRAPPERS = re.compile(r"send|recv|writev|readv|epoll|accept|close|connect|socket|sockopt|"
                      r"getpeername|ioctl|syscall|cancel|^write|^read|__GI___write|__GI___read")


def part(dso, symbol):
    """The part of the program a user-space symbol belongs to."""
    if "libc" in dso or dso.startswith("[vdso"):
        if WRAPPERS.search(symbol):
            return "libc: system call wrappers"
        if symbol.startswith(("__mem", "mem")):
            return "libc: memmove/memcpy/memset"
        if "clock_gettime" in symbol:
            return "libc: clock_gettime"
        if "malloc" in symbol or "free" in symbol or "unlink_chunk" in symbol:
            return "libc: malloc/free"
        return "libc: other"
    if symbol.startswith("_rjem") or "jemalloc" in symbol:
        return "jemalloc"
    if symbol.startswith("ngx_"):
        return "nginx"
    for prefix, name in (("tokio", "tokio"), ("wsgate::", None), ("http::", "http"),
                         ("httparse", "httparse"), ("ring", "ring"), ("aws_lc", "aws-lc"),
                         ("base64", "base64"), ("sha1", "sha1"), ("tracing", "tracing"),
                         ("prometheus", "prometheus"), ("bytes::", "bytes"),
                         ("mio::", "mio"), ("hyper", "hyper")):
        if symbol.startswith(prefix) or f"<{prefix}" in symbol:
            if name is None:
                module = symbol.split("::")[1] if symbol.startswith("wsgate::") else "(impls)"
                return f"wsgate::{module}"
            return name
    if symbol.startswith(("core::", "alloc::", "std::", "<core::", "<alloc::", "<std::")):
        return "std"
    return "other"


def totals(per_symbol):
    kernel = sum(v for (side, _), v in per_symbol.items() if side == "kernel")
    user = sum(v for (side, _), v in per_symbol.items() if side == "user")
    return kernel, user


def main():
    dirs = sys.argv[1:]
    by_part = bool(dirs) and dirs[0] == "--parts"
    if by_part:
        dirs = dirs[1:]
    if len(dirs) not in (1, 2):
        sys.exit(__doc__)
    loaded = [load(d) for d in dirs]
    for d, (handshakes, per_symbol, switches, syscalls, _) in zip(dirs, loaded):
        kernel, user = totals(per_symbol)
        switched = f"; {switches:.2f} context switches per handshake" if switches is not None else ""
        if syscalls is not None:
            switched += f", {syscalls:.1f} system calls"
        print(f"{d}: {handshakes:.0f} handshakes sampled; µs per handshake: "
              f"kernel {kernel:.1f}, user {user:.1f}, total {kernel + user:.1f}{switched}")
    if by_part:
        parts = [entry[4] for entry in loaded]
        keys = sorted(set().union(*parts) - {"kernel"}, key=lambda k: -parts[0][k])
        print("  ".join(f"{'µs':>8}" for _ in parts) + "  part of user time")
        for key in keys:
            if max(p[key] for p in parts) >= 0.1:
                print("  ".join(f"{p[key]:8.2f}" for p in parts) + f"  {key}")
        return
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
