#!/usr/bin/env python3
"""Trains tapscope's video-quality models from the lab's ground truth.

Usage:
    python3 appliance/video/train/train_video.py --data DIR [--data DIR2 ...] \
        --out appliance/video/model [--seed 1]

Each DIR is a tapscope output folder holding the tables `video_windows`
(the appliance's 10 s windows and their `f_*` features) and `lab_sessions`
(the player's ground truth from `tapscope lab video`). Windows are joined
to lab sessions by device address and time, labelled with the height
rendered longest in the window, and two random forests are trained: a
resolution classifier over windows and a startup-delay regressor over
sessions' first windows. Both are judged on sessions never used to train
them (leave one title out, and one cap and one title out), next to two
baselines: a throughput rule and the same forest without segment features.

Writes to --out:
    video-model.json  the forests, as appliance/video/src/model.rs reads them
    MODEL_CARD.md     the data, the features, the evaluation, how to retrain
    golden.json       40 rows with scikit-learn's answers, for the Rust test

Needs Python 3, numpy, pandas, pyarrow and scikit-learn (scripts/deps test).
"""

import argparse
import datetime
import glob
import hashlib
import json
import math
import os
import re
import shlex
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

FORMAT = 1
# Forest size: the JSON stays well under 3 MB and the appliance walks
# 2 x N_ESTIMATORS paths of at most MAX_DEPTH nodes per window.
N_ESTIMATORS = 40
MAX_DEPTH = 12
MIN_SAMPLES_LEAF = 2
# A window with less rendered video than this is startup (or the end).
MIN_RENDERED_S = 2.0
# A video session joins the lab session of its device whose
# [started_at - margin, ended_at + margin] holds its start.
JOIN_MARGIN_S = 2.0
GOLDEN_ROWS = 40
MAX_JSON_BYTES = 3_000_000
# Features computed from the media segments the workers detected.
SEGMENT_PREFIXES = ("f_seg_", "f_cum_seg_", "f_last10_", "f_t_seg")
US = 1_000_000

WINDOW_COLUMNS = [
    "session_id",
    "device_ip",
    "service",
    "session_start",
    "window_start",
    "window_end",
    "window_index",
]
LAB_COLUMNS = [
    "run",
    "session",
    "title",
    "cap_mbps",
    "started_at",
    "ended_at",
    "status",
    "device_ip",
    "startup_delay_ms",
    "resolution_changes",
    "stalls",
]


class TrainError(Exception):
    """A problem with the input that stops training."""


# ---------------------------------------------------------------- reading


def table_files(folder, name):
    root = os.path.join(folder, name)
    if not os.path.isdir(root):
        raise TrainError(
            f"{root}: no such table folder ({folder} must be a tapscope output "
            f"folder with the tables video_windows and lab_sessions)"
        )
    files = []
    for f in sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True)):
        parts = os.path.relpath(f, root).split(os.sep)
        # Hidden and in-progress files are not part of the table.
        if not any(p.startswith((".", "_")) for p in parts):
            files.append(f)
    if not files:
        raise TrainError(f"{root}: the table has no Parquet file")
    return root, files


def read_table(folder, name, required):
    root, files = table_files(folder, name)
    try:
        schema = pa.unify_schemas([pq.read_schema(f) for f in files])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise TrainError(f"{root}: the files' schemas disagree: {e}") from e
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise TrainError(f"{root}: missing column(s) {', '.join(missing)}")
    table = ds.dataset(files, schema=schema, format="parquet").to_table()
    if table.num_rows == 0:
        raise TrainError(f"{root}: the table has no rows")
    return table


