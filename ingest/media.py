"""A content-addressed copy of every indexed image, so results show after the zip is gone.

Files live at `<media>/<sha[:2]>/<sha>`, named by the SHA-256 of the original bytes (the
same hash the point id comes from). Images up to THUMBNAIL_SIDE keep their original bytes;
bigger ones are stored as a faithful JPEG thumbnail of that side. Writes are atomic.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

THUMBNAIL_SIDE = 512


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def put(self, sha256: str, data: bytes, image: Image.Image) -> None:
        """data: the original file; image: it decoded to RGB (used for the thumbnail)."""
        target = self.path_for(sha256)
        if target.exists():
            return
        if max(image.size) > THUMBNAIL_SIDE:
            thumb = image.copy()
            thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG", quality=90)
            data = buffer.getvalue()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # readable by the page's user in a container
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def open(self, sha256: str) -> Image.Image:
        """The stored picture as RGB; FileNotFoundError when it is not there."""
        from ingest.images import decode  # the same decoding rules as ingest

        return decode(self.path_for(sha256).read_bytes()).image
