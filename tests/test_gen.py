"""The traffic generator (`tapscope gen`) checked by tools nobody here wrote.

tshark decodes every generated frame without errors (checksums verified),
sees complete TCP handshakes and teardowns with no analysis flags but the
bulk download's deliberate fast retransmissions, reads the expected TLS and
QUIC server names (QUIC Initials decrypted with the RFC 9001 keys), HTTP
hosts and DNS names, and each connection goes to an address DNS answered for
its name. `tapscope replay` of the same file agrees with tshark's
conversations. As root, frames sent on a veth pair arrive intact on the
other end, in a network namespace the test creates and removes."""

import collections
import ipaddress
import os
import pathlib
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

from conftest import replay
from test_tshark_agreement import tapscope_conversations
from truth import tshark_conv_table, tshark_conversations

TLS_NAMES = {
    "www.netflix.com", "occ-0-2794-2219.1.nflxso.net", "zoom.us", "api.github.com",
    "www.wikipedia.org", "graph.facebook.com", "teams.microsoft.com", "gateway.icloud.com",
    "www.amazon.com", "outlook.office365.com", "slack.com", "www.reddit.com", "dl.google.com",
}
QUIC_NAMES = {
    "i.ytimg.com", "www.youtube.com", "rr4---sn-5hne6nzk.googlevideo.com", "www.google.com",
    "scontent-fra3-1.xx.fbcdn.net", "www.instagram.com",
}
HTTP_HOSTS = {
    "connectivitycheck.gstatic.com", "detectportal.firefox.com", "ctldl.windowsupdate.com",
    "neverssl.com", "captive.apple.com",
}
DNS_ONLY = {"time.apple.com", "clients4.google.com", "api.push.apple.com", "wpad.home.arpa"}
BULK_SERVERS = {"203.0.113.30", "2001:db8:f00::130"}
NAS = "192.168.50.5"

# Checksums are verified, so a wrong one is an expert Error.
CHECKSUMS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
             "-o", "udp.check_checksum:TRUE"]


