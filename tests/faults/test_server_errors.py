"""A Qdrant server that cannot be reached, that never answers, or that rejects the API key,
and a QDRANT_URL that is no Qdrant URL: the CLI prints one `error:` line naming the URL and
what to do, exits 2, and shows no traceback. Real sockets on 127.0.0.1 stand in for the
broken server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, cli_env, run_cli

KEY = "the-wrong-key-5f3a"


def single_error_line(result, url: str, warnings: bool = False) -> str:
    """Exactly one `error:` line, naming the URL. With `warnings`, `warning:` lines may come
    too (qdrant-client warns that an API key travels over plain http)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    others = [line for line in lines if line not in errors]
    assert not others or (warnings and all(line.startswith("warning: ") for line in others)), result.stderr
    assert url in errors[0]
    assert result.stdout == ""
    return errors[0]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connections are refused, and no other process can take
    the port while the test runs (closing a socket first would leave that race)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes the TCP handshake (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


class KeyRejectingQdrant(BaseHTTPRequestHandler):
    """Answers like Qdrant with an API key configured and a wrong key sent: the root and the
    health endpoints are open, everything else is refused with `status`."""

    status = 401
    seen_keys: list[str | None] = []

    def do_GET(self) -> None:
        self.seen_keys.append(self.headers.get("api-key"))
        if self.path in ("/", "/healthz", "/readyz", "/livez"):
            self._answer(
                200, json.dumps({"title": "qdrant - vector search engine", "version": "1.20.0"}), "application/json"
            )
        else:
            reason = "Unauthorized" if self.status == 401 else "Forbidden"
            self._answer(self.status, f"{reason}: Invalid API key or JWT", "text/plain")

    do_POST = do_PUT = do_DELETE = do_GET

    def _answer(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(params=[401, 403])
def key_rejecting_server(request) -> Iterator[tuple[str, type[KeyRejectingQdrant]]]:
    # Qdrant answered 403 to a wrong key in older releases and answers 401 in newer ones.
    handler = type("Handler", (KeyRejectingQdrant,), {"status": request.param, "seen_keys": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def query_image(tmp_path, mini_images) -> str:
    name, data = next(iter(sorted(mini_images.items())))
    path = tmp_path / "query.jpg"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("command", ["info", "search", "load"])
def test_a_refused_connection_says_start_the_server(command, closed_port, tmp_path, mini_zip, query_image):
    url = f"http://127.0.0.1:{closed_port}"
    args = {"info": ["info"], "search": ["search", query_image], "load": ["load", str(mini_zip), "--epochs", "1"]}
    result = run_cli(tmp_path / "home", *args[command], QDRANT_URL=url, timeout=120)
    line = single_error_line(result, url)
    assert "cannot reach Qdrant" in line and "docker compose up -d qdrant" in line and "unset QDRANT_URL" in line
    # Nothing was trained or copied before the server was found missing.
    assert not (tmp_path / "home" / "models").exists() and not (tmp_path / "home" / "media").exists()


def test_a_server_that_never_answers_times_out_with_the_limit_named(silent_port, tmp_path):
    url = f"http://127.0.0.1:{silent_port}"
    started = time.monotonic()
    result = run_cli(tmp_path / "home", "info", QDRANT_URL=url, QDRANT_TIMEOUT="1", timeout=120)
    line = single_error_line(result, url)
    assert "did not answer within 1s" in line and "QDRANT_TIMEOUT" in line
    # The limit is honoured: well under the 10 s default (process start-up included).
    assert time.monotonic() - started < 60


def test_a_wrong_api_key_says_set_the_key_and_never_prints_it(key_rejecting_server, tmp_path):
    url, handler = key_rejecting_server
    result = run_cli(tmp_path / "home", "info", QDRANT_URL=url, QDRANT_API_KEY=KEY, timeout=120)
    line = single_error_line(result, url, warnings=True)
    assert f"refused the request ({handler.status})" in line and "QDRANT_API_KEY" in line
    assert KEY not in result.stderr
    assert KEY in handler.seen_keys  # the CLI did send the key it was given


def test_a_url_qdrant_cannot_use_is_named_with_an_example(tmp_path):
    url = "ftp://127.0.0.1:6333"
    result = run_cli(tmp_path / "home", "info", QDRANT_URL=url, timeout=120)
    line = single_error_line(result, url)
    assert "is not a Qdrant URL" in line and "http://localhost:6333" in line


def test_qdrant_clients_own_version_check_adds_no_warning_to_the_error(closed_port, tmp_path):
    """qdrant-client asks for the server's version on a thread of its own. Given the time to
    fail (the CLI may exit before it does), it still prints nothing beside our error."""
    code = (
        "import time\n"
        "from ingest import store\nfrom ingest.errors import UserError\nfrom ingest.settings import Settings\n"
        "try:\n    store.open_store(Settings.from_env()).__enter__()\nexcept UserError as exc:\n    print(exc)\n"
        "time.sleep(3)\n"
    )
    env = cli_env(tmp_path / "home", QDRANT_URL=f"http://127.0.0.1:{closed_port}")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "cannot reach Qdrant" in result.stdout
    assert result.stderr == ""
