"""Ground truth from tshark: per-conversation frames and bytes in each
direction, for TCP and UDP, on the same capture tapscope reads."""

import collections
import ipaddress
import subprocess

FIELDS = [
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "frame.len",
]


def _last(v):
    # Tunnelled frames list every layer's value, outermost first.
    return v.split(",")[-1] if v else ""


def _addr(v4, v6):
    a = _last(v6) or _last(v4)
    return str(ipaddress.ip_address(a)) if a else None


def canonical(proto, a, pa, b, pb):
    """Direction-free key; returns (key, True if a is the key's first side)."""
    ea = (ipaddress.ip_address(a).packed.rjust(16, b"\0"), pa)
    eb = (ipaddress.ip_address(b).packed.rjust(16, b"\0"), pb)
    if ea <= eb:
        return (proto, a, pa, b, pb), True
    return (proto, b, pb, a, pa), False


def tshark_conversations(path):
    """{key: [frames a->b, bytes a->b, frames b->a, bytes b->a]} from
    tshark's own dissection of every TCP and UDP frame (ICMP error quotes
    excluded, as tshark's conversation table does)."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "(tcp or udp) and not icmp and not icmpv6",
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    conv = collections.defaultdict(lambda: [0, 0, 0, 0])
    for line in out.splitlines():
        v = line.split("|")
        if len(v) != len(FIELDS):
            continue
        src, dst = _addr(v[0], v[2]), _addr(v[1], v[3])
        if v[4]:
            proto, sp, dp = 6, _last(v[4]), _last(v[5])
        else:
            proto, sp, dp = 17, _last(v[6]), _last(v[7])
        if not (src and dst and sp and dp):
            continue
        key, fwd = canonical(proto, src, int(sp), dst, int(dp))
        c = conv[key]
        i = 0 if fwd else 2
        c[i] += 1
        c[i + 1] += int(v[8])
    return dict(conv)


def tshark_conv_table(path):
    """{key: total frames} from `tshark -q -z conv,tcp -z conv,udp`."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True, check=True).stdout
    proto = None
    totals = collections.Counter()
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = 6
        elif line.startswith("UDP Conversations"):
            proto = 17
        elif "<->" in line and proto:
            left, right = line.split("<->")
            a, pa = left.split()[0].rsplit(":", 1)
            rest = right.split()
            b, pb = rest[0].rsplit(":", 1)
            # Columns after the address: frames <- , bytes <- (value unit),
            # frames ->, bytes ->, frames total, ... ; bytes carry a unit word.
            nums = rest[1:]
            frames_in = int(nums[0])
            frames_out = int(nums[3])
            key, _ = canonical(proto, str(ipaddress.ip_address(a)), int(pa),
                               str(ipaddress.ip_address(b)), int(pb))
            totals[key] += frames_in + frames_out
    return dict(totals)
