#!/usr/bin/env python3
"""Live capture benchmark: the highest offered rate with zero loss on a veth pair.

tapscope (`tapscope run`, AF_XDP), `tcpdump -w /dev/null` and `softflowd -i`
(both AF_PACKET through libpcap) capture the same veth pair, fed by the same
generator with the same frames, in the same run. tapscope runs twice: with
its defaults (rx_ring 16384, 64 MiB UMEM, the buffer the peers get with
`-B`, and adaptive polling: a 200 us sleep after a poll that found less than
a quarter batch) and spinning (`capture.coalesce_us = 0`: pure busy-poll).
For each tool the offered rate steps up (a ladder, then a short bisection
between the last rate without loss and the first with loss) until frames
are lost or the generator cannot go faster. Every trial starts the tool
afresh, sends `rate x --seconds` frames (or `--count`), stops the tool and
compares what it says it captured with what left the generator's end of
the pair.

Run as root (network namespaces, AF_XDP):

    sudo bench/live_rate.py                   # a few minutes
    sudo bench/live_rate.py --quick           # about a minute
    sudo bench/live_rate.py --json target/bench-live.json

What is measured, per trial:
- sent: the generator end's TX packet counter (sysfs) before/after;
- captured: tapscope's `capture` table (sum of `packets`; kernel drops in
  `src_dropped` and `src_ring_full`; `src_fill_ring_empty` frames are also
  in `src_dropped`); tcpdump's "packets captured" and "dropped by kernel"
  on SIGINT (after its 1 s block timeout, so no frame is left unread in the
  ring); softflowd's "Packets received by libpcap" minus "dropped by
  libpcap" (on Linux libpcap's "received" includes the kernel's drops) and
  "dropped by interface" (softflowctl statistics; its "Packets processed"
  stays up to ~0.4% below that on this traffic with no drop counted, and is
  kept in the JSON); plus the capture end's rx_dropped and the kernel's
  backlog drops (/proc/net/softnet_stat), which no tool sees. Zero loss:
  every frame sent is counted and no drop counter moved;
- tool CPU ns/packet: the tool's process CPU clock (all threads; the same
  time /proc/<pid>/stat reports as utime + stime, in ns rather than clock
  ticks) from the first frame arriving until 0.3 s after the generator
  exits, divided by the frames that arrived in that window, and that CPU
  time as a share of one core. tapscope polls adaptively (it sleeps 200 us
  after a poll that found less than a quarter batch, spins under load);
  tapscope-spin busy-polls, so its share stays high and its ns/packet falls
  as the rate rises: compare tools at the same rate;
- sending CPU ns/packet, in the full-speed trial: the generator's CPU time
  (with its children) plus the ksoftirqd threads', per frame. On a veth pair
  the receive path (the XDP program and the copy into the AF_XDP ring, or
  the AF_PACKET copy) runs in softirq on the sending CPU, not in the tool's
  process, so this is where the kernel's share of each capture shows up; the
  `none` row (nothing capturing) is the baseline. It is also why the
  generator slows down when a tool captures.

Generators are chosen by speed: every available one (`tapscope gen`, and
`tcpreplay` and `trafgen` replaying one round of `tapscope gen --pcap`) first
sends at full speed with nothing capturing (its ceiling). The fastest one that
paces evenly drives the rate ladder; the fastest of all drives the final
full-speed trial (`--generator` to force one). trafgen only runs at full
speed: its paced modes are bursty or slow (see TrafgenGen). A tool with no
loss up to what the generator could offer is reported as generator-limited.

Timings are noisy on a shared machine: the report names the load and the
rustc processes running. No timing here is a test.
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRAIN_S = 0.3          # after the generator exits, before the tool is read and stopped
SETTLE_S = 0.3         # after the tool says it is ready
GEN_SHORTFALL = 0.93   # achieved < 93% of offered: the generator could not offer the rate
LADDER = [25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 3_200_000]
QUICK_LADDER = [50_000, 200_000, 800_000, 3_200_000]

RUNNING = []           # child processes to stop on any exit


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(*cmd, check=True):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=check)


def popen(argv, stdout, stderr, env=None):
    p = subprocess.Popen([str(a) for a in argv], stdout=stdout, stderr=stderr, env=env,
                         stdin=subprocess.DEVNULL)
    RUNNING.append(p)
    return p


def stop_process(p, sig=signal.SIGINT, timeout=20):
    if p.returncode is None and p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in RUNNING:
        RUNNING.remove(p)


def wait4(p):
    """Waits for `p`; returns its CPU time (ns) including reaped children."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p in RUNNING:
        RUNNING.remove(p)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


# --- CPU time ---------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_ticks(pid):
    """utime + stime from /proc/<pid>/stat (clock ticks), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def proc_cpu_ns(pid):
    """CPU time of a whole process (all threads, live and exited), in ns:
    its CPU-time clock (clock_getcpuclockid), else /proc/<pid>/stat ticks."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        t = stat_ticks(pid)
        return None if t is None else t * 1_000_000_000 // CLK_TCK


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree_cpu_ns(pid):
    total = proc_cpu_ns(pid) or 0
    for c in children(pid):
        total += tree_cpu_ns(c)
    return total