def micros(array):
    """A timestamp column (any unit; no time zone is taken as UTC) as int64 µs."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_timestamp(array.type):
        raise TrainError(f"expected a timestamp column, found {array.type}")
    us = pc.cast(array, pa.timestamp("us", tz=array.type.tz), safe=False)
    return np.asarray(us.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def strings(array):
    return np.asarray(array.to_pylist(), dtype=object)


def load_windows(folder):
    t = read_table(folder, "video_windows", WINDOW_COLUMNS)
    where = os.path.join(folder, "video_windows")
    features = [c for c in t.schema.names if c.startswith("f_")]
    if not features:
        raise TrainError(f"{where}: no feature column (f_*)")
    for c in features:
        if not pa.types.is_float64(t.schema.field(c).type):
            raise TrainError(f"{where}: feature {c} is {t.schema.field(c).type}, not float64")
    for c in WINDOW_COLUMNS:
        if t.column(c).null_count:
            raise TrainError(f"{where}: column {c} has {t.column(c).null_count} null value(s)")
    df = pd.DataFrame(
        {
            "session_id": strings(t.column("session_id")),
            "device_ip": strings(t.column("device_ip")),
            "service": strings(t.column("service")),
            "session_start": micros(t.column("session_start")),
            "window_start": micros(t.column("window_start")),
            "window_end": micros(t.column("window_end")),
            "window_index": np.asarray(t.column("window_index").to_numpy(), dtype=np.int64),
        }
    )
    x = np.column_stack(
        [np.asarray(t.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in features]
    )
    bad = ~np.isfinite(x)
    if bad.any():
        cols = [f"{features[j]} ({int(bad[:, j].sum())})" for j in range(len(features)) if bad[:, j].any()]
        raise TrainError(
            f"{where}: null, NaN or infinite feature values in {', '.join(cols)} "
            f"(the appliance writes -1 for a value that does not exist)"
        )
    return df, x, features


def load_lab(folder):
    t = read_table(folder, "lab_sessions", LAB_COLUMNS)
    where = os.path.join(folder, "lab_sessions")
    for c in LAB_COLUMNS:
        if c != "startup_delay_ms" and t.column(c).null_count:
            raise TrainError(f"{where}: column {c} has {t.column(c).null_count} null value(s)")
    n = t.num_rows
    lab = pd.DataFrame(
        {
            "run": strings(t.column("run")),
            "session": np.asarray(t.column("session").to_numpy(), dtype=np.int64),
            "title": strings(t.column("title")),
            "cap_mbps": np.asarray(t.column("cap_mbps").to_numpy(), dtype=np.float64),
            "started_at": micros(t.column("started_at")),
            "ended_at": micros(t.column("ended_at")),
            "status": strings(t.column("status")),
            "device_ip": strings(t.column("device_ip")),
            "startup_delay_ms": np.asarray(
                t.column("startup_delay_ms").to_numpy(zero_copy_only=False), dtype=np.float64
            ),
        }
    )
    if lab.duplicated(["run", "session"]).any():
        dup = lab[lab.duplicated(["run", "session"], keep=False)][["run", "session"]]
        raise TrainError(f"{where}: (run, session) repeated: {dup.drop_duplicates().values.tolist()[:5]}")

    def records(col, fields):
        a = t.column(col).combine_chunks()
        parents = np.asarray(pc.list_parent_indices(a).to_numpy(), dtype=np.int64)
        flat = pc.list_flatten(a)
        out = {}
        for f, kind in fields:
            v = pc.struct_field(flat, f)
            if v.null_count:
                raise TrainError(f"{where}: {col}.{f} has null value(s)")
            out[f] = micros(v) if kind == "ts" else np.asarray(v.to_numpy(zero_copy_only=False), dtype=np.float64)
        per_row = [[] for _ in range(n)]
        for i, p in enumerate(parents):
            per_row[p].append({f: out[f][i] for f, _ in fields})
        return per_row

    lab["changes"] = records("resolution_changes", [("at", "ts"), ("to_height", "num")])
    lab["stalls"] = records("stalls", [("start", "ts"), ("duration_ms", "num")])
    return lab


# ---------------------------------------------------------------- labels


def rendered(lab_row, w0, w1):
    """Microseconds of each height rendered in [w0, w1), stalls excluded."""
    changes = sorted(lab_row.changes, key=lambda c: c["at"])
    stalls = [(int(s["start"]), int(s["start"] + round(s["duration_ms"] * 1000))) for s in lab_row.stalls]
    out = {}
    for i, c in enumerate(changes):
        h = int(c["to_height"])
        a = int(c["at"])
        b = int(changes[i + 1]["at"]) if i + 1 < len(changes) else int(lab_row.ended_at)
        lo, hi = max(a, w0), min(b, w1)
        if hi <= lo or h <= 0:
            continue
        # Stalls may overlap each other: merge them within [lo, hi).
        cut = sorted((max(s0, lo), min(s1, hi)) for s0, s1 in stalls if min(s1, hi) > max(s0, lo))
        stalled, end = 0, lo
        for s0, s1 in cut:
            s0 = max(s0, end)
            if s1 > s0:
                stalled += s1 - s0
                end = s1
        out[h] = out.get(h, 0) + (hi - lo) - stalled
    return out


# ---------------------------------------------------------------- join


def join_folder(index, folder, windows, lab, stats):
    """Labels one folder's windows; returns (resolution rows, startup rows)."""
    sessions = windows.groupby("session_id", sort=False).agg(
        device_ip=("device_ip", "first"),
        session_start=("session_start", "first"),
        n_ip=("device_ip", "nunique"),
        n_start=("session_start", "nunique"),
        windows=("window_index", "size"),
    )
    bad = sessions[(sessions.n_ip > 1) | (sessions.n_start > 1)]
    if len(bad):
        raise TrainError(
            f"{folder}/video_windows: session(s) {list(bad.index[:5])} have more than one "
            f"device_ip or session_start"
        )
    margin = int(JOIN_MARGIN_S * US)
    by_ip = {ip: g for ip, g in lab.groupby("device_ip")}
    match = {}
    for sid, s in sessions.iterrows():
        g = by_ip.get(s.device_ip)
        cand = None
        if g is not None:
            cand = g[(g.started_at - margin <= s.session_start) & (s.session_start <= g.ended_at + margin)]
        if cand is None or len(cand) == 0:
            stats["unmatched_sessions"] += 1
            stats["unmatched_windows"] += int(s.windows)
            continue
        if len(cand) > 1:
            stats["ambiguous_sessions"] += 1
        best = cand.index[np.argmin(np.abs(cand.started_at.values - s.session_start))]
        if lab.at[best, "status"] != "ok":
            stats["not_ok_sessions"] += 1
            stats["not_ok_windows"] += int(s.windows)
            continue
        match[sid] = best
    stats["video_sessions"] += len(sessions)
    stats["video_windows"] += len(windows)
    ok = lab[lab.status == "ok"]
    stats["lab_sessions"] += len(lab)
    stats["lab_ok"] += len(ok)
    matched_lab = set(match.values())
    stats["lab_without_video"] += sum(1 for i in ok.index if i not in matched_lab)
    # The first video session of each lab session carries its startup.
    first_video = {}
    for sid, li in match.items():
        st = sessions.at[sid, "session_start"]
        if li not in first_video or st < sessions.at[first_video[li], "session_start"]:
            first_video[li] = sid
    stats["later_video_sessions"] += len(match) - len(first_video)

    res_rows, start_rows = [], []
    for i in range(len(windows)):
        w = windows.iloc[i]
        li = match.get(w.session_id)
        if li is None:
            continue
        L = lab.loc[li]
        meta = dict(
            folder=index,
            run=L.run,
            lab_session=int(L.session),
            title=L.title,
            cap=float(L.cap_mbps),
            session_key=f"{index}:{w.session_id}",
            session_start=int(w.session_start),
            window_index=int(w.window_index),
            row=i,
        )
        r = rendered(L, int(w.window_start), int(w.window_end))
        total = sum(r.values())
        if total >= MIN_RENDERED_S * US:
            # The longest; on a tie, the higher.
            h = max(r.items(), key=lambda kv: (kv[1], kv[0]))[0]
            res_rows.append(dict(meta, label=h))
        else:
            stats["short_windows"] += 1
        if w.window_index == 0 and first_video.get(li) == w.session_id:
            if math.isnan(L.startup_delay_ms):
                stats["no_startup_truth"] += 1
            else:
                start_rows.append(dict(meta, target=float(L.startup_delay_ms) / 1000.0))
    firsts = set(windows.loc[windows.window_index == 0, "session_id"])
    stats["no_first_window"] += sum(1 for sid in first_video.values() if sid not in firsts)
    return res_rows, start_rows


