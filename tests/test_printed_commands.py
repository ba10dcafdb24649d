"""Every read-back command that README.md and `tapscope demo` print works as
printed, on the machine `scripts/deps` prepared.

The commands are not copied here: they are taken from README.md's ```sh
blocks and from the demo's own output, so a changed README or demo is what
gets run. Each command falls under exactly one rule (RULES below):

- checked: a reader one-liner (`duckdb ...`, `python3 ...`). It runs with
  `bash -lc` (a login shell, so `duckdb` and `python3` are those a root
  shell finds, not only the test's PATH), as printed, in a folder that holds
  the data under the path the command names: README's commands read
  `tap-data/`, the test's replay output; the demo's read `./tapscope-demo/`,
  where the demo wrote. No command text is rewritten. It must exit 0 and
  show a result with at least one row.
- excluded, each by a named rule with its reason: commands that reach a tap
  over SSH, the set-up commands themselves, the image builder, usage
  synopses, commands that need a network interface, and the video lab
  (whose duckdb lines are still parsed by DuckDB's parser here).

A command that no rule covers fails the test, and so does a README with
fewer checked commands than CHECKED_FLOOR, so the test cannot pass by
checking nothing.

`tap-data/` is made of every shared capture (several dates, so the globs
must match the Hive layout `DIR/<table>/date=YYYY-MM-DD/*.parquet`), a
`tapscope gen --pcap` round (its port scan and host sweep fill `scans`),
and one `udp_echo` probe run against `tapscope echo-server` on loopback
(`probes`). The demo test is ROOT (namespace, veth pair, AF_XDP); CI runs
as root."""

import json
import os
import re
import shlex
import subprocess

import duckdb
import pytest

from conftest import REPO, replay, table_files

README = REPO / "README.md"
# The README's checked commands today: flows (duckdb and pyarrow/pandas),
# traffic, heavy_hitters, scans, probes. Lower it only when removing one.
CHECKED_FLOOR = 6
DEMO_CHECKED_FLOOR = 3
READERS = ("duckdb", "python3")


def _remote(words):
    # ssh always needs a host; scp and rsync when an argument is host:path.
    return words[0] == "ssh" or (
        words[0] in ("scp", "rsync") and any(re.match(r"^[^/.][^/]*:", w) for w in words[1:]))


# (rule, why a command under it is not run here, predicate over the command's
# shell words and its text). First match wins; "checked" is the last rule.
RULES = [
    ("remote", "reaches a tap over SSH (ssh, or scp/rsync with a host:path): no tap here",
     lambda w, c: _remote(w)),
    ("setup", "a set-up command itself (scripts/...): scripts/test runs scripts/deps before this",
     lambda w, c: w[0].startswith("scripts/")
     or w[:1] == ["sudo"] and w[1].startswith("scripts/")),
    ("image", "builds or writes the appliance image (sudo): tests/test_image.py builds and boots it",
     lambda w, c: w[0] == "sudo"),
    ("lab", "the video lab or its data under tapscope-lab/ (root, minutes of real playback): "
            "tests/test_lab.py checks its tables; its SQL is parsed here",
     lambda w, c: w[:2] == ["tapscope", "lab"] or "tapscope-lab" in c),
    ("synopsis", "a usage synopsis ([--option ARG], (a | b)), not a command",
     lambda w, c: re.search(r"\[-|\(--", c) is not None),
    ("interface", "creates links or sends or captures on a network interface (root): "
                  "tests/test_live.py, test_gen.py and test_demo.py do that on veth pairs",
     lambda w, c: w[0] == "ip" or w[0] == "tapscope" and ("--iface" in w or w[1:2] == ["run"])),
    ("checked", "a reader one-liner: run as printed",
     lambda w, c: w[0] in READERS),
]


def classify(cmd):
    words = shlex.split(cmd, comments=True)
    for name, _, pred in RULES:
        if pred(words, cmd):
            return name
    return None


def readme_commands(text=None):
    """(line, command) for every command in README.md's ```sh blocks. A
    command spans lines while a quote is open (duckdb -c "...") or a line ends
    in a backslash; lines that are only comments are skipped."""
    text = README.read_text() if text is None else text
    out = []
    for m in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M):
        first = text.count("\n", 0, m.start(1)) + 1
        buf, start = "", 0
        for i, line in enumerate(m.group(1).splitlines()):
            if not buf:
                start = first + i
            buf = f"{buf}\n{line}" if buf else line
            try:
                words = shlex.split(buf, comments=True)
            except ValueError:
                continue  # an open quote or a trailing backslash: the command goes on
            if words:
                out.append((start, buf))
            buf = ""
        assert not buf, f"README.md:{start}: unterminated command {buf!r}"
    return out


