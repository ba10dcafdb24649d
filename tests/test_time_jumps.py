"""Damaged captures and stops: timestamps thrown centuries away are counted
in `bad_timestamp` and create no date partition of their own, a replay of
such a capture always ends (with the CI profile's overflow checks too), and
SIGTERM stops a replay mid-file within the bound README states, leaving
only complete Parquet files.

The damaged capture is made here from the shared dazn.pcapng (12 frames of
2022-05-29): two frames' timestamps set to years 2554 and 1970, a packet
block on an interface that does not exist, an unknown block, a frame's IP
header overwritten, and a truncated block at the end. tshark on the
undamaged file gives the frames, bytes and dates expected."""

import datetime
import signal
import struct
import subprocess
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import replay, table_files

# README, "Replaying captures": SIGINT/SIGTERM stop within this bound.
STOP_BOUND_S = 2.0
TABLES = ("flows", "traffic", "capture", "heavy_hitters", "flow_sizes", "sketch_state")

BT_EPB = 6


def blocks(data):
    """The blocks of a little-endian pcapng file, as bytearrays."""
    out, p = [], 0
    while p < len(data):
        _, length = struct.unpack_from("<II", data, p)
        out.append(bytearray(data[p:p + length]))
        p += length
    return out


def set_ts(epb, units):
    struct.pack_into("<II", epb, 12, units >> 32, units & 0xFFFFFFFF)


def damage(src, dst):
    """Writes the damaged copy of `src` (dazn.pcapng, ns resolution) to
    `dst`; returns the number of frames whose timestamp was thrown away."""
    bl = blocks(src.read_bytes())
    epbs = [i for i, b in enumerate(bl) if struct.unpack_from("<I", b, 0)[0] == BT_EPB]
    assert len(epbs) == 12
    set_ts(bl[epbs[3]], 2**64 - 6)      # 2554-07-21, past any wall clock
    set_ts(bl[epbs[6]], 1_000_000_000)  # 1970-01-01 00:00:01
    # Frame 10's IPv4 header: version and length nibbles overwritten.
    bl[epbs[9]][28 + 14] = 0x00
    # A packet block on interface 7 (the file has one): unreadable.
    bad_iface = bytearray(bl[epbs[8]])
    struct.pack_into("<I", bad_iface, 8, 7)
    # An unknown block type, well formed: skipped.
    body = b"\xde\xad\xbe\xef" * 5
    unknown = struct.pack("<II", 0x0BAD0001, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = bl[:epbs[8] + 1] + [bad_iface, bytearray(unknown)] + bl[epbs[8] + 1:]
    # A block cut short at the end: its length is not a multiple of 4.
    out.append(bytearray(struct.pack("<II", BT_EPB, 0x13) + b"\x00" * 11))
    dst.write_bytes(b"".join(out))
    return 2


def tshark_frames(path):
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields",
                          "-e", "frame.time_epoch", "-e", "frame.len"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    dates = {datetime.datetime.fromtimestamp(float(t), datetime.timezone.utc).date().isoformat()
             for t, _ in rows}
    return len(rows), sum(int(n) for _, n in rows), dates


def partitions(out):
    """Every `date=` folder of every table."""
    return {(t, d.name.removeprefix("date="))
            for t in TABLES for d in (out / t).glob("date=*")}


def leftovers(out):
    inprogress = out / ".inprogress"
    return list(inprogress.rglob("*.parquet*")) if inprogress.exists() else []


def capture_sum(out, col):
    files = table_files(out, "capture")
    return pc.sum(pq.read_table(files)[col]).as_py() if files else 0


@pytest.fixture
def damaged(pcaps, tmp_path):
    path = tmp_path / "damaged.pcapng"
    wild = damage(pcaps / "dazn.pcapng", path)
    return path, wild


@pytest.mark.parametrize("workers", [1, 2])
def test_wild_timestamps_are_counted_and_make_no_partition(tapscope, pcaps, damaged, tmp_path,
                                                           workers):
    path, wild = damaged
    frames, nbytes, dates = tshark_frames(pcaps / "dazn.pcapng")
    assert dates == {"2022-05-29"}
    out = tmp_path / "out"
    # The CI build checks overflows: a replay that never ends fails here.
    p = replay(tapscope, [path], out, "--workers", str(workers), timeout=60)
    assert f"time:     {wild} packets with a bad timestamp" in p.stdout, p.stdout
    found = partitions(out)
    assert {t for t, _ in found} >= {"flows", "capture", "traffic"}
    assert {d for _, d in found} == dates, sorted(found)
    assert not leftovers(out)
    assert capture_sum(out, "bad_timestamp") == wild
    # Every frame the reader could use is counted once, at a good time.
    assert capture_sum(out, "packets") == frames
    assert capture_sum(out, "bytes") == nbytes
    assert capture_sum(out, "ip_packets") + capture_sum(out, "parse_errors_total") == frames
    assert capture_sum(out, "parse_errors_total") >= 1, "frame 10's header"
    # The block on a missing interface and the block cut short.
    assert capture_sum(out, "src_invalid_descs") == 2
    flows = pq.read_table(table_files(out, "flows"))
    assert (pc.sum(flows["c2s_packets"]).as_py()
            + pc.sum(flows["s2c_packets"]).as_py()) == capture_sum(out, "ip_packets")
    for col in ("flow_start", "flow_end"):
        days = {v.date().isoformat() for v in flows[col].to_pylist()}
        assert days == dates, (col, days)
    cap = pq.read_table(table_files(out, "capture"))
    assert {v.date().isoformat() for v in cap["epoch_start"].to_pylist()} == dates


def looped(src, dst, times):
    """The classic pcap `src` `times` times over, each copy after the
    previous one in time."""
    data = src.read_bytes()
    assert struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4
    recs, p = [], 24
    while p + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, p)
        recs.append((sec, usec, data[p + 16:p + 16 + incl], orig))
        p += 16 + incl
    span = recs[-1][0] - recs[0][0] + 1
    with open(dst, "wb") as out:
        out.write(data[:24])
        for i in range(times):
            for sec, usec, body, orig in recs:
                out.write(struct.pack("<IIII", sec + i * span, usec, len(body), orig))
                out.write(body)
    return times * len(recs)


