"""The replay command end to end: every shared capture (malformed ones too)
replays without a crash or a hang; the Parquet output reads back with pyarrow
and duckdb with the documented schema; a killed run never leaves a partial
file in a table folder; SIGTERM closes files cleanly."""

import os
import signal
import subprocess
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import PCAPS, replay, table_files

ALL = sorted(p.name for p in PCAPS.iterdir()) if PCAPS.is_dir() else []
# Captures whose link, IP or transport headers are broken. (malformed_icmp
# and malformed_dns are broken above that: an unknown ICMP type and DNS
# names too long; their headers are sound and they make ordinary flows.)
MALFORMED = ["badpackets.pcap", "fuzz-2020-02-16-11740.pcap", "ip_fragmented_garbage.pcap"]


def tshark_frames(path):
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.len"],
                         capture_output=True, text=True).stdout.split()
    return len(out), sum(int(x) for x in out)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("workers", [1, 2])
def test_every_capture_replays(tapscope, pcaps, tmp_path, name, workers):
    p = replay(tapscope, [pcaps / name], tmp_path, "-q", "--workers", str(workers), timeout=60)
    assert p.returncode == 0
    cap = pq.read_table(table_files(tmp_path, "capture"))
    frames, nbytes = tshark_frames(pcaps / name)
    # Every frame is accounted for: counted in `packets`, and either a flow
    # packet or counted by the reason it is not.
    assert pa.compute.sum(cap["packets"]).as_py() == frames
    assert pa.compute.sum(cap["bytes"]).as_py() == nbytes
    ip = pa.compute.sum(cap["ip_packets"]).as_py()
    errs = pa.compute.sum(cap["parse_errors_total"]).as_py()
    assert ip + errs == frames
    flows = table_files(tmp_path, "flows")
    if ip:
        t = pq.read_table(flows)
        assert pa.compute.sum(t["c2s_packets"]).as_py() + pa.compute.sum(t["s2c_packets"]).as_py() == ip
    assert set(cap["worker"].to_pylist()) <= set(range(workers))


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_captures_count_bad_packets(tapscope, pcaps, tmp_path, name):
    replay(tapscope, [pcaps / name], tmp_path, "-q")
    con = duckdb.connect()
    errs, = con.execute(
        f"select sum(parse_errors_total) + sum(src_invalid_descs) + sum(fragments) "
        f"from read_parquet('{tmp_path}/capture/*/*.parquet')").fetchone()
    assert errs > 0, f"{name} has bad packets, but none were counted"


FLOW_COLUMNS = {
    "tap_id": pa.string(), "worker": pa.uint16(),
    "flow_start": pa.timestamp("us", tz="UTC"), "flow_end": pa.timestamp("us", tz="UTC"),
    "end_reason": pa.string(), "ip_version": pa.uint8(), "protocol": pa.uint8(),
    "client_ip": pa.string(), "server_ip": pa.string(),
    "client_port": pa.uint16(), "server_port": pa.uint16(),
    "c2s_packets": pa.uint64(), "c2s_bytes": pa.uint64(),
    "s2c_packets": pa.uint64(), "s2c_bytes": pa.uint64(),
    "tcp_rtt_syn_ms": pa.float64(), "c2s_retrans_packets": pa.uint32(),
}
CAPTURE_COLUMNS = {
    "tap_id": pa.string(), "worker": pa.uint16(), "source": pa.string(),
    "capture_mode": pa.string(), "epoch_start": pa.timestamp("us", tz="UTC"),
    "packets": pa.uint64(), "bytes": pa.uint64(), "flow_table_full": pa.uint64(),
    "summary_queue_full": pa.uint64(), "records_dropped": pa.uint64(),
}


