"""How soon `make run` gives a page: seconds from `make run` (install done) to the page answering
its health check, while the load it started goes on. Prints JSON.

    python -m bench.page_start                      # the bundled sample, a fresh data directory
    python -m bench.page_start --zip bigcats --venv .venv

The install is taken as done (`make -o <venv>/.installed`): this measures the command a user runs
after it, not pip. The load is stopped (Ctrl-C, as a user would) once the page has answered,
unless --wait-load, which also times the load to its end. With Chromium at /usr/bin/chromium,
it also times the page's first drawing in a browser: the load's progress, or the search.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import ROOT, datasets
from bench.machine import machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


CHROMIUM = Path("/usr/bin/chromium")
FIRST_WORDS = ("A load is filling collection", "Search with a photo")  # the load under way, or the search


def first_drawn(port: int, started: float) -> float | None:
    """Seconds from `started` until a browser shows the page's first words (None without Chromium)."""
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}")
            words = page.get_by_text(FIRST_WORDS[0]).or_(page.get_by_text(FIRST_WORDS[1]))
            words.first.wait_for(timeout=120_000)
            return time.perf_counter() - started
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--zip",
        type=datasets.zip_path,
        default="examples/animals-mini.zip",
        help="a data set by name (bench/datasets.py), or the path of a zip",
    )
    parser.add_argument("--venv", default=".venv", help="the installed virtual environment make uses")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--wait-load", action="store_true", help="also time the load to its end")
    args = parser.parse_args()

    venv = Path(args.venv).resolve()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "cbir-data"
        log = Path(tmp) / "make.log"
        # PYTHONPATH: this checkout's code, even where the venv's `ingest` was installed from another
        env = {**os.environ, "CBIR_HOME": str(home), "PYTHONPATH": str(ROOT)}
        command = ["make", "-o", f"{venv}/.installed", "run", f"VENV={venv}", f"ZIP={args.zip}", f"PORT={port}"]
        command.append(f"PAGE_LOG={Path(tmp) / 'streamlit.log'}")
        started = time.perf_counter()
        with log.open("w") as out:
            make = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        page_s = drawn_s = load_s = None
        try:
            while time.perf_counter() - started < args.timeout and make.poll() is None:
                if page_s is None and healthy(port):
                    page_s = time.perf_counter() - started
                    drawn_s = first_drawn(port, started)
                    loading = make.poll() is None and not (home / "qdrant-edge" / "manifest.json").exists()
                    if not args.wait_load:
                        break
                if page_s is not None and "the page: http" in log.read_text().split("(it follows the load", 1)[-1]:
                    load_s = time.perf_counter() - started
                    break
                time.sleep(0.1)
        finally:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: the load and the page stop
            try:
                make.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()
        result = {
            "benchmark": "page_start",
            "zip": str(args.zip),
            "page_answered_s": round(page_s, 2) if page_s is not None else None,
            "page_drawn_in_a_browser_s": round(drawn_s, 2) if drawn_s is not None else None,
            "load_still_running_then": loading if page_s is not None else None,
            "load_done_s": round(load_s, 1) if load_s is not None else None,
            "target_s": 60,
            "machine": machine(),
        }
        if page_s is None:
            result["make_output"] = log.read_text()[-2000:]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
