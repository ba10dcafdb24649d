"""Classification end to end: server names against tshark, services against
nDPI's reference labels, and the `traffic` table against the packets.

- Every flow where tshark finds a TLS SNI (TCP or QUIC), a Google QUIC SNI
  or an HTTP Host has the same server_name in tapscope's `flows` table.
- On the video/conferencing/social captures, the service of at least 95%
  of the bytes nDPI attributes to an application is that application.
- The `traffic` table's per-interval byte and packet totals equal the bytes
  and packets of the capture's IP frames whose timestamps fall in each
  interval (tshark's count), and its grand totals equal the flows table's.
"""

import collections
import ipaddress
import re
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import PCAPS, replay, table_files
from truth import _addr, _last, canonical

NDPI = PCAPS.parent / "ndpi-results"

# Well-formed captures with names in them; every tshark name must match.
NAME_CAPTURES = [
    "443-chrome.pcap", "443-curl.pcap", "443-firefox.pcap", "android.pcap",
    "dazn.pcapng", "encrypted_sni.pcap", "http.pcapng", "http_ipv6.pcap",
    "instagram.pcap", "iphone.pcap", "netflix.pcap", "no_sni.pcap",
    "ookla.pcap", "quic-28.pcap", "quic.pcap",
    "quic_frags_ch_in_multiple_packets.pcapng", "reddit.pcap", "sites.pcapng",
    "teams.pcap", "tls-appdata.pcap", "youtube_quic.pcap", "zoom.pcap",
    "4in4tunnel.pcap", "6in4tunnel.pcap", "gre.pcapng",
]

NAME_FIELDS = [
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
    "tls.handshake.type", "tls.handshake.extensions_server_name", "http.host",
    "http.request", "gquic.tag.sni",
]

OWN_NAME_SOURCES = {"tls_sni", "quic_sni", "gquic_sni", "http_host"}


