"""Reading a whole collection of the embedded store in a process of its own, for `ingest check`
and `ingest repair`: a damaged file can make Qdrant Edge raise, and a file cut shorter than what
it maps could kill the process that reads it with a signal. In a child, either one is an answer
("damaged"), not the end of the check.

    python -m ingest.store.probe FOLDER   ->  JSON on stdout: the count and every point's
                                             place, sha256 and what says whether its media copy
                                             is the file's own bytes; exit 3 with
                                             {"error": ...} when Edge fails

The parent holds the store's lock; the child opens the shard directly (`EdgeShard.load`), never
`EdgeStore`, whose lock the parent holds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = ["sha256", "source", "path", "width", "height", "format"]
PAGE = 2000


@dataclass
class Probed:
    count: int = 0
    points: dict[str, dict] = field(default_factory=dict)  # id -> the FIELDS of its payload
    error: str | None = None  # why the collection could not be read whole


def probe(folder: Path, timeout_s: float = 3600) -> Probed:
    """Read the collection in `folder` in a child process."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ingest.store.probe", str(folder)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return Probed(error=f"reading it took more than {timeout_s:.0f} s")
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return Probed(error=f"reading it killed the engine with {name}: a file is shorter than the engine expects")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return Probed(error=f"reading it failed: {last}")
    return Probed(answer.get("count", 0), answer.get("points", {}), answer.get("error"))


def read_collection(folder: Path) -> dict:
    import qdrant_edge as qe

    shard = qe.EdgeShard.load(str(folder))
    try:
        count = shard.count(qe.CountRequest(exact=True))
        points, offset = {}, None
        while True:
            records, offset = shard.scroll(
                qe.ScrollRequest(offset=offset, limit=PAGE, with_payload=FIELDS, with_vector=False)
            )
            points.update({str(r.id): {k: (r.payload or {}).get(k) for k in FIELDS} for r in records})
            if offset is None:
                break
        dim = json.loads((folder / "edge_config.json").read_text())["vectors"][""]["size"]
        # An exact search scores every vector: each vector file is read through, as repair needs it.
        exact = qe.SearchParams(exact=True)
        shard.query(qe.QueryRequest(limit=1, query=qe.Query.Nearest([1.0] * dim), params=exact))
        return {"count": count, "points": points}
    finally:
        shard.close()


def main() -> None:
    try:
        answer = read_collection(Path(sys.argv[1]))
    except Exception as exc:  # Edge's errors are plain Exceptions: the answer is that it failed
        print(json.dumps({"error": " ".join(str(exc).split())[:300]}))
        sys.exit(3)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
