"""Shared fixtures for the integration tests: the tapscope binary, the shared
captures, and a helper that replays captures into a fresh output folder."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PCAPS = (REPO.parent / "shared" / "testdata" / "pcap").resolve()


def tapscope_bin() -> pathlib.Path:
    env = os.environ.get("TAPSCOPE_BIN")
    if env:
        return pathlib.Path(env)
    for profile in ("ci", "release", "debug"):
        p = REPO / "target" / profile / "tapscope"
        if p.exists():
            return p
    raise RuntimeError("tapscope binary not built: run scripts/test (or cargo build --profile ci)")


@pytest.fixture(scope="session")
def tapscope():
    return tapscope_bin()


@pytest.fixture(scope="session")
def pcaps():
    if not PCAPS.is_dir():
        pytest.fail(f"shared captures missing at {PCAPS}: ../shared must sit beside the repo")
    return PCAPS


def replay(binary, captures, out, *extra, timeout=120, check=True):
    """Runs `tapscope replay` and returns the CompletedProcess."""
    cmd = [str(binary), "replay", *map(str, captures), "--out", str(out), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def table_files(out, table):
    return sorted((pathlib.Path(out) / table).glob("date=*/*.parquet"))
