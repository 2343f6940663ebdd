#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What crossed a TPM's bus, read from a tpm2-tss TCTI debug log.

tm-tpmbus.py LOG COMMAND [SECRET]...: LOG is the stderr of a tool run
with TSS2_LOG=tcti+debug, where the swtpm TCTI dumps every command it
writes and every response it reads; COMMAND is ActivateCredential,
ECDH_ZGen or Create; each SECRET is hex. Prints one line and exits 0
if
  * COMMAND was sent, and succeeded, at least once;
  * every time, one of its sessions has the encrypt attribute (the first
    response parameter crosses encrypted), and the StartAuthSession that
    started it names a tpmKey and carries an encryptedSalt: the session
    key is not computable from what crosses the bus;
  * no response in LOG holds the bytes of a SECRET.
Otherwise prints one line per failure and exits 1.
"""
import re
import sys

START_AUTH_SESSION = 0x176
# code and number of handles in the handle area
COMMANDS = {
    "ActivateCredential": (0x147, 2),
    "Create": (0x153, 1),
    "ECDH_ZGen": (0x154, 1),
}
NAMES = {code: name for name, (code, _) in COMMANDS.items()}
NAMES[START_AUTH_SESSION] = "StartAuthSession"
TPM_ST_SESSIONS = 0x8002
TPM_RH_NULL = 0x40000007
TPMA_SESSION_ENCRYPT = 0x40
DUMP = re.compile(r"^[0-9a-f]{4,}: ([0-9a-f]+)")


def u16(b, off):
    return int.from_bytes(b[off:off + 2], "big")


def u32(b, off):
    return int.from_bytes(b[off:off + 4], "big")


def exchanges(path):
    """[[command, response]] in the order sent, from the dumps that
    follow the TCTI's "Writing" (command) and "read" (response) lines."""
    out, to = [], None
    for line in open(path, errors="replace"):
        m = DUMP.match(line)
        if m:
            if to is not None and out:
                out[-1][to] += bytes.fromhex(m.group(1))
            continue
        to = None
        if "Sending command with TPM_CC" in line:
            out.append([b"", b""])
        elif "(size=" in line and "socket_xmit_buf()" in line:
            to = 0
        elif "(size=" in line and "read_all()" in line:
            to = 1
    return out


def sessions(cmd, nhandles):
    """(handle, attributes) of each session of a command."""
    if u16(cmd, 0) != TPM_ST_SESSIONS:
        return
    off = 10 + 4 * nhandles
    end = off + 4 + u32(cmd, off)
    off += 4
    while off < end:
        handle = u32(cmd, off)
        off += 4
        off += 2 + u16(cmd, off)        # nonceCaller
        attrs = cmd[off]
        off += 1
        off += 2 + u16(cmd, off)        # hmac
        yield handle, attrs


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in COMMANDS:
        sys.exit(__doc__)
    name = sys.argv[2]
    code, nhandles = COMMANDS[name]
    secrets = [bytes.fromhex(s) for s in sys.argv[3:]]
    log = exchanges(sys.argv[1])
    errors, started, seen, keys = [], {}, 0, set()
    for cmd, rsp in log:
        cc = u32(cmd, 6)
        what = NAMES.get(cc, "command 0x%x" % cc)
        errors += ["the TPM's response to %s holds secret %d in clear"
                   % (what, i + 1) for i, s in enumerate(secrets) if s in rsp]
        if len(rsp) < 10 or u32(rsp, 6):
            continue
        if cc == START_AUTH_SESSION:
            salt = 18 + 2 + u16(cmd, 18)        # after nonceCaller
            started[u32(rsp, 10)] = (u32(cmd, 10), u16(cmd, salt))
        elif cc == code:
            seen += 1
            enc = [h for h, a in sessions(cmd, nhandles)
                   if a & TPMA_SESSION_ENCRYPT]
            key, salt = started.get(enc[0] if enc else None, (TPM_RH_NULL, 0))
            if not enc:
                errors.append("%s %d: no session encrypts its response"
                              % (name, seen))
            elif key == TPM_RH_NULL or not salt:
                errors.append("%s %d: session 0x%08x encrypts its response "
                              "but is not salted" % (name, seen, enc[0]))
            else:
                keys.add("0x%08x" % key)
    if not seen:
        errors.append("%s: not sent, or it failed, in %d commands"
                      % (name, len(log)))
    if errors:
        sys.exit("\n".join(errors))
    print("%s x%d: response encrypted in a session salted to %s; "
          "%d secret(s) in none of %d responses"
          % (name, seen, ", ".join(sorted(keys)), len(secrets), len(log)))


if __name__ == "__main__":
    main()
