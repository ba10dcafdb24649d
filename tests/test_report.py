"""`tapscope report`: the tables drawn as one self-contained HTML page.

The page is opened in headless Chromium (driven through chromedriver over
the W3C WebDriver protocol, plain HTTP): it must log no console error,
have every section, and each chart must hold drawn data (coloured SVG
shapes with real extent, not just axes and grid, which are grey). A
full-page screenshot of each page is kept under target/report-test/ and its
path printed. Reports are drawn from replayed shared captures plus real
probe runs, from the demo's output (ROOT), from empty and partial folders,
and served over HTTP on a loopback address."""

import base64
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

import duckdb
import pytest

from conftest import REPO, replay

SECTIONS = ["data", "traffic", "top", "capture", "hitters", "probes", "flow-sizes", "video"]
ARTIFACTS = REPO / "target" / "report-test"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Browser:
    """Headless Chromium through chromedriver (W3C WebDriver over HTTP)."""

    def __init__(self):
        for tool in ("chromium", "chromedriver"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is not installed (scripts/deps test installs it)")
        self.port = free_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                self.req("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    self.driver.kill()
                    pytest.fail("chromedriver did not start")
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,900",
                         "--disable-background-networking", "--no-first-run"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.sid = self.req("POST", "/session", caps)["sessionId"]

    def req(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                   method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=120) as f:
            return json.load(f)["value"]

    def s(self, method, path, body=None):
        return self.req(method, f"/session/{self.sid}{path}", body)

    def open(self, url):
        self.s("POST", "/url", {"url": url})

    def console(self):
        """Console entries since the last call: (level, message)."""
        return [(e["level"], e["message"]) for e in self.s("POST", "/se/log", {"type": "browser"})]

    def script(self, js):
        return self.s("POST", "/execute/sync", {"script": js, "args": []})

    def screenshot(self, path):
        """The whole page as a PNG at `path`."""
        h = self.script("return document.documentElement.scrollHeight")
        self.s("POST", "/window/rect", {"width": 1200, "height": min(int(h) + 100, 16000)})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.s("GET", "/screenshot")))
        print(f"screenshot: {path}")
        return path

    def close(self):
        try:
            self.s("DELETE", "")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=20)


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


# Per chart: shapes drawn in a colour (axes, grid, background and text are
# grey, black or white) with a real extent, and the extent they cover.
MARKS_JS = r"""
const grey = c => {
  const m = (c || '').match(/[\d.]+/g);
  if (!m) return true;
  const [r, g, b, a] = m.map(Number);
  return (a !== undefined && a === 0) || (r === g && g === b);
};
const out = {};
for (const f of document.querySelectorAll('figure.chart')) {
  const svg = f.querySelector('svg');
  let marks = 0, x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
  for (const el of (svg ? svg.querySelectorAll('polygon,polyline,rect,circle,path,line') : [])) {
    const st = getComputedStyle(el);
    const coloured = (st.fill !== 'none' && !grey(st.fill)) ||
                     (st.stroke !== 'none' && !grey(st.stroke));
    if (!coloured) continue;
    const b = el.getBBox();
    if (b.width < 1 && b.height < 1) continue;
    marks++;
    x0 = Math.min(x0, b.x); x1 = Math.max(x1, b.x + b.width);
    y0 = Math.min(y0, b.y); y1 = Math.max(y1, b.y + b.height);
  }
  out[f.dataset.chart] = {marks: marks, w: marks ? x1 - x0 : 0, h: marks ? y1 - y0 : 0,
                          svg_w: svg ? svg.getBoundingClientRect().width : 0};
}
const sections = {}, order = [];
for (const s of document.querySelectorAll('main > section')) {
  order.push(s.id);
  sections[s.id] = {charts: Number(s.dataset.charts),
                    missing: Array.from(s.querySelectorAll('p.missing')).map(p => p.textContent)};
}
return {charts: out, sections: sections, order: order};
"""