def load(folders):
    stats = dict.fromkeys(
        [
            "video_sessions",
            "video_windows",
            "unmatched_sessions",
            "unmatched_windows",
            "not_ok_sessions",
            "not_ok_windows",
            "ambiguous_sessions",
            "lab_sessions",
            "lab_ok",
            "lab_without_video",
            "later_video_sessions",
            "short_windows",
            "no_startup_truth",
            "no_first_window",
        ],
        0,
    )
    features = None
    xs, res, start = [], [], []
    for index, folder in enumerate(folders):
        windows, x, f = load_windows(folder)
        if features is None:
            features = f
        elif f != features:
            raise TrainError(
                f"{folder}/video_windows: features differ from {folders[0]}: "
                f"only here {sorted(set(f) - set(features))}, only there "
                f"{sorted(set(features) - set(f))}, or in another order"
            )
        lab = load_lab(folder)
        r, s = join_folder(index, folder, windows, lab, stats)
        xs.append(x)
        res += r
        start += s
    offsets = np.cumsum([0] + [len(x) for x in xs])
    x_all = np.vstack(xs)
    res = pd.DataFrame(res)
    start = pd.DataFrame(start)
    if len(res) == 0:
        raise TrainError(
            "no window joined a lab session with 2 s or more of rendered video: "
            f"{stats['video_sessions']} video sessions, {stats['unmatched_sessions']} without "
            f"a lab session, {stats['not_ok_sessions']} of lab sessions not ok"
        )
    if len(start) == 0:
        raise TrainError("no video session's first window joined a lab session with a startup delay")
    order = ["run", "lab_session", "session_start", "window_index"]
    res = res.sort_values(order, kind="stable").reset_index(drop=True)
    start = start.sort_values(order, kind="stable").reset_index(drop=True)
    xr = x_all[[offsets[f] + r for f, r in zip(res.folder, res.row)]]
    xsu = x_all[[offsets[f] + r for f, r in zip(start.folder, start.row)]]
    return features, res, xr, start, xsu, stats


# ---------------------------------------------------------------- models


def classifier(seed, balanced):
    return RandomForestClassifier(
        n_estimators=N_ESTIMATORS,
        max_depth=MAX_DEPTH,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        class_weight="balanced" if balanced else None,
        random_state=seed,
        n_jobs=1,
    )


def regressor(seed):
    return RandomForestRegressor(
        n_estimators=N_ESTIMATORS,
        max_depth=MAX_DEPTH,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        random_state=seed,
        n_jobs=1,
    )


