"""The sketch tables end to end: `heavy_hitters`, `scans`, `flow_sizes` and
`sketch_state` from `tapscope replay`, read back with pyarrow and duckdb.

- Heavy hitters per window match exact per-source byte counts computed by
  tshark on the same capture.
- A scan generated here (SYNs to 1000 ports of one host; SYNs to one port
  on 500 hosts), interleaved with normal traffic, shows up in `scans`
  within two windows, with one worker and with two; the normal traffic
  does not; none of the shared captures gives a scan row. The same for the
  scan and sweep of `tapscope gen`, the project's traffic generator.
- Flow sizes add up to the flows table; every window has a binary state.
"""

import collections
import struct
import subprocess

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import PCAPS, replay, table_files

SEC = 1_000_000_000


def read(out, table):
    files = table_files(out, table)
    return pq.read_table(files) if files else None


# --- a small pcap writer (classic pcap, Ethernet, microseconds) ---------

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def frame(src, dst, proto, l4, ident=0):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0, 64, proto, 0,
                     ip4(src), ip4(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", 0x0800)
    return eth + ip + l4


def tcp(src, dst, sport, dport, flags, seq=0, ack=0, payload=b""):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = checksum(pseudo + hdr + payload)
    return frame(src, dst, 6, hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload)


def udp(src, dst, sport, dport, payload):
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return frame(src, dst, 17, hdr + payload)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def write_pcap(path, packets):
    """packets: (ts_ns, frame bytes), written in time order."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in sorted(packets, key=lambda p: p[0]):
            f.write(struct.pack("<IIII", ts // SEC, (ts % SEC) // 1000, len(data), len(data)))
            f.write(data)


T0 = 1_700_000_000 * SEC  # a window boundary
PORT_SCANNER, HOST_SCANNER, VICTIM = "10.66.0.66", "10.77.0.77", "10.0.0.5"
PORT_SCAN_START = T0 + 1_300_000_000
HOST_SCAN_START = T0 + 2_200_000_000


def normal_traffic():
    """Five seconds of ordinary traffic: 40 clients, each with two HTTPS
    connections (handshake, data both ways, FIN) and DNS lookups."""
    pk = []
    for c in range(40):
        client = f"192.168.10.{10 + c}"
        for n in range(2):
            server = f"93.184.{n}.{(c % 7) + 1}"
            sport = 40000 + c * 2 + n
            t = T0 + (c * 113_000_000 + n * 1_700_000_000) % (4 * SEC)
            seq, sseq = 1000, 5000
            pk.append((t, tcp(client, server, sport, 443, SYN, seq)))
            pk.append((t + 10_000_000, tcp(server, client, 443, sport, SYN | ACK, sseq, seq + 1)))
            pk.append((t + 20_000_000, tcp(client, server, sport, 443, ACK, seq + 1, sseq + 1)))
            for i in range(6):
                ts = t + 30_000_000 + i * 20_000_000
                pk.append((ts, tcp(client, server, sport, 443, PSH | ACK, seq + 1, sseq + 1, b"q" * 200)))
                pk.append((ts + 5_000_000, tcp(server, client, 443, sport, ACK, sseq + 1, seq + 201, b"r" * 1400)))
                seq, sseq = seq + 200, sseq + 1400
            end = t + 200_000_000
            pk.append((end, tcp(client, server, sport, 443, FIN | ACK, seq + 1, sseq + 1)))
            pk.append((end + 5_000_000, tcp(server, client, 443, sport, FIN | ACK, sseq + 1, seq + 2)))
            pk.append((end + 10_000_000, tcp(client, server, sport, 443, ACK, seq + 2, sseq + 2)))
        for q in range(3):
            t = T0 + (c * 97_000_000 + q * 1_300_000_000) % (5 * SEC)
            port = 30000 + c * 3 + q
            pk.append((t, udp(client, "192.168.10.1", port, 53, b"\x12\x34" + b"\0" * 30)))
            pk.append((t + 2_000_000, udp("192.168.10.1", client, 53, port, b"\x12\x34" + b"\0" * 90)))
    return pk


def scans():
    pk = []
    # SYNs to ports 1..1000 of one host in 0.5 s; the host answers RST.
    for i, port in enumerate(range(1, 1001)):
        t = PORT_SCAN_START + i * 500_000
        pk.append((t, tcp(PORT_SCANNER, VICTIM, 45000, port, SYN, 7)))
        pk.append((t + 100_000, tcp(VICTIM, PORT_SCANNER, port, 45000, RST | ACK, 0, 8)))
    # SYNs to port 22 of 500 hosts in 0.5 s.
    for i in range(500):
        t = HOST_SCAN_START + i * 1_000_000
        pk.append((t, tcp(HOST_SCANNER, f"10.1.{i // 200}.{i % 200 + 1}", 46000, 22, SYN, 9)))
    return pk


@pytest.fixture(scope="module")
def scan_pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "scan.pcap"
    write_pcap(path, normal_traffic() + scans())
    return path


@pytest.fixture(scope="module")
def normal_pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "normal.pcap"
    write_pcap(path, normal_traffic())
    return path


def scan_rows(out):
    t = read(out, "scans")
    return [] if t is None else t.to_pylist()


@pytest.mark.parametrize("workers", [1, 2])
def test_scans_are_found_within_two_windows(tapscope, scan_pcap, tmp_path, workers):
    replay(tapscope, [scan_pcap], tmp_path, "-q", "--workers", str(workers))
    rows = scan_rows(tmp_path)
    assert {(r["kind"], r["src_ip"]) for r in rows} == {
        ("port_scan", PORT_SCANNER), ("host_scan", HOST_SCANNER)}, rows
    for kind, src, start, truth in [("port_scan", PORT_SCANNER, PORT_SCAN_START, 1000),
                                    ("host_scan", HOST_SCANNER, HOST_SCAN_START, 500)]:
        mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["window_start"])
        first = mine[0]
        # Windows hold their start as a timestamp; the scan began inside
        # the first one or the one before it.
        first_start_ns = int(first["window_start"].timestamp()) * SEC
        assert first_start_ns <= start < first_start_ns + 2 * SEC, (kind, first)
        assert first["src_ip"] == src
        total = sum(r["distinct"] for r in mine)
        # Linear counting, 3-5 % error at these sizes; 15 % leaves room.
        assert abs(total - truth) <= 0.15 * truth, (kind, mine)
        assert all(r["threshold"] == (100 if kind == "port_scan" else 50) for r in mine)
        assert all(0 < r["relative_error"] < 0.1 and not r["saturated"] for r in mine)
        assert all(r["workers"] >= 1 for r in mine)
    # The scan rows read the same through duckdb.
    n, = duckdb.connect().execute(
        f"select count(*) from read_parquet('{tmp_path}/scans/*/*.parquet', hive_partitioning = true)"
        f" where src_ip in ('{PORT_SCANNER}', '{HOST_SCANNER}')").fetchone()
    assert n == len(rows)


def test_normal_traffic_gives_no_scan_rows(tapscope, normal_pcap, tmp_path):
    replay(tapscope, [normal_pcap], tmp_path, "-q", "--workers", "2")
    assert scan_rows(tmp_path) == []
    # ...while heavy hitters were reported for it.
    assert read(tmp_path, "heavy_hitters").num_rows > 0


@pytest.mark.parametrize("workers", [1, 2])
def test_shared_captures_give_no_scan_rows(tapscope, pcaps, tmp_path, workers):
    captures = sorted(pcaps.iterdir())
    replay(tapscope, captures, tmp_path, "-q", "--workers", str(workers), timeout=300)
    assert scan_rows(tmp_path) == []
    assert read(tmp_path, "heavy_hitters").num_rows > 0


def tshark_src_bytes(path):
    """Exact bytes per (second, source address) of IP frames, by tshark."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
         "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "frame.len"],
        capture_output=True, text=True, check=True).stdout
    per = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        t, v4, v6, n = line.split("\t")
        src = v4 or v6
        if src:
            per[int(float(t))][src] += int(n)
    return per