def check_page(browser, url, shot_name, expect_charts):
    """Opens `url`, takes the screenshot, and checks the console, the
    sections and that each expected chart (id or id regex) has drawn data.
    Returns what the page holds."""
    browser.console()  # drop what came before
    browser.open(url)
    page = browser.script(MARKS_JS)
    browser.screenshot(ARTIFACTS / f"{shot_name}.png")
    errors = [e for e in browser.console() if e[0] in ("SEVERE", "WARNING")]
    assert errors == [], errors
    assert page["order"] == SECTIONS, page["order"]
    charts = page["charts"]
    for want in expect_charts:
        got = [c for c in charts if re.fullmatch(want, c)]
        assert got, f"no chart {want}: {sorted(charts)}"
        for c in got:
            m = charts[c]
            assert m["marks"] > 0 and max(m["w"], m["h"]) > 20, (c, m)
    # No chart is drawn without data: every chart on the page has some.
    for c, m in charts.items():
        assert m["marks"] > 0, (c, m)
    return page


def run_report(tapscope, root, out, *extra, check=True):
    p = subprocess.run([str(tapscope), "report", str(root), "--out", str(out), *extra],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture
def tcp_listener():
    """A TCP port on 127.0.0.1 that accepts connections."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield s.getsockname()[1]
    stop.set()
    t.join()
    s.close()


def run_probes(tapscope, out, tmp_path, ok_port):
    """Real probe runs into `out`: a tcp task that connects, one refused, and
    udp_echo rounds against `tapscope echo-server`."""
    echo_port = free_port()
    echo = subprocess.Popen([str(tapscope), "echo-server", "--listen", f"127.0.0.1:{echo_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    closed = free_port()
    cfg = tmp_path / "probes.toml"
    cfg.write_text(f"""
[probe]
flush_interval_s = 1

[[probes]]
name = "local-tcp"
kind = "tcp"
target = "127.0.0.1:{ok_port}"
interval_s = 1

[[probes]]
name = "closed-port"
kind = "tcp"
target = "127.0.0.1:{closed}"
interval_s = 1

[[probes]]
name = "echo"
kind = "udp_echo"
target = "127.0.0.1:{echo_port}"
interval_s = 1
count = 5
interval_ms = 20
""")
    try:
        p = subprocess.run([str(tapscope), "probe", "--config", str(cfg), "--out", str(out),
                            "--duration", "6"], capture_output=True, text=True, timeout=60)
    finally:
        echo.terminate()
        echo.wait(timeout=10)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


class Text(HTMLParser):
    """The text of a page, and its sections' ids."""

    def __init__(self):
        super().__init__()
        self.text = []
        self.sections = []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.sections.append(dict(attrs).get("id"))

    def handle_data(self, data):
        self.text.append(data)


def page_text(path):
    t = Text()
    t.feed(pathlib.Path(path).read_text())
    return " ".join(t.text), t.sections


def test_report_of_replayed_captures_and_probes(tapscope, pcaps, tmp_path, browser, tcp_listener):
    out = tmp_path / "tables"
    # Two captures of the same morning, in time order, into one folder.
    replay(tapscope, [pcaps / "iphone.pcap", pcaps / "android.pcap"], out)
    run_probes(tapscope, out, tmp_path, tcp_listener)
    html = tmp_path / "report.html"
    p = run_report(tapscope, out, html)
    assert "8 sections" in p.stdout, p.stdout
    page = check_page(browser, html.as_uri(), "replay", [
        "traffic-service", "traffic-device", "top-services", "top-devices",
        "capture-packets", "capture-drops", "hh-src_bytes", "hh-dst_bytes",
        "hh-src_dport_packets", "probe-local-tcp", "probe-closed-port", "probe-echo",
        "flow-sizes-packets", "flow-sizes-bytes"])
    # Only the video section has nothing, and says why.
    for sid, s in page["sections"].items():
        if sid == "video":
            # (No video service plays in these captures.)
            assert s["missing"] and "No video session" in s["missing"][0], s
        else:
            assert s["missing"] == [], (sid, s)
    # The top list agrees with DuckDB on the same files.
    con = duckdb.connect()
    top_service, = con.execute(
        f"select service from read_parquet('{out}/traffic/*/*.parquet') "
        f"group by service order by sum(bytes_down + bytes_up) desc limit 1").fetchone()
    first_row = browser.script(
        "return document.querySelector('#top table tbody tr td').textContent")
    assert first_row == top_service
    # Every probe task is listed with its runs and failures.
    runs = dict(con.execute(
        f"select task, count(*) filter (where not ok) from read_parquet('{out}/probes/*/*.parquet') "
        f"group by task").fetchall())
    assert runs["closed-port"] > 0 and runs["local-tcp"] == 0 and runs["echo"] == 0, runs
    text, _ = page_text(html)
    assert "refused" in text
    # No script, no external resource: the file stands alone.
    src = html.read_text()
    assert "<script" not in src and "http://" not in src.replace("http://www.w3.org", "")


def test_report_filters_by_time_and_tap(tapscope, pcaps, tmp_path):
    out = tmp_path / "tables"
    replay(tapscope, [pcaps / "iphone.pcap", pcaps / "android.pcap"], out)
    # iphone.pcap ends at 10:43:21, android.pcap starts at 10:46:09.
    only_iphone = tmp_path / "iphone.html"
    run_report(tapscope, out, only_iphone, "--until", "2020-02-23T10:44:00Z")
    text, _ = page_text(only_iphone)
    assert "2020-02-23 10:44:00 UTC" in text
    con = duckdb.connect()
    devices = {d for d, in con.execute(
        f"select distinct device_name from read_parquet('{out}/traffic/*/*.parquet') "
        f"where interval_end < '2020-02-23 10:44:00+00'").fetchall()}
    later = {d for d, in con.execute(
        f"select distinct device_name from read_parquet('{out}/traffic/*/*.parquet') "
        f"where interval_end >= '2020-02-23 10:44:00+00'").fetchall()} - devices
    assert devices and later
    for d in devices:
        assert d in text
    for d in later:
        assert d not in text, d
    # Nothing in range, or another tap: every table section says so.
    for args, word in ((["--since", "2030-01-01"], "time range"), (["--tap", "no-such-tap"], "tap")):
        f = tmp_path / "none.html"
        run_report(tapscope, out, f, *args)
        text, _ = page_text(f)
        assert text.count(f"none in the selected {word}") >= 5, text
    p = run_report(tapscope, out, tmp_path / "x.html", "--since", "yesterday", check=False)
    assert p.returncode != 0 and "age" in p.stderr


def test_report_on_empty_and_partial_folders(tapscope, pcaps, tmp_path, browser):
    empty = tmp_path / "empty"
    empty.mkdir()
    html = tmp_path / "empty.html"
    p = run_report(tapscope, empty, html)
    page = check_page(browser, html.as_uri(), "empty", [])
    assert page["charts"] == {}
    for sid, s in page["sections"].items():
        assert s["missing"], sid
    assert "holds none of tapscope's tables" in p.stdout

    # Partial: no capture table, an empty probes folder, a broken file.
    out = tmp_path / "partial"
    replay(tapscope, [pcaps / "iphone.pcap"], out)
    shutil.rmtree(out / "capture")
    broken = next((out / "heavy_hitters").glob("date=*")) / "heavy_hitters-broken.parquet"
    broken.write_bytes(b"PAR1 cut short")
    html = tmp_path / "partial.html"
    p = run_report(tapscope, out, html)
    page = check_page(browser, html.as_uri(), "partial",
                      ["traffic-service", "top-services", "hh-src_bytes", "flow-sizes-packets"])
    sec = page["sections"]
    assert "No capture table" in sec["capture"]["missing"][0]
    assert "probes table has no complete file" in sec["probes"]["missing"][0]
    assert any("heavy_hitters-broken.parquet" in m for m in sec["hitters"]["missing"]), sec
    assert sec["traffic"]["missing"] == [] and sec["traffic"]["charts"] == 2
    assert "No capture table" in p.stdout

    p = run_report(tapscope, tmp_path / "no-such-folder", tmp_path / "x.html", check=False)
    assert p.returncode == 1 and "no such folder" in p.stderr


def test_report_draws_video_sessions_when_the_table_exists(tapscope, pcaps, tmp_path, browser):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "tables"
    replay(tapscope, [pcaps / "iphone.pcap"], out)
    d = out / "video_sessions" / "date=2020-02-23"
    d.mkdir(parents=True)
    t0 = 1_582_454_400_000_000  # 2020-02-23 10:40 UTC, µs
    n = 12
    pq.write_table(pa.table({
        "tap_id": ["vm"] * n,
        "service": ["youtube" if i % 3 else "netflix" for i in range(n)],
        "session_start": pa.array([t0 + i * 60_000_000 for i in range(n)],
                                  pa.timestamp("us", tz="UTC")),
        "startup_delay_ms": [400.0 + 50 * i for i in range(n)],
        "resolution": ["720p" if i % 2 else "1080p" for i in range(n)],
    }), d / "video_sessions-vm-1.parquet", compression="zstd")  # as the sink writes
    html = tmp_path / "video.html"
    run_report(tapscope, out, html)
    page = check_page(browser, html.as_uri(), "video", ["video-sessions", "video-startup"])
    assert page["sections"]["video"]["missing"] == []
    text, _ = page_text(html)
    assert "youtube" in text and "1080p" in text


def test_the_page_check_sees_console_errors_and_empty_charts(browser, tmp_path):
    """The checks above can fail: a console error and a chart of bare axes
    are both caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom')</script>"
                   "<main><section id='x'></section></main>"
                   "<figure class='chart' data-chart='axes'><svg width='100' height='100'>"
                   "<rect x='0' y='0' width='100' height='100' fill='#FFFFFF'/>"
                   "<polyline points='10,90 90,90' stroke='#000000' fill='none'/></svg>"
                   "</figure></body></html>")
    with pytest.raises(AssertionError) as e:
        check_page(browser, bad.as_uri(), "bad", [])
    assert "boom" in str(e.value)
    browser.open(bad.as_uri())
    assert browser.script(MARKS_JS)["charts"]["axes"]["marks"] == 0


def test_report_served_on_loopback(tapscope, pcaps, tmp_path, browser):
    out = tmp_path / "tables"
    out.mkdir()
    srv = subprocess.Popen([str(tapscope), "report", str(out), "--serve", "127.0.0.1:0",
                            "--reload", "30"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert m, f"{line!r} (exit {srv.poll()})"
        url = m.group(1)
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
            assert "no-store" in r.headers["Cache-Control"]
            first = r.read().decode()
        assert "No traffic table" in first or "traffic table has no complete file" in first
        assert '<meta http-equiv="refresh" content="30">' in first
        # Tables arrive while it runs: a later request draws them.
        replay(tapscope, [pcaps / "iphone.pcap"], out)
        time.sleep(6)  # past the shortest time between two drawings (5 s)
        check_page(browser, url, "served", ["traffic-service", "capture-packets"])
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "etc/passwd", timeout=30)
        assert e.value.code == 404
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    # Not on other addresses unless asked.
    p = subprocess.run([str(tapscope), "report", str(out), "--serve", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "refusing" in p.stderr and "--allow-remote" in p.stderr


@pytest.mark.root
def test_report_of_the_demo(tapscope, tmp_path, browser):
    if os.geteuid() != 0:
        pytest.fail("the demo needs root: run the suite as root")
    out = tmp_path / "demo"
    p = subprocess.run([str(tapscope), "demo", "--seconds", "8", "--out", str(out)],
                       capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    html = tmp_path / "demo.html"
    run_report(tapscope, out, html)
    page = check_page(browser, html.as_uri(), "demo", [
        "traffic-service", "traffic-device", "top-services", "top-devices",
        "capture-packets", "hh-.*", "scans", "flow-sizes-packets", "flow-sizes-bytes"])
    # The demo's port scan and host sweep are in the scans table, and drawn.
    con = duckdb.connect()
    kinds = {k for k, in con.execute(
        f"select distinct kind from read_parquet('{out}/scans/*/*.parquet')").fetchall()}
    assert kinds == {"port_scan", "host_scan"}, kinds
    text, _ = page_text(html)
    assert "port_scan" in text and "host_scan" in text
    assert page["sections"]["traffic"]["missing"] == []