def ksoftirqd_pids():
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().startswith("ksoftirqd/"):
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def ksoftirqd_ns(pids):
    """CPU time of the ksoftirqd threads (softirq work deferred from the
    contexts that raised it), in ns."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            total += proc_cpu_ns(p) or 0
    return total


KSOFTIRQD = []


def softnet_drops():
    total = 0
    with open("/proc/net/softnet_stat") as f:
        for line in f:
            total += int(line.split()[1], 16)
    return total


# --- machine ----------------------------------------------------------------

def rustc_count():
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    n += f.read().strip() == "rustc"
            except OSError:
                pass
    return n


def machine_info():
    model, flags = "unknown", ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    return {
        "cpu_model": model,
        "virtualised": " hypervisor" in flags,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg_start": os.getloadavg()[0],
        "rustc_start": rustc_count(),
    }


def version(argv, pattern):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1) if m else None


def which(name):
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)


# --- the link ---------------------------------------------------------------

class Link:
    """A veth pair: `cap` in this namespace (the tools capture here), `gen` in
    a namespace of its own (the generator sends from there). IPv6 is off on
    both ends so the kernel adds no frames of its own."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.ns, self.cap, self.gen = f"lrns{tag}", f"lrc{tag}", f"lrg{tag}"
        self.made = False

    def __enter__(self):
        sh("ip", "netns", "add", self.ns)
        self.made = True
        sh("ip", "link", "add", self.cap, "type", "veth", "peer", "name", self.gen,
           "netns", self.ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.cap}.disable_ipv6=1")
        sh("ip", "netns", "exec", self.ns, "sysctl", "-qw",
           f"net.ipv6.conf.{self.gen}.disable_ipv6=1")
        sh("ip", "link", "set", self.cap, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.gen, "up")
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.made:
            sh("ip", "link", "del", self.cap, check=False)
            sh("ip", "netns", "del", self.ns, check=False)
            self.made = False

    def cap_stat(self, name):
        with open(f"/sys/class/net/{self.cap}/statistics/{name}") as f:
            return int(f.read())

    def gen_stats(self):
        p = sh("ip", "netns", "exec", self.ns, "sh", "-c",
               f"cat /sys/class/net/{self.gen}/statistics/tx_packets "
               f"/sys/class/net/{self.gen}/statistics/tx_dropped")
        tx, dropped = map(int, p.stdout.split())
        return tx, dropped


# --- generators -------------------------------------------------------------

class Generator:
    name = label = ""
    # Whether its paced mode spreads frames evenly enough for a rate ladder.
    paces = True

    def __init__(self, ts_bin, workdir, pin):
        self.ts, self.dir, self.pin = ts_bin, workdir, pin

    def available(self):
        return True

    def prepare(self, round_pcap):
        pass

    def argv(self, link, rate, count):
        raise NotImplementedError

    def wrap(self, link, argv):
        pre = ["ip", "netns", "exec", link.ns]
        if self.pin is not None:
            pre += ["taskset", "-c", str(self.pin)]
        return pre + argv

    def parse(self, text):
        """(frames, seconds) from the generator's own report, or None."""
        return None


class TapscopeGen(Generator):
    name = "tapscope-gen"
    label = "`tapscope gen` (AF_PACKET sendmmsg, the mix generated on the fly)"

    def argv(self, link, rate, count):
        return [self.ts, "gen", "--iface", link.gen, "--rate", str(int(rate)),
                "--count", str(count)]

    def parse(self, text):
        m = re.search(r"gen: sent ([\d,]+) frames .* in ([\d.]+) s", text)
        return (int(m.group(1).replace(",", "")), float(m.group(2))) if m else None


class TcpreplayGen(Generator):
    name = "tcpreplay"

    def available(self):
        return which("tcpreplay") is not None

    def prepare(self, round_pcap):
        self.pcap = round_pcap
        v = version(["tcpreplay", "-V"], r"tcpreplay version: ([\S]+)")
        self.label = (f"tcpreplay {v or ''} (AF_PACKET, file preloaded, looped) "
                      "replaying one round of `tapscope gen --pcap`")

    def argv(self, link, rate, count):
        pace = ["--topspeed"] if rate == 0 else [f"--pps={int(rate)}"]
        return ["tcpreplay", "-i", link.gen, "-K", "--loop=0", f"--limit={count}", *pace, self.pcap]

    def parse(self, text):
        m = re.search(r"Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds", text)
        return (int(m.group(1)), float(m.group(2))) if m else None


