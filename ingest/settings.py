"""Where state lives. One data directory holds the embedded Qdrant store, the models and the
media store; `CBIR_HOME` moves it. `QDRANT_URL` switches from the embedded store to a server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_COLLECTION = "animals"


@dataclass(frozen=True)
class Settings:
    home: Path
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    timeout_s: float = 10.0
    wait_s: float = 30.0  # how long a command waits for an embedded store held by another process

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=Path(os.environ.get("CBIR_HOME", "cbir-data")).expanduser().resolve(),
            qdrant_url=os.environ.get("QDRANT_URL") or None,
            qdrant_api_key=os.environ.get("QDRANT_API_KEY") or None,
            timeout_s=float(os.environ.get("QDRANT_TIMEOUT", "10")),
            wait_s=float(os.environ.get("CBIR_WAIT", "30")),
        )

    @property
    def embedded(self) -> bool:
        return self.qdrant_url is None

    @property
    def store_dir(self) -> Path:
        """The embedded store (Qdrant Edge)."""
        return self.home / "qdrant-edge"

    @property
    def legacy_store_dir(self) -> Path:
        """Where versions before Qdrant Edge kept the embedded store (qdrant-client's local mode)."""
        return self.home / "qdrant"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    def describe_store(self) -> str:
        return self.qdrant_url if self.qdrant_url else f"embedded store at {self.store_dir}"
