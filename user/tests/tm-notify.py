#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""systemd's end of sd_notify(3), for the trustmigd tests.

tm-notify.py SOCKET LOG: bind an AF_UNIX datagram socket at SOCKET (the
path for $NOTIFY_SOCKET) and append every message received to LOG, one
line each, its "\\n"-separated assignments joined by spaces. A message
with READY=1 and "STATUS=listening on HOST:PORT" is checked the moment
it arrives: the line ends in " connect=ok" if a TCP connection to
HOST:PORT succeeds then, else " connect=ERROR". Exits after 60 s without
a message.
"""
import socket
import sys


def probe(fields):
    """What a connection to the address READY=1 announced gives, now."""
    status = [f for f in fields if f.startswith("STATUS=listening on ")]
    if "READY=1" not in fields or not status:
        return ""
    host, _, port = status[0][len("STATUS=listening on "):].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), 2).close()
        return " connect=ok"
    except OSError as e:
        return " connect=" + (e.strerror or str(e)).replace(" ", "-")


def main():
    path, log = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(60)
    while True:
        try:
            msg = s.recv(4096)
        except socket.timeout:
            return
        fields = msg.decode(errors="replace").strip("\n").split("\n")
        line = " ".join(fields) + probe(fields)
        with open(log, "a") as f:
            print(line, file=f)


main()