@pytest.mark.parametrize("name", ["netflix.pcap", "teams.pcap", "443-chrome.pcap"])
def test_heavy_hitters_match_tshark(tapscope, pcaps, tmp_path, name):
    replay(tapscope, [pcaps / name], tmp_path, "-q", "--workers", "2")
    exact = tshark_src_bytes(pcaps / name)
    t = read(tmp_path, "heavy_hitters")
    for col, typ in {"window_start": pa.timestamp("us", tz="UTC"), "counter": pa.string(),
                     "rank": pa.uint16(), "key": pa.string(), "src_ip": pa.string(),
                     "estimate": pa.uint64(), "error_bound": pa.uint64(),
                     "total": pa.uint64(), "sampling": pa.uint32()}.items():
        assert t.schema.field(col).type == typ, col
    rows = [r for r in t.to_pylist() if r["counter"] == "src_bytes"]
    windows = collections.defaultdict(list)
    for r in rows:
        windows[int(r["window_start"].timestamp())].append(r)
    assert set(windows) == set(exact), "a window for every second with IP traffic"
    for sec, rs in windows.items():
        truth = exact[sec]
        assert rs[0]["total"] == sum(truth.values())
        assert [r["rank"] for r in sorted(rs, key=lambda r: r["rank"])] == list(range(1, len(rs) + 1))
        for r in rs:
            assert r["sampling"] == 1
            assert r["key"] == r["src_ip"]
            true = truth[r["src_ip"]]
            assert true <= r["estimate"] <= true + r["error_bound"], (sec, r, true)
        # The reported keys are the true top 20 (ties at the edge allowed).
        k = min(20, len(truth))
        kth = sorted(truth.values(), reverse=True)[k - 1]
        assert len(rs) == k
        assert all(truth[r["src_ip"]] >= kth for r in rs), (sec, rs, truth)


