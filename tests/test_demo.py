"""`tapscope demo` end to end (ROOT: creates a namespace and a veth pair;
CI runs as root). The demo captures every frame its generator sent, writes
readable Parquet, and removes what it created."""

import os
import re
import subprocess

import duckdb
import pytest

pytestmark = pytest.mark.root


def test_demo_captures_what_it_sent_and_cleans_up(tapscope, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the demo test needs root: run the suite as root")
    out = tmp_path / "demo"
    p = subprocess.run([str(tapscope), "demo", "--seconds", "8", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    m = re.search(r"demo done: ([\d,]+) packets captured \(([\d,]+) sent\)", p.stdout)
    assert m, p.stdout[-2000:]
    captured, sent = (int(x.replace(",", "")) for x in m.groups())
    assert sent > 1000
    con = duckdb.connect()
    drops, packets = con.execute(
        f"select sum(src_dropped + src_ring_full), sum(packets) "
        f"from read_parquet('{out}/capture/*/*.parquet')").fetchone()
    assert packets == captured
    assert captured + drops == sent
    flows, = con.execute(f"select count(*) from read_parquet('{out}/flows/*/*.parquet')").fetchone()
    assert flows > 100
    assert "duckdb -c" in p.stdout and "were removed" in p.stdout
    links = subprocess.run(["ip", "link", "show", "tsdemo-cap"], capture_output=True, text=True)
    assert links.returncode != 0
    assert "tapscope-demo" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                 text=True).stdout


def test_demo_without_root_suggests_replay(tapscope, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root to drop privileges: run the suite as root")
    os.chmod(tmp_path, 0o777)
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        str(tapscope), "demo", "--out", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert p.returncode != 0
    assert "needs root" in p.stderr and "tapscope replay" in p.stderr, p.stderr
