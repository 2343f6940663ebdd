#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A man in the middle for the handshake tests, on loopback.

tm-proxy.py UPSTREAM-PORT MODE: listen on a free loopback port (printed
on stdout) and relay connections to UPSTREAM-PORT frame by frame
(docs/protocol.md: version, type, 4-byte length, body), acting on MODE:
  flip-m2    flip the last bit of M2 (D->S), i.e. of its key confirmation
  drop-m2    close both connections instead of relaying M2
  swap-eph   replace S's ephemeral key in M1 (its last 65 bytes) by the
             attacker's (the P-256 generator: private key 1)
  replay-m2  relay a first handshake untouched, then give the source of a
             second handshake the first handshake's M2
  record     relay untouched, writing D's quote for tpm2_checkquote:
             quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE) and
             quote.qual (hex of its qualifying data: 02 || H2, where
             H2 = SHA-256(frame(M1) || Hello2))
"""
import hashlib
import socket
import sys

# uncompressed P-256 generator point
G = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")


def frame(s):
    hdr = b""
    while len(hdr) < 6:
        b = s.recv(6 - len(hdr))
        if not b:
            return None
        hdr += b
    n = int.from_bytes(hdr[2:6], "big")
    body = b""
    while len(body) < n:
        b = s.recv(n - len(body))
        if not b:
            return None
        body += b
    return hdr + body


def tlv(buf, off):
    """DER TLV at off: (start of value, end)."""
    n, off = buf[off + 1], off + 2
    if n & 0x80:
        k = n & 0x7f
        n, off = int.from_bytes(buf[off:off + k], "big"), off + k
    return off, off + n


def record(m1, m2):
    body = m2[6:]
    hello, _ = tlv(body, 0)          # M2's value starts with Hello2
    _, hello_end = tlv(body, hello)
    attest, _ = tlv(body, hello_end)
    q, q_end = tlv(body, attest)
    sig, sig_end = tlv(body, q_end)
    open("quote.msg", "wb").write(body[q + 2:q_end])
    open("quote.sig", "wb").write(body[sig:sig_end])
    h2 = hashlib.sha256(m1 + body[hello:hello_end]).hexdigest()
    open("quote.qual", "w").write("02" + h2)


def relay(src, dst, mode, recorded):
    """One connection; returns the M2 that D sent."""
    m1 = frame(src)
    if mode == "swap-eph":
        m1 = m1[:-65] + G
    dst.sendall(m1)
    m2 = frame(dst)
    if mode == "record":
        record(m1, m2)
    if mode == "drop-m2" or m2 is None:
        return None
    sent = m2
    if mode == "flip-m2":
        sent = m2[:-1] + bytes([m2[-1] ^ 1])
    elif recorded:
        sent = recorded
    src.sendall(sent)
    while True:
        for a, b in ((src, dst), (dst, src)):
            f = frame(a)
            if f is None:
                return m2
            b.sendall(f)


def main():
    up, mode = int(sys.argv[1]), sys.argv[2]
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print(ls.getsockname()[1], flush=True)
    sys.stdout.close()
    recorded = None
    for _ in range(2 if mode == "replay-m2" else 1):
        src, _ = ls.accept()
        dst = socket.create_connection(("127.0.0.1", up))
        recorded = relay(src, dst, mode, recorded)
        src.close()
        dst.close()


main()