def printed_commands(output):
    """The commands a program printed for the user to run: indented lines
    (the demo and the lab print them under a heading) whose first word is a
    reader, a copy tool or tapscope itself."""
    words = READERS + ("ssh", "scp", "rsync", "tapscope", "sudo")
    return [line.strip() for line in output.splitlines()
            if line[:1].isspace() and line.strip().split(" ", 1)[0] in words]


def run_reader(cmd, cwd):
    """Runs a checked command as printed and checks it showed a result."""
    p = subprocess.run(["bash", "-lc", cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=120)
    where = (f"\n$ {cmd}\n(in {cwd})\nexit {p.returncode}\n"
             f"stdout:\n{p.stdout[-2000:]}\nstderr:\n{p.stderr[-2000:]}")
    assert p.returncode == 0, where
    assert p.stdout.strip(), "no output" + where
    if shlex.split(cmd)[0] == "duckdb":
        # duckbox: a result with rows has the header's separator line; an
        # empty one is a header box and "0 rows".
        assert "├" in p.stdout, "no rows" + where
    else:
        assert "Empty DataFrame" not in p.stdout, "no rows" + where
    return p.stdout


def duckdb_sql_error(cmd):
    """DuckDB's parser's complaint about the SQL of `duckdb -c "SQL"`, or None."""
    words = shlex.split(cmd, comments=True)
    sql = words[words.index("-c") + 1]
    res = json.loads(duckdb.connect().execute("select json_serialize_sql(?)", [sql]).fetchone()[0])
    return res.get("error_message") if res.get("error") else None


COMMANDS = readme_commands() if README.exists() else []
CHECKED = [(line, c) for line, c in COMMANDS if classify(c) == "checked"]


def test_every_readme_command_has_a_rule():
    unruled = [f"README.md:{line}: {c}" for line, c in COMMANDS if classify(c) is None]
    assert not unruled, ("commands no rule of tests/test_printed_commands.py covers (make them "
                         "runnable here, or add a rule with its reason):\n" + "\n".join(unruled))
    assert len(CHECKED) >= CHECKED_FLOOR, [c for _, c in CHECKED]


def test_readme_duckdb_sql_parses():
    """Also the lab's duckdb lines, which are not run here."""
    bad = [f"README.md:{line}: {err}" for line, c in COMMANDS
           if shlex.split(c, comments=True)[0] == "duckdb" and (err := duckdb_sql_error(c))]
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def tap_data(tapscope, pcaps, tmp_path_factory):
    """A folder with `tap-data/` in it, as `rsync ... ./tap-data/` would leave."""
    root = tmp_path_factory.mktemp("printed")
    data = root / "tap-data"
    mix = root / "mix.pcap"
    subprocess.run([str(tapscope), "gen", "--pcap", str(mix)], check=True, capture_output=True,
                   timeout=120)
    replay(tapscope, [*sorted(pcaps.iterdir()), mix], data, "-q")
    echo = subprocess.Popen([str(tapscope), "echo-server", "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = echo.stderr.readline()
        m = re.search(r"echo server on udp (\S+)", line)
        assert m, line
        conf = root / "probe.toml"
        conf.write_text(f'[[probes]]\nname = "echo"\nkind = "udp_echo"\ntarget = "{m.group(1)}"\n')
        p = subprocess.run([str(tapscope), "probe", "--config", str(conf), "--once",
                            "--out", str(data)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        echo.terminate()
        echo.wait(timeout=10)
    dates = {f.parent.name for f in table_files(data, "flows")}
    assert len(dates) >= 2, dates  # the globs must reach across date= folders
    for table in ("flows", "traffic", "heavy_hitters", "scans", "probes"):
        assert table_files(data, table), f"no {table} files to read back"
    return root


@pytest.mark.parametrize("cmd", [c for _, c in CHECKED], ids=[f"README.md:{l}" for l, _ in CHECKED])
def test_readme_command_works_as_printed(tap_data, cmd):
    run_reader(cmd, tap_data)


@pytest.mark.root
def test_demo_printed_commands_work_as_printed(tapscope, tmp_path):
    """`tapscope demo` as scripts/demo runs it (`--out ./tapscope-demo`, a
    shorter run), then every command it printed, in the same folder."""
    if os.geteuid() != 0:
        pytest.fail("the demo needs root (namespace, veth pair, AF_XDP): run the suite as root")
    p = subprocess.run([str(tapscope), "demo", "--seconds", "8", "--out", "./tapscope-demo"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    cmds = printed_commands(p.stdout)
    unruled = [c for c in cmds if classify(c) is None]
    assert not unruled, unruled
    checked = [c for c in cmds if classify(c) == "checked"]
    assert len(checked) >= DEMO_CHECKED_FLOOR, p.stdout[-3000:]
    for c in checked:
        run_reader(c, tmp_path)