def test_flow_sizes_add_up_to_the_flows_table(tapscope, pcaps, tmp_path):
    replay(tapscope, [pcaps / "netflix.pcap"], tmp_path, "-q")
    con = duckdb.connect()
    flows, packets, nbytes = con.execute(
        f"select count(*), sum(c2s_packets + s2c_packets), sum(c2s_bytes + s2c_bytes)"
        f" from read_parquet('{tmp_path}/flows/*/*.parquet')").fetchone()
    sizes = dict((m, (f, v)) for m, f, v in con.execute(
        f"select metric, sum(flows), sum(volume) from read_parquet('{tmp_path}/flow_sizes/*/*.parquet')"
        f" group by metric").fetchall())
    assert sizes == {"packets": (flows, packets), "bytes": (flows, nbytes)}
    bad, = con.execute(
        f"select count(*) from read_parquet('{tmp_path}/flow_sizes/*/*.parquet')"
        f" where bucket_low > bucket_high or volume < flows * bucket_low"
        f" or volume > flows * bucket_high").fetchone()
    assert bad == 0


def test_every_window_has_a_versioned_state(tapscope, pcaps, tmp_path):
    replay(tapscope, [pcaps / "teams.pcap"], tmp_path, "-q")
    states = read(tmp_path, "sketch_state").to_pylist()
    hh_windows = {r["window_start"] for r in read(tmp_path, "heavy_hitters").to_pylist()}
    assert {s["window_start"] for s in states} == hh_windows
    for s in states:
        assert s["format_version"] == 1
        assert s["state"][:6] == b"TSSK\x01\x00"
        assert s["snapshots"] >= 1
    for f in table_files(tmp_path, "sketch_state"):
        assert f.parent.name.startswith("date=")


