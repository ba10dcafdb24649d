"""Live capture on veth pairs in network namespaces the tests create.

ROOT: every test here needs root (network namespaces, AF_XDP). The suite
runs as root in CI, so they run there; as another user they fail with a
message saying so, except the one that checks the non-root error."""

import os
import re
import signal
import subprocess
import time

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import table_files
from test_tshark_agreement import tapscope_conversations
from truth import tshark_conversations

pytestmark = pytest.mark.root

# Well-formed captures whose frames all fit a 1500-byte MTU.
SENT = ["netflix.pcap", "teams.pcap", "instagram.pcap", "youtube_quic.pcap",
        "android.pcap", "443-curl.pcap"]

_seq = [0]


def sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def need_root():
    if os.geteuid() != 0:
        pytest.fail("live capture tests need root (network namespaces, AF_XDP): run the suite as root")


class Link:
    """A veth pair: `cap` in this namespace (tapscope captures here), `gen`
    in a namespace of its own (traffic is sent from there). Removed on exit,
    even when the test fails."""

    def __init__(self, queues=1):
        need_root()
        _seq[0] += 1
        tag = f"{os.getpid() % 100000}{_seq[0]}"
        self.ns = f"tsl{tag}"
        self.cap = f"tc{tag}"
        self.gen = f"tg{tag}"
        self.queues = queues

    def __enter__(self):
        q = ["numtxqueues", str(self.queues), "numrxqueues", str(self.queues)]
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.cap, *q, "type", "veth", "peer", "name", self.gen, *q,
           "netns", self.ns)
        # No IPv6 on the test links: the kernel would add its own neighbour
        # discovery frames to the traffic the test counts.
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.cap}.disable_ipv6=1")
        sh("ip", "netns", "exec", self.ns, "sysctl", "-qw", f"net.ipv6.conf.{self.gen}.disable_ipv6=1")
        sh("ip", "link", "set", self.cap, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.gen, "up")
        return self

    def __exit__(self, *exc):
        sh("ip", "link", "del", self.cap, check=False)
        sh("ip", "netns", "del", self.ns, check=False)

    def replay(self, pcaps, pps=20000):
        """Sends captures from the generator end; returns frames sent."""
        p = sh("ip", "netns", "exec", self.ns, "tcpreplay", "-i", self.gen, "--pps", str(pps),
               *map(str, pcaps))
        m = re.search(r"Successful packets:\s+(\d+)", p.stdout)
        assert m, p.stdout + p.stderr
        failed = re.search(r"Failed packets:\s+(\d+)", p.stdout)
        assert failed and failed.group(1) == "0", p.stdout
        return int(m.group(1))


class Tapscope:
    """`tapscope run` on a link, stopped with SIGTERM on exit."""

    def __init__(self, binary, iface, out, *extra):
        self.cmd = [str(binary), "run", "--iface", iface, "--out", str(out), *extra]
        self.p = None

    def __enter__(self):
        env = dict(os.environ, TAPSCOPE_LOG="info")
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        self.log = ""
        # Ready once every queue reports its bound mode.
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.log += line
            if re.search(r"queue \d+: xdp-", line):
                self.ready_queues = len(re.findall(r"queue \d+: xdp-", self.log))
                if self.ready_queues >= self.expected_queues:
                    return self
        self.p.kill()
        raise AssertionError(f"tapscope run did not start:\n{self.log}{self.p.stderr.read()}")

    expected_queues = 1

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        out, err = self.p.communicate(timeout=30)
        self.log += err
        return self.p.returncode, out

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def capture_totals(out):
    t = pq.read_table(table_files(out, "capture"))
    get = lambda c: pc.sum(t[c]).as_py() or 0  # noqa: E731
    return t, {c: get(c) for c in ("packets", "src_dropped", "src_ring_full", "src_invalid_descs",
                                   "records_dropped", "summary_queue_full")}


def check_capture_matches(pcaps, sent, out):
    t, tot = capture_totals(out)
    # Every frame sent was captured or counted as dropped by the kernel.
    assert tot["packets"] + tot["src_dropped"] + tot["src_ring_full"] == sent, tot
    assert tot["records_dropped"] == 0 and tot["summary_queue_full"] == 0, tot
    if tot["src_dropped"] + tot["src_ring_full"] == 0:
        # Nothing lost: the flows are exactly what was sent, conversation by
        # conversation, as tshark reads the sent captures.
        truth = {}
        for p in pcaps:
            for k, v in tshark_conversations(p).items():
                c = truth.setdefault(k, [0, 0, 0, 0])
                for i in range(4):
                    c[i] += v[i]
        ours = tapscope_conversations(out)
        assert ours == truth
    return t