class TrafgenGen(Generator):
    name = "trafgen"
    # Measured on a veth pair with trafgen 0.6.8: `-b 6000pps` sent 12,000
    # frames as bursts of up to ~900 per millisecond around a ~1 s pause, and
    # `-t <gap>` tops out near 20 kpps (a sleep per frame). Only its full
    # speed (the TX_RING path) is used.
    paces = False

    def available(self):
        return which("trafgen") is not None

    def prepare(self, round_pcap):
        self.cfg = os.path.join(self.dir, "round.trafgen")
        hexes = [f"0x{b:02x}" for b in range(256)]
        with open(self.cfg, "w") as out:
            out.write("# one round of `tapscope gen --pcap`, one frame per block\n")
            for frame in read_pcap(round_pcap):
                out.write("{ " + ", ".join(map(hexes.__getitem__, frame)) + " }\n")
        v = version(["trafgen", "-v"], r"trafgen ([\d.]+)")
        self.label = (f"trafgen {v or ''} (netsniff-ng, AF_PACKET TX_RING) replaying one round "
                      "of `tapscope gen --pcap`")

    def argv(self, link, rate, count):
        pace = [] if rate == 0 else ["-b", f"{int(rate)}pps"]
        return ["trafgen", "-i", self.cfg, "-o", link.gen, "-P", "1", "-n", str(count), "-Q", *pace]

    def parse(self, text):
        n = re.search(r"(\d+) packets outgoing", text)
        t = re.search(r"(\d+) sec, (\d+) usec on CPU", text)
        if not (n and t):
            return None
        return int(n.group(1)), int(t.group(1)) + int(t.group(2)) / 1e6


GENERATORS = {g.name: g for g in (TapscopeGen, TcpreplayGen, TrafgenGen)}


def read_pcap(path):
    """Frames of a classic little-endian pcap file (what `tapscope gen` writes)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        raise SystemExit(f"{path}: not a little-endian classic pcap")
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        yield data[at + 16:at + 16 + incl]
        at += 16 + incl


# --- capture tools ----------------------------------------------------------

class Tool:
    name = label = method = ""
    pid = None
    # Extra wait before the tool is stopped and its counts read.
    stop_wait = 0.0

    def __init__(self, args, workdir, pin):
        self.args, self.dir, self.pin = args, workdir, pin
        self.runs = 0

    def available(self):
        return None  # or a reason it is not

    def start(self, link):
        raise NotImplementedError

    def stop(self):
        """Stops the tool; returns {captured, kernel_drops, ...}."""
        raise NotImplementedError

    def files(self):
        self.runs += 1
        base = os.path.join(self.dir, f"{self.name}-{self.runs}")
        return open(base + ".out", "w+"), open(base + ".err", "w+")

    def wait_for(self, f, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f.seek(0)
            text = f.read()
            m = re.search(pattern, text)
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        f.seek(0)
        text = f.read()
        stop_process(self.p, signal.SIGKILL)
        raise RuntimeError(f"{self.name} did not start: {self.p.args}\n{text}")

    def taskset(self):
        return [] if self.pin is None else ["taskset", "-c", str(self.pin)]


class NoTool(Tool):
    name = "none"
    label = "nothing capturing"
    method = "-"

    def start(self, link):
        self.pid = None

    def stop(self):
        return {"captured": None, "kernel_drops": 0}


class TapscopeTool(Tool):
    def __init__(self, args, workdir, pin, name, config, label):
        super().__init__(args, workdir, pin)
        self.name, self.label, self.config_text = name, label, config
        self.config = os.path.join(workdir, f"{name}.toml")
        with open(self.config, "w") as f:
            f.write(config)

    def start(self, link):
        self.out_dir = os.path.join(self.dir, f"{self.name}-{self.runs + 1}-out")
        self.stdout, self.stderr = self.files()
        env = dict(os.environ, TAPSCOPE_LOG="info")
        # tapscope pins its own threads: the control core on the first core,
        # the worker on the next.
        self.p = popen([self.args.tapscope, "run", "--config", self.config, "--iface", link.cap,
                        "--out", self.out_dir], self.stdout, self.stderr, env=env)
        self.pid = self.p.pid
        m = self.wait_for(self.stderr, r"queue \d+: (xdp-[a-z-]+)")
        self.method = f"AF_XDP, {m.group(1)}"

    def stop(self):
        stop_process(self.p, signal.SIGINT, timeout=60)
        self.stdout.seek(0)
        text = self.stdout.read()
        res = {"exit": self.p.returncode}
        m = re.search(r"capture stopped: ([\d,]+) packets", text)
        if m:
            res["captured"] = int(m.group(1).replace(",", ""))
        tot = capture_table(self.out_dir)
        if tot is not None:
            res.update(tot)
            res["captured"] = tot["packets"]
            # The kernel counts a frame dropped for want of a fill-ring entry
            # in rx_dropped as well as in rx_fill_ring_empty_descs: not summed.
            res["kernel_drops"] = tot["src_dropped"] + tot["src_ring_full"]
            if tot.get("modes"):
                self.method = "AF_XDP, " + "/".join(tot["modes"])
        if "captured" not in res:
            raise RuntimeError(f"{self.name}: no packet count in its output:\n{text}")
        if not self.args.keep:
            shutil.rmtree(self.out_dir, ignore_errors=True)
        return res


def capture_table(out):
    """Totals of tapscope's `capture` table, or None without pyarrow."""
    try:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        return None
    import glob
    files = sorted(glob.glob(os.path.join(out, "capture", "date=*", "*.parquet")))
    if not files:
        return None
    t = pq.read_table(files)
    tot = {c: int(pc.sum(t[c]).as_py() or 0) for c in (
        "packets", "src_dropped", "src_ring_full", "src_fill_ring_empty", "src_invalid_descs",
        "records_dropped", "summary_queue_full", "busy_polls", "idle_polls")}
    tot["modes"] = sorted(set(t["capture_mode"].to_pylist()) - {None})
    return tot