def tshark_names(path):
    """{canonical 5-tuple: first name} from ClientHellos, gQUIC CHLOs and
    HTTP requests, as tshark dissects them."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y",
           "tls.handshake.type == 1 or http.request or gquic.tag.sni",
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in NAME_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    names = {}
    for line in out.splitlines():
        v = line.split("|")
        if len(v) != len(NAME_FIELDS):
            continue
        src, dst = _addr(v[0], v[2]), _addr(v[1], v[3])
        if v[4]:
            proto, sp, dp = 6, _last(v[4]), _last(v[5])
        else:
            proto, sp, dp = 17, _last(v[6]), _last(v[7])
        if not (src and dst and sp and dp):
            continue
        name = ""
        if v[9]:
            name = v[9].split(",")[0]
        elif v[12]:
            name = v[12].split(",")[0]
        elif v[10] and v[11]:
            name = v[10].split(",")[0]
        if not name:
            continue
        key, _ = canonical(proto, src, int(sp), dst, int(dp))
        names.setdefault(key, name)
    return names


def our_flows(out):
    files = table_files(out, "flows")
    return pq.read_table(files).to_pylist() if files else []


def flow_key(r):
    a = str(ipaddress.ip_address(r["client_ip"]))
    b = str(ipaddress.ip_address(r["server_ip"]))
    return canonical(r["protocol"], a, r["client_port"], b, r["server_port"])[0]


def our_names(rows):
    names = {}
    for r in rows:
        if r["protocol"] in (6, 17) and r["name_source"] in OWN_NAME_SOURCES:
            names.setdefault(flow_key(r), r["server_name"])
    return names


@pytest.mark.parametrize("name", NAME_CAPTURES)
def test_server_names_match_tshark(tapscope, pcaps, tmp_path, name):
    path = pcaps / name
    replay(tapscope, [path], tmp_path, "-q")
    truth = tshark_names(path)
    ours = our_names(our_flows(tmp_path))
    agree = sum(1 for k, n in truth.items() if ours.get(k) == n)
    wrong = {k: (n, ours.get(k)) for k, n in truth.items() if ours.get(k) != n}
    print(f"{name}: {agree}/{len(truth)} flows with a name agree with tshark")
    assert not wrong, f"{name}: (tshark, tapscope) differ for {wrong}"


def test_dns_flows_are_named_by_their_query(tapscope, pcaps, tmp_path):
    path = pcaps / "dns.pcap"
    replay(tapscope, [path], tmp_path, "-q")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "dns", "-T", "fields", "-E", "separator=|",
         "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "dns.qry.name"],
        capture_output=True, text=True, check=True).stdout
    truth = {}
    for line in out.splitlines():
        v = line.split("|")
        if len(v) != 7 or not v[4] or not v[6]:
            continue
        key, _ = canonical(17, _addr(v[0], v[2]), int(v[4]), _addr(v[1], v[3]), int(v[5]))
        truth.setdefault(key, v[6].split(",")[0])
    ours = {flow_key(r): r["server_name"] for r in our_flows(tmp_path)
            if r["protocol"] == 17 and r["name_source"] == "dns_query"}
    assert truth
    assert {k: ours.get(k) for k in truth} == truth


ADS = {"google-ads", "amazon-ads", "comscore", "quantcast", "criteo", "taboola", "outbrain",
       "xandr", "liveramp", "flashtalking", "pubmatic", "magnite", "openx", "adobe-analytics"}
GOOGLE = {"google", "google-ads", "gmail", "google-play", "google-update", "google-cloud"}
MICROSOFT = {"microsoft", "microsoft365", "onedrive", "azure", "microsoft-update"}

# nDPI application labels -> the tapscope services that agree with them.
# nDPI's labels are coarser in places (GoogleServices covers Google's ad
# domains, Microsoft its 365 suite); a more specific service of the same
# company agrees.
NDPI_SERVICE = {
    "NetFlix": {"netflix"},
    "YouTube": {"youtube"},
    "Google": GOOGLE | {"youtube"},
    "GoogleServices": GOOGLE,
    "Zoom": {"zoom"},
    "Teams": {"teams"},
    "Skype_Teams": {"teams", "skype"},
    "Skype_TeamsCall": {"teams", "skype"},
    "Microsoft": MICROSOFT,
    "Microsoft365": {"microsoft365", "microsoft", "onedrive"},
    "Instagram": {"instagram", "facebook", "meta"},
    "Facebook": {"facebook", "instagram", "meta"},
    "Reddit": {"reddit"},
    "Twitter": {"twitter"},
    "Amazon": {"amazon", "amazon-ads", "aws", "cloudfront"},
    "ADS_Analytic_Track": ADS,
    "Dropbox": {"dropbox"},
}

# The company behind each nDPI label: a service of the same company counts
# as agreeing in the family figure (nDPI files Microsoft Stream and
# HockeyApp telemetry under Skype_Teams, for one).
FAMILY = {
    "Skype_Teams": MICROSOFT | {"teams", "skype"},
    "Skype_TeamsCall": MICROSOFT | {"teams", "skype"},
    "Teams": MICROSOFT | {"teams", "skype"},
    "Microsoft365": MICROSOFT | {"teams", "skype"},
    "Microsoft": MICROSOFT | {"teams", "skype"},
    "Google": GOOGLE | {"youtube"},
    "GoogleServices": GOOGLE | {"youtube"},
    "YouTube": GOOGLE | {"youtube"},
}

FLOW_LINE = re.compile(
    r"^\s+\d+\s+(TCP|UDP)\s+(\S+):(\d+)\s+<->\s+(\S+):(\d+).*?\[proto: ([^\]]+)\]"
    r".*?\[(\d+) pkts/(\d+) bytes <-> (\d+) pkts/(\d+) bytes\]")


def ndpi_flows(capture):
    """(key, application label or None, bytes) per flow of nDPI's report."""
    flows = []
    for line in (NDPI / f"{capture}.out").read_text().splitlines():
        m = FLOW_LINE.match(line)
        if not m:
            continue
        proto = 6 if m.group(1) == "TCP" else 17
        a, pa, b, pb = m.group(2), int(m.group(3)), m.group(4), int(m.group(5))
        a, b = a.strip("[]"), b.strip("[]")
        label = m.group(6).split("/", 1)[-1]
        app = label.split(".", 1)[1] if "." in label else (label if label in NDPI_SERVICE else None)
        key, _ = canonical(proto, a, pa, b, pb)
        flows.append((key, app, int(m.group(8)) + int(m.group(10))))
    return flows


