#!/usr/bin/env python3
"""The segment sequences of whole TCP connections in a capture (bench/segments.sh).

  bench/segments.py CAPTURE PROXY_PORT UPSTREAM_PORT

For each of the two servers (the proxy, the echo upstream behind it), the sequences of
segments of connections captured from SYN to a FIN each way or to a reset, most common first: `>` from
the connecting side, `<` from the accepting side, tcpdump's flags (S SYN, F FIN, P push,
R reset, `.` ACK), then the payload length when there is one.
"""
import collections
import re
import subprocess
import sys


def main():
    capture, proxy_port, upstream_port = sys.argv[1:4]
    text = subprocess.run(["tcpdump", "-nn", "-r", capture], capture_output=True,
                          text=True, check=True).stdout
    flows = collections.defaultdict(list)
    segment = re.compile(r"IP \S+\.(\d+) > \S+\.(\d+): Flags \[([^\]]*)\].*length (\d+)")
    for line in text.splitlines():
        m = segment.search(line)
        if not m:
            continue
        source, destination, flags, length = m.group(1), m.group(2), m.group(3), int(m.group(4))
        if destination in (proxy_port, upstream_port):
            key, way = (destination, source), ">"
        elif source in (proxy_port, upstream_port):
            key, way = (source, destination), "<"
        else:
            continue
        flows[key].append(f"{way}{flags}{length or ''}")
    patterns = collections.Counter()
    for (server, _), segments in flows.items():
        # From the SYN to both FINs, or to a reset (an abortive close).
        whole = segments[0] == ">S" and (
            any("R" in s for s in segments)
            or (any("F" in s for s in segments if s.startswith(">"))
                and any("F" in s for s in segments if s.startswith("<"))))
        if whole:
            patterns[(server, " ".join(segments))] += 1
    for server, name in ((proxy_port, "client - proxy"), (upstream_port, "proxy - upstream")):
        total = sum(n for (s, _), n in patterns.items() if s == server)
        print(f"{name} (port {server}): {total} whole connections")
        for (s, pattern), n in patterns.most_common():
            if s == server and n >= total * 0.02:
                print(f"  {n / total:6.1%}  {len(pattern.split()):2} segments  {pattern}")


if __name__ == "__main__":
    main()
