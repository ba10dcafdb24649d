"""TCP statistics per flow agree with tshark's TCP analysis.

Every shared capture is replayed and each TCP row of `flows` is compared,
per direction, with tshark's analysis of the same packets (tshark 4.0,
default preferences: sequence analysis on, fast retransmission before
out-of-order):

- `*_retrans_packets`/`_bytes`: frames with `tcp.analysis.retransmission`,
  which tshark also sets on its fast (`fast_retransmission`) and spurious
  (`spurious_retransmission`) retransmissions: all three count, and
  `tcp.len` gives the bytes;
- `*_ooo_packets`/`_bytes`: frames with `tcp.analysis.out_of_order`;
- `*_zero_window`: frames with `tcp.analysis.zero_window`;
- `*_syn`, `*_fin`, `*_rst`: frames with the flag set;
- `tcp_rtt_syn_ms + tcp_rtt_ack_ms`: `tcp.analysis.initial_rtt`, within 1 µs.

Rows and tshark streams (`tcp.stream`) are matched by 5-tuple and time: the
frames of one 5-tuple, in capture order, are cut into runs, one per row,
each starting at the row's `flow_start`, ending at its `flow_end` and
holding its packets each way, so a tshark stream that tapscope splits
(active timeout, port reuse) or a row spanning two tshark streams still
compares frame for frame. The replay runs one worker, whose clock is the
capture's: a frame's time as tapscope accounts it is the latest timestamp so
far (time never goes back).

A difference fails the test unless a rule of DIFFERENCES below explains it
(a definition that differs on purpose); each rule names a capture and flow
where it shows, and the test checks that it still does there. Each capture
prints how many of its flows agree fully. `tapscope gen`'s traffic mix is
compared the same way: its bulk downloads have fast retransmissions."""

import collections
import ipaddress
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import PCAPS, replay, table_files

FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.len", "tcp.flags.syn", "tcp.flags.fin", "tcp.flags.reset", "tcp.flags.ack",
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
    "tcp.analysis.zero_window", "tcp.analysis.initial_rtt",
    "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value",
    "frame.protocols", "ip.fragment.count", "ipv6.fragment.count",
]
COUNTS = ["retrans_packets", "retrans_bytes", "ooo_packets", "ooo_bytes",
          "zero_window", "syn", "fin", "rst"]
RTT_TOLERANCE_NS = 1_000

# `tapscope gen`'s mix (one round, bulk downloads of 1 MiB with fast
# retransmissions, a SYN scan answered by RST/ACK), compared as a capture.
GENERATED = "tapscope gen --seed 11 --bulk-bytes 1048576"
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcap*")) if PCAPS.is_dir() else []


def _last(v):
    # Tunnelled frames list every layer's value, outermost first.
    return v.split(",")[-1] if v else ""


def _flag(v):
    return _last(v) in ("1", "True")


def _ns(epoch):
    """'1642636825.083000123' -> integer ns, exactly."""
    s, _, f = epoch.partition(".")
    return int(s) * 1_000_000_000 + int((f + "000000000")[:9])


class Frame:
    __slots__ = ("num", "ns", "acc_ns", "stream", "src", "sport", "dst", "dport", "len", "syn",
                 "fin", "rst", "ack", "retrans", "fast", "spurious", "ooo", "zero_window",
                 "irtt_ns", "seq", "ackno", "win", "reassembled")

    @property
    def stepped_back(self):
        """tapscope accounts this frame later than its own timestamp."""
        return self.acc_ns != self.ns