@pytest.mark.parametrize("name", ["netflix.pcap", "youtube_quic.pcap", "zoom.pcap",
                                  "teams.pcap", "instagram.pcap", "reddit.pcap"])
def test_services_agree_with_ndpi_by_bytes(tapscope, pcaps, tmp_path, name):
    replay(tapscope, [pcaps / name], tmp_path, "-q")
    ours = collections.defaultdict(collections.Counter)
    for r in our_flows(tmp_path):
        if r["protocol"] in (6, 17):
            ours[flow_key(r)][r["service"]] += r["c2s_bytes"] + r["s2c_bytes"]
    total = agree = family = 0
    wrong = []
    for key, app, nbytes in ndpi_flows(name):
        if app is None or app not in NDPI_SERVICE:
            continue
        total += nbytes
        svc = ours[key].most_common(1)[0][0] if ours.get(key) else None
        if svc in NDPI_SERVICE[app]:
            agree += nbytes
        if svc in NDPI_SERVICE[app] | FAMILY.get(app, set()):
            family += nbytes
        else:
            wrong.append((key, app, svc, nbytes))
    assert total > 0
    share = family / total
    print(f"{name}: services agree with nDPI on {agree / total:.1%} of {total} bytes "
          f"({share:.1%} counting services of the same company)")
    assert share >= 0.95, f"{name}: {share:.1%}; disagreeing flows: {wrong}"


def test_traffic_intervals_equal_the_packets(tapscope, pcaps, tmp_path):
    path = pcaps / "netflix.pcap"
    replay(tapscope, [path], tmp_path, "-q")
    t = pq.read_table(table_files(tmp_path, "traffic")).to_pylist()
    f = our_flows(tmp_path)
    assert t and f
    ours = collections.Counter()
    for r in t:
        start = int(r["interval_start"].timestamp())
        assert int(r["interval_end"].timestamp()) - start == 5
        ours[(start, "bytes")] += r["bytes_down"] + r["bytes_up"]
        ours[(start, "packets")] += r["packets_down"] + r["packets_up"]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "ip or ipv6", "-T", "fields",
         "-e", "frame.time_epoch", "-e", "frame.len"],
        capture_output=True, text=True, check=True).stdout
    truth = collections.Counter()
    for line in out.splitlines():
        ts, length = line.split("\t")
        start = int(ts.split(".")[0]) // 5 * 5
        truth[(start, "bytes")] += int(length)
        truth[(start, "packets")] += 1
    assert ours == truth
    flows_bytes = sum(r["c2s_bytes"] + r["s2c_bytes"] for r in f)
    flows_packets = sum(r["c2s_packets"] + r["s2c_packets"] for r in f)
    assert sum(v for (s, k), v in ours.items() if k == "bytes") == flows_bytes
    assert sum(v for (s, k), v in ours.items() if k == "packets") == flows_packets
    # Every row names its device and service.
    assert all(r["device_name"] and r["service"] for r in t)
    assert {"netflix"} <= {r["service"] for r in t}


@pytest.mark.parametrize("name", ["teams.pcap", "zoom.pcap"])
def test_devices_are_named_by_their_dhcp_hostname(tapscope, pcaps, tmp_path, name):
    path = pcaps / name
    replay(tapscope, [path], tmp_path, "-q")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "dhcp.option.hostname", "-T", "fields",
         "-e", "dhcp.hw.mac_addr", "-e", "dhcp.option.hostname"],
        capture_output=True, text=True, check=True).stdout
    truth = {}
    for line in out.splitlines():
        mac, host = line.split("\t")
        truth[mac.split(",")[0]] = host
    assert truth, f"tshark finds no DHCP hostname in {name}"
    rows = pq.read_table(table_files(tmp_path, "traffic")).to_pylist()
    ours = {r["device_mac"]: r["device_name"] for r in rows if r["device_mac"] in truth}
    assert ours == truth
