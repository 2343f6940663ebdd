# SPDX-License-Identifier: GPL-2.0
"""Handshake framing and DER pieces shared by the handshake test tools
(tm-proxy.py, tm-enrol-oracle.py); docs/protocol.md has the formats."""

# the frame version (docs/protocol.md section 1)
VERSION = 3

# uncompressed P-256 generator point
G = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")


def recv(s, n):
    """Up to n bytes; b"" once closed, or reset: trustmigd drops a
    connection whose first frame is late with that frame unread."""
    try:
        return s.recv(n)
    except ConnectionResetError:
        return b""


def frame(s):
    """One whole frame from socket s, or None if it closed."""
    hdr = b""
    while len(hdr) < 6:
        b = recv(s, 6 - len(hdr))
        if not b:
            return None
        hdr += b
    n = int.from_bytes(hdr[2:6], "big")
    body = b""
    while len(body) < n:
        b = recv(s, n - len(body))
        if not b:
            return None
        body += b
    return hdr + body


def make(ftype, body):
    return bytes([VERSION, ftype]) + len(body).to_bytes(4, "big") + body


def der(tag, value):
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    k = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | k]) + n.to_bytes(k, "big") + value


def tlv(buf, off):
    """DER TLV at off: (start of value, end)."""
    n, off = buf[off + 1], off + 2
    if n & 0x80:
        k = n & 0x7f
        n, off = int.from_bytes(buf[off:off + k], "big"), off + k
    return off, off + n