def tshark_frames(path):
    """TCP frames of `path` in capture order, as tshark analyses them
    (frames in ICMP errors excluded, as tapscope does). `acc_ns` is the time
    tapscope's single worker accounts the frame at: time never goes back in
    a worker, so a frame older than one before it is accounted at the
    latest time (README, "Replaying captures")."""
    cmd = ["tshark", "-n", "-r", str(path),
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    frames, clock = [], 0
    for line in out.splitlines():
        v = line.split("|")
        assert len(v) == len(FIELDS), line
        ns = _ns(v[1])
        clock = max(clock, ns)
        protos = v[23].split(":")
        if "tcp" not in protos or "icmp" in protos or "icmpv6" in protos:
            continue
        fr = Frame()
        fr.num = int(v[0])
        fr.ns, fr.acc_ns = ns, clock
        fr.stream = int(_last(v[2]))
        fr.src = str(ipaddress.ip_address(_last(v[5]) or _last(v[3])))
        fr.dst = str(ipaddress.ip_address(_last(v[6]) or _last(v[4])))
        fr.sport, fr.dport = int(_last(v[7])), int(_last(v[8]))
        fr.len = int(_last(v[9]) or 0)
        fr.syn, fr.fin, fr.rst, fr.ack = (_flag(v[i]) for i in (10, 11, 12, 13))
        fr.retrans, fr.fast, fr.spurious, fr.ooo, fr.zero_window = (
            bool(_last(v[i])) for i in (14, 15, 16, 17, 18))
        fr.irtt_ns = _ns(_last(v[19])) if _last(v[19]) else None
        fr.seq, fr.ackno = int(_last(v[20]) or 0), int(_last(v[21]) or 0)
        fr.win = int(_last(v[22]) or 0)
        fr.reassembled = bool(v[24] or v[25])
        frames.append(fr)
    return frames


def tuple_key(a, pa, b, pb):
    ea = (ipaddress.ip_address(a).packed.rjust(16, b"\0"), pa or 0)
    eb = (ipaddress.ip_address(b).packed.rjust(16, b"\0"), pb or 0)
    return (a, pa, b, pb) if ea <= eb else (b, pb, a, pa)


def _us(ns):
    return ns // 1000


def tapscope_rows(out):
    files = table_files(out, "flows")
    rows = pq.read_table(files).to_pylist() if files else []
    rows = [r for r in rows if r["protocol"] == 6]
    for r in rows:
        r["client_ip"] = str(ipaddress.ip_address(r["client_ip"]))
        r["server_ip"] = str(ipaddress.ip_address(r["server_ip"]))
        r["start_us"] = int(r["flow_start"].timestamp() * 1_000_000 + 0.5)
        r["end_us"] = int(r["flow_end"].timestamp() * 1_000_000 + 0.5)
        r["packets"] = r["c2s_packets"] + r["s2c_packets"]
    return rows


def flow_name(r):
    return (f"{r['client_ip']}:{r['client_port']} -> {r['server_ip']}:{r['server_port']} "
            f"@ {r['flow_start'].isoformat()}")


def _fits(row, fs):
    """The run `fs` of frames is what `row` holds: the row starts and ends
    at the run's first and last frame (at the time tapscope accounts them)
    and has as many packets each way (later IP fragments aside: tshark
    shows a fragmented segment once, reassembled)."""
    if (_us(fs[0].acc_ns), _us(fs[-1].acc_ns)) != (row["start_us"], row["end_us"]):
        return False
    if row["fragments"]:
        return True
    c2s = sum((f.src, f.sport) == (row["client_ip"], row["client_port"]) for f in fs)
    return (c2s, len(fs) - c2s) == (row["c2s_packets"], row["s2c_packets"])


def match_rows(rows, frames):
    """Rows with the frames they hold: [(row, [frames])], and what could not
    be matched: [(tuple, [frames], [rows])]. tapscope processes a 5-tuple's
    frames in capture order, so its rows cut them into consecutive runs."""
    by_tuple = collections.defaultdict(list)
    for f in frames:
        by_tuple[tuple_key(f.src, f.sport, f.dst, f.dport)].append(f)
    rows_by_tuple = collections.defaultdict(list)
    for r in rows:
        rows_by_tuple[tuple_key(r["client_ip"], r["client_port"], r["server_ip"],
                                r["server_port"])].append(r)
    matched, unmatched = [], []
    for key in sorted(set(by_tuple) | set(rows_by_tuple), key=str):
        fs, rs = by_tuple.get(key, []), list(rows_by_tuple.get(key, []))
        i = 0
        while rs and i < len(fs):
            pick = None
            for r in rs:
                n = r["packets"] - (r["fragments"] or 0)
                if 0 < n and i + n <= len(fs) and _fits(r, fs[i:i + n]):
                    pick = r
                    break
            if pick is None:
                break
            rs.remove(pick)
            n = pick["packets"] - (pick["fragments"] or 0)
            matched.append((pick, fs[i:i + n]))
            i += n
        if rs or i < len(fs):
            unmatched.append((key, fs[i:], rs))
    return matched, unmatched


def truth_of(row, frames):
    """tshark's figures for one row: {'c2s': {...}, 's2c': {...}, 'rtt_ns': ...}."""
    t = {"c2s": dict.fromkeys(COUNTS, 0), "s2c": dict.fromkeys(COUNTS, 0)}
    for f in frames:
        d = t["c2s" if (f.src, f.sport) == (row["client_ip"], row["client_port"]) else "s2c"]
        if f.retrans:
            d["retrans_packets"] += 1
            d["retrans_bytes"] += f.len
        if f.ooo:
            d["ooo_packets"] += 1
            d["ooo_bytes"] += f.len
        d["zero_window"] += f.zero_window
        d["syn"] += f.syn
        d["fin"] += f.fin
        d["rst"] += f.rst
    rtts = {f.irtt_ns for f in frames if f.irtt_ns is not None}
    t["rtt_ns"] = min(rtts) if rtts else None
    return t


def ours_of(row):
    o = {d: {c: row[f"{d}_{c}"] or 0 for c in COUNTS} for d in ("c2s", "s2c")}
    syn, ack = row["tcp_rtt_syn_ms"], row["tcp_rtt_ack_ms"]
    o["rtt_ns"] = None if syn is None or ack is None else (syn + ack) * 1e6
    return o


def differences(ours, truth):
    """[(field, ours, tshark)]."""
    out = []
    for d in ("c2s", "s2c"):
        for c in COUNTS:
            if ours[d][c] != truth[d][c]:
                out.append((f"{d}_{c}", ours[d][c], truth[d][c]))
    a, b = ours["rtt_ns"], truth["rtt_ns"]
    if (a is None) != (b is None) or (a is not None and abs(a - b) > RTT_TOLERANCE_NS):
        out.append(("rtt", a, b))
    return out


def _dir_frames(row, frames, d):
    client = (row["client_ip"], row["client_port"])
    return [f for f in frames if ((f.src, f.sport) == client) == (d == "c2s")]


def _reclassified_by_time(field, row, frames, truth, ours):
    """A retransmission/out-of-order difference in a direction with frames
    accounted later than their timestamp, where both find the same segments
    (retransmitted or out of order, in total) and only the time-based choice
    between the two differs."""
    d, _, what = field.partition("_")
    if what not in COUNTS[:4] or not any(f.stepped_back for f in _dir_frames(row, frames, d)):
        return False
    unit = what.split("_")[1]
    return (ours[d][f"retrans_{unit}"] + ours[d][f"ooo_{unit}"]
            == truth[d][f"retrans_{unit}"] + truth[d][f"ooo_{unit}"])


def _handshake_stepped_back(field, row, frames, truth, ours):
    """An RTT difference where a frame up to the handshake's end (the
    first segment with ACK and without SYN) is accounted later than its
    timestamp."""
    if field != "rtt":
        return False
    for f in frames:
        if f.stepped_back:
            return True
        if f.ack and not f.syn:
            return False
    return False


def _rtt_without_handshake(field, row, frames, truth, ours):
    """tshark has an initial RTT where tapscope has none, and the segment
    tshark took it at (the first with ACK and without SYN after a SYN) is
    not the client's ACK of a SYN/ACK seen before it."""
    if field != "rtt" or ours["rtt_ns"] is not None or truth["rtt_ns"] is None:
        return False
    client = (row["client_ip"], row["client_port"])
    syn = synack = None
    for f in frames:
        if f.syn and not f.ack:
            syn = f
        elif f.syn and f.ack and (f.src, f.sport) != client and synack is None:
            synack = f
        elif f.ack and not f.syn and syn is not None:
            return not (synack is not None and (f.src, f.sport) == client
                        and f.ackno == (synack.seq + 1) % 2**32)
    return False


def _fragment_without_tcp_header(key, frames, rows):
    """tshark's unmatched frames are all reassembled IP datagrams, and
    tapscope's unmatched rows have no ports (their first fragment ended
    inside the TCP header) and so no TCP analysis: no retransmission,
    out-of-order segment or zero window."""
    counts = ("retrans_packets", "ooo_packets", "zero_window")
    return (all(f.reassembled for f in frames)
            and all(r["client_port"] is None and r["server_port"] is None
                    and not any(r[f"{d}_{c}"] for d in ("c2s", "s2c") for c in counts)
                    for r in rows))


# Definition differences: a difference between a row and tshark passes only
# when one of these rules explains it, by the frames involved. Each has the
# rule, the reason, and an example (capture and flow, as flow_name() prints
# it or its start, or the 5-tuple of frames that match no row) where it
# shows, which the test checks.
DIFFERENCES = [
    {
        "name": "time-steps-back",
        "rule": "A frame older than one before it (a capture merged from several, or "
                "reordered) is analysed at the latest time seen, not at its own timestamp: "
                "the time-based choices (out of order within the initial RTT, fast "
                "retransmission within 20 ms of a duplicate ACK) and the handshake RTT can "
                "differ; the segments found behind the highest sequence number are the same.",
        "reason": "time never goes back in a tapscope worker (README, \"Replaying "
                  "captures\"); tshark takes each frame's own timestamp, and a negative gap "
                  "is never within its out-of-order window.",
        "example": ("tls-appdata.pcap",
                    "192.168.2.100:58976 -> 52.223.198.7:443 @ 2022-01-31T06:24:48.722000+00:00"),
        "explains": _reclassified_by_time,
    },
    {
        "name": "handshake-time-steps-back",
        "rule": "As time-steps-back, for the handshake: its frames accounted at one time "
                "give an RTT of 0 (stored as 1 ns), where tshark subtracts the frames' own "
                "timestamps.",
        "reason": "as time-steps-back.",
        "example": ("sites.pcapng",
                    "192.168.88.231:49950 -> 159.153.191.240:443 @ 2024-01-20T21:18:16.365954+00:00"),
        "explains": _handshake_stepped_back,
    },
    {
        "name": "rtt-needs-the-handshake",
        "rule": "The handshake RTT (tcp_rtt_syn_ms + tcp_rtt_ack_ms) is the SYN -> SYN/ACK -> "
                "client's ACK of that SYN/ACK; without a SYN/ACK (a connection refused with "
                "RST/ACK, a SYN/ACK not captured) or when the client's first ACK acknowledges "
                "something else, it is null. tshark's initial RTT runs from the last SYN to the "
                "first segment with ACK and without SYN in either direction, whatever it is.",
        "reason": "the two halves are measured and reported separately (tap to server, tap "
                  "to client); a RST/ACK is no SYN/ACK and an ACK of something else no proof "
                  "of the handshake.",
        "example": (GENERATED, "192.168.50.16:44300 -> 192.0.2.11:23 @ "),
        "explains": _rtt_without_handshake,
    },
    {
        "name": "fragment-without-tcp-header",
        "rule": "A TCP segment in IP fragments whose first fragment ends inside the TCP "
                "header: tapscope has no ports for it (its fragments make a port-less TCP "
                "flow, without TCP analysis); tshark reassembles the datagram and analyses "
                "the header found in it.",
        "reason": "tapscope reads L4 headers from the first fragment only and keeps no "
                  "fragment data (no allocation per packet).",
        "example": ("ip_fragmented_garbage.pcap", "('10.0.0.2', 16417, '10.128.0.2', 16419)"),
        "unmatched": _fragment_without_tcp_header,
    },
]


def compare_capture(tapscope, path, out):
    # One worker: its clock is the capture's (see tshark_frames).
    replay(tapscope, [path], out, "-q", "--workers", "1")
    frames = tshark_frames(path)
    rows = tapscope_rows(out)
    matched, unmatched = match_rows(rows, frames)
    agree, unexplained, explained = 0, [], collections.defaultdict(set)
    for row, fs in matched:
        ours, truth = ours_of(row), truth_of(row, fs)
        diffs = differences(ours, truth)
        if not diffs:
            agree += 1
        for field, a, b in diffs:
            rule = next((d for d in DIFFERENCES
                         if "explains" in d and d["explains"](field, row, fs, truth, ours)), None)
            if rule is None:
                unexplained.append((flow_name(row), field, a, b, [f.num for f in fs[:3]]))
            else:
                explained[rule["name"]].add(flow_name(row))
    for key, fs, rs in unmatched:
        rule = next((d for d in DIFFERENCES if "unmatched" in d and d["unmatched"](key, fs, rs)),
                    None)
        if rule is None:
            unexplained.append((str(key), "unmatched", [flow_name(r) for r in rs],
                                len(fs), [f.num for f in fs[:3]]))
        else:
            explained[rule["name"]].add(str(key))
    return {"rows": len(rows), "agree": agree, "unexplained": unexplained,
            "explained": explained, "frames": len(frames)}


_RESULTS = {}


def result(tapscope, pcaps, tmp_path_factory, name):
    if name not in _RESULTS:
        out = tmp_path_factory.mktemp("tcp")
        if name == GENERATED:
            path = out / "gen.pcap"
            cmd = [str(tapscope), "gen", "--pcap", str(path), "--seed", "11",
                   "--bulk-bytes", str(1 << 20), "-q"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        else:
            path = pcaps / name
        r = compare_capture(tapscope, path, out / "tables")
        r["fast"] = sum(f.fast for f in tshark_frames(path))
        _RESULTS[name] = r
    return _RESULTS[name]


@pytest.mark.parametrize("name", CAPTURES)
def test_tcp_statistics_match_tshark(tapscope, pcaps, tmp_path_factory, name):
    r = result(tapscope, pcaps, tmp_path_factory, name)
    explained = {k: len(v) for k, v in sorted(r["explained"].items())}
    print(f"{name}: {r['agree']} of {r['rows']} TCP flows agree fully with tshark "
          f"({r['frames']} TCP frames); differences by definition: {explained or 'none'}")
    assert not r["unexplained"], (
        f"{name}: {len(r['unexplained'])} differences from tshark "
        f"(flow, field, tapscope, tshark, first frames): {r['unexplained'][:10]}")


@pytest.mark.parametrize("rule", DIFFERENCES, ids=[d["name"] for d in DIFFERENCES])
def test_each_documented_difference_shows_in_its_example(tapscope, pcaps, tmp_path_factory, rule):
    capture, flow = rule["example"]
    r = result(tapscope, pcaps, tmp_path_factory, capture)
    seen = r["explained"].get(rule["name"], set())
    assert any(f.startswith(flow) for f in seen), (
        f"{rule['name']}: not seen at {flow} in {capture} (seen: {r['explained']})")


def test_generated_capture_matches_tshark(tapscope, pcaps, tmp_path_factory):
    """`tapscope gen`'s bulk downloads retransmit after three duplicate
    ACKs: the fast retransmission rule, seen end to end."""
    r = result(tapscope, pcaps, tmp_path_factory, GENERATED)
    explained = {k: len(v) for k, v in sorted(r["explained"].items())}
    print(f"{GENERATED}: {r['agree']} of {r['rows']} TCP flows agree fully with tshark "
          f"({r['frames']} TCP frames, {r['fast']} fast retransmissions); "
          f"differences by definition: {explained or 'none'}")
    assert r["fast"] > 0, "tshark sees no fast retransmission in the generated capture"
    assert r["rows"] > 0 and not r["unexplained"], r["unexplained"][:10]


def test_every_capture_is_checked(pcaps):
    assert len(CAPTURES) >= 30, CAPTURES
