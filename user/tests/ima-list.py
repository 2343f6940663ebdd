#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write an IMA binary measurement list, as the kernel's
binary_runtime_measurements gives it (ima-ng template, little-endian),
for the tests of a host whose TPM is a swtpm: no kernel measured anything
there, so the test extends the swtpm's PCR 10 with what this prints.

  ima-list.py OUT ENTRY...

ENTRY is PATH=SHA256HEX (a file measured into PCR 10), !PATH=SHA256HEX
(a violation: logged with a zero template digest, extended with ones) or
@PCR:PATH=SHA256HEX (measured into another PCR).  A boot_aggregate entry
comes first, as the kernel writes it.  Prints, one per line, the
SHA-256 value to extend PCR 10 with for each entry on PCR 10.
"""
import hashlib
import struct
import sys


def field(data):
    return struct.pack("<I", len(data)) + data


def entry(pcr, path, digest, violation):
    data = field(b"sha256:\0" + digest) + field(path.encode() + b"\0")
    sha1 = bytes(20) if violation else hashlib.sha1(data).digest()
    name = b"ima-ng"
    raw = (struct.pack("<I", pcr) + sha1 + struct.pack("<I", len(name)) +
           name + field(data))
    extend = b"\xff" * 32 if violation else hashlib.sha256(data).digest()
    return raw, extend


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    items = [(10, "boot_aggregate", hashlib.sha256(b"pcrs 0-9").digest(),
              False)]
    for spec in specs:
        pcr, violation = 10, spec.startswith("!")
        spec = spec.lstrip("!")
        if spec.startswith("@"):
            pcr_text, spec = spec[1:].split(":", 1)
            pcr = int(pcr_text)
        path, hexdigest = spec.rsplit("=", 1)
        items.append((pcr, path, bytes.fromhex(hexdigest), violation))
    blob = b""
    for pcr, path, digest, violation in items:
        raw, extend = entry(pcr, path, digest, violation)
        blob += raw
        if pcr == 10:
            print(extend.hex())
    with open(out, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    main()
