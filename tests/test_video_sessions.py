"""Video sessions from the shared captures: `video_sessions` and
`video_windows` from a replay, read back with pyarrow.

A session needs flows of a video-category service and at least
video.session_min_segments (2) media segments: netflix.pcap holds two
plays, tls-appdata.pcap one (Twitch); the captures that only touch a
video service's web site or API (sites.pcapng, dazn.pcapng's three TLS
handshakes, youtube_quic.pcap's one burst of images from yt3.ggpht.com)
and every capture without a video service give none."""

import math

import pyarrow.parquet as pq
import pytest

from conftest import replay, table_files

PLAYS = {"netflix.pcap": ("netflix", 2), "tls-appdata.pcap": ("twitch", 1)}


@pytest.fixture(scope="module")
def replayed(tapscope, pcaps, tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    out = {}
    for capture in sorted(pcaps.iterdir()):
        if capture.suffix not in (".pcap", ".pcapng"):
            continue
        d = root / capture.name
        replay(tapscope, [capture], d, "--quiet")
        out[capture.name] = d
    return out


def rows(d, table):
    files = table_files(d, table)
    return pq.read_table(files).to_pylist() if files else []


def test_sessions_only_where_video_plays(replayed):
    found = {name: len(rows(d, "video_sessions")) for name, d in replayed.items()}
    assert {n: c for n, c in found.items() if c} == {n: c for n, (_, c) in PLAYS.items()}
    # Captures touching a video service without playing: flows, no session.
    for name in ("sites.pcapng", "dazn.pcapng", "youtube_quic.pcap"):
        cats = {f["service_category"] for f in rows(replayed[name], "flows")}
        assert "video" in cats, name
        assert not rows(replayed[name], "video_windows"), name


@pytest.mark.parametrize("name", sorted(PLAYS))
def test_sessions_and_windows_of_a_play(replayed, name):
    service, count = PLAYS[name]
    sessions = rows(replayed[name], "video_sessions")
    windows = rows(replayed[name], "video_windows")
    flows = rows(replayed[name], "flows")
    segments = rows(replayed[name], "video_segments")
    assert len(sessions) == count
    for s in sessions:
        assert s["service"] == service
        # The device is the one the flows of that service name.
        devices = {f["device_ip"] for f in flows if f["service"] == service}
        assert s["device_ip"] in devices
        assert s["segments"] >= 2 and s["end"] >= s["start"]
        mine = [g for g in segments if g["service"] == service
                and s["start"] <= g["last_byte_at"] and g["request_at"] <= s["end"]]
        assert len(mine) >= s["segments"] - 1, (len(mine), s["segments"])
        assert s["bytes_down"] >= sum(g["bytes"] for g in mine) * 0.9
        w = sorted((x for x in windows if x["session_id"] == s["session_id"]),
                   key=lambda x: x["window_index"])
        assert len(w) == s["windows"] >= 1
        assert [x["window_index"] for x in w] == list(range(len(w)))
        for x in w:
            assert x["session_start"] == s["start"]
            span = (x["window_end"] - x["window_start"]).total_seconds()
            assert 0 < span <= 10.0
            assert abs(x["f_window_s"] - span) < 1e-3
            feats = {k: v for k, v in x.items() if k.startswith("f_")}
            assert len(feats) >= 30 and all(math.isfinite(v) for v in feats.values()), feats
        # Bytes of the windows add up to the session's (frames toward the
        # device, in Mbit/s over each window's length).
        down = sum(x["f_down_mbps"] * x["f_window_s"] * 1e6 / 8 for x in w)
        assert down == pytest.approx(s["bytes_down"], rel=0.02, abs=2000)
        # The built-in model estimated every window with traffic.
        assert s["model_version"] not in ("", "none")
        assert s["resolution_mean"] is not None and 144 <= s["resolution_mean"] <= 1080
        assert w[0]["startup_delay_s"] is not None and w[0]["startup_delay_s"] >= 0
        assert s["startup_delay_s"] == w[0]["startup_delay_s"]


def test_features_only_without_a_model(tapscope, pcaps, tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('[video]\nmodel = "none"\n')
    out = tmp_path / "out"
    replay(tapscope, [pcaps / "netflix.pcap"], out, "--config", str(cfg), "--quiet")
    s = rows(out, "video_sessions")
    assert len(s) == 2 and {x["model_version"] for x in s} == {"none"}
    assert all(x["resolution_mean"] is None and x["startup_delay_s"] is None for x in s)
    assert all(w["resolution"] is None for w in rows(out, "video_windows"))


def test_a_bad_model_file_is_refused_with_its_key(tapscope, pcaps, tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"format": 1, "version": "x", "features": ["f_no_such_feature"]}')
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[video]\nmodel = "{bad}"\n')
    p = replay(tapscope, [pcaps / "netflix.pcap"], tmp_path / "out", "--config", str(cfg),
               check=False)
    assert p.returncode != 0
    assert "video.model" in p.stderr, p.stderr