def stop_mid_replay(tapscope, capture, out, *extra, wait_for_files=True):
    """Starts a replay, waits until it writes (or a second), sends SIGTERM;
    returns the process (ended), its output and the seconds the stop took."""
    p = subprocess.Popen([str(tapscope), "replay", str(capture), "--out", str(out), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (wait_for_files and not list((out / ".inprogress").rglob("*.parquet"))
               and p.poll() is None):
            assert time.monotonic() < deadline, "the replay never started writing"
            time.sleep(0.05)
        if not wait_for_files:
            time.sleep(1.0)
        assert p.poll() is None, "the replay ended before the signal"
        sent = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = p.communicate(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"replay still running {STOP_BOUND_S} s after SIGTERM")
        return p, stdout + stderr, time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def check_stopped_cleanly(p, log, out):
    assert p.returncode == 130, log
    assert "replay interrupted" in log, log
    assert not leftovers(out)
    for t in TABLES:
        for f in table_files(out, t):
            pq.read_table(f)  # complete: footer written, readable


def test_sigterm_stops_a_long_replay_mid_file(tapscope, pcaps, tmp_path):
    big = tmp_path / "long.pcap"
    # 100 MB, 179,300 frames: seconds of work, signalled at its start.
    total = looped(pcaps / "netflix.pcap", big, 100)
    out = tmp_path / "out"
    try:
        p, log, took = stop_mid_replay(tapscope, big, out)
    finally:
        big.unlink()
    check_stopped_cleanly(p, log, out)
    assert 0 < capture_sum(out, "packets") < total, "stopped mid-file"
    flows = pq.read_table(table_files(out, "flows"))
    assert "end_of_capture" in set(flows["end_reason"].to_pylist())
    print(f"stopped {took:.3f} s after SIGTERM")


def test_sigterm_stops_a_paced_replay_of_the_damaged_capture(tapscope, pcaps, damaged, tmp_path):
    path, _ = damaged
    _, _, dates = tshark_frames(pcaps / "dazn.pcapng")
    out = tmp_path / "out"
    # At its own pace the capture lasts 27 s (the first 3 frames, then 26 s
    # to the next); its wild timestamps are not waited for (centuries), and
    # the stop cuts the wait in progress. Frames the workers had not taken
    # when they stopped are not counted.
    p, log, took = stop_mid_replay(tapscope, path, out, "--speed", "real", "--workers", "2",
                                   wait_for_files=False)
    check_stopped_cleanly(p, log, out)
    assert capture_sum(out, "packets") <= 12
    assert {d for _, d in partitions(out)} <= dates
    print(f"stopped {took:.3f} s after SIGTERM")
