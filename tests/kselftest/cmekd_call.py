#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Send one raw request to cmekd's socket and print the reply (test helper).

    cmekd_call.py SOCKET 'JSON-or-raw-text' [--raw] [--size N]

Prints the reply on stdout. Exit 0 if {"ok": true}, 1 if {"ok": false},
2 on a transport error (message on stderr, e.g. ECONNREFUSED, EACCES).
--size N sends N bytes: the JSON padded with spaces (oversized test).
"""
import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, msg = sys.argv[1], sys.argv[2].encode()
    if "--size" in sys.argv:
        n = int(sys.argv[sys.argv.index("--size") + 1])
        msg = msg + b" " * (n - len(msg))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(120)
    try:
        s.connect(path)
        s.send(msg)
        data = s.recv(70000)
    except OSError as e:
        print("transport error: %s" % e, file=sys.stderr)
        return 2
    if not data:
        print("transport error: connection closed without a reply",
              file=sys.stderr)
        return 2
    sys.stdout.write(data.decode(errors="replace") + "\n")
    try:
        r = json.loads(data)
    except ValueError:
        return 2
    return 0 if r.get("ok") is True else 1


if __name__ == "__main__":
    sys.exit(main())