class ThroughputRule:
    """Baseline (a): resolution = the class whose training windows' median
    f_down_mbps is nearest; startup = the training median startup in the
    quartile bin (of training first windows' f_down_mbps) of the first
    window's f_down_mbps."""

    def __init__(self, features):
        if "f_down_mbps" not in features:
            raise TrainError("baseline (a) needs the feature f_down_mbps, which the windows lack")
        self.j = features.index("f_down_mbps")

    def fit_resolution(self, x, y):
        self.classes = np.unique(y)
        self.medians = np.array([np.median(x[y == c, self.j]) for c in self.classes])
        return self

    def predict_resolution(self, x):
        d = np.abs(x[:, self.j][:, None] - self.medians[None, :])
        return self.classes[np.argmin(d, axis=1)]

    def fit_startup(self, x, y):
        self.edges = np.quantile(x[:, self.j], [0.25, 0.5, 0.75])
        bins = np.searchsorted(self.edges, x[:, self.j], side="right")
        overall = float(np.median(y))
        self.bin_median = [float(np.median(y[bins == b])) if (bins == b).any() else overall for b in range(4)]
        return self

    def predict_startup(self, x):
        bins = np.searchsorted(self.edges, x[:, self.j], side="right")
        return np.array([self.bin_median[b] for b in bins])


def seg_free(features):
    return [j for j, f in enumerate(features) if not f.startswith(SEGMENT_PREFIXES)]


# ---------------------------------------------------------------- evaluation


def folds_loto(res, start):
    titles = sorted(set(res.title) | set(start.title))
    if len(titles) < 2:
        return None, f"not possible: the data has one title only ({titles[0]})"
    folds = []
    for t in titles:
        folds.append(
            (f"title {t}", res.title != t, res.title == t, start.title != t, start.title == t)
        )
    return folds, None


def folds_cap_title(res, start):
    titles = sorted(set(res.title) | set(start.title))
    caps = sorted(set(res.cap) | set(start.cap))
    if len(titles) < 2 or len(caps) < 2:
        return None, (
            f"not possible: the data has {len(titles)} title(s) and {len(caps)} cap(s); "
            f"holding out one of each needs two or more of both"
        )
    folds = []
    for c in caps:
        for t in titles:
            rt = (res.title == t) & (res.cap == c)
            st = (start.title == t) & (start.cap == c)
            if not rt.any() and not st.any():
                continue
            folds.append(
                (
                    f"cap {c:g} title {t}",
                    (res.title != t) & (res.cap != c),
                    rt,
                    (start.title != t) & (start.cap != c),
                    st,
                )
            )
    return folds, None


def run_folds(folds, res, xr, start, xs, features, methods, seed):
    """Predicts every test row of every fold with every method."""
    y = res.label.values
    ys = start.target.values
    pred_r = {m: np.full(len(res), -1, dtype=np.int64) for m in methods}
    pred_s = {m: np.full(len(start), np.nan) for m in methods}
    nofit_r, nofit_s, unseen = 0, 0, 0
    noseg = seg_free(features)
    for name, rtr, rte, str_, ste in folds:
        rtr, rte, str_, ste = (np.asarray(v, dtype=bool) for v in (rtr, rte, str_, ste))
        unseen += int((~np.isin(y[rte], y[rtr])).sum())
        if rte.any() and not rtr.any():
            nofit_r += int(rte.sum())
        if ste.any() and not str_.any():
            nofit_s += int(ste.sum())
        for m in methods:
            if rte.any() and rtr.any():
                if m == "rule":
                    rule = ThroughputRule(features).fit_resolution(xr[rtr], y[rtr])
                    pred_r[m][rte] = rule.predict_resolution(xr[rte])
                else:
                    cols = noseg if m.startswith("noseg") else slice(None)
                    clf = classifier(seed, balanced=m.endswith("balanced"))
                    clf.fit(xr[rtr][:, cols], y[rtr])
                    pred_r[m][rte] = clf.predict(xr[rte][:, cols])
            # class_weight does not change the regressor: one startup forest each.
            same = m.endswith("_balanced") and m[: -len("_balanced")] in methods
            if ste.any() and str_.any() and not same:
                if m == "rule":
                    rule = ThroughputRule(features).fit_startup(xs[str_], ys[str_])
                    pred_s[m][ste] = rule.predict_startup(xs[ste])
                else:
                    cols = noseg if m.startswith("noseg") else slice(None)
                    reg = regressor(seed).fit(xs[str_][:, cols], ys[str_])
                    pred_s[m][ste] = reg.predict(xs[ste][:, cols])
    return pred_r, pred_s, nofit_r, nofit_s, unseen


def resolution_metrics(y, p, classes):
    ok = p >= 0
    y, p = y[ok], p[ok]
    if len(y) == 0:
        return None
    prec, rec, _, support = precision_recall_fscore_support(
        y, p, labels=classes, zero_division=0
    )
    rank = {c: i for i, c in enumerate(classes)}
    within1 = np.mean([abs(rank[a] - rank.get(b, -99)) <= 1 for a, b in zip(y, p)])
    return dict(
        n=len(y),
        accuracy=float(np.mean(y == p)),
        within1=float(within1),
        precision=prec,
        recall=rec,
        support=support,
        confusion=confusion_matrix(y, p, labels=classes),
    )


def startup_metrics(y, p):
    ok = ~np.isnan(p)
    if not ok.any():
        return None
    e = np.abs(y[ok] - p[ok])
    return dict(n=int(ok.sum()), mae=float(e.mean()), p90=float(np.percentile(e, 90)))


# ---------------------------------------------------------------- export


