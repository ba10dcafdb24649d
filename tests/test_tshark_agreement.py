"""Flow packet and byte totals per conversation agree exactly with tshark.

For each capture below, tapscope's `flows` table (summed over records with
the same 5-tuple, since tshark's conversations span reused tuples and
timeouts) must equal tshark's per-direction frame and byte counts, and the
total frames per conversation must equal tshark's conversation table."""

import collections
import ipaddress

import pyarrow.parquet as pq
import pytest

from conftest import replay, table_files
from truth import canonical, tshark_conv_table, tshark_conversations

CAPTURES = [
    "443-chrome.pcap", "443-curl.pcap", "443-firefox.pcap", "NTPv4.pcap",
    "android.pcap", "bittorrent.pcap", "dazn.pcapng", "dns.pcap",
    "encrypted_sni.pcap", "http.pcapng", "http_ipv6.pcap", "instagram.pcap",
    "iphone.pcap", "netflix.pcap", "no_sni.pcap", "ookla.pcap", "quic-28.pcap",
    "quic.pcap", "quic_frags_ch_in_multiple_packets.pcapng", "reddit.pcap",
    "sites.pcapng", "teams.pcap", "tls-appdata.pcap", "youtube_quic.pcap",
    "zoom.pcap", "4in4tunnel.pcap", "6in4tunnel.pcap", "gre.pcapng",
]


UDP_TUNNEL_PORTS = {2152, 4789}


def tapscope_conversations(out):
    files = table_files(out, "flows")
    conv = collections.defaultdict(lambda: [0, 0, 0, 0])
    if not files:
        return {}
    t = pq.read_table(files).to_pylist()
    for r in t:
        if r["protocol"] not in (6, 17):
            continue
        a = str(ipaddress.ip_address(r["client_ip"]))
        b = str(ipaddress.ip_address(r["server_ip"]))
        key, fwd = canonical(r["protocol"], a, r["client_port"], b, r["server_port"])
        c = conv[key]
        ab = (r["c2s_packets"], r["c2s_bytes"], r["s2c_packets"], r["s2c_bytes"])
        if not fwd:
            ab = (ab[2], ab[3], ab[0], ab[1])
        for i in range(4):
            c[i] += ab[i]
    return dict(conv)


@pytest.mark.parametrize("name", CAPTURES)
def test_conversations_match_tshark(tapscope, pcaps, tmp_path, name):
    path = pcaps / name
    replay(tapscope, [path], tmp_path, "-q")
    ours = tapscope_conversations(tmp_path)
    truth = tshark_conversations(path)
    assert truth, f"tshark found no TCP/UDP conversation in {name}"
    missing = {k: v for k, v in truth.items() if k not in ours}
    extra = {k: v for k, v in ours.items() if k not in truth}
    differ = {k: (ours[k], truth[k]) for k in truth if k in ours and ours[k] != truth[k]}
    assert not missing and not extra and not differ, (
        f"{name}: {len(truth)} tshark conversations; "
        f"missing {list(missing.items())[:5]}, extra {list(extra.items())[:5]}, "
        f"differ (ours, tshark) {list(differ.items())[:5]}")
    # Cross-check frame totals with tshark's conversation table.
    table = tshark_conv_table(path)
    for k, frames in table.items():
        if k[0] == 17 and ({k[2], k[4]} & UDP_TUNNEL_PORTS):
            # tshark lists a GTP-U/VXLAN frame under both the outer UDP and
            # the inner conversation; flows are keyed by the inner one only.
            continue
        assert k in ours, f"{name}: conversation {k} of tshark's table not in flows"
        assert ours[k][0] + ours[k][2] == frames, f"{name}: {k}: {ours[k]} vs {frames} frames"


def test_enough_captures_are_checked():
    assert len(CAPTURES) >= 15
