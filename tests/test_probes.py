"""Active probes against real servers in network namespaces the tests create.

ROOT: every test here needs root (network namespaces, raw ICMP sockets, a
tmpfs). The lab is three namespaces in a line, client - router - server,
with IP forwarding on the router:

    client 10.77.1.2 --- 10.77.1.1 router 10.77.2.1 --- 10.77.2.2 server

The server namespace runs real servers: python's http.server (HTTP), the
same behind TLS with a certificate from a test CA and with an expired one
(certificates made with openssl), dnsmasq (DNS), chronyd (NTP, a local
stratum 8 reference), `iperf3 -s`, `tapscope echo-server`, and a "silent"
server that takes UDP datagrams and TCP connections and never answers.
The router answers for 10.77.9.0/24 with ICMP host unreachable. tapscope
runs in the client namespace; its probes reach only these namespaces."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import table_files

pytestmark = pytest.mark.root

SERVER = "10.77.2.2"
ROUTER_NEAR = "10.77.1.1"
NOWHERE = "10.77.9.5"
SERVER6 = "fd77:2::2"
ROUTER6_NEAR = "fd77:1::1"
NOWHERE6 = "fd77:9::5"
INDEX = b"<html><body>tapscope probe test page</body></html>\n" * 40

_seq = [0]


def sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def need_root():
    if os.geteuid() != 0:
        pytest.fail("probe tests need root (network namespaces, raw sockets): run the suite as root")


HTTPS_SERVER = r'''
import functools, http.server, ssl, sys
addr, port, cert, key, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
httpd = http.server.ThreadingHTTPServer((addr, port), functools.partial(H, directory=root))
if cert != "-":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("ready", flush=True)
httpd.serve_forever()
'''

SILENT_SERVER = r'''
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((addr, port))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, port))
t.listen(16)
t.setblocking(False)
u.setblocking(False)
held = []
print("ready", flush=True)
while True:
    try:
        held.append(t.accept()[0])
    except BlockingIOError:
        pass
    try:
        u.recv(2048)
    except BlockingIOError:
        pass
    time.sleep(0.01)
'''

CA_CNF = """[ ca ]
default_ca = d
[ d ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = p
unique_subject = no
x509_extensions = ext
[ p ]
commonName = supplied
[ ext ]
subjectAltName = DNS:web.probe.test
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
"""


def make_certs(d):
    """A test CA, and from it a certificate for web.probe.test valid for 30
    days and one that expired in 2020 (openssl ca with explicit dates)."""
    d.mkdir()
    (d / "newcerts").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(CA_CNF)

    def ossl(*args):
        p = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "30", "-subj", "/CN=tapscope test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
         "-subj", "/CN=web.probe.test")
    ca = ["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
          "-in", "srv.csr", "-notext"]
    ossl(*ca, "-out", "good.pem", "-days", "30")
    ossl(*ca, "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")
    return d


class Lab:
    """client - router - server namespaces and the servers; all removed on
    exit, even when a test fails."""

    def __init__(self, tmp):
        need_root()
        _seq[0] += 1
        tag = f"{os.getpid() % 100000}{_seq[0]}"
        self.client, self.router, self.server = f"tpc{tag}", f"tpr{tag}", f"tps{tag}"
        self.tmp = tmp
        self.procs = []

    def ns(self, name, *cmd, check=True):
        return sh("ip", "netns", "exec", name, *cmd, check=check)

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self):
        c, r, s = self.client, self.router, self.server
        for n in (c, r, s):
            sh("ip", "netns", "add", n)
            self.ns(n, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "r0", "netns", r)
        sh("ip", "link", "add", "r1", "netns", r, "type", "veth", "peer", "name", "s0", "netns", s)
        for n, dev, addr in ((c, "c0", "10.77.1.2/24"), (r, "r0", "10.77.1.1/24"),
                             (r, "r1", "10.77.2.1/24"), (s, "s0", "10.77.2.2/24")):
            self.ns(n, "ip", "addr", "add", addr, "dev", dev)
            self.ns(n, "ip", "link", "set", dev, "up")
        for n, dev, addr in ((c, "c0", "fd77:1::2/64"), (r, "r0", "fd77:1::1/64"),
                             (r, "r1", "fd77:2::1/64"), (s, "s0", "fd77:2::2/64")):
            self.ns(n, "ip", "-6", "addr", "add", addr, "dev", dev, "nodad")
        self.ns(c, "ip", "route", "add", "default", "via", "10.77.1.1")
        self.ns(s, "ip", "route", "add", "default", "via", "10.77.2.1")
        self.ns(c, "ip", "-6", "route", "add", "default", "via", "fd77:1::1")
        self.ns(s, "ip", "-6", "route", "add", "default", "via", "fd77:2::1")
        self.ns(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ns(r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        self.ns(r, "ip", "-6", "route", "add", "unreachable", "fd77:9::/64")
        # Answers for a whole subnet with ICMP host unreachable; no rate
        # limit on the router's ICMP errors, so every probe gets its answer.
        self.ns(r, "ip", "route", "add", "unreachable", "10.77.9.0/24")
        for n in (r, s):
            self.ns(n, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
            self.ns(n, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=0")

        www = self.tmp / "www"
        www.mkdir()
        (www / "index.html").write_bytes(INDEX)
        certs = make_certs(self.tmp / "certs")
        self.ca = certs / "ca.pem"
        https = self.tmp / "https_server.py"
        https.write_text(HTTPS_SERVER)
        silent = self.tmp / "silent_server.py"
        silent.write_text(SILENT_SERVER)
        py = sys.executable
        self.start("http", py, str(https), SERVER, "8080", "-", "-", str(www))
        self.start("https", py, str(https), SERVER, "8443", str(certs / "good.pem"),
                   str(certs / "srv.key"), str(www))
        self.start("https-expired", py, str(https), SERVER, "8444", str(certs / "expired.pem"),
                   str(certs / "srv.key"), str(www))
        self.start("silent", py, str(silent), SERVER, "5353")
        self.start("dnsmasq", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                   "--no-resolv", "--no-hosts", "--bind-interfaces", f"--listen-address={SERVER}",
                   "--local=/probe.test/", f"--host-record=web.probe.test,{SERVER}",
                   # Three strings of 200 bytes: more than fits a 512-byte UDP answer.
                   "--txt-record=big.probe.test," + ",".join(c * 200 for c in "abc"),
                   f"--pid-file={self.tmp / 'dnsmasq.pid'}", "--user=root")
        chrony = self.tmp / "chrony.conf"
        chrony.write_text(f"allow 10.77.0.0/16\nlocal stratum 8\nbindaddress {SERVER}\n"
                          f"cmdport 0\npidfile {self.tmp / 'chronyd.pid'}\n")
        # -x: serve time without touching the clock (the namespaces share it).
        self.start("chronyd", "chronyd", "-d", "-x", "-u", "root", "-f", str(chrony))
        self.start("iperf3", "iperf3", "-s", "-B", SERVER, "-p", "5201")
        # A second server: iperf3 serves one test at a time.
        self.start("iperf3-udp", "iperf3", "-s", "-B", SERVER, "-p", "5202")
        self.start("echo", str(self.binary), "echo-server", "--listen", f"{SERVER}:7")
        self.start("echo6", str(self.binary), "echo-server", "--listen", f"[{SERVER6}]:7")
        for proto, addr in (("t", f"{SERVER}:8080"), ("t", f"{SERVER}:8443"),
                            ("t", f"{SERVER}:8444"), ("t", f"{SERVER}:5201"), ("t", f"{SERVER}:5202"),
                            ("t", f"{SERVER}:5353"), ("u", f"{SERVER}:53"), ("u", f"{SERVER}:123"),
                            ("u", f"{SERVER}:7"), ("u", f"[{SERVER6}]:7"), ("u", f"{SERVER}:5353")):
            self.wait_listen(proto, addr)

    binary = None

    def start(self, name, *cmd):
        log = open(self.tmp / f"{name}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.server, *cmd], stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append((name, p, log))

    def wait_listen(self, proto, addr, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self.ns(self.server, "ss", f"-{proto}ln", check=False).stdout
            if f"{addr} " in out:
                return
            for name, p, _ in self.procs:
                if p.poll() is not None:
                    raise AssertionError(f"{name} exited: {(self.tmp / f'{name}.log').read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"nothing listens on {proto} {addr} in the server namespace")

    def __exit__(self, *exc):
        for _, p, log in self.procs:
            if p.poll() is None:
                p.terminate()
        for _, p, log in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
        for n in (self.client, self.router, self.server):
            sh("ip", "netns", "del", n, check=False)


@pytest.fixture(scope="module")
def lab(tapscope, tmp_path_factory):
    Lab.binary = tapscope
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


def task(name, kind, target, **params):
    lines = ["[[probes]]", f'name = "{name}"', f'kind = "{kind}"', f'target = "{target}"']
    for k, v in params.items():
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def tasks(lab):
    ca = str(lab.ca)
    return [
        task("icmp_ok", "icmp", SERVER, count=5, interval_ms=20),
        task("icmp_unreachable", "icmp", NOWHERE, count=3, interval_ms=20, wait_ms=500),
        task("tcp_ok", "tcp", f"{SERVER}:8080"),
        task("tcp_refused", "tcp", f"{SERVER}:9"),
        task("tcp_unreachable", "tcp", f"{NOWHERE}:80"),
        task("echo_ok", "udp_echo", SERVER, port=7, count=20, interval_ms=10),
        task("echo_refused", "udp_echo", f"{SERVER}:8", count=3, interval_ms=10, wait_ms=300),
        task("dns_ok", "dns", "web.probe.test", server=SERVER, expect=[SERVER]),
        task("dns_nxdomain", "dns", "nope.probe.test", server=SERVER),
        task("dns_unexpected", "dns", "web.probe.test", server=SERVER, expect=["10.77.2.99"]),
        task("dns_tcp", "dns", "big.probe.test", server=SERVER, qtype="TXT"),
        task("dns_silent", "dns", "web.probe.test", server=f"{SERVER}:5353", wait_ms=500,
             timeout_s=2),
        task("http_ok", "http", f"http://{SERVER}:8080/index.html"),
        task("http_404", "http", f"http://{SERVER}:8080/missing.html"),
        task("http_silent", "http", f"http://{SERVER}:5353/", timeout_s=2),
        task("https_ok", "https", "https://web.probe.test:8443/index.html", server=SERVER,
             ca_file=ca),
        task("https_nxdomain", "https", "https://nope.probe.test/", server=SERVER),
        task("https_untrusted", "https", f"https://web.probe.test:8443/", server=SERVER),
        task("https_expired", "https", "https://web.probe.test:8444/index.html", server=SERVER,
             ca_file=ca),
        task("https_expired_noverify", "https", "https://web.probe.test:8444/index.html",
             server=SERVER, ca_file=ca, verify_tls=False),
        task("ntp_ok", "ntp", SERVER),
        task("ntp_silent", "ntp", f"{SERVER}:5353", wait_ms=500, timeout_s=2),
        task("trace", "traceroute", SERVER, max_hops=8, wait_ms=500),
        task("trace_unreachable", "traceroute", NOWHERE, max_hops=8, wait_ms=500),
        task("iperf_ok", "throughput", SERVER, duration_s=1),
        task("iperf_udp", "throughput", SERVER, port=5202, duration_s=1, protocol="udp",
             bandwidth="10M"),
        task("iperf_refused", "throughput", SERVER, port=5299, duration_s=1),
        task("iperf_missing", "throughput", SERVER, duration_s=1, iperf3="/nonexistent/iperf3"),
        task("icmp6_ok", "icmp", SERVER6, count=5, interval_ms=20),
        task("icmp6_unreachable", "icmp", NOWHERE6, count=3, interval_ms=20, wait_ms=500),
        task("echo6_ok", "udp_echo", f"[{SERVER6}]:7", count=10, interval_ms=10),
        task("tcp6_refused", "tcp", f"[{SERVER6}]:9"),
        task("trace6", "traceroute", SERVER6, max_hops=8, wait_ms=500),
    ]


def read_rows(out):
    files = table_files(out, "probes")
    assert files, f"no probes files under {out}"
    return pq.read_table(files).to_pylist()


@pytest.fixture(scope="module")
def once(lab, tapscope, tmp_path_factory):
    """`tapscope probe --once` in the client namespace: every task once."""
    d = tmp_path_factory.mktemp("once")
    cfg = d / "probes.toml"
    cfg.write_text('tap_id = "probe-lab"\n[probe]\nmax_concurrent = 4\n\n' + "\n".join(tasks(lab)))
    out = d / "out"
    t = time.time()
    p = lab.ns(lab.client, str(tapscope), "probe", "--config", str(cfg), "--out", str(out),
               "--once", "--json", check=False)
    took = time.time() - t
    assert p.returncode == 0, p.stdout + p.stderr
    printed = [json.loads(l) for l in p.stdout.splitlines()]
    rows = {r["task"]: r for r in read_rows(out)}
    return {"rows": rows, "printed": printed, "took": took, "out": out}


def check_failed(r, cls):
    assert r["ok"] is False, r
    assert r["error_class"] == cls, r
    assert r["error_message"], r


def test_every_task_lands_as_one_row(lab, once):
    names = [t.split('"')[1] for t in tasks(lab)]
    assert sorted(once["rows"]) == sorted(names)
    assert len(once["printed"]) == len(names)
    for r in once["rows"].values():
        assert r["tap_id"] == "probe-lab"
        assert r["duration_ms"] > 0
        assert (r["error_class"] is None) == r["ok"], r
    # Four at a time: the whole set takes about as long as its slowest
    # tasks, not their sum (25 tasks, several of 1-2 s each).
    assert once["took"] < 30, once["took"]


def test_icmp(once):
    ok = once["rows"]["icmp_ok"]
    assert ok["ok"] and ok["address"] == SERVER
    assert (ok["sent"], ok["received"], ok["loss"]) == (5, 5, 0.0)
    assert 0 < ok["rtt_min_ms"] <= ok["rtt_median_ms"] <= ok["rtt_max_ms"] < 100
    assert ok["rtt_min_ms"] <= ok["rtt_avg_ms"] <= ok["rtt_max_ms"]
    assert ok["rtt_stddev_ms"] >= 0 and ok["jitter_ms"] >= 0
    # The histogram's percentiles: ordered, within the round's range, and
    # the median within 0.1 % (plus 1 ns of rounding) of the exact one.
    assert ok["rtt_min_ms"] <= ok["rtt_p50_ms"] <= ok["rtt_p90_ms"] <= ok["rtt_p99_ms"] <= ok["rtt_max_ms"]
    assert abs(ok["rtt_p50_ms"] - ok["rtt_median_ms"]) <= ok["rtt_median_ms"] * 0.001 + 1e-6
    bad = once["rows"]["icmp_unreachable"]
    check_failed(bad, "unreachable")
    assert "host unreachable" in bad["error_message"] and ROUTER_NEAR in bad["error_message"]
    assert (bad["sent"], bad["received"], bad["loss"]) == (3, 0, 1.0)
    for col in ("rtt_min_ms", "rtt_median_ms", "rtt_avg_ms", "jitter_ms", "rtt_p50_ms", "rtt_p99_ms"):
        assert bad[col] is None, col


def test_tcp(once):
    ok = once["rows"]["tcp_ok"]
    assert ok["ok"] and 0 < ok["connect_ms"] < 1000
    assert ok["address"] == f"{SERVER}:8080"
    assert ok["dns_ms"] is None, "an address needs no lookup"
    check_failed(once["rows"]["tcp_refused"], "refused")
    check_failed(once["rows"]["tcp_unreachable"], "unreachable")
    for name in ("tcp_refused", "tcp_unreachable"):
        assert once["rows"][name]["connect_ms"] is None


def test_udp_echo(once):
    ok = once["rows"]["echo_ok"]
    assert ok["ok"]
    assert (ok["sent"], ok["received"], ok["loss"]) == (20, 20, 0.0)
    assert (ok["reordered"], ok["duplicates"]) == (0, 0)
    assert 0 < ok["rtt_median_ms"] < 100 and ok["jitter_ms"] is not None
    bad = once["rows"]["echo_refused"]
    check_failed(bad, "refused")
    assert bad["received"] == 0 and bad["rtt_median_ms"] is None


def test_dns(once):
    ok = once["rows"]["dns_ok"]
    assert ok["ok"], ok
    assert ok["answers"] == SERVER and ok["dns_rcode"] == "No Error"
    assert ok["address"] == f"{SERVER}:53" and 0 < ok["dns_ms"] < 1000
    nx = once["rows"]["dns_nxdomain"]
    check_failed(nx, "dns_nxdomain")
    assert nx["dns_rcode"] == "Non-Existent Domain"
    assert nx["dns_ms"] is not None, "the answer came: its time is known"
    check_failed(once["rows"]["dns_unexpected"], "unexpected_answer")
    big = once["rows"]["dns_tcp"]
    assert big["ok"], big
    assert json.loads(big["details"])["transport"] == "tcp"
    for c in "abc":
        assert c * 200 in big["answers"]
    silent = once["rows"]["dns_silent"]
    check_failed(silent, "timeout")
    assert silent["dns_ms"] is None and silent["dns_rcode"] is None


def test_http(once):
    ok = once["rows"]["http_ok"]
    assert ok["ok"], ok
    assert ok["http_status"] == 200 and ok["body_bytes"] == len(INDEX)
    for col in ("connect_ms", "first_byte_ms", "transfer_ms", "total_ms"):
        assert ok[col] is not None and ok[col] >= 0, col
    assert ok["total_ms"] >= ok["connect_ms"] + ok["first_byte_ms"]
    assert ok["tls_ms"] is None and ok["tls_version"] is None and ok["dns_ms"] is None
    nf = once["rows"]["http_404"]
    check_failed(nf, "http_status")
    assert nf["http_status"] == 404 and nf["first_byte_ms"] is not None
    silent = once["rows"]["http_silent"]
    check_failed(silent, "timeout")
    assert silent["connect_ms"] is not None, "the connection was made"
    assert silent["first_byte_ms"] is None and silent["http_status"] is None


def test_https(once):
    now = time.time()
    ok = once["rows"]["https_ok"]
    assert ok["ok"], ok
    assert ok["http_status"] == 200 and ok["body_bytes"] == len(INDEX)
    assert ok["tls_version"] == "TLSv1.3"
    for col in ("dns_ms", "connect_ms", "tls_ms", "first_byte_ms", "transfer_ms"):
        assert ok[col] is not None, col
    assert ok["address"] == f"{SERVER}:8443"
    assert 28 < ok["cert_days_left"] <= 30.01
    assert abs(ok["cert_not_after"].timestamp() - (now + 30 * 86400)) < 3600

    nx = once["rows"]["https_nxdomain"]
    check_failed(nx, "dns_nxdomain")
    assert nx["address"] is None and nx["connect_ms"] is None

    untrusted = once["rows"]["https_untrusted"]
    check_failed(untrusted, "cert_invalid")
    assert untrusted["tls_ms"] is None and untrusted["http_status"] is None

    expired = once["rows"]["https_expired"]
    check_failed(expired, "cert_expired")
    assert expired["connect_ms"] is not None
    for col in ("tls_ms", "first_byte_ms", "transfer_ms", "http_status", "tls_version"):
        assert expired[col] is None, col
    assert expired["cert_not_after"].year == 2020 and expired["cert_days_left"] < -365

    noverify = once["rows"]["https_expired_noverify"]
    assert noverify["ok"] and noverify["http_status"] == 200, noverify
    assert json.loads(noverify["details"])["cert_error"] == "cert_expired"
    assert noverify["cert_days_left"] < -365


def test_ntp(once):
    ok = once["rows"]["ntp_ok"]
    assert ok["ok"], ok
    assert ok["ntp_stratum"] == 8 and ok["ntp_reference"]
    # Server and client share the machine's clock.
    assert abs(ok["ntp_offset_ms"]) < 50
    assert 0 <= ok["ntp_delay_ms"] < 100
    silent = once["rows"]["ntp_silent"]
    check_failed(silent, "timeout")
    assert silent["ntp_offset_ms"] is None and silent["ntp_stratum"] is None


def test_traceroute_through_the_router(once):
    t = once["rows"]["trace"]
    assert t["ok"], t
    assert t["reached"] is True and t["hop_count"] == 2
    hops = json.loads(t["hops"])
    assert [h["address"] for h in hops] == [ROUTER_NEAR, SERVER]
    assert [h["ttl"] for h in hops] == [1, 2]
    for h in hops:
        assert h["sent"] == 3 and h["received"] == 3 and h["loss"] == 0.0
        assert len(h["rtt_ms"]) == 3 and all(0 < v < 100 for v in h["rtt_ms"])
    u = once["rows"]["trace_unreachable"]
    check_failed(u, "unreachable")
    assert u["reached"] is False
    # The router's "host unreachable" ends the trace. The kernel rate-limits
    # those answers per sender (net.ipv4.route.error_cost, not settable in
    # a namespace), and other tasks ask for them too: hops before may go
    # unanswered.
    addrs = [h["address"] for h in json.loads(u["hops"])]
    assert addrs[-1] == ROUTER_NEAR and set(addrs[:-1]) <= {None}, addrs


def test_throughput_with_iperf3(once):
    ok = once["rows"]["iperf_ok"]
    assert ok["ok"], ok
    assert ok["sent_bps"] > 1e6 and ok["received_bps"] > 1e6
    assert ok["retransmits"] is not None and ok["rtt_avg_ms"] is not None
    assert json.loads(ok["details"])["protocol"] == "tcp"
    udp = once["rows"]["iperf_udp"]
    assert udp["ok"], udp
    # 10 Mbit/s asked; iperf3's own receiver figures.
    assert 8e6 < udp["received_bps"] < 12e6 and 8e6 < udp["sent_bps"] < 12e6
    assert udp["jitter_ms"] is not None and 0 <= udp["loss"] < 0.05
    assert udp["retransmits"] is None and json.loads(udp["details"])["protocol"] == "udp"
    check_failed(once["rows"]["iperf_refused"], "refused")
    missing = once["rows"]["iperf_missing"]
    check_failed(missing, "not_installed")
    assert missing["sent_bps"] is None and missing["received_bps"] is None


def test_json_lines_match_the_table(once):
    for p in once["printed"]:
        r = once["rows"][p["task"]]
        assert p["ok"] == r["ok"] and p.get("error_class") == r["error_class"]
        assert abs(p["started_at_unix_ns"] / 1e9 - r["started_at"].timestamp()) < 1e-5


class Tmpfs:
    """A small tmpfs for an output folder that can be filled up."""

    def __init__(self, path, size="2m"):
        need_root()
        self.path = path
        path.mkdir()
        sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))

    def fill(self):
        subprocess.run(["dd", "if=/dev/zero", f"of={self.path / 'filler'}", "bs=64k"],
                       capture_output=True)

    def free(self):
        (self.path / "filler").unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        sh("umount", "-l", str(self.path), check=False)


def run_probe(tapscope, cfg, out):
    return subprocess.Popen([str(tapscope), "probe", "--config", str(cfg), "--out", str(out),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def echo_config(tmp, port, buffer_rows):
    cfg = tmp / f"probe-{buffer_rows}.toml"
    cfg.write_text(f"[probe]\nflush_interval_s = 1\nbuffer_rows = {buffer_rows}\njitter = 0\n\n"
                   + task("echo_a", "udp_echo", f"127.0.0.1:{port}", interval_s=0.3, count=2,
                          interval_ms=5, wait_ms=100)
                   + task("echo_b", "udp_echo", f"127.0.0.1:{port}", interval_s=0.3, count=2,
                          interval_ms=5, wait_ms=100))
    return cfg


@pytest.fixture
def echo_server(tapscope):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([str(tapscope), "echo-server", "--listen", f"127.0.0.1:{port}"],
                         stderr=subprocess.PIPE, text=True)
    assert "echo server on udp" in p.stderr.readline()
    yield port
    p.terminate()
    p.wait()


def test_full_disk_delays_probe_rows_and_loses_none(tapscope, tmp_path, echo_server):
    with Tmpfs(tmp_path / "disk") as disk:
        out = disk.path / "out"
        out.mkdir()
        disk.fill()
        p = run_probe(tapscope, echo_config(tmp_path, echo_server, 1000), out)
        try:
            time.sleep(4)
            assert p.poll() is None, p.stderr.read()
            assert not table_files(out, "probes"), "nothing can be written to a full disk"
            disk.free()
            # Retried every 5 s: the rows held back land within a few seconds.
            deadline = time.time() + 15
            while not table_files(out, "probes") and time.time() < deadline:
                time.sleep(0.2)
            assert table_files(out, "probes"), "rows were not written after the disk recovered"
            time.sleep(1.5)
        finally:
            p.send_signal(signal.SIGTERM)
            stdout, stderr = p.communicate(timeout=30)
        assert p.returncode == 0, stderr
        printed = [json.loads(l) for l in stdout.splitlines()]
        rows = read_rows(out)
        assert len(printed) >= 20, "two tasks every 0.3 s for about 8 s"
        assert all(r["ok"] for r in printed)
        key = lambda r: (r["task"], r["started_at_unix_ns"] // 1000)
        assert sorted(key(r) for r in printed) == sorted(
            (r["task"], int(round(r["started_at"].timestamp() * 1e6))) for r in rows)
        assert "probe rows kept in memory" in stderr, stderr


def test_buffer_overflow_is_counted(tapscope, tmp_path, echo_server):
    with Tmpfs(tmp_path / "disk") as disk:
        out = disk.path / "out"
        out.mkdir()
        disk.fill()
        p = run_probe(tapscope, echo_config(tmp_path, echo_server, 4), out)
        try:
            time.sleep(3)
            disk.free()
            deadline = time.time() + 15
            while not table_files(out, "probes") and time.time() < deadline:
                time.sleep(0.2)
        finally:
            p.send_signal(signal.SIGTERM)
            stdout, stderr = p.communicate(timeout=30)
        assert p.returncode == 0, stderr
        printed = [json.loads(l) for l in stdout.splitlines()]
        rows = read_rows(out)
        import re
        m = re.search(r"(\d+) dropped \(buffer full\)", stderr)
        assert m, stderr
        dropped = int(m.group(1))
        assert dropped > 0
        # Every result is either in the table or counted as dropped.
        assert len(rows) + dropped == len(printed), (len(rows), dropped, len(printed))
        # The oldest were dropped: the first rows written are the newest
        # of those held back.
        first_written = min(r["started_at"].timestamp() for r in rows)
        first_printed = min(r["started_at_unix_ns"] for r in printed) / 1e9
        assert first_written > first_printed


def test_run_probes_beside_capture_and_status_shows_them(lab, tapscope, tmp_path):
    """`tapscope run` (live capture on a veth pair in the client namespace)
    runs the probe tasks on its control core; `tapscope status` shows the
    latest result of each; the rows reach the probes table."""
    import re
    lab.ns(lab.client, "ip", "link", "add", "cap0", "type", "veth", "peer", "name", "peer0")
    for dev in ("cap0", "peer0"):
        lab.ns(lab.client, "ip", "link", "set", dev, "up")
    sock = tmp_path / "ctl.sock"
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'tap_id = "probe-run"\n[capture]\npin_cores = false\n'
                   f'[control]\nsocket = "{sock}"\n[probe]\nflush_interval_s = 1\n\n'
                   + task("gw", "icmp", SERVER, interval_s=1, count=3, interval_ms=20)
                   + task("nx", "dns", "nope.probe.test", server=SERVER, interval_s=1))
    out = tmp_path / "out"
    env = dict(os.environ, TAPSCOPE_LOG="info")
    p = subprocess.Popen(["ip", "netns", "exec", lab.client, str(tapscope), "run", "--iface",
                          "cap0", "--config", str(cfg), "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        log = ""
        deadline = time.time() + 30
        while time.time() < deadline:
            line = p.stderr.readline()
            if not line:
                break
            log += line
            if re.search(r"queue \d+: xdp-", line):
                break
        assert re.search(r"queue \d+: xdp-", log), log
        time.sleep(4)
        st = sh(str(tapscope), "status", "--json", "--socket", str(sock))
        probes = json.loads(st.stdout)["probes"]
        human = sh(str(tapscope), "status", "--socket", str(sock)).stdout
        # A reload with one more task restarts the probes with it.
        cfg.write_text(cfg.read_text() + task("web", "tcp", f"{SERVER}:8080", interval_s=1))
        reload = sh(str(tapscope), "reload", "--socket", str(sock)).stdout
        assert "probes restarted: 3 tasks" in reload, reload
        time.sleep(2.5)
        after = json.loads(sh(str(tapscope), "status", "--json", "--socket", str(sock)).stdout)
    finally:
        p.send_signal(signal.SIGTERM)
        rest_out, rest_err = p.communicate(timeout=30)
        lab.ns(lab.client, "ip", "link", "del", "cap0", check=False)
    assert p.returncode == 0, log + rest_err
    tasks_by_name = {t["name"]: t for t in probes["tasks"]}
    assert set(tasks_by_name) == {"gw", "nx"}
    gw, nx = tasks_by_name["gw"], tasks_by_name["nx"]
    assert gw["runs"] >= 2 and gw["ok"] is True and gw["failures"] == 0, gw
    assert gw["kind"] == "icmp" and gw["rtt_ms"] > 0 and gw["summary"].startswith("rtt ")
    assert nx["ok"] is False and nx["error_class"] == "dns_nxdomain", nx
    assert probes["runs"] == sum(t["runs"] for t in probes["tasks"])
    assert probes["failures"] == nx["runs"] and probes["dropped"] == 0
    assert re.search(r"\nprobes     \d+ runs, \d+ failed", human), human
    assert re.search(r"\n  gw    icmp        ok    .* rtt ", human), human
    assert re.search(r"\n  nx    dns         FAIL  .* dns_nxdomain: ", human), human
    web = [t for t in after["probes"]["tasks"] if t["name"] == "web"]
    assert web and web[0]["ok"] is True, after["probes"]
    rows = read_rows(out)
    assert {r["task"] for r in rows} == {"gw", "nx", "web"}
    assert len(rows) >= probes["runs"] + after["probes"]["runs"]
    assert all(r["tap_id"] == "probe-run" for r in rows)


def test_ipv6(once):
    ok = once["rows"]["icmp6_ok"]
    assert ok["ok"] and ok["address"] == SERVER6, ok
    assert (ok["sent"], ok["received"]) == (5, 5) and 0 < ok["rtt_median_ms"] < 100
    bad = once["rows"]["icmp6_unreachable"]
    check_failed(bad, "unreachable")
    assert ROUTER6_NEAR in bad["error_message"] and bad["rtt_median_ms"] is None
    echo = once["rows"]["echo6_ok"]
    assert echo["ok"] and (echo["sent"], echo["received"]) == (10, 10), echo
    assert echo["address"] == f"[{SERVER6}]:7"
    check_failed(once["rows"]["tcp6_refused"], "refused")
    t = once["rows"]["trace6"]
    assert t["ok"] and t["reached"], t
    assert [h["address"] for h in json.loads(t["hops"])] == [ROUTER6_NEAR, SERVER6]


def test_agrees_with_curl_and_ping(lab, once):
    """The same servers through tools nobody here wrote: curl for HTTPS
    (status, body size, the expired certificate refused) and ping for RTT."""
    url = "https://web.probe.test:8443/index.html"
    c = lab.ns(lab.client, "curl", "-s", "-o", "/dev/null", "--cacert", str(lab.ca),
               "--resolve", f"web.probe.test:8443:{SERVER}",
               "-w", "%{http_code} %{size_download} %{time_connect}", url)
    code, size, connect_s = c.stdout.split()
    ok = once["rows"]["https_ok"]
    assert (ok["http_status"], ok["body_bytes"]) == (int(code), int(size))
    assert ok["connect_ms"] < 1000 and float(connect_s) < 1
    expired = lab.ns(lab.client, "curl", "-s", "-o", "/dev/null", "--cacert", str(lab.ca),
                     "--resolve", f"web.probe.test:8444:{SERVER}",
                     "https://web.probe.test:8444/", check=False)
    assert expired.returncode == 60, "curl refuses the expired certificate too"

    import re
    p = lab.ns(lab.client, "ping", "-n", "-c", "10", "-i", "0.05", SERVER)
    m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", p.stdout)
    assert m, p.stdout
    ping_avg = float(m.group(2))
    cfg = once["out"].parent / "ping.toml"
    cfg.write_text(task("cmp", "icmp", SERVER, count=10, interval_ms=50))
    r = lab.ns(lab.client, str(lab.binary), "probe", "--config", str(cfg), "--once", "--json",
               "--out", str(once["out"].parent / "ping-cmp"))
    ours = json.loads(r.stdout.splitlines()[0])
    assert ours["received"] == 10
    # Same path, same moment: the same order of magnitude (a unit slip
    # would be a factor of 1000).
    assert ping_avg / 5 - 0.2 < ours["rtt_avg_ms"] < ping_avg * 5 + 0.2, (ours, ping_avg)


@pytest.fixture
def world_tmp():
    """A folder another user can use (pytest's own are root-only)."""
    import shutil
    import tempfile
    d = pathlib.Path(tempfile.mkdtemp(prefix="tapscope-probe-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unprivileged_icmp_uses_a_ping_socket(lab, tapscope, world_tmp):
    """As an ordinary user, icmp works through an unprivileged ping socket
    when the namespace's net.ipv4.ping_group_range allows it; traceroute
    needs a raw socket and says so."""
    tmp_path = world_tmp
    cfg = tmp_path / "user.toml"
    cfg.write_text(task("ping", "icmp", SERVER, count=3, interval_ms=20)
                   + task("ping6", "icmp", SERVER6, count=3, interval_ms=20)
                   + task("trace", "traceroute", SERVER, max_hops=3, wait_ms=300))
    cfg.chmod(0o644)
    before = lab.ns(lab.client, "sysctl", "-n", "net.ipv4.ping_group_range").stdout.strip()
    lab.ns(lab.client, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
    try:
        p = lab.ns(lab.client, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   str(tapscope), "probe", "--config", str(cfg), "--once", "--json",
                   "--out", str(tmp_path / "out"), check=False)
    finally:
        lab.ns(lab.client, "sysctl", "-qw", f"net.ipv4.ping_group_range={before}")
    assert p.returncode == 0, p.stderr
    got = {r["task"]: r for r in map(json.loads, p.stdout.splitlines())}
    for name in ("ping", "ping6"):
        r = got[name]
        assert r["ok"] and (r["sent"], r["received"]) == (3, 3), r
    t = got["trace"]
    assert t["error_class"] == "permission" and "CAP_NET_RAW" in t["error_message"], t