class TcpdumpTool(Tool):
    name = "tcpdump"
    # libpcap hands tcpdump a TPACKET_V3 block when it is full or after the
    # block timeout (tcpdump's 1000 ms); frames in an unretired block at
    # SIGINT are never counted as captured.
    stop_wait = 1.2

    def available(self):
        if not which("tcpdump"):
            return "tcpdump not installed (apt-get install tcpdump)"
        v = version(["tcpdump", "--version"], r"tcpdump version (\S+)")
        lp = version(["tcpdump", "--version"], r"libpcap version ([^\s]+)")
        self.label = f"tcpdump {v} -w /dev/null -B 65536 (64 MiB)"
        self.method = f"AF_PACKET (libpcap {lp}, TPACKET_V3)"
        return None

    def start(self, link):
        self.stdout, self.stderr = self.files()
        self.p = popen([*self.taskset(), "tcpdump", "-i", link.cap, "-w", "/dev/null", "-B", "65536",
                        "-n"], self.stdout, self.stderr)
        self.pid = self.p.pid
        self.wait_for(self.stderr, r"listening on")

    def stop(self):
        stop_process(self.p, signal.SIGINT)
        self.stderr.seek(0)
        text = self.stderr.read()
        cap = re.search(r"(\d+) packets? captured", text)
        drop = re.search(r"(\d+) packets? dropped by kernel", text)
        recv = re.search(r"(\d+) packets? received by filter", text)
        if not (cap and drop):
            raise RuntimeError(f"tcpdump: no statistics on exit:\n{text}")
        return {"captured": int(cap.group(1)), "kernel_drops": int(drop.group(1)),
                "received_by_filter": int(recv.group(1)) if recv else None}


class SoftflowdTool(Tool):
    name = "softflowd"

    def available(self):
        if not which("softflowd") or not which("softflowctl"):
            return "softflowd not installed (apt-get install softflowd)"
        v = version([which("softflowd"), "-h"], r"softflowd version (\d+(?:\.\d+)*)")
        self.label = f"softflowd {v} -i -B 64 MiB, exporting to a closed port"
        self.method = "AF_PACKET (libpcap, its own snap length)"
        return None

    def start(self, link):
        self.stdout, self.stderr = self.files()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.ctl = os.path.join(self.dir, f"softflowd-{self.runs}.ctl")
        pidfile = os.path.join(self.dir, f"softflowd-{self.runs}.pid")
        # Foreground (-d); -6 so IPv6 frames count as flows; -m: tapscope's
        # flow capacity; -B: tcpdump's buffer.
        self.p = popen([*self.taskset(), which("softflowd"), "-i", link.cap,
                        "-n", f"127.0.0.1:{port}", "-d", "-6", "-m", "262144", "-B", str(64 << 20),
                        "-p", pidfile, "-c", self.ctl], self.stdout, subprocess.STDOUT)
        self.pid = self.p.pid
        self.wait_for(self.stdout, r"starting data collection")
        deadline = time.monotonic() + 10
        while not os.path.exists(self.ctl) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self):
        st = sh(which("softflowctl"), "-c", self.ctl, "statistics", check=False)
        stop_process(self.p, signal.SIGTERM)
        text = st.stdout + st.stderr

        def num(pattern):
            m = re.search(pattern, text)
            return int(m.group(1)) if m else None
        recv = num(r"Packets received by libpcap: (\d+)")
        if recv is None:
            raise RuntimeError(f"softflowctl statistics gave no packet count:\n{text}")
        # On Linux libpcap's "received" (the socket's tp_packets) includes
        # the frames the kernel dropped for want of ring space.
        drop = num(r"Packets dropped by libpcap: (\d+)") or 0
        ifdrop = num(r"Packets dropped by interface: (\d+)") or 0
        return {"captured": recv - drop, "kernel_drops": drop + ifdrop,
                "received_by_libpcap": recv, "processed": num(r"Packets processed: (\d+)")}


# --- trials -----------------------------------------------------------------

