"""`make run` as a user runs it (the install done): the page starts beside the load and answers at
once, the load's progress and summary stay on the terminal, and Ctrl-C stops both. On a data
directory already loaded, so that the load itself takes seconds; `bench/page_start.py` times a
first load of the bundled sample."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BUNDLED_MINI, ROOT, cli_env

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_make_run_opens_the_page_beside_the_load_and_ctrl_c_stops_both(home_copy, tmp_path):
    venv = Path(sys.executable).parent.parent  # the installed environment these tests run in
    port = free_port()
    log = tmp_path / "make.log"
    command = ["make", "-o", f"{venv}/.installed", "run", f"VENV={venv}", f"PORT={port}", f"ZIP={BUNDLED_MINI}"]
    command.append(f"PAGE_LOG={tmp_path / 'streamlit.log'}")
    env = {**cli_env(home_copy), "PYTHONPATH": str(ROOT)}
    with log.open("w") as out:
        make = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started = time.monotonic()
        while not answers(port):
            assert make.poll() is None, log.read_text()
            assert time.monotonic() - started < 60, f"no page within 60 s:\n{log.read_text()}"
            time.sleep(0.2)
        deadline = time.monotonic() + 300
        while "already present  300" not in log.read_text():  # the load's summary, on the terminal
            assert make.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        said = log.read_text()
        assert said.index(f"the page: http://localhost:{port}") < said.index("already present")
        assert answers(port)  # the page stays after the load
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 30
    while answers(port):  # the page went with it
        assert time.monotonic() < deadline, "the page outlived Ctrl-C"
        time.sleep(0.2)