def gen(binary, *args, timeout=120):
    cmd = [str(binary), "gen", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def tshark(path, *args):
    cmd = ["tshark", "-n", "-r", str(path), *CHECKSUMS, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout


def fields(path, display_filter, *names, two_pass=False):
    args = ["-2"] if two_pass else []
    args += ["-Y", display_filter, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for n in names:
        args += ["-e", n]
    return [line.split("|") for line in tshark(path, *args).splitlines()]


def count(path, display_filter):
    return len(tshark(path, "-Y", display_filter).splitlines())


def read_pcap(path):
    """Frames (bytes) of a classic little-endian pcap file."""
    data = pathlib.Path(path).read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    at, out = 24, []
    while at + 16 <= len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        out.append(data[at + 16:at + 16 + incl])
        at += 16 + incl
    return out


@pytest.fixture(scope="module")
def round_pcap(tapscope, tmp_path_factory):
    """One whole round (every conversation complete), 1 MiB bulk downloads."""
    path = tmp_path_factory.mktemp("gen") / "round.pcap"
    out = gen(tapscope, "--pcap", path, "--seed", 11, "--bulk-bytes", 1 << 20).stdout
    assert "wrote" in out
    return path


@pytest.fixture(scope="module")
def count_pcap(tapscope, tmp_path_factory):
    """A fixed number of frames: several rounds, the last one cut short."""
    path = tmp_path_factory.mktemp("gen") / "count.pcap"
    gen(tapscope, "--pcap", path, "--count", 25000, "--seed", 3, "--bulk-bytes", 2 << 20)
    return path


def expert_errors(path):
    out = tshark(path, "-q", "-z", "expert")
    errors, in_errors = [], False
    for line in out.splitlines():
        if line.startswith("Errors ("):
            in_errors = True
        elif line.startswith(("Warnings (", "Notes (", "Chats (", "Comments (")):
            in_errors = False
        elif in_errors and line.strip() and not line.startswith("="):
            errors.append(line.strip())
    return out, errors


@pytest.mark.parametrize("which", ["round_pcap", "count_pcap"])
def test_every_frame_decodes_without_errors(request, which):
    path = request.getfixturevalue(which)
    out, errors = expert_errors(path)
    assert not errors, f"expert errors in {which}:\n{out}"
    assert count(path, "_ws.malformed or _ws.expert.severity == error") == 0
    frames = count(path, "frame")
    if which == "count_pcap":
        assert frames == 25000
    # Nothing tshark cannot place: every frame is ARP-free IP traffic.
    assert count(path, "not (ip or ipv6)") == 0
    assert count(path, "ipv6") > 0


def test_count_is_exact_and_seed_is_deterministic(tapscope, tmp_path):
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    gen(tapscope, "--pcap", a, "--count", 3000, "--seed", 5, "-q")
    gen(tapscope, "--pcap", b, "--count", 3000, "--seed", 5, "-q")
    gen(tapscope, "--pcap", c, "--count", 3000, "--seed", 6, "-q")
    fa, fb, fc = read_pcap(a), read_pcap(b), read_pcap(c)
    assert len(fa) == 3000
    assert fa == fb
    assert fa != fc


def test_tcp_handshakes_teardowns_and_only_deliberate_retransmissions(round_pcap):
    # Analysis flags other than the bulk download's fast retransmission
    # episodes (three duplicate ACKs, then the retransmitted segment).
    odd = fields(round_pcap,
                 "tcp.analysis.flags and not (tcp.analysis.duplicate_ack or "
                 "tcp.analysis.retransmission or tcp.analysis.fast_retransmission)",
                 "frame.number", "_ws.expert.message")
    assert not odd, f"unexpected TCP analysis flags: {odd[:10]}"
    retrans = fields(round_pcap, "tcp.analysis.retransmission or tcp.analysis.fast_retransmission",
                     "ip.src", "ipv6.src", "tcp.srcport")
    assert retrans, "the bulk download has retransmissions"
    for ip4, ip6, port in retrans:
        assert (ip4 or ip6) in BULK_SERVERS and port == "443", (ip4, ip6, port)
    dup = count(round_pcap, "tcp.analysis.duplicate_ack")
    assert dup == 3 * len(retrans)

    # tcp.completeness (two passes): SYN 1, SYN/ACK 2, ACK 4, data 8,
    # FIN 16, RST 32. Web sessions are complete; a closed port answers a
    # SYN with RST/ACK, an open one with SYN/ACK and the scanner resets.
    syn = "tcp.flags.syn == 1 and tcp.flags.ack == 0"
    web = fields(round_pcap, f"{syn} and (tcp.dstport == 80 or tcp.dstport == 443) and not ip.dst == {NAS}",
                 "tcp.completeness", two_pass=True)
    assert [int(c) for (c,) in web] == [31] * (len(TLS_NAMES) + len(HTTP_HOSTS))
    scan = collections.Counter(int(c) for (c,) in fields(round_pcap, f"{syn} and ip.dst == {NAS}",
                                                         "tcp.completeness", two_pass=True))
    assert scan == {37: 995, 35: 5}
    sweep = collections.Counter(int(c) for (c,) in fields(round_pcap, f"{syn} and tcp.dstport == 23 and not ip.dst == {NAS}",
                                                          "tcp.completeness", two_pass=True))
    assert sum(sweep.values()) == 100 and set(sweep) <= {1, 35, 37} and sweep[1] > 50


def test_tls_server_names_and_alpn(round_pcap):
    rows = fields(round_pcap, "tcp and tls.handshake.type == 1",
                  "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str")
    names = {r[0] for r in rows}
    assert names == TLS_NAMES
    assert all(r[1] == "h2,http/1.1" for r in rows)
    # Every ClientHello is answered by a TLS 1.3 ServerHello.
    assert count(round_pcap, "tcp and tls.handshake.type == 2") == len(rows)
    assert count(round_pcap, "tls.handshake.extensions.supported_version == 0x0304 "
                             "and tls.handshake.type == 2") >= len(rows)


def test_quic_initials_decrypt_to_server_names(round_pcap):
    rows = fields(round_pcap, "quic and tls.handshake.type == 1",
                  "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
                  "quic.version")
    assert {r[0] for r in rows} == QUIC_NAMES
    assert all(r[1] == "h3" and r[2].split(",")[0] == "0x00000001" for r in rows)
    # The server's Initial decrypts too: a ServerHello per connection.
    assert count(round_pcap, "quic and tls.handshake.type == 2") == len(rows)
    # Padded client Initials: every datagram carrying one is >= 1200 bytes.
    sizes = fields(round_pcap, "quic.long.packet_type == 0 and udp.dstport == 443", "udp.length")
    assert sizes and all(int(s[0]) - 8 >= 1200 for s in sizes)


def test_http_hosts_and_responses(round_pcap):
    hosts = {r[0] for r in fields(round_pcap, "http.request", "http.host")}
    assert hosts == HTTP_HOSTS
    codes = collections.Counter(r[0] for r in fields(round_pcap, "http.response", "http.response.code"))
    assert codes == {"200": 4, "204": 1}


def test_dns_names_chains_and_answers_match_connections(round_pcap):
    queries = {r[0] for r in fields(round_pcap, "dns.flags.response == 0", "dns.qry.name")}
    assert queries == TLS_NAMES | QUIC_NAMES | HTTP_HOSTS | DNS_ONLY
    answers = collections.defaultdict(set)
    cnames = collections.defaultdict(set)
    rcodes = {}
    for name, cname, a, aaaa, rcode in fields(round_pcap, "dns.flags.response == 1", "dns.qry.name",
                                              "dns.cname", "dns.a", "dns.aaaa", "dns.flags.rcode"):
        for x in filter(None, (a + "," + aaaa).split(",")):
            answers[name].add(str(ipaddress.ip_address(x)))
        cnames[name].update(filter(None, cname.split(",")))
        rcodes[name] = rcode
    assert cnames["www.netflix.com"] == {"www.dradis.netflix.com",
                                         "www.eu-west-1.internal.dradis.netflix.com"}
    assert cnames["i.ytimg.com"] == {"ytimg.l.google.com"}
    assert rcodes["wpad.home.arpa"] == "3" and not answers["wpad.home.arpa"]
    assert all(answers[n] for n in TLS_NAMES | QUIC_NAMES | HTTP_HOSTS)
    # Each connection goes to an address its name resolved to.
    conns = fields(round_pcap, "tls.handshake.type == 1", "tls.handshake.extensions_server_name",
                   "ip.dst", "ipv6.dst")
    conns += fields(round_pcap, "http.request", "http.host", "ip.dst", "ipv6.dst")
    for name, ip4, ip6 in conns:
        dst = str(ipaddress.ip_address(ip6 or ip4))
        assert dst in answers[name], (name, dst, answers[name])


def test_pings_scan_and_sweep(round_pcap):
    assert count(round_pcap, "icmp.type == 8") == 8
    assert count(round_pcap, "icmp.type == 0 and icmp.resp_to") == 8
    assert count(round_pcap, "icmpv6.type == 129 and icmpv6.resp_to") == 4
    syn = "tcp.flags.syn == 1 and tcp.flags.ack == 0"
    ports = {int(r[0]) for r in fields(round_pcap, f"{syn} and ip.dst == {NAS}", "tcp.dstport")}
    assert ports == set(range(1, 1001))
    rst = count(round_pcap, f"ip.src == {NAS} and tcp.flags.reset == 1")
    assert rst == 1000 - 5
    hosts = {r[0] for r in fields(round_pcap, f"{syn} and tcp.dstport == 23 and not ip.dst == {NAS}", "ip.dst")}
    assert len(hosts) == 100


@pytest.mark.parametrize("which", ["round_pcap", "count_pcap"])
def test_replay_agrees_with_tshark(request, tapscope, tmp_path, which):
    path = request.getfixturevalue(which)
    replay(tapscope, [path], tmp_path, "-q")
    ours = tapscope_conversations(tmp_path)
    truth = tshark_conversations(path)
    assert len(truth) > 1000
    missing = {k: v for k, v in truth.items() if k not in ours}
    extra = {k: v for k, v in ours.items() if k not in truth}
    differ = {k: (ours[k], truth[k]) for k in truth if k in ours and ours[k] != truth[k]}
    assert not missing and not extra and not differ, (
        f"missing {list(missing.items())[:5]}, extra {list(extra.items())[:5]}, "
        f"differ (ours, tshark) {list(differ.items())[:5]}")
    for k, frames in tshark_conv_table(path).items():
        assert ours[k][0] + ours[k][2] == frames, (k, ours[k], frames)


def test_bad_arguments_are_refused(tapscope, tmp_path):
    p = subprocess.run([str(tapscope), "gen", "--pcap", tmp_path / "x.pcap", "--mix", "dns,ftp"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "ftp" in p.stderr
    p = subprocess.run([str(tapscope), "gen"], capture_output=True, text=True)
    assert p.returncode != 0
    p = subprocess.run([str(tapscope), "gen", "--iface", "no-such-if0", "--count", "1"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "no-such-if0" in p.stderr


def test_mix_selects_kinds(tapscope, tmp_path):
    path = tmp_path / "dns.pcap"
    gen(tapscope, "--pcap", path, "--mix", "dns,icmp", "-q")
    assert count(path, "not (dns or icmp or icmpv6)") == 0
    assert count(path, "dns") > 0 and count(path, "icmp") == 16


def sh(*cmd, check=True, ns=None):
    if ns:
        cmd = ("ip", "netns", "exec", ns, *cmd)
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, check=check, timeout=60)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="creates a network namespace: needs root (CI runs as root)")
def test_frames_cross_a_veth_pair(tapscope, tmp_path):
    for tool in ("ip", "tcpdump"):
        assert shutil.which(tool), f"{tool} is required (scripts/deps installs it)"
    pid = os.getpid()
    ns, host, peer = f"tsgen{pid}", f"tsg{pid}a", f"tsg{pid}b"
    n = 3000
    capture = tmp_path / "rx.pcap"
    dump = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
        # No IPv6 on either end: the kernel then sends nothing of its own.
        sh("sysctl", "-qw", f"net.ipv6.conf.{host}.disable_ipv6=1", check=False)
        sh("sysctl", "-qw", f"net.ipv6.conf.{peer}.disable_ipv6=1", check=False, ns=ns)
        sh("ip", "link", "set", host, "up")
        sh("ip", "link", "set", peer, "up", ns=ns)
        host_mac = pathlib.Path(f"/sys/class/net/{host}/address").read_text().strip()
        # tcpdump exits by itself after n frames (no frame left unread in
        # its buffer, as a signal could leave it).
        dump = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", peer, "-w", str(capture), "-c", str(n),
             "-U", "--immediate-mode", "-B", "32768", "-s", "0", "not", "ether", "src", host_mac],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # tcpdump says "listening on" once it captures.
        line = dump.stderr.readline()
        assert "listening" in line, line
        rx_file = f"/sys/class/net/{peer}/statistics/rx_packets"
        rx_before = int(sh("cat", rx_file, ns=ns).stdout)
        out = gen(tapscope, "--iface", host, "--count", n, "--rate", 10000, "--seed", 9).stdout
        assert f"sent {n:,} frames" in out, out
        assert "0 errors" in out, out
        # Paced: 3000 frames at 10,000 per second take about 0.3 s (as fast
        # as possible they would take a few milliseconds).
        elapsed = float(re.search(r" in ([0-9.]+) s", out).group(1))
        assert 0.28 <= elapsed < 2.0, out
        try:
            rc = dump.wait(timeout=20)
        except subprocess.TimeoutExpired:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)
            rx = int(sh("cat", rx_file, ns=ns).stdout)
            links = sh("ip", "-s", "link", "show", host).stdout
            pytest.fail(f"tcpdump saw fewer than {n} frames; {rx - rx_before} arrived on {peer}\n"
                        f"{dump.stderr.read()}\n{links}")
        stats = dump.stderr.read()
        assert rc == 0, stats
        assert f"{n} packets captured" in stats and "0 packets dropped by kernel" in stats, stats
        time.sleep(0.2)
        rx = int(sh("cat", rx_file, ns=ns).stdout)
        assert rx - rx_before == n, f"{rx - rx_before} frames arrived, {n} sent"
        received = read_pcap(capture)
        expected_file = tmp_path / "expected.pcap"
        gen(tapscope, "--pcap", expected_file, "--count", n, "--seed", 9, "-q")
        expected = read_pcap(expected_file)
        assert len(received) == n
        assert received == expected, "frames arrive byte for byte as generated, in order"
    finally:
        if dump and dump.poll() is None:
            dump.kill()
            dump.wait()
        sh("ip", "link", "del", host, check=False)
        sh("ip", "netns", "del", ns, check=False)
    assert sh("ip", "netns", "list").stdout.count(ns) == 0