def trial(tool, gen, link, rate, count):
    tool.start(link)
    time.sleep(SETTLE_S)
    ok = False
    try:
        rx0, rxd0 = link.cap_stat("rx_packets"), link.cap_stat("rx_dropped")
        tx0, txd0 = link.gen_stats()
        sn0 = softnet_drops()
        gout = open(os.path.join(tool.dir, f"gen-{tool.name}-{tool.runs}.out"), "w+")
        gp = popen(gen.wrap(link, gen.argv(link, rate, count)), gout, subprocess.STDOUT)
        # The window opens when the first frame reaches the capture end.
        while gp.poll() is None and link.cap_stat("rx_packets") == rx0:
            time.sleep(0.001)
        w0 = time.monotonic()
        rx_w0 = link.cap_stat("rx_packets")
        t0 = proc_cpu_ns(tool.pid) if tool.pid else 0
        k0 = ksoftirqd_ns(KSOFTIRQD)
        g0 = tree_cpu_ns(gp.pid) if gp.returncode is None else None
        g_total = wait4(gp) if gp.returncode is None else None
        w_gen = time.monotonic() - w0
        time.sleep(DRAIN_S)
        t1 = proc_cpu_ns(tool.pid) if tool.pid else 0
        t_ticks = stat_ticks(tool.pid) if tool.pid else None
        k1 = ksoftirqd_ns(KSOFTIRQD)
        w_all = time.monotonic() - w0
        rx1, rxd1 = link.cap_stat("rx_packets"), link.cap_stat("rx_dropped")
        ok = True
        time.sleep(tool.stop_wait)
    finally:
        if not ok and tool.pid:
            stop_process(tool.p, signal.SIGKILL)
    res = tool.stop()
    tx1, txd1 = link.gen_stats()
    sn1 = softnet_drops()
    gout.seek(0)
    gtext = gout.read()
    gout.close()
    if gp.returncode != 0:
        raise RuntimeError(f"generator exited {gp.returncode}: {gp.args}\n{gtext[-2000:]}")

    sent = tx1 - tx0
    window = rx1 - rx_w0
    own = gen.parse(gtext)
    achieved = own[0] / own[1] if own and own[1] > 0 else window / max(w_gen, 1e-9)
    link_drops = (rxd1 - rxd0) + (txd1 - txd0) + (sn1 - sn0)
    captured = res.get("captured")
    if captured is None:  # nothing capturing
        lost = None
        zero_loss = True
    else:
        lost = max(0, sent - captured)
        zero_loss = lost == 0 and res.get("kernel_drops", 0) == 0
    r = {
        "tool": tool.name, "generator": gen.name, "offered_pps": rate,
        "achieved_pps": round(achieved),
        "sent": sent, "captured": captured, "lost": lost,
        "kernel_drops": res.get("kernel_drops"), "link_drops": link_drops,
        "veth_rx_dropped": rxd1 - rxd0, "softnet_dropped": sn1 - sn0,
        "zero_loss": zero_loss,
        "gen_limited": rate > 0 and achieved < GEN_SHORTFALL * rate,
        "window_frames": window,
        "tool_cpu_ns": (t1 - t0) if tool.pid else None,
        "tool_stat_ticks_end": t_ticks,
        "tool_ns_per_pkt": (t1 - t0) / window if tool.pid and window else None,
        "tool_core_share": (t1 - t0) / (w_all * 1e9) if tool.pid else None,
        "generator_cpu_ns": (g_total - g0) if g_total is not None and g0 is not None else None,
        "ksoftirqd_cpu_ns": k1 - k0,
        # Meaningful at full speed only (a pacing generator sleeps or spins).
        "sending_ns_per_pkt": ((g_total - g0) + (k1 - k0)) / window
        if rate == 0 and g_total is not None and g0 is not None and window else None,
        "window_s": w_all,
        "tool_detail": {k: v for k, v in res.items() if k not in ("captured", "kernel_drops")},
    }
    return r


def fmt_rate(r):
    return f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.0f} k"


def describe(r):
    loss = "n/a" if r["lost"] is None else ("0" if r["zero_loss"] else
                                            f"{r['lost']:,} lost, {r['kernel_drops'] or 0:,} kernel drops")
    ns = "-" if r["tool_ns_per_pkt"] is None else f"{r['tool_ns_per_pkt']:.0f} ns/pkt"
    return (f"{r['tool']:>17} offered {fmt_rate(r['offered_pps']) if r['offered_pps'] else 'max':>7}"
            f" achieved {fmt_rate(r['achieved_pps']):>7}pps sent {r['sent']:>9,} loss {loss}; "
            f"{ns}")


def sweep(tools, paced, fast, link, args):
    trials = []
    state = {t.name: {"best": None, "fail": None, "gen_limited": False, "done": False}
             for t in tools}

    def run(tool, rate):
        count = args.count or max(1000, int((rate or args.max_rate_guess) * args.seconds))
        r = trial(tool, paced if rate else fast, link, rate, count)
        trials.append(r)
        log("  " + describe(r))
        s = state[tool.name]
        if r["zero_loss"]:
            if s["best"] is None or r["achieved_pps"] > s["best"]["achieved_pps"]:
                s["best"] = r
        elif s["fail"] is None or r["achieved_pps"] < s["fail"]["achieved_pps"]:
            s["fail"] = r
        return r

    for rate in args.ladder:
        active = [t for t in tools if not state[t.name]["done"] and not state[t.name]["gen_limited"]]
        if not active:
            break
        log(f"rate {fmt_rate(rate)}pps ({paced.name}):")
        for tool in active:
            r = run(tool, rate)
            if not r["zero_loss"]:
                state[tool.name]["done"] = True
            elif r["gen_limited"]:
                # No loss, and the generator fell short of the rate: on to
                # the full-speed trial.
                state[tool.name]["gen_limited"] = True
    active = [t for t in tools if not state[t.name]["done"]]
    if active:
        log(f"full speed ({fast.name}):")
    for tool in active:
        s = state[tool.name]
        r = run(tool, 0)
        s["done"] = True
        s["gen_limited"] = r["zero_loss"]
    # Bisection between the highest rate without loss and the lowest with.
    for step in range(args.bisect):
        todo = []
        for tool in tools:
            s = state[tool.name]
            if s["fail"] is None:
                continue
            lo = s["best"]["achieved_pps"] if s["best"] else 0
            hi = s["fail"]["achieved_pps"]
            if lo and hi / lo < 1.15:
                continue
            mid = math.sqrt(lo * hi) if lo else hi / 2
            todo.append((tool, int(round(mid, -3))))
        if not todo:
            break
        log(f"bisection step {step + 1}:")
        for tool, rate in todo:
            run(tool, rate)
    return trials, state


