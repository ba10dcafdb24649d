"""The operator's commands against a running daemon, over its control socket.

ROOT: the daemon is `tapscope run` on a veth pair in a namespace the test
creates (AF_XDP); the suite runs as root in CI. `tapscope top` is driven in
a real terminal (tmux) and its screen read back."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from test_live import Link, Tapscope, need_root, sh

pytestmark = pytest.mark.root


@pytest.fixture
def socket_dir():
    # Not under pytest's 0700 tmp folder: the permission test must reach the
    # socket itself.
    d = pathlib.Path(tempfile.mkdtemp(prefix="tapscope-ctl-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cli(binary, *args, user=None, check=True):
    cmd = [str(binary), *map(str, args)]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}: {p.stderr}")
    return p


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daemon(tapscope, pcaps, tmp_path, socket_dir):
    need_root()
    sock = socket_dir / "tapscope.sock"
    cfg = tmp_path / "tapscope.toml"
    port = free_port()
    control = f'[control]\nsocket = "{sock}"\nmetrics = "127.0.0.1:{port}"\n'
    cfg.write_text(control)
    with Link() as link, Tapscope(tapscope, link.cap, tmp_path / "out", "--config", cfg) as ts:
        sent = link.replay([pcaps / "netflix.pcap", pcaps / "youtube_quic.pcap"], pps=5000)
        time.sleep(2)
        ts.cfg, ts.control, ts.port = cfg, control, port
        yield sock, sent, ts
        ts.stop()


def test_status_human_and_json(tapscope, daemon):
    sock, sent, _ = daemon
    p = cli(tapscope, "status", "--socket", sock)
    out = p.stdout
    assert "\x1b" not in out, "no escape codes without a terminal"
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert "tapscope" in out and "netflix" in out, out
    j = json.loads(cli(tapscope, "status", "--socket", sock, "--json").stdout)
    for field in ("protocol", "version", "tap_id", "uptime_s", "mode", "queues", "rates",
                  "totals", "top_devices", "top_services", "heavy_hitters", "scans", "files"):
        assert field in j, field
    assert j["mode"] == "live" and j["protocol"] == 1
    assert j["totals"]["packets"] == sent
    # Live frames carry the tap's own clock: never a bad timestamp.
    assert j["totals"]["bad_timestamp"] == 0
    assert j["queues"][0]["capture_mode"].startswith("xdp-")
    assert any(s["name"] == "netflix" for s in j["top_services"])


def test_flows_files_and_counters(tapscope, daemon):
    sock, _, _ = daemon
    flows = json.loads(cli(tapscope, "flows", "--socket", sock, "--json").stdout)
    assert isinstance(flows, list)
    files = json.loads(cli(tapscope, "files", "--socket", sock, "--json").stdout)
    assert isinstance(files, list)
    assert all(not f["path"].startswith(".") for f in files)
    before = json.loads(cli(tapscope, "counters", "list", "--socket", sock, "--json").stdout)
    added = json.loads(cli(tapscope, "counters", "add", "dns_dst", "--key", "dst",
                           "--protocol", "udp", "--increment", "packets",
                           "--socket", sock, "--json").stdout)
    assert [c["name"] for c in added] == [c["name"] for c in before] + ["dns_dst"]
    bad = cli(tapscope, "counters", "add", "x", "--key", "nonsense", "--socket", sock, check=False)
    assert bad.returncode != 0 and "key" in bad.stderr
    after = json.loads(cli(tapscope, "counters", "rm", "dns_dst", "--socket", sock,
                           "--json").stdout)
    assert after == before
    human = cli(tapscope, "counters", "list", "--socket", sock).stdout
    assert "src_bytes" in human


def test_an_unprivileged_user_cannot_connect(tapscope, daemon):
    sock, _, _ = daemon
    mode = os.stat(sock).st_mode & 0o777
    assert mode & 0o007 == 0, oct(mode)
    p = cli(tapscope, "status", "--socket", sock, user="nobody", check=False)
    assert p.returncode != 0
    assert "permission denied" in p.stderr.lower(), p.stderr


def test_top_in_a_terminal(tapscope, daemon):
    if not shutil.which("tmux"):
        pytest.fail("tmux missing: scripts/deps installs it")
    sock, _, _ = daemon
    session = f"tstop{os.getpid()}"
    sh("tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "50",
       f"{tapscope} top --socket {sock}")
    try:
        screen = ""
        deadline = time.time() + 15
        while time.time() < deadline and "packets" not in screen:
            time.sleep(0.5)
            screen = sh("tmux", "capture-pane", "-p", "-t", session).stdout
        assert "tapscope" in screen and "packets" in screen, screen
        assert "q to quit" in screen, screen
        sh("tmux", "send-keys", "-t", session, "q")
        deadline = time.time() + 10
        while time.time() < deadline:
            if sh("tmux", "has-session", "-t", session, check=False).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("top did not quit on q")
    finally:
        sh("tmux", "kill-session", "-t", session, check=False)


def test_prometheus_metrics_on_localhost(tapscope, daemon):
    import urllib.error
    import urllib.request
    sock, sent, ts = daemon
    body = urllib.request.urlopen(f"http://127.0.0.1:{ts.port}/metrics", timeout=5).read().decode()
    lines = dict(line.rsplit(" ", 1) for line in body.splitlines() if not line.startswith("#"))
    assert float(lines["tapscope_packets_total"]) == sent
    assert 'tapscope_drops_total{cause="src_ring_full"}' in lines
    assert float(lines["tapscope_bad_timestamp_total"]) == 0
    assert any(k.startswith('tapscope_service_bytes_total{service="netflix"}') for k in lines)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{ts.port}/other", timeout=5)
    assert e.value.code == 404


def test_tcp_handshake_times_in_status_json_and_metrics(tapscope, daemon):
    import re
    import urllib.request
    sock, _, ts = daemon
    # The replayed captures close most of their TCP flows (FIN/RST): their
    # records, carrying the handshake times, reach the control core a few
    # seconds of packet time later.
    deadline = time.time() + 20
    while time.time() < deadline:
        j = json.loads(cli(tapscope, "status", "--socket", sock, "--json").stdout)
        if j.get("tcp_rtt", {}).get("handshake", {}).get("count", 0) > 0:
            break
        time.sleep(0.5)
    rtt = j["tcp_rtt"]
    assert set(rtt) == {"handshake", "server_side", "client_side", "recent", "recent_window_s"}
    h = rtt["handshake"]
    assert h["count"] > 0, rtt
    assert 0 < h["p50_ms"] <= h["p90_ms"] <= h["p99_ms"] <= h["max_ms"], h
    assert h["sum_ms"] >= h["count"] * 0.001
    le = [b["le_ms"] for b in h["buckets"]]
    assert le == [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], le
    counts = [b["count"] for b in h["buckets"]]
    assert counts == sorted(counts) and counts[-1] <= h["count"], counts
    assert rtt["server_side"]["count"] >= h["count"] and rtt["client_side"]["count"] >= h["count"]
    assert rtt["recent_window_s"] == 60 and 0 < rtt["recent"]["count"] <= h["count"]

    human = cli(tapscope, "status", "--socket", sock).stdout
    line = re.search(r"^tcp rtt    [\d,]+ handshakes?   p50 \S+ m?s   p90 .* max \S+ m?s$", human,
                     re.M)
    assert line, human

    body = urllib.request.urlopen(f"http://127.0.0.1:{ts.port}/metrics", timeout=5).read().decode()
    assert "# TYPE tapscope_tcp_rtt_seconds histogram" in body
    lines = dict(x.rsplit(" ", 1) for x in body.splitlines() if not x.startswith("#"))
    n = float(lines['tapscope_tcp_rtt_seconds_count{leg="handshake"}'])
    assert n >= h["count"]
    assert float(lines['tapscope_tcp_rtt_seconds_bucket{leg="handshake",le="+Inf"}']) == n
    assert float(lines['tapscope_tcp_rtt_seconds_bucket{leg="handshake",le="0.0005"}']) <= n
    assert 'tapscope_tcp_rtt_recent_seconds{quantile="0.5"}' in lines


def test_reload_keeps_the_last_good_config_and_applies_a_good_one(tapscope, daemon):
    sock, _, ts = daemon
    before = json.loads(cli(tapscope, "counters", "list", "--socket", sock, "--json").stdout)
    # A bad file: refused, said plainly (file, line, key), nothing changes.
    ts.cfg.write_text(ts.control + "[flows]\ncapacity = \"big\"\n")
    p = cli(tapscope, "reload", "--socket", sock, check=False)
    assert p.returncode != 0
    assert f"{ts.cfg}:5" in p.stderr and "flows.capacity" in p.stderr, p.stderr
    assert "keeping the running configuration" in p.stderr
    now = json.loads(cli(tapscope, "counters", "list", "--socket", sock, "--json").stdout)
    assert now == before
    # A good file with a new counter set, by SIGHUP.
    ts.cfg.write_text(ts.control + '[[sketch.counters]]\nname = "dst_packets"\nkey = "dst"\n'
                      'increment = "packets"\n')
    ts.p.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        now = json.loads(cli(tapscope, "counters", "list", "--socket", sock, "--json").stdout)
        if [c["name"] for c in now] == ["dst_packets"]:
            break
        time.sleep(0.2)
    assert [c["name"] for c in now] == ["dst_packets"], now
    assert ts.p.poll() is None, "SIGHUP does not stop the daemon"
    again = cli(tapscope, "reload", "--socket", sock).stdout
    assert "no change" in again


def test_every_command_says_plainly_when_no_daemon_runs(tapscope, tmp_path):
    sock = tmp_path / "none.sock"
    for args in (["status"], ["status", "--json"], ["top", "--count", "1"], ["flows"],
                 ["files"], ["counters", "list"], ["reload"]):
        p = cli(tapscope, *args, "--socket", sock, check=False)
        assert p.returncode != 0, args
        assert "not running" in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