def test_schema_and_known_aggregate_with_pyarrow_and_duckdb(tapscope, pcaps, tmp_path):
    name = "443-curl.pcap"
    replay(tapscope, [pcaps / name], tmp_path, "-q")
    flows = pq.read_table(table_files(tmp_path, "flows"))
    for col, typ in FLOW_COLUMNS.items():
        assert flows.schema.field(col).type == typ, col
    cap = pq.read_table(table_files(tmp_path, "capture"))
    for col, typ in CAPTURE_COLUMNS.items():
        assert cap.schema.field(col).type == typ, col
    # Hive partitioning by date, and the files are where DESIGN.md says.
    for f in table_files(tmp_path, "flows"):
        assert f.parent.name.startswith("date=")
    con = duckdb.connect()
    # One TCP connection: 51 frames client->server, 58 back (tshark).
    row = con.execute(f"""
        select count(*), sum(c2s_packets), sum(s2c_packets), any_value(server_port),
               any_value(client_ip), any_value(end_reason)
        from read_parquet('{tmp_path}/flows/*/*.parquet', hive_partitioning = true)
        where protocol = 6""").fetchone()
    assert row == (1, 51, 58, 443, "192.168.1.13", "fin") or row[:5] == (1, 51, 58, 443, "192.168.1.13")
    total, = con.execute(
        f"select sum(packets) from read_parquet('{tmp_path}/capture/*/*.parquet')").fetchone()
    assert total == 109
    dates = con.execute(f"""select distinct date from
        read_parquet('{tmp_path}/flows/*/*.parquet', hive_partitioning = true)""").fetchall()
    assert len(dates) == 1


def inprogress_and_complete(out):
    complete = [p for t in ("flows", "capture") for p in table_files(out, t)]
    hidden = list((out / ".inprogress").rglob("*.parquet*")) if (out / ".inprogress").exists() else []
    return complete, hidden


def slow_replay(tapscope, pcaps, out, cfg):
    cfg.write_text("[output]\nrotate_interval_s = 2\n[capture]\nepoch_ms = 500\n")
    return subprocess.Popen([str(tapscope), "replay", str(pcaps / "netflix.pcap"), "--out", str(out),
                             "--config", str(cfg), "--speed", "real", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_leaves_no_partial_file_and_next_run_is_clean(tapscope, pcaps, tmp_path):
    out = tmp_path / "out"
    p = slow_replay(tapscope, pcaps, out, tmp_path / "c.toml")
    deadline = time.time() + 30
    while time.time() < deadline:
        complete, hidden = inprogress_and_complete(out)
        if complete and hidden:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    complete, hidden = inprogress_and_complete(out)
    assert complete, "no file was completed before the kill"
    assert hidden, "no file was in progress at the kill"
    # Every file in a table folder is complete and readable.
    for f in complete:
        pq.read_metadata(f)
    # The next run removes the dead run's in-progress files and works.
    replay(tapscope, [pcaps / "443-curl.pcap"], out, "-q")
    complete2, hidden2 = inprogress_and_complete(out)
    assert not hidden2
    for f in complete2:
        pq.read_metadata(f)
    assert len(complete2) > len(complete)


def test_sigterm_closes_files_and_reports(tapscope, pcaps, tmp_path):
    out = tmp_path / "out"
    p = slow_replay(tapscope, pcaps, out, tmp_path / "c.toml")
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 130, stderr
    complete, hidden = inprogress_and_complete(out)
    assert not hidden
    flows = pq.read_table([f for f in complete if "/flows/" in str(f)])
    # Flows open at the stop are written with end_reason end_of_capture.
    assert "end_of_capture" in set(flows["end_reason"].to_pylist())
    cap = pq.read_table([f for f in complete if "/capture/" in str(f)])
    assert 0 < pa.compute.sum(cap["packets"]).as_py() < 1793


def test_bad_config_names_file_line_and_key(tapscope, pcaps, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[flows]\ncapacity = \"big\"\n")
    p = replay(tapscope, [pcaps / "dns.pcap"], tmp_path / "o", "--config", str(cfg), check=False)
    assert p.returncode != 0
    assert f"{cfg}:2: `flows.capacity`" in p.stderr, p.stderr


def test_missing_capture_is_a_clear_error(tapscope, tmp_path):
    p = replay(tapscope, [tmp_path / "nope.pcap"], tmp_path / "o", check=False)
    assert p.returncode != 0
    assert "nope.pcap" in p.stderr and "panicked" not in p.stderr
