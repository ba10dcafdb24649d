#!/usr/bin/env python3
"""End to end with classification: `tapscope replay` against `ndpiReader`
on the same pcap of the generated traffic mix, in the same run.

The input is `tapscope gen --pcap` (DNS, TLS and QUIC handshakes with server
names, HTTP, bulk transfers, ICMP, scans; dense timing, as a busy tap sees
it). Each program runs --repeat times, round-robin; the table shows the
median CPU time (user + system of the process and its threads, from
wait4) per packet, and checks that each saw every packet and how many of
the bytes it put a name/application on.

Run: bench/e2e_mix.py [--seconds 60] [--repeat 3] [--tapscope PATH]
(bench/run runs it after the replay and sketch benchmarks.)
"""

import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def run(cmd, work):
    """Runs cmd; returns (wall s, cpu s, stdout, stderr). Output goes to
    files (a pipe could fill up while we wait for the child's rusage)."""
    so, se = work / "stdout", work / "stderr"
    t0 = time.perf_counter()
    with open(so, "w") as o, open(se, "w") as e:
        p = subprocess.Popen(cmd, stdout=o, stderr=e)
        # wait4 gives the child's own rusage (its threads included).
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    out, err = so.read_text(), se.read_text()
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{err[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, out, err


def capinfo_packets(pcap):
    out = subprocess.run(["capinfos", "-c", "-M", str(pcap)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"Number of packets:\s+(\d+)", out).group(1))


def tapscope_check(out_dir):
    import duckdb
    q = duckdb.sql
    cap = f"read_parquet('{out_dir}/capture/*/*.parquet')"
    flows = f"read_parquet('{out_dir}/flows/*/*.parquet')"
    packets = q(f"select sum(packets) from {cap}").fetchall()[0][0]
    total, named = q(f"select sum(c2s_bytes + s2c_bytes), "
                     f"sum(case when service <> 'unknown' then c2s_bytes + s2c_bytes else 0 end) "
                     f"from {flows}").fetchall()[0]
    return int(packets), named / total if total else 0.0


def ndpi_check(stdout):
    m = re.search(r"of\s+(\d+)\s+packets total", stdout)
    packets = int(m.group(1)) if m else None
    # The per-protocol table: "<name> packets: N bytes: B flows: F".
    total = known = 0
    for m in re.finditer(r"^\s+(\S+)\s+packets:\s+(\d+)\s+bytes:\s+(\d+)\s+flows:\s+(\d+)",
                         stdout, re.M):
        b = int(m.group(3))
        total += b
        if m.group(1) != "Unknown":
            known += b
    return packets, known / total if total else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60, help="seconds of generated traffic")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tapscope", default=str(REPO / "target" / "release" / "tapscope"))
    args = ap.parse_args()
    if not shutil.which("ndpiReader"):
        sys.exit("ndpiReader missing (apt-get install libndpi-bin)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="tapscope-e2e-"))
    try:
        pcap = work / "mix.pcap"
        subprocess.run([args.tapscope, "gen", "--pcap", str(pcap), "--duration",
                        str(args.seconds), "-q"], check=True)
        n = capinfo_packets(pcap)
        size = pcap.stat().st_size
        # Warm the page cache.
        pcap.read_bytes()
        runs = {"tapscope replay": [], "ndpiReader": []}
        checks = {}
        for _ in range(args.repeat):
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu, _, _ = run([args.tapscope, "replay", str(pcap), "--out", str(out), "-q"],
                                 work)
            runs["tapscope replay"].append((wall, cpu))
            checks["tapscope replay"] = tapscope_check(out)
            wall, cpu, so, _ = run(["ndpiReader", "-i", str(pcap)], work)
            runs["ndpiReader"].append((wall, cpu))
            checks["ndpiReader"] = ndpi_check(so)
        print("\n## End to end with classification: the generated mix\n")
        print(f"Input: `tapscope gen --pcap` for {args.seconds} s of packet time: {n:,} frames, "
              f"{size / 1e6:.0f} MB (page cache). {args.repeat} runs each, round-robin; median "
              f"by CPU time (user + system, all threads).\n")
        print("| run | what it does | all packets seen? | bytes with a service/application "
              "| wall s | CPU s | CPU ns/packet | ÷ tapscope |")
        print("|---|---|---|--:|--:|--:|--:|--:|")
        med = {k: sorted(v, key=lambda x: x[1])[len(v) // 2] for k, v in runs.items()}
        base = med["tapscope replay"][1]
        what = {
            "tapscope replay": "read + parse + flows + names + sketches + classify + Parquet",
            "ndpiReader": "read + parse + flows + DPI classification",
        }
        for k, (wall, cpu) in med.items():
            seen, share = checks[k]
            print(f"| {k} | {what[k]} | {'yes' if seen == n else f'NO ({seen})'} | {share:.1%} "
                  f"| {wall:.3f} | {cpu:.3f} | {cpu * 1e9 / n:,.0f} | {cpu / base:.2f} |")
        print("\nBytes with a service: tapscope's flows with a service other than `unknown`; "
              "ndpiReader's bytes under a protocol other than Unknown.")
        print(f"ndpiReader: `ndpiReader -i FILE`; tapscope: `tapscope replay FILE --out DIR -q`. "
              "CPU spread over runs: " + ", ".join(
                  f"{k} {min(c for _, c in v):.3f}-{max(c for _, c in v):.3f} s"
                  for k, v in runs.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