def serde_f64(text):
    """The f64 that serde_json 1.x (without its float_roundtrip feature, as
    the appliance builds it) reads from a JSON number: the digits as a u64
    significand, then one multiplication or division by a power of ten."""
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?", text)
    if not m:
        raise ValueError(f"not a JSON number: {text}")
    sign, whole, frac, exp = m.groups()
    frac = frac or ""
    significand = int(whole + frac)
    if significand >= 2**64:
        return None  # serde's long-number path: not emulated
    exponent = int(exp or 0) - len(frac)
    f = float(significand)
    while True:
        k = abs(exponent)
        if k <= 308:
            pow10 = float(10**k)
            f = f * pow10 if exponent >= 0 else f / pow10
            break
        if f == 0.0:
            break
        if exponent >= 0:
            return math.inf
        f /= 1e308
        exponent += 308
    return -f if sign else f


def f32_neighbours(t):
    """lo = the largest f32 <= t, hi = the next f32 above it."""
    lo = np.float32(t)
    if float(lo) > t:
        lo = np.nextafter(lo, np.float32(-np.inf))
    return float(lo), float(np.nextafter(lo, np.float32(np.inf)))


def split_threshold(t):
    """A threshold that sends every f32 value the same way as scikit-learn's
    `t` (any d with lo <= d < hi does) and that serde_json reads exactly:
    the shortest such decimal."""
    if not math.isfinite(t) or abs(t) > 3.0e38:
        raise TrainError(f"split threshold {t} is out of the f32 range")
    lo, hi = f32_neighbours(t)
    mid = lo / 2 + hi / 2
    for p in range(1, 18):
        for base in (mid, t):
            d = float(format(base, f".{p}g"))
            if lo <= d < hi and serde_f64(repr(d)) == d:
                return d
    raise TrainError(f"no exactly readable threshold equivalent to {t!r}")


def compact(v):
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def tree_json(est, classifier_tree):
    t = est.tree_
    n = t.node_count
    leaf = t.children_left == -1
    out = {
        "feature": [-2 if leaf[i] else int(t.feature[i]) for i in range(n)],
        "threshold": [-2 if leaf[i] else split_threshold(float(t.threshold[i])) for i in range(n)],
        "left": [int(v) for v in t.children_left],
        "right": [int(v) for v in t.children_right],
    }
    if classifier_tree:
        out["value"] = [[compact(v) for v in t.value[i][0]] if leaf[i] else [] for i in range(n)]
    else:
        out["value"] = [compact(t.value[i][0][0]) if leaf[i] else 0 for i in range(n)]
    return out


def model_json(version, features, clf, reg):
    return {
        "format": FORMAT,
        "version": version,
        "features": list(features),
        "resolution": {
            "classes": [int(c) for c in clf.classes_],
            "trees": [tree_json(e, True) for e in clf.estimators_],
        },
        "startup": {"trees": [tree_json(e, False) for e in reg.estimators_]},
    }


def walk(tree, x32):
    """Leaf index per row, as appliance/video/src/model.rs walks."""
    feature = np.asarray(tree["feature"])
    thr = np.asarray(tree["threshold"], dtype=np.float64)
    left = np.asarray(tree["left"])
    right = np.asarray(tree["right"])
    node = np.zeros(len(x32), dtype=np.int64)
    rows = np.arange(len(x32))
    while True:
        inner = left[node] != -1
        if not inner.any():
            return node
        r, nd = rows[inner], node[inner]
        go_left = x32[r, feature[nd]] <= thr[nd]
        node[inner] = np.where(go_left, left[nd], right[nd])


def evaluate_export(doc, x):
    """The exported file's answers under the appliance's rules."""
    x32 = x.astype(np.float32).astype(np.float64)
    trees = doc["resolution"]["trees"]
    classes = np.asarray(doc["resolution"]["classes"])
    acc = np.zeros((len(x), len(classes)))
    for tr in trees:
        values = []
        for v in tr["value"]:
            v = np.asarray(v, dtype=np.float64)
            s = sum(v.tolist()) if v.size else 0.0
            values.append(v if (s == 0.0 or abs(s - 1.0) <= 1e-9) else v / s)
        leaves = walk(tr, x32)
        acc += np.stack([values[i] for i in leaves])
    acc /= len(trees)
    best = np.argmax(acc, axis=1)
    st = np.zeros(len(x))
    for tr in doc["startup"]["trees"]:
        v = np.asarray(tr["value"], dtype=np.float64)
        st += v[walk(tr, x32)]
    st /= len(doc["startup"]["trees"])
    return classes[best], acc[np.arange(len(x)), best], st


