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

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            home=Path(os.environ.get("CBIR_HOME", "cbir-data")).expanduser().resolve(),
            qdrant_url=os.environ.get("QDRANT_URL") or None,
            qdrant_api_key=os.environ.get("QDRANT_API_KEY") or None,
            timeout_s=float(os.environ.get("QDRANT_TIMEOUT", "10")),
        )

    @property
    def embedded(self) -> bool:
        return self.qdrant_url is None

    @property
    def qdrant_path(self) -> Path:
        return self.home / "qdrant"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    def describe_store(self) -> str:
        return self.qdrant_url if self.qdrant_url else f"embedded store at {self.qdrant_path}"