@pytest.mark.parametrize("queues", [1, 2])
def test_live_capture_counts_every_frame_sent(tapscope, pcaps, tmp_path, queues):
    files = [pcaps / n for n in SENT]
    with Link(queues=queues) as link:
        ts = Tapscope(tapscope, link.cap, tmp_path)
        ts.expected_queues = queues
        with ts:
            sent = link.replay(files)
            time.sleep(3)
            rc, _ = ts.stop()
        assert rc == 0, ts.log
    t = check_capture_matches(files, sent, tmp_path)
    modes = set(t["capture_mode"].to_pylist())
    assert modes <= {"xdp-zerocopy-native", "xdp-copy-native", "xdp-copy-generic"}, modes
    workers = {w for w, n in zip(t["worker"].to_pylist(), t["packets"].to_pylist()) if n}
    if queues == 2:
        # Both queues' workers saw traffic, and each conversation was owned
        # by one worker (both directions on the same RX queue).
        assert workers == {0, 1}, t.to_pylist()[:4]
        owners = {}
        for r in pq.read_table(table_files(tmp_path, "flows")).to_pylist():
            ends = sorted([(r["client_ip"], r["client_port"]), (r["server_ip"], r["server_port"])])
            owners.setdefault((r["protocol"], *ends), set()).add(r["worker"])
        assert all(len(w) == 1 for w in owners.values())
    else:
        assert workers == {0}


def test_link_down_and_up_recovers(tapscope, pcaps, tmp_path):
    first = [pcaps / "netflix.pcap"]
    second = [pcaps / "teams.pcap"]
    with Link() as link, Tapscope(tapscope, link.cap, tmp_path) as ts:
        sent = link.replay(first)
        time.sleep(1)
        sh("ip", "link", "set", link.cap, "down")
        time.sleep(1)
        # Frames sent while the capture end is down never reach it: the
        # sender's link counts them as dropped.
        sh("ip", "link", "set", link.cap, "up")
        time.sleep(1)
        sent += link.replay(second)
        time.sleep(3)
        rc, _ = ts.stop()
        assert rc == 0, ts.log
    t = check_capture_matches(first + second, sent, tmp_path)
    # The interface's own counters tell the operator the link went away:
    # carrier changes (down, then up) in the capture table, on the first
    # worker's rows only, and the interface saw every frame tapscope did.
    rows = t.to_pylist()
    nic = [r for r in rows if r["nic_rx_packets"] is not None]
    assert nic and all(r["worker"] == 0 for r in nic)
    assert sum(r["carrier_changes"] for r in nic) >= 2, nic
    assert sum(r["nic_rx_packets"] for r in nic) >= sum(r["packets"] for r in rows)
    assert nic[-1]["link_up"] is True


def test_sigkill_then_restart_replaces_stale_program(tapscope, pcaps, tmp_path):
    with Link() as link:
        with Tapscope(tapscope, link.cap, tmp_path / "a") as ts:
            ts.stop(signal.SIGKILL)
        # The killed run left its XDP program attached; a new run takes over.
        with Tapscope(tapscope, link.cap, tmp_path / "b") as ts:
            sent = link.replay([pcaps / "netflix.pcap"])
            time.sleep(3)
            rc, _ = ts.stop()
            assert rc == 0, ts.log
        check_capture_matches([pcaps / "netflix.pcap"], sent, tmp_path / "b")


def test_sigterm_detaches_and_restores_promiscuous_mode(tapscope, tmp_path):
    with Link() as link:
        before = sh("ip", "-d", "link", "show", link.cap).stdout
        assert "promiscuity 0" in before
        with Tapscope(tapscope, link.cap, tmp_path) as ts:
            during = sh("ip", "-d", "link", "show", link.cap).stdout
            assert "promiscuity 1" in during, during
            assert "xdp" in during, during
            rc, _ = ts.stop()
            assert rc == 0, ts.log
        after = sh("ip", "-d", "link", "show", link.cap).stdout
        assert "promiscuity 0" in after, after
        assert "prog/xdp" not in after and "xdpdrv" not in after and "xdpgeneric" not in after, after


def test_missing_interface_is_a_clear_error(tapscope, tmp_path):
    need_root()
    p = subprocess.run([str(tapscope), "run", "--iface", "nosuchif0", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert 'no network interface named "nosuchif0"' in p.stderr, p.stderr


def test_without_root_says_why_and_suggests_replay(tapscope, tmp_path):
    need_root()
    os.chmod(tmp_path, 0o777)
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        str(tapscope), "run", "--iface", "lo", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "needs root" in p.stderr and "tapscope replay" in p.stderr, p.stderr
