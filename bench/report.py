#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""report.py RESULTS-DIR OUT.json COMMIT: the benchmarks' one table.

Reads what make bench left in RESULTS-DIR (seal.json from sealbench,
mig-sealed.jsonl and mig-copyonly.jsonl from migbench, handshake.jsonl
from user/tests/run.sh's cost test, count.log from the tmcount plugin),
prints one table with each target of docs/benchmarks.md beside its
figure, and writes everything to OUT.json.
"""
import json
import os
import statistics
import sys
from collections import Counter


def load_objects(path):
    """Every JSON object in a file, one after the other."""
    text, objs, pos = open(path).read(), [], 0
    dec = json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return objs
        obj, pos = dec.raw_decode(text, pos)
        objs.append(obj)


def spread(values):
    return {"mean": statistics.mean(values), "min": min(values),
            "max": max(values), "runs": values}


def fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def rng(s, digits=0):
    return f"{fmt(s['mean'], digits)} ({fmt(s['min'], digits)}..{fmt(s['max'], digits)})"


def verdict(ok):
    return "met" if ok else "MISSED"


def main():
    res, out_path, commit = sys.argv[1], sys.argv[2], sys.argv[3]
    seal = json.load(open(os.path.join(res, "seal.json")))
    mig = {b: load_objects(os.path.join(res, f"mig-{b}.jsonl"))
           for b in ("sealed", "copyonly")}
    hs = load_objects(os.path.join(res, "handshake.jsonl"))
    plugin_errors = [l for l in open(os.path.join(res, "count.log"))
                     if l.startswith("error ")]

    rows = []     # (section, figure, measured, target, verdict, command)
    n, runs = seal["pages"], seal["repeats"]
    sealcmd = f"make bench (sealbench -n {n} -r {runs})"
    report = {"commit": commit, "sealing": seal, "migration": {},
              "handshake": {}, "plugin_errors": len(plugin_errors)}
    for cname, c in seal["ciphers"].items():
        r = c["rows"]

        def per(k):
            return r[k]["insns_per_page"]

        def cell(k):
            return (f"{fmt(per(k))} ({fmt(r[k]['runs_min'])}.."
                    f"{fmt(r[k]['runs_max'])})")
        for op in ("seal", "open"):
            ratio = per(op) / per("raw_" + op)
            rows.append((cname, f"{op}: insns/page, / raw AEAD {op} "
                         f"{fmt(per('raw_' + op))}",
                         f"{cell(op)} = {ratio:.3f}x", "<= 1.05x",
                         verdict(ratio <= 1.05), sealcmd))
        for op in ("seal", "open"):
            ratio = per("zero_" + op) / per(op)
            rows.append((cname, f"zero page {op}: insns/page, / full page",
                         f"{cell('zero_' + op)} = {ratio * 100:.1f} %",
                         "<= 5 %", verdict(ratio <= 0.05), sealcmd))
        rows.append((cname, "raw AEAD of a header-only record (floor of"
                     " a zero page)", cell("raw_zero"), "", "", sealcmd))
        rows.append((cname, "plain page copy (memcpy): insns/page "
                     "[TCG executions]",
                     f"{cell('copy')} [{fmt(r['copy']['execs_per_page'])}]",
                     "", "", sealcmd))
        rows.append((cname, "of seal: zero check of a zero page",
                     fmt(per('zero_check')), "", "", sealcmd))
        rows.append((cname, "seal, open [TCG executions, REP iterations"
                     " counted]", f"[{fmt(r['seal']['execs_per_page'])}, "
                     f"{fmt(r['open']['execs_per_page'])}] vs raw "
                     f"[{fmt(r['raw_seal']['execs_per_page'])}, "
                     f"{fmt(r['raw_open']['execs_per_page'])}]", "", "",
                     sealcmd))
        rows.append((cname, "pages/s per CPU at 1e9 instructions/s: "
                     "seal, open",
                     f"{fmt(1e9 / per('seal'))}, {fmt(1e9 / per('open'))}",
                     "", "", sealcmd))
    aes = seal["ciphers"]["aes256gcm"]
    w, wz = aes["wire_bytes_per_page"], aes["wire_bytes_per_zero_page"]
    rows.append(("wire", "bytes per random page (records)",
                 f"{fmt(w, 1)} = +{(w - 4096) / 40.96:.2f} %",
                 "<= 1 % (<= 40 B)", verdict(w - 4096 <= 40), sealcmd))
    rows.append(("wire", "bytes per zero page (records)", fmt(wz, 1),
                 "<= 64 B", verdict(wz <= 64), sealcmd))

    rates = sorted({m["rate"] for m in mig["sealed"]})
    for rate in rates:
        fig = {}
        for b in ("sealed", "copyonly"):
            ms = [m for m in mig[b] if m["rate"] == rate]
            fig[b] = {k: spread([m[k] for m in ms]) for k in
                      ("insns", "downtime_insns", "rounds", "pages",
                       "full_pages", "wire_bytes", "guest_seconds",
                       "guest_downtime_ms")}
            fig[b]["mem_mib"] = ms[0]["mem_mib"]
        report["migration"][str(rate)] = fig
        s, c = fig["sealed"], fig["copyonly"]
        high = rate == max(rates)
        cmd = (f"make bench (migbench -m {s['mem_mib']} -R {rate} "
               f"-r {len(s['insns']['runs'])})")
        sec = f"migration {s['mem_mib']} MiB, {rate} pages/s"
        tr = s["insns"]["mean"] / c["insns"]["mean"]
        dr = (s["downtime_insns"]["mean"] /
              c["downtime_insns"]["mean"])
        rows.append((sec, "total insns, both hosts: sealed / copy-only",
                     f"{rng(s['insns'])} / {rng(c['insns'])} = {tr:.3f}x",
                     "<= 1.15x" if high else "",
                     verdict(tr <= 1.15) if high else "", cmd))
        rows.append((sec, "downtime insns: sealed / copy-only",
                     f"{rng(s['downtime_insns'])} / "
                     f"{rng(c['downtime_insns'])} = {dr:.3f}x",
                     "<= 1.10x" if high else "",
                     verdict(dr <= 1.10) if high else "", cmd))
        # The physical floor: the copy-only migration plus the raw AEAD
        # of every full page the sealed one sent, at both ends.
        raw = aes["rows"]
        aead = (raw["raw_seal"]["insns_per_page"] +
                raw["raw_open"]["insns_per_page"])
        floor = c["insns"]["mean"] + s["full_pages"]["mean"] * aead
        fr = s["insns"]["mean"] / floor
        fig["floor_insns"] = floor
        rows.append((sec, "total insns: sealed / physical floor (copy-only"
                     " + raw AEAD seal+open of each full page sent)",
                     f"{fmt(s['insns']['mean'])} / {fmt(floor)} = "
                     f"{fr:.3f}x", "<= 1.10x" if high else "",
                     verdict(fr <= 1.10) if high else "", cmd))
        rows.append((sec, "total insns per page sent: sealed / copy-only",
                     f"{fmt(s['insns']['mean'] / s['pages']['mean'])} / "
                     f"{fmt(c['insns']['mean'] / c['pages']['mean'])}",
                     "", "", cmd))
        for k, what in (("rounds", "rounds (live + final)"),
                        ("pages", "pages sent"),
                        ("wire_bytes", "bytes sent (records + framing)")):
            rows.append((sec, f"{what}: sealed / copy-only",
                         f"{rng(s[k])} / {rng(c[k])}", "", "", cmd))

    lanes = json.load(open(os.path.join(res, "lanes", "lanes.json")))
    report["lanes"] = lanes
    cmd = (f"make bench (lanebench -m {lanes['mem_mib']} -l {lanes['lanes']}"
           f" -r {lanes['repeats']}, {lanes['vcpus']} vCPUs, timed)")
    for op in ("seal", "open"):
        one, many = lanes[f"{op}_1_median"], lanes[f"{op}_n_median"]
        rows.append(("lanes", f"{op} {lanes['mem_mib']} MiB: wall time on "
                     f"{lanes['lanes']} lanes / 1 lane (medians, s)",
                     f"{many:.3f} / {one:.3f} = {many / one:.2f}x",
                     "<= 0.6x" if op == "seal" else "",
                     verdict(many / one <= 0.6) if op == "seal" else "",
                     cmd))

    cmd = "make bench (user/tests/run.sh t_hs_cost)"
    frames = hs[0]["frames"]
    ways = " ".join(f"{'S->D' if f[0] == 'S>D' else 'D->S'} "
                    f"{['', 'M1', 'M2', 'M3', 'RESULT'][f[1]]} {f[2]} B"
                    for f in frames)
    s2d = sum(f[2] for f in frames if f[0] == "S>D")
    d2s = sum(f[2] for f in frames if f[0] == "D>S")
    rows.append(("handshake", "messages (frame bytes)", ways,
                 "", "", cmd))
    # Both sides hold the keys once M3 arrived: M1, M2, M3 are 1.5 round
    # trips; RESULT only tells the source that the destination did.
    shape = [f[1] for f in frames] == [1, 2, 3, 4]
    rows.append(("handshake", "round trips until both hold the keys",
                 f"{frames.index(next(f for f in frames if f[1] == 3)) / 2 + 0.5:.1f}"
                 " (M1, M2, M3; then RESULT)", "1.5",
                 verdict(shape), cmd))
    rows.append(("handshake", "bytes S->D / D->S", f"{s2d} / {d2s}",
                 "", "", cmd))
    for side in ("source", "destination"):
        cmds = Counter(hs[0][f"{side}_tpm"].split())
        rows.append(("handshake", f"TPM commands, {side}",
                     ", ".join(f"{k} x{v}" if v > 1 else k
                               for k, v in sorted(cmds.items())),
                     "those section 10 justifies",
                     verdict(all(h[f"{side}_tpm"] == hs[0][f"{side}_tpm"]
                                 for h in hs)), cmd))
    ms = spread([h["source_ms"] for h in hs])
    rows.append(("handshake", "wall time against swtpm, source (ms)",
                 rng(ms), "", "", cmd))
    report["handshake"] = {"runs": hs, "source_ms": ms,
                           "bytes_s2d": s2d, "bytes_d2s": d2s}
    report["table"] = [dict(zip(("section", "figure", "measured", "target",
                                 "verdict", "command"), r)) for r in rows]

    print(f"\ntrustmig benchmarks, commit {commit}: guest instructions "
          "(tmcount, QEMU TCG, -icount shift=0);\nfigure (min..max of "
          f"{runs} runs); sealing per 4 KiB page = "
          "(count(2N) - count(N)) / N\n")
    print("| section | figure | measured | target | | command |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if plugin_errors:
        print(f"\nWARNING: the plugin logged {len(plugin_errors)} marker "
              "errors (count.log)")
    json.dump(report, open(out_path, "w"), indent=1)
    print(f"\nwritten: {out_path}")


main()
