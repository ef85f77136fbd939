"""The commands the containers run, run here for real: Qdrant's health check (bash's
/dev/tcp against a local HTTP server), Qdrant's entry point (with a stand-in for the image's
entrypoint.sh), the app's entry point (the data-directory check), and the app's health check
against the page started by the image's CMD. What the files declare is in test_deploy.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, cli_env
from test_deploy import CLUSTER, MAIN, compose, instruction, qdrant_services


def unescape(compose_string: str) -> str:
    """What the container receives: compose turns `$$` into `$`."""
    return compose_string.replace("$$", "$")


class Answer(BaseHTTPRequestHandler):
    status, paths = 200, []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def serve(status: int) -> tuple[ThreadingHTTPServer, type[Answer]]:
    handler = type("Handler", (Answer,), {"status": status, "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def qdrant_health_check(port: int) -> subprocess.CompletedProcess:
    script = unescape(compose(MAIN)["services"]["qdrant"]["healthcheck"]["test"][3])
    assert "/dev/tcp/127.0.0.1/6333" in script
    return subprocess.run(["bash", "-c", script.replace("/6333", f"/{port}")], capture_output=True, timeout=30)


@pytest.mark.parametrize("status", [200, 503])
def test_the_qdrant_health_check_passes_only_on_a_200_from_readyz(status):
    server, handler = serve(status)
    try:
        result = qdrant_health_check(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert handler.paths == ["/readyz"]
    assert (result.returncode == 0) == (status == 200), result.stderr


def test_the_qdrant_health_check_fails_when_nothing_listens():
    with socket.socket() as sock:  # bound, not listening: refused
        sock.bind(("127.0.0.1", 0))
        assert qdrant_health_check(sock.getsockname()[1]).returncode != 0


def test_every_qdrant_node_runs_the_same_health_check():
    reference = compose(MAIN)["services"]["qdrant"]["healthcheck"]["test"]
    for spec in (compose(MAIN), compose(CLUSTER)):
        assert all(s["healthcheck"]["test"] == reference for s in qdrant_services(spec).values())


@pytest.mark.parametrize("key", ["", "s3cret"])
def test_the_qdrant_entry_point_unsets_an_empty_key_and_passes_the_arguments_on(key, tmp_path):
    stub = tmp_path / "entrypoint.sh"  # stands in for the image's ./entrypoint.sh
    stub.write_text(
        '#!/usr/bin/env bash\necho "key=${QDRANT__SERVICE__API_KEY-<unset>}"\nfor a in "$@"; do echo "arg=$a"; done\n'
    )
    stub.chmod(0o755)
    for spec in (compose(MAIN), compose(CLUSTER)):
        for service in qdrant_services(spec).values():
            command = [unescape(part) for part in service["entrypoint"]] + service.get("command", [])
            env = {"PATH": os.environ["PATH"], "QDRANT__SERVICE__API_KEY": key}
            result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr
            lines = result.stdout.splitlines()
            assert lines[0] == f"key={key or '<unset>'}"
            assert lines[1:] == [f"arg={a}" for a in service.get("command", [])]


def entrypoint() -> list[str]:
    return json.loads(instruction("ENTRYPOINT"))


def test_the_entry_point_refuses_a_data_directory_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"PATH": os.environ["PATH"], "CBIR_HOME": str(blocker / "cbir-data")}  # cannot be created
    result = subprocess.run([*entrypoint(), "echo", "started"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the data directory ")
    assert "chown" in lines[0] and "CBIR_UID" in lines[0]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to act as uid 1000"
)
def test_the_entry_point_names_the_uid_when_the_data_directory_belongs_to_root():
    """What a bind mount created by the Docker daemon looks like to the app's user: a root
    directory it can enter but not write. A directory of its own, beside it, is fine."""
    as_1000 = ["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", *entrypoint(), "echo", "started"]
    parent = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is private to root
    try:
        parent.chmod(0o755)
        (parent / "root-owned").mkdir()
        (parent / "own").mkdir()
        os.chown(parent / "own", 1000, 1000)
        refused, accepted = (
            subprocess.run(
                as_1000,
                env={"PATH": os.environ["PATH"], "CBIR_HOME": str(parent / name)},
                capture_output=True,
                text=True,
                timeout=30,
            )
            for name in ("root-owned", "own")
        )
    finally:
        shutil.rmtree(parent)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (
        f"error: the data directory {parent / 'root-owned'} is not writable by uid 1000: on the host, run "
        "'sudo chown -R 1000:1000 cbir-data', or give docker compose its owner as CBIR_UID and CBIR_GID (see README)\n"
    )
    assert accepted.returncode == 0 and accepted.stdout == "started\n", accepted.stderr


def test_the_entry_point_runs_the_command_when_the_data_directory_is_writable(tmp_path):
    env = {"PATH": os.environ["PATH"], "CBIR_HOME": str(tmp_path / "cbir-data")}
    result = subprocess.run(
        [*entrypoint(), "echo", "started", "with args"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started with args\n" and (tmp_path / "cbir-data").is_dir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_image_health_check_passes_against_the_page_the_image_starts(tmp_path):
    """The Dockerfile's CMD (on a free port, on localhost) from the directory the image runs it
    in, then the Dockerfile's HEALTHCHECK against it: healthy while up, unhealthy once down."""
    port = free_port()
    command = [a.replace("8501", str(port)).replace("0.0.0.0", "127.0.0.1") for a in json.loads(instruction("CMD"))]
    assert (ROOT / command[2]).is_file(), f"the image runs {command[2]}, which is missing"
    check = json.loads(instruction("HEALTHCHECK").split("CMD", 1)[1])
    check = [sys.executable if a == "python" else a.replace("8501", str(port)) for a in check]
    env = cli_env(tmp_path / "cbir-data")
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        page = subprocess.Popen(
            [sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert page.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0
    finally:
        page.terminate()
        page.wait(timeout=30)
    assert subprocess.run(check, capture_output=True, timeout=30).returncode != 0


def test_the_watch_service_command_waits_for_photos_and_stops_cleanly_on_sigterm(tmp_path):
    """The watch service's command through the image's entry point, its /photos an empty folder
    here (the embedded store standing in for the server): it waits for photos, and ends on the
    SIGTERM `docker compose stop` sends, with exit code 0."""
    photos = tmp_path / "photos"
    photos.mkdir()
    command = [photos.as_posix() if a == "/photos" else a for a in compose(MAIN)["services"]["watch"]["command"]]
    command = [a.replace("${CBIR_COLLECTION:-animals}", "animals") for a in command]
    assert command[0] == "ingest"
    env = cli_env(tmp_path / "cbir-data")
    watch = subprocess.Popen(
        [*entrypoint(), sys.executable, "-m", "ingest.cli", *command[1:]],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = watch.stderr.readline()
        assert first.startswith(f"waiting for photos in {photos}"), first
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=30) == 0
        assert watch.stderr.read().rstrip().endswith("stopped")
    finally:
        watch.kill()