def data_hash(features, res, xr, start, xs):
    h = hashlib.sha256()
    h.update(json.dumps(features).encode())
    h.update(np.ascontiguousarray(xr).tobytes())
    h.update(np.asarray(res.label.values, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(xs).tobytes())
    h.update(np.asarray(start.target.values, dtype=np.float64).tobytes())
    return h.hexdigest()[:8]


# ---------------------------------------------------------------- report


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def pct(v):
    return "—" if v is None else f"{100 * v:.1f} %"


def secs(v):
    return "—" if v is None else f"{v:.2f} s"


METHOD_NAMES = {
    "rf": "random forest",
    "rf_balanced": "random forest, class_weight=balanced",
    "rule": "(a) throughput rule",
    "noseg": "(b) random forest without segment features",
    "noseg_balanced": "(b) random forest without segment features",
}


def compute_split(folds, res, xr, start, xs, features, classes, methods, seed):
    pred_r, pred_s, nofit_r, nofit_s, unseen = run_folds(
        folds, res, xr, start, xs, features, methods, seed
    )
    rm = {m: resolution_metrics(res.label.values, pred_r[m], classes) for m in methods}
    sm = {m: startup_metrics(start.target.values, pred_s[m]) for m in methods}
    return dict(folds=len(folds), rm=rm, sm=sm, nofit_r=nofit_r, nofit_s=nofit_s, unseen=unseen)


def split_report(title, note, result, res, classes, methods, chosen):
    lines = [f"### {title}", "", note, ""]
    if result is None:
        return lines
    rm, sm = result["rm"], result["sm"]

    def shared(m):
        return m.endswith("_balanced") and m[: -len("_balanced")] in methods

    rows = []
    for m in methods:
        r, s = rm[m], sm[m]
        rows.append(
            [
                METHOD_NAMES[m] + (" **(exported)**" if m == chosen else ""),
                pct(r and r["accuracy"]),
                pct(r and r["within1"]),
                r["n"] if r else 0,
                "(same forest as above)" if shared(m) else secs(s and s["mae"]),
                "" if shared(m) else secs(s and s["p90"]),
                "" if shared(m) else (s["n"] if s else 0),
            ]
        )
    counts = res.label.value_counts()
    lines += [
        md_table(
            [
                "method",
                "resolution accuracy",
                "within one class",
                "windows",
                "startup MAE",
                "startup P90 abs. error",
                "sessions",
            ],
            rows,
        ),
        "",
        f"{result['folds']} folds. For scale: the most common class ({counts.idxmax()}p) is "
        f"{pct(counts.max() / len(res))} of the windows.",
    ]
    lines.append(
        f"Windows whose class no training window of their fold has (no classifier can get "
        f"them right): {result['unseen']} of {len(res)}."
    )
    if result["nofit_r"] or result["nofit_s"]:
        lines.append(
            f"Not predicted (no training row left once the fold's title and cap are held out): "
            f"{result['nofit_r']} windows, {result['nofit_s']} sessions."
        )
    lines += ["", "Per class, precision / recall:", ""]
    pr_rows = []
    for k, c in enumerate(classes):
        r0 = rm[methods[0]]
        row = [f"{c}p", int(r0["support"][k]) if r0 else 0]
        for m in methods:
            r = rm[m]
            row.append("—" if r is None else f"{r['precision'][k]:.2f} / {r['recall'][k]:.2f}")
        pr_rows.append(row)
    lines += [md_table(["class", "windows"] + [METHOD_NAMES[m] for m in methods], pr_rows), ""]
    for m in methods:
        if m not in (chosen, "rule") or rm[m] is None:
            continue
        lines += [f"Confusion matrix, {METHOD_NAMES[m]} (rows: true, columns: predicted):", ""]
        cm = rm[m]["confusion"]
        lines += [
            md_table(
                ["true \\ predicted"] + [f"{c}p" for c in classes],
                [[f"{c}p"] + [int(v) for v in cm[i]] for i, c in enumerate(classes)],
            ),
            "",
        ]
    return lines


def data_section(folders, res, start, stats):
    lines = ["## Training data", ""]
    lines += [f"- Data folders: {', '.join(f'`{f}`' for f in folders)}"]
    runs = sorted(set(res.run) | set(start.run))
    lines += [f"- Lab runs: {', '.join(f'`{r}`' for r in runs)}"]
    s = stats
    lines += [
        f"- Video sessions in `video_windows`: {s['video_sessions']} ({s['video_windows']} windows).",
        f"- Dropped, no lab session of that device around their start: {s['unmatched_sessions']} "
        f"sessions ({s['unmatched_windows']} windows).",
        f"- Dropped, their lab session's status is not ok: {s['not_ok_sessions']} sessions "
        f"({s['not_ok_windows']} windows).",
        f"- Joined with more than one lab session in reach (the nearest start taken): "
        f"{s['ambiguous_sessions']}.",
        f"- Lab sessions: {s['lab_sessions']}, ok {s['lab_ok']}; ok ones without any video "
        f"session: {s['lab_without_video']}.",
        f"- Video sessions after the first of their lab session (windows used, no startup row): "
        f"{s['later_video_sessions']}.",
        f"- Windows with less than {MIN_RENDERED_S:g} s rendered (startup, end; not used for "
        f"resolution): {s['short_windows']}.",
        f"- Startup rows lost: no startup truth {s['no_startup_truth']}, no window 0 "
        f"{s['no_first_window']}.",
        f"- Used: {len(res)} labelled windows from {res.session_key.nunique()} video sessions "
        f"for resolution; {len(start)} sessions for startup.",
        "",
        "Labelled windows / startup sessions per cap (rows) and title (columns):",
        "",
    ]
    titles = sorted(set(res.title) | set(start.title))
    caps = sorted(set(res.cap) | set(start.cap))
    rows = []
    for c in caps:
        row = [f"{c:g} Mbit/s"]
        for t in titles:
            nw = int(((res.cap == c) & (res.title == t)).sum())
            ns = int(((start.cap == c) & (start.title == t)).sum())
            row.append(f"{nw} / {ns}")
        row.append(f"{int((res.cap == c).sum())} / {int((start.cap == c).sum())}")
        rows.append(row)
    rows.append(
        ["all"]
        + [f"{int((res.title == t).sum())} / {int((start.title == t).sum())}" for t in titles]
        + [f"{len(res)} / {len(start)}"]
    )
    lines += [md_table(["cap"] + titles + ["all"], rows), ""]
    counts = res.label.value_counts().sort_index()
    lines += [
        "Windows per rendered height: " + ", ".join(f"{h}p {n}" for h, n in counts.items()) + ".",
        "",
        f"Startup delay (s): median {start.target.median():.2f}, "
        f"10th-90th percentile {start.target.quantile(0.1):.2f}-{start.target.quantile(0.9):.2f}.",
        "",
    ]
    return lines


# ---------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, metavar="DIR",
                    help="a tapscope output folder with video_windows and lab_sessions (repeatable)")
    ap.add_argument("--out", required=True, metavar="DIR", help="where the model, card and golden rows go")
    ap.add_argument("--seed", type=int, default=1, help="random seed of the forests and of the golden rows")
    args = ap.parse_args(argv)

    folders = [os.path.normpath(d) for d in args.data]
    features, res, xr, start, xs, stats = load(folders)
    classes = sorted(int(c) for c in set(res.label))
    y = res.label.values
    ys = start.target.values

    # Evaluation: leave one title out, then one cap and one title out.
    loto, loto_why = folds_loto(res, start)
    capt, capt_why = folds_cap_title(res, start)
    eval_lines = ["## Evaluation", ""]
    eval_lines += [
        "Every row is predicted by forests (and baselines) trained without any session "
        "of its title (and, in the second split, also without any session of its cap). "
        "Sessions never appear in both training and test.",
        "",
        "Baselines: (a) throughput rule: resolution = the class whose training windows' "
        "median `f_down_mbps` is nearest to the window's; startup = the median training "
        "startup in the window-0 `f_down_mbps` quartile bin (quartiles of the training "
        "sessions). (b) the same random forest without the segment features "
        f"({', '.join(p + '*' for p in SEGMENT_PREFIXES)}).",
        "",
    ]
    chosen_balanced = False
    if loto is not None:
        methods = ["rf", "rf_balanced", "rule", "noseg"]
        result = compute_split(loto, res, xr, start, xs, features, classes, methods, args.seed)
        rm = result["rm"]
        chosen_balanced = rm["rf_balanced"]["accuracy"] > rm["rf"]["accuracy"]
        chosen = "rf_balanced" if chosen_balanced else "rf"
        eval_lines += split_report(
            "Leave one title out",
            "Each title's sessions are predicted by models trained on all other titles (all caps).",
            result, res, classes, methods, chosen,
        )
        eval_lines += [
            f"Exported: class_weight {'balanced' if chosen_balanced else 'none'}, the one with the "
            f"higher leave-one-title-out accuracy ({pct(rm['rf_balanced']['accuracy'])} balanced, "
            f"{pct(rm['rf']['accuracy'])} without). The choice is made on the folds reported here, "
            f"so its row is slightly optimistic; baseline (b) uses the same class_weight.",
            "",
        ]
    else:
        eval_lines += ["### Leave one title out", "", loto_why, ""]
    chosen = "rf_balanced" if chosen_balanced else "rf"
    noseg = "noseg_balanced" if chosen_balanced else "noseg"
    methods = [chosen, "rule", noseg]
    title = "Hold out one cap and one title"
    note = (
        "For each (cap, title) pair, its sessions are predicted by models trained only on "
        "sessions of the other caps and the other titles."
    )
    if capt is not None:
        result = compute_split(capt, res, xr, start, xs, features, classes, methods, args.seed)
        eval_lines += split_report(title, note, result, res, classes, methods, chosen)
    else:
        eval_lines += [f"### {title}", "", capt_why, ""]

    # Final models on all labelled rows.
    clf = classifier(args.seed, chosen_balanced).fit(xr, y)
    reg = regressor(args.seed).fit(xs, ys)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    version = f"video-rf-{today}-{data_hash(features, res, xr, start, xs)}"
    doc = model_json(version, features, clf, reg)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    if len(text) > MAX_JSON_BYTES:
        raise TrainError(
            f"the model file would be {len(text)} bytes (more than {MAX_JSON_BYTES}): "
            f"lower N_ESTIMATORS or MAX_DEPTH"
        )
    # The file as the appliance reads it must answer as scikit-learn does.
    read_back = json.loads(text, parse_float=serde_f64)
    for name, x in (("resolution windows", xr), ("startup sessions", xs)):
        h, p, s = evaluate_export(read_back, x)
        proba = clf.predict_proba(x)
        sk_h = clf.classes_[np.argmax(proba, axis=1)]
        sk_p = proba.max(axis=1)
        sk_s = reg.predict(x)
        if not (np.array_equal(h, sk_h) and np.allclose(p, sk_p, rtol=0, atol=1e-12)
                and np.allclose(s, sk_s, rtol=1e-12, atol=1e-12)):
            raise TrainError(f"the exported model disagrees with scikit-learn on the {name}")

    # Golden rows: real rows, values as the appliance will read them.
    rng = np.random.default_rng(args.seed)
    n_start = min(len(start), GOLDEN_ROWS // 4)
    pick_s = rng.choice(len(start), size=n_start, replace=False)
    pick_r = rng.choice(len(res), size=min(len(res), GOLDEN_ROWS - n_start), replace=False)
    gx = np.vstack([xs[np.sort(pick_s)], xr[np.sort(pick_r)]])
    gx = np.vectorize(lambda v: serde_f64(repr(float(v))))(gx).astype(np.float64)
    proba = clf.predict_proba(gx)
    best = np.argmax(proba, axis=1)
    gs = reg.predict(gx)
    golden = [
        {
            "x": [float(v) for v in gx[i]],
            "resolution": int(clf.classes_[best[i]]),
            "probability": float(proba[i, best[i]]),
            "startup_s": float(gs[i]),
        }
        for i in range(len(gx))
    ]

    importances = []
    for what, est in (("resolution", clf), ("startup", reg)):
        order = np.argsort(-est.feature_importances_)[:8]
        importances.append(
            f"  - {what}: "
            + ", ".join(f"`{features[j]}` {est.feature_importances_[j]:.2f}" for j in order)
        )

    nodes_r = sum(e.tree_.node_count for e in clf.estimators_)
    nodes_s = sum(e.tree_.node_count for e in reg.estimators_)
    command = "python3 appliance/video/train/train_video.py " + " ".join(
        [f"--data {shlex.quote(d)}" for d in args.data]
        + [f"--out {shlex.quote(args.out)}", f"--seed {args.seed}"]
    )
    card = [
        f"# Video-quality model `{version}`",
        "",
        "Two random forests over the appliance's 10 s window features (`video_windows`, "
        "`f_*`): a classifier of the rendered height and a regressor of the startup delay "
        "(from a session's first window). The appliance reads `video-model.json` "
        "(`appliance/video/src/model.rs`); `golden.json` holds scikit-learn's answers for "
        f"{len(golden)} real rows, checked by `appliance/video/tests/golden.rs`.",
        "",
        f"Trained {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC with "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, seed {args.seed}.",
        "",
    ]
    card += data_section(folders, res, start, stats)
    card += [
        "## Features",
        "",
        f"{len(features)} columns, in the model's order (segment features marked *): "
        + ", ".join(f"`{f}`" + ("*" if f.startswith(SEGMENT_PREFIXES) else "") for f in features)
        + ".",
        "",
        "Labels: a window's resolution is the height rendered longest within "
        "[window_start, window_end) (stall time excluded; a height holds from its change "
        f"until the next change or the session's end); windows with less than {MIN_RENDERED_S:g} s "
        "rendered are not used for the resolution model. A video session belongs to the lab "
        "session of the same device whose [started_at - 2 s, ended_at + 2 s] holds its start. "
        "Startup: the first window (window_index 0) of the first video session of each lab "
        "session, target startup_delay_ms / 1000.",
        "",
        "## Model",
        "",
        f"- RandomForestClassifier and RandomForestRegressor: n_estimators {N_ESTIMATORS}, "
        f"max_depth {MAX_DEPTH}, min_samples_leaf {MIN_SAMPLES_LEAF}, class_weight "
        f"{'balanced' if chosen_balanced else 'none'} (classifier).",
        f"- Classes: {', '.join(f'{c}p' for c in classes)}.",
        f"- Nodes: resolution {nodes_r}, startup {nodes_s}; `video-model.json` is "
        f"{len(text)} bytes.",
        "- Most important features (impurity decrease, final forests):",
        *importances,
        "",
    ]
    card += eval_lines
    card += [
        "## Retraining",
        "",
        "A data folder holds `video_windows` (tapscope's output) and `lab_sessions` "
        "(the lab's ground truth). A lab run made with video sessions on has both in its "
        "`--out` folder. For a run recorded before, replay its pcap with the lab's "
        "configuration and copy its ground truth beside the result:",
        "",
        "```",
        "tapscope replay --config DATASET/lab/replay.toml DATASET/lab/mirror-*.pcap --out TRAIN",
        "cp -r DATASET/lab_sessions DATASET/lab_runs TRAIN/",
        "```",
        "",
        "Then, from the repository's root (`scripts/deps test` installs scikit-learn):",
        "",
        "```",
        command,
        "```",
        "",
        "Then run `cargo test -p tapscope-video --test golden`.",
        "",
    ]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "video-model.json"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        rows = ",\n".join("  " + json.dumps(g, allow_nan=False) for g in golden)
        f.write(f'{{\n "version": {json.dumps(version)},\n "rows": [\n{rows}\n ]\n}}\n')
    with open(os.path.join(args.out, "MODEL_CARD.md"), "w") as f:
        f.write("\n".join(card) + "\n")
    print("\n".join(card))
    print(f"wrote {args.out}/video-model.json, MODEL_CARD.md, golden.json", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except TrainError as e:
        print(f"train_video: {e}", file=sys.stderr)
        sys.exit(1)
