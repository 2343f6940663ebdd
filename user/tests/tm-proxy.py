#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A man in the middle for the handshake tests, on loopback.

tm-proxy.py UPSTREAM-PORT MODE[,MODE]...: listen on a free loopback port
(printed on stdout) and relay one connection per MODE, in order, to
UPSTREAM-PORT frame by frame (docs/protocol.md: version, type, 4-byte
length, body). The frames of a handshake are, in order, m1 (S->D), m2
(D->S), m3 (S->D) and result (D->S); an ALERT takes the place of the
frame it replaces. MODE is "relay" (untouched), "count" (untouched,
appending "S>D|D>S TYPE BYTES" per frame to frames.log), "record" (untouched,
writing D's quote for tpm2_checkquote: quote.msg (TPMS_ATTEST), quote.sig
(TPMT_SIGNATURE) and quote.qual, the hex of its qualifying data 02 || H2,
H2 = SHA-256(frame(M1) || Hello2)), or STEP:FAULT, acting on frame STEP:
  flip       flip the last bit of the frame
  swap-eph   (m1) replace S's ephemeral key by the attacker's (the P-256
             generator: private key 1)
  token=PEM  (m1, m2) replace the sender's token chain by the
             certificates in file PEM (a token, its intermediates)
  dest=NAME  (m1) replace the destinations S names by NAME alone
  replay     send the same step's frame of the previous connection
  garbage    send "GET / " (a frame header's worth of an HTTP request)
  oversized  send a header announcing 2^31-1 bytes
  type       send the frame with another message type
  malformed  send the first half of the body as a whole frame
  bad-alert  send an ALERT whose body is not DER
  alert      send a well-formed ALERT with code 99 and a 1000-byte
             reason full of control characters
  alert-quote  send an ALERT of code 99 whose reason would end a log
             line's quoted reason="..." field early: x" forged="1\\
  forge      send a RESULT of code 0 "keys installed" with a zero MAC
  truncated  send the header and half the body, then close both ends
  silent     send the header and half the body, then relay nothing
             more until the receiver of that frame closes
  drop       close both ends instead of sending the frame
  delay=SEC  hold the frame SEC seconds, then relay it: a handshake
             in progress that long; the file "delayed" gets STEP when
             the hold begins
"""
import base64
import hashlib
import re
import select
import socket
import sys
import time

from tmwire import G, VERSION, der, frame, make, tlv

STEPS = ("m1", "m2", "m3", "result")
ALERT = 21

def items(value):
    """The TLVs a constructed value holds, as raw bytes."""
    out, off = [], 0
    while off < len(value):
        _, end = tlv(value, off)
        out.append(value[off:end])
        off = end
    return out


def inside(t):
    start, end = tlv(t, 0)
    return t[start:end]


def certs(path):
    """The DER of every certificate in PEM file path, in order."""
    pem = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END",
                     open(path).read(), re.S)
    return b"".join(base64.b64decode("".join(b.split())) for b in pem)


def with_chain(hello, chain):
    """Hello1/Hello2 with its chain (the item before the ephemeral key)."""
    parts = items(inside(hello))
    parts[-2] = der(0x30, chain)
    return der(0x30, b"".join(parts))


def with_dest(hello1, name):
    """Hello1 naming destination name alone (the item after policyId)."""
    parts = items(inside(hello1))
    parts[2] = der(0x30, der(0x0c, name.encode()))
    return der(0x30, b"".join(parts))


def status(code, reason):
    return der(0x30, der(0x02, bytes([code])) + der(0x0c, reason))


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


def fault(step, how, f, previous):
    """(bytes to send instead of frame f, what to do next)."""
    body = f[6:]
    if how == "flip":
        return f[:-1] + bytes([f[-1] ^ 1]), "relay"
    if how == "swap-eph":
        return f[:-65] + G, "relay"
    if how.startswith("token="):
        chain = certs(how[6:])
        if step == "m1":
            return make(f[1], with_chain(body, chain)), "relay"
        parts = items(inside(body))
        parts[0] = with_chain(parts[0], chain)
        return make(f[1], der(0x30, b"".join(parts))), "relay"
    if how.startswith("dest="):
        return make(f[1], with_dest(body, how[5:])), "relay"
    if how == "replay":
        return previous[step], "relay"
    if how == "garbage":
        return b"GET / ", "relay"
    if how == "oversized":
        return bytes([VERSION, f[1], 0x7f, 0xff, 0xff, 0xff]), "relay"
    if how == "type":
        return make(3 if f[1] != 3 else 1, body), "relay"
    if how == "malformed":
        return make(f[1], body[:len(body) // 2]), "relay"
    if how == "bad-alert":
        return make(ALERT, b"\x30\x03abc"), "relay"
    if how == "alert":
        reason = bytes(range(1, 32)) * 32 + b"end"
        return make(ALERT, status(99, reason[:1000])), "relay"
    if how == "alert-quote":
        return make(ALERT, status(99, b'x" forged="1\\')), "relay"
    if how == "forge":
        return make(f[1], der(0x30, status(0, b"keys installed") +
                              der(0x04, bytes(32)))), "relay"
    if how in ("truncated", "silent"):
        return f[:6 + len(body) // 2], how
    if how == "drop":
        return b"", "truncated"
    if how.startswith("delay="):
        with open("delayed", "w") as d:
            print(step, file=d)
        time.sleep(float(how[6:]))
        return f, "relay"
    sys.exit("tm-proxy: unknown fault " + how)


def relay(src, dst, mode, previous):
    """One handshake; returns its frames by step."""
    step, _, how = mode.partition(":")
    seen = {}
    sent = {src: 0, dst: 0}
    live = [src, dst]
    state, victim = "relay", None
    while True:
        a = select.select(live, [], [])[0][0]
        b = dst if a is src else src
        f = frame(a)
        if f is None and state == "silent" and a is not victim:
            live.remove(a)      # keep the victim waiting
            continue
        if f is None:
            return seen
        if state == "silent":
            continue
        name = STEPS[2 * sent[a] + (a is dst)] if sent[a] < 2 else "extra"
        sent[a] += 1
        seen[name] = f
        if mode == "record" and name == "m2":
            record(seen["m1"], f)
        if name == step:
            f, state = fault(step, how, f, previous)
            victim = b
        b.sendall(f)
        if mode == "count":
            with open("frames.log", "a") as log:
                print("S>D" if a is src else "D>S", f[1], len(f), file=log)
        if state == "truncated":
            return seen


def main():
    up, modes = int(sys.argv[1]), sys.argv[2].split(",")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print(ls.getsockname()[1], flush=True)
    sys.stdout.close()
    previous = {}
    for mode in modes:
        src, _ = ls.accept()
        dst = socket.create_connection(("127.0.0.1", up))
        previous = relay(src, dst, mode, previous)
        src.close()
        dst.close()


main()