def test_bad_counter_names_its_entry_line_and_field(tapscope, pcaps, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[sketch]\ntop_k = 5\n\n[[sketch.counters]]\nname = "a"\nkey = "sources"\n')
    p = replay(tapscope, [pcaps / "dns.pcap"], tmp_path / "o", "--config", str(cfg), check=False)
    assert p.returncode != 0
    assert f"{cfg}:6: `sketch.counters[0].key`" in p.stderr, p.stderr


def test_configured_counters_and_window(tapscope, pcaps, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[sketch]\ntop_k = 3\nwindow_epochs = 10\nwrite_state = false\n\n"
        "[[sketch.counters]]\nname = \"services\"\nkey = \"dport\"\nincrement = \"packets\"\n"
        "protocol = \"tcp\"\ndirection = \"c2s\"\n")
    replay(tapscope, [pcaps / "netflix.pcap"], tmp_path / "o", "--config", str(cfg), "-q")
    t = read(tmp_path / "o", "heavy_hitters").to_pylist()
    assert {r["counter"] for r in t} == {"services"}
    assert all(r["key_type"] == "dport" and r["protocol"] == "tcp" and r["direction"] == "c2s"
               and r["ip_protocol"] == 6 and r["src_ip"] is None for r in t)
    assert max(r["rank"] for r in t) <= 3
    for r in t:
        span = (r["window_end"] - r["window_start"]).total_seconds()
        assert span == 10 and int(r["window_start"].timestamp()) % 10 == 0
    # Netflix's clients talk to servers on ports 80 and 443 only: every
    # key is reported, and the estimates add up to the exact total.
    by_window = collections.defaultdict(list)
    for r in t:
        by_window[r["window_start"]].append(r)
    for rs in by_window.values():
        assert {r["key"] for r in rs} <= {"tcp/80", "tcp/443"}
        assert sum(r["estimate"] for r in rs) == rs[0]["total"]
    assert read(tmp_path / "o", "sketch_state") is None


def test_generator_scans_are_found_and_its_other_traffic_is_not(tapscope, tmp_path):
    """`tapscope gen` (the project's traffic generator) scans 1000 ports of
    one host and sweeps port 23 of 100 hosts within one round; the rest of
    its mix (DNS, TLS, QUIC, HTTP, bulk, ICMP) is ordinary traffic."""
    mix = tmp_path / "mix.pcap"
    quiet = tmp_path / "quiet.pcap"
    subprocess.run([str(tapscope), "gen", "--pcap", str(mix), "-q"], check=True, timeout=120)
    subprocess.run([str(tapscope), "gen", "--pcap", str(quiet), "-q",
                    "--mix", "dns,tls,quic,http,bulk,icmp"], check=True, timeout=120)
    # The generator stamps frames with the wall clock, so its 2 s round may
    # straddle a window boundary; with minute windows it rarely does, and
    # when it does the larger part still holds half of each scan: a host
    # threshold of 40 finds the sweep's 100 hosts either way.
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sketch]\nwindow_epochs = 60\nhost_scan_threshold = 40\n")
    replay(tapscope, [mix], tmp_path / "mix", "-q", "--workers", "2", "--config", str(cfg))
    rows = scan_rows(tmp_path / "mix")
    by_kind = collections.defaultdict(set)
    for r in rows:
        by_kind[r["kind"]].add(r["src_ip"])
    assert {k: len(v) for k, v in by_kind.items()} == {"port_scan": 1, "host_scan": 1}, rows
    for kind, truth in [("port_scan", 1000), ("host_scan", 100)]:
        counts = [r["distinct"] for r in rows if r["kind"] == kind]
        assert max(counts) >= 0.85 * truth / 2 and sum(counts) <= 1.15 * truth, rows
    replay(tapscope, [quiet], tmp_path / "quiet", "-q", "--workers", "2", "--config", str(cfg))
    assert scan_rows(tmp_path / "quiet") == []