def ceilings(gens, link, args, none):
    out = []
    for g in gens:
        log(f"generator ceiling, nothing capturing: {g.name}")
        r = trial(none, g, link, 0, args.ceiling_count)
        log("  " + describe(r))
        out.append({"generator": g.name, "label": g.label, "pps": r["achieved_pps"],
                    "sending_ns_per_pkt": r["sending_ns_per_pkt"], "sent": r["sent"]})
    return out


# --- report -----------------------------------------------------------------

def report(info, ceil, paced, fast, tools, trials, state, args):
    L = []
    by_tool = {t.name: [r for r in trials if r["tool"] == t.name] for t in tools}
    cap_tools = [t for t in tools if t.name != "none"]
    # The highest ladder rate at which every capturing tool had no loss.
    common = None
    for rate in args.ladder:
        ok = all(any(r["offered_pps"] == rate and r["zero_loss"] and not r["gen_limited"]
                     for r in by_tool[t.name]) for t in cap_tools)
        if ok:
            common = rate
    if common is None and args.ladder:
        # No rate without loss for every tool: compare CPU at the first one.
        common = args.ladder[0]
    ref = next((t for t in cap_tools if t.name == "tapscope"), cap_tools[0] if cap_tools else None)

    def at(name, rate):
        return next((r for r in by_tool[name] if r["offered_pps"] == rate), None)

    def ns(x):
        return "-" if x is None else f"{x:,.0f}"

    L.append("## Live capture on a veth pair: highest offered rate with zero loss")
    L.append("")
    L.append(f"Machine: {info['cpu_model']}{' (virtual machine)' if info['virtualised'] else ''}, "
             f"{info['cpus']} cores, Linux {info['kernel']}; load average {info['loadavg_start']:.1f} "
             f"at start, {info['loadavg_end']:.1f} at end; rustc processes running: "
             f"{info['rustc_start']} at start, {info['rustc_end']} at end"
             + (" (figures are noisy)." if info['rustc_start'] or info['rustc_end']
                or info['loadavg_start'] > 1 else "."))
    L.append(f"Generator: {paced.label} for the paced rates"
             + (f"; {fast.label} for the full-speed trial" if fast is not paced else ", and at full speed")
             + (f"; pinned to CPU {args.gen_cpu}" if args.gen_cpu is not None else "")
             + (f"; tcpdump and softflowd pinned to CPU {args.tool_cpu}, tapscope pins its own worker"
                " (control thread on CPU 0, worker on CPU 1)" if args.tool_cpu is not None else "") + ".")
    L.append("Generator ceilings, nothing capturing: "
             + ", ".join(f"{c['generator']} {fmt_rate(c['pps'])}pps" for c in ceil) + ".")
    L.append(f"Each trial: a fresh tool process, {('%d frames' % args.count) if args.count else ('rate x %.1f s of frames' % args.seconds)}; "
             "loss = frames that left the generator's end minus frames the tool reports.")
    L.append("")
    cr = fmt_rate(common) + "pps" if common else "the common rate"

    def cpu(r):
        if r is None or r["tool_ns_per_pkt"] is None:
            return "-"
        lossy = "" if r["zero_loss"] else ", with loss"
        d = r.get("tool_detail") or {}
        polls = (d.get("busy_polls") or 0) + (d.get("idle_polls") or 0)
        busy = f"; {100 * d['busy_polls'] / polls:.0f}% of polls found frames" if polls else ""
        return f"{r['tool_ns_per_pkt']:,.0f} ({100 * r['tool_core_share']:.0f}%{busy}{lossy})"

    def full(name):
        return next((r for r in by_tool[name] if r["offered_pps"] == 0), None)

    hdr = ["tool", "capture method", "highest zero-loss rate (pps)",
           "CPU ns/packet at that rate (share of a core)",
           f"CPU ns/packet at {cr} (share of a core)",
           "full speed: rate reached (pps)", "full speed: sending CPU ns/packet",
           "zero-loss rate vs tapscope", f"CPU at {cr} vs tapscope", "first loss at (pps)"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    summary = []
    ref_best = state[ref.name]["best"] if ref else None
    ref_common = at(ref.name, common) if ref and common else None
    for t in tools:
        s = state[t.name]
        best = s["best"]
        c = at(t.name, common) if common else None
        f = full(t.name)
        if t.name == "none":
            rate_txt = f"{best['achieved_pps']:,} (the generator alone)" if best else "-"
        elif best is None:
            rate_txt = f"< {s['fail']['achieved_pps']:,}" if s["fail"] else "-"
        else:
            rate_txt = f"{best['achieved_pps']:,}"
            if s["gen_limited"]:
                rate_txt = f"≥ {rate_txt} (generator-limited)"
        rv = (("≥ " if s["gen_limited"] else "") + f"{best['achieved_pps'] / ref_best['achieved_pps']:.2f}x"
              if best and ref_best and t.name != "none" else "-")
        cv = (f"{c['tool_ns_per_pkt'] / ref_common['tool_ns_per_pkt']:.2f}x"
              if c and ref_common and c["tool_ns_per_pkt"] and ref_common["tool_ns_per_pkt"] else "-")
        fail = "none"
        if s["fail"]:
            fl = s["fail"]
            why = []
            if fl["kernel_drops"]:
                why.append(f"{fl['kernel_drops']:,} kernel drops in the tool's counters")
            unseen = fl["link_drops"] - (fl["kernel_drops"] or 0)
            if unseen > 0:
                why.append(f"{unseen:,} more dropped by the veth or the backlog")
            fail = f"{fl['achieved_pps']:,} ({fl['lost']:,} lost" + "".join("; " + w for w in why) + ")"
        fr = "-" if f is None else (f"{f['achieved_pps']:,}" + ("" if f["zero_loss"] else " (with loss)"))
        L.append(f"| `{t.name}`: {t.label} | {t.method} | {rate_txt} | {cpu(best) if t.name != 'none' else '-'} | "
                 f"{cpu(c)} | {fr} | {ns(f['sending_ns_per_pkt']) if f else '-'} | {rv} | {cv} | {fail} |")
        summary.append({"tool": t.name, "label": t.label, "method": t.method,
                        "zero_loss_pps": best["achieved_pps"] if best else None,
                        "generator_limited": s["gen_limited"],
                        "tool_ns_per_pkt": best["tool_ns_per_pkt"] if best else None,
                        "tool_core_share": best["tool_core_share"] if best else None,
                        "common_rate_pps": common,
                        "tool_ns_per_pkt_at_common": c["tool_ns_per_pkt"] if c else None,
                        "tool_core_share_at_common": c["tool_core_share"] if c else None,
                        "full_speed_pps": f["achieved_pps"] if f else None,
                        "full_speed_sending_ns_per_pkt": f["sending_ns_per_pkt"] if f else None,
                        "first_loss_pps": s["fail"]["achieved_pps"] if s["fail"] else None})
    L.append("")
    limited = [t.name for t in cap_tools if state[t.name]["gen_limited"]]
    if limited:
        L.append(f"**The generator was the bottleneck for {', '.join(limited)}**: no loss up to the "
                 "fastest rate the generator reached with that tool capturing (full speed column). "
                 "On a veth pair the receive path (XDP program and copy into the AF_XDP ring, or the "
                 "AF_PACKET copy) runs in softirq on the sending CPU, so the generator slows down "
                 "when a tool captures: the sending CPU ns/packet above the `none` row is mostly "
                 "that tool's kernel receive cost (some of it can also run on the capturing CPU, "
                 "e.g. when an AF_XDP wakeup schedules the veth's NAPI poll there).")
    else:
        L.append("The generator was not the bottleneck: every tool lost frames at a rate the "
                 "generator reached.")
    L.append("")
    L.append("CPU ns/packet = the tool's process CPU time (all threads) from the first frame to "
             f"{DRAIN_S} s after the last ÷ the frames that arrived meanwhile (Mpps per core = "
             "1000 ÷ ns/packet); the share of a core is that CPU time ÷ the wall time. tapscope's "
             "worker busy-polls (the share of its polls that found frames is its real load), and "
             "its control thread writes the flow records to Parquet, so its ns/packet falls as the "
             "rate rises: compare tools at the same rate. Sending CPU = the generator's CPU time (with its children) plus the ksoftirqd "
             "threads', per frame, in the full-speed trial. Ratios divide by tapscope's row.")
    L.append("")
    L.append("<details><summary>every trial</summary>")
    L.append("")
    L.append("| tool | generator | offered | achieved pps | sent | captured | lost | "
             "tool-reported drops | veth/backlog drops | tool ns/pkt (core share) | sending ns/pkt |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in trials:
        L.append(f"| {r['tool']} | {r['generator']} | {r['offered_pps'] or 'full speed'} | "
                 f"{r['achieved_pps']:,} | {r['sent']:,} | "
                 f"{'-' if r['captured'] is None else format(r['captured'], ',')} | "
                 f"{'-' if r['lost'] is None else format(r['lost'], ',')} | "
                 f"{'-' if r['kernel_drops'] is None else format(r['kernel_drops'], ',')} | "
                 f"{r['link_drops']:,} | {cpu(r)} | {ns(r['sending_ns_per_pkt'])} |")
    L.append("")
    L.append("</details>")
    return "\n".join(L), summary


# --- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tapscope", default=os.path.join(REPO, "target", "release", "tapscope"),
                    help="tapscope binary (default: target/release/tapscope, built if missing)")
    ap.add_argument("--quick", action="store_true", help="about a minute: shorter trials, fewer rates")
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--tools", default="none,tapscope,tapscope-spin,tcpdump,softflowd",
                    help="comma-separated: none (generator alone), tapscope, tapscope-spin "
                         "(64 MiB UMEM, the peers' buffer), tcpdump, softflowd")
    ap.add_argument("--generator", choices=["auto", *GENERATORS], default="auto",
                    help="auto: the fastest available, measured first")
    ap.add_argument("--rates", help="comma-separated ladder of offered rates (pps); "
                                    "a trial at the generator's full speed follows")
    ap.add_argument("--seconds", type=float, help="sending time per trial (default 3, quick 1)")
    ap.add_argument("--count", type=int, help="frames per trial instead of rate x seconds")
    ap.add_argument("--bisect", type=int, help="bisection steps after the ladder (default 2, quick 1)")
    ap.add_argument("--ceiling-count", type=int, help="frames per generator-ceiling trial")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the generator to CPU 0 and tcpdump/softflowd to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, Parquet)")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("live_rate.py needs root (network namespaces, AF_XDP): run it with sudo")
    args.ladder = ([int(float(x)) for x in args.rates.split(",")] if args.rates
                   else (QUICK_LADDER if args.quick else LADDER))
    args.seconds = args.seconds or (1.0 if args.quick else 3.0)
    args.bisect = args.bisect if args.bisect is not None else (1 if args.quick else 2)
    args.ceiling_count = args.ceiling_count or (200_000 if args.quick else 500_000)
    args.max_rate_guess = 0
    ncpu = len(os.sched_getaffinity(0))
    args.gen_cpu = None if args.no_pin or ncpu < 2 else 0
    args.tool_cpu = None if args.no_pin or ncpu < 2 else 1

    for t in ("ip", "sysctl", "taskset"):
        if not which(t):
            sys.exit(f"live_rate.py needs `{t}`")
    if not os.path.exists(args.tapscope):
        log(f"{args.tapscope} missing: cargo build --release --bin tapscope")
        subprocess.run(["cargo", "build", "--release", "--bin", "tapscope"], cwd=REPO, check=True)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    # Also when started with SIGINT ignored (a background job): the
    # children then get the default disposition back, and Ctrl-C cleans up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    info = machine_info()
    workdir = tempfile.mkdtemp(prefix="tapscope-live-rate-")
    link = Link()
    try:
        # A copy, so a build replacing the binary mid-run changes nothing.
        ts = os.path.join(workdir, "tapscope")
        shutil.copy2(args.tapscope, ts)
        args.tapscope = ts
        round_pcap = os.path.join(workdir, "round.pcap")
        sh(ts, "gen", "--pcap", round_pcap)

        gens = [G(ts, workdir, args.gen_cpu) for G in GENERATORS.values()]
        gens = [g for g in gens if g.available()]
        if args.generator != "auto":
            gens = [g for g in gens if g.name == args.generator]
            if not gens:
                sys.exit(f"generator {args.generator} is not installed")
            if not gens[0].paces:
                log(f"note: {args.generator} sends paced rates in bursts; the ladder will be bursty")
        for g in gens:
            g.prepare(round_pcap)
        if not any(g.name == "trafgen" for g in gens) and args.generator == "auto":
            log("note: trafgen (apt-get install netsniff-ng) is usually the fastest generator here")

        none = NoTool(args, workdir, None)
        tools = []
        for name in [n.strip() for n in args.tools.split(",") if n.strip()]:
            if name == "none":
                tools.append(none)
            elif name == "tapscope":
                tools.append(TapscopeTool(
                    args, workdir, None, "tapscope", "",
                    "tapscope run (defaults: rx_ring 16384, 64 MiB UMEM, adaptive polling)"))
            elif name == "tapscope-spin":
                tools.append(TapscopeTool(
                    args, workdir, None, "tapscope-spin",
                    "[capture]\ncoalesce_us = 0\n",
                    "tapscope run (defaults, pure busy-polling: coalesce_us = 0)"))
            elif name == "tcpdump":
                tools.append(TcpdumpTool(args, workdir, args.tool_cpu))
            elif name == "softflowd":
                tools.append(SoftflowdTool(args, workdir, args.tool_cpu))
            else:
                sys.exit(f"unknown tool {name!r}")
        for t in list(tools):
            why = t.available()
            if why:
                log(f"skipping {t.name}: {why}")
                tools.remove(t)

        link.__enter__()
        log(f"link: {link.cap} (captured) <-> {link.gen} in namespace {link.ns}")
        KSOFTIRQD.extend(ksoftirqd_pids())
        ceil = ceilings(gens, link, args, none)
        by_name = {g.name: g for g in gens}
        fastest = max(ceil, key=lambda c: c["pps"])
        fast = by_name[fastest["generator"]]
        pacing = [c for c in ceil if by_name[c["generator"]].paces] or [fastest]
        paced = by_name[max(pacing, key=lambda c: c["pps"])["generator"]]
        log(f"paced rates: {paced.name}; full speed: {fast.name} ({fmt_rate(fastest['pps'])}pps alone)")
        # The full-speed trial sends as many frames as `seconds` at the ceiling.
        args.max_rate_guess = fastest["pps"]
        trials, state = sweep(tools, paced, fast, link, args)
        info["loadavg_end"] = os.getloadavg()[0]
        info["rustc_end"] = rustc_count()
        text, summary = report(info, ceil, paced, fast, tools, trials, state, args)
        print(text)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": info, "paced_generator": paced.name,
                           "full_speed_generator": fast.name, "ceilings": ceil,
                           "seconds": args.seconds, "count": args.count, "ladder": args.ladder,
                           "summary": summary, "trials": trials}, f, indent=1)
            log(f"wrote {args.json}")
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        for p in list(RUNNING):
            stop_process(p, signal.SIGINT, timeout=10)
        link.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
