#!/usr/bin/env python3
"""Summarises a callgrind profile per operation (bench/profile.sh count; docs/performance.md).

  bench/cgsum.py callgrind.out OPS [FUNCTION_SUBSTRING...]

Prints total instructions / OPS, allocations (calls to malloc, calloc, realloc) / OPS, and
for each FUNCTION_SUBSTRING the inclusive instructions / OPS of the first function whose
name contains it (from callgrind_annotate --inclusive=yes). Allocations are counted at
glibc's entry points and at jemalloc's (wsgate's global allocator since the tenth pass,
prefixed `_rjem_`); aligned ones (tokio's tasks and I/O registrations: glibc's
posix_memalign, jemalloc's mallocx) are counted apart, as before that pass they were not
counted at all.
"""
import re
import subprocess
import sys

path, ops = sys.argv[1], float(sys.argv[2])
names = {}
calls = {"malloc": 0, "calloc": 0, "realloc": 0, "aligned": 0}
ENTRY = {
    "malloc": "malloc", "_rjem_malloc": "malloc",
    "calloc": "calloc", "_rjem_calloc": "calloc",
    "realloc": "realloc", "_rjem_realloc": "realloc", "_rjem_rallocx": "realloc",
    "posix_memalign": "aligned", "aligned_alloc": "aligned", "memalign": "aligned",
    "_rjem_mallocx": "aligned",
}
total = 0
cfn = None
with open(path, errors="replace") as f:
    for line in f:
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
        if m:
            kind, ident, name = m.groups()
            if name:
                names[ident] = name.strip()
            if kind == "cfn":
                cfn = names.get(ident)
            continue
        if line.startswith("calls=") and cfn in ENTRY:
            calls[ENTRY[cfn]] += int(line.split()[0][6:])
        elif line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
allocs = calls["malloc"] + calls["calloc"] + calls["realloc"]
print(f"operations: {ops:.0f}")
print(f"instructions/op: {total / ops / 1000:.1f} k")
print(f"allocations/op: {allocs / ops:.1f} (malloc {calls['malloc'] / ops:.1f}, "
      f"calloc {calls['calloc'] / ops:.1f}, realloc {calls['realloc'] / ops:.1f}); "
      f"aligned {calls['aligned'] / ops:.1f}")
if len(sys.argv) > 3:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    for want in sys.argv[3:]:
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)", line)
            if m and want in m.group(2):
                print(f"  {want}: {int(m.group(1).replace(',', '')) / ops / 1000:.1f} k/op")
                break
