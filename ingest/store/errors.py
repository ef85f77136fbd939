"""What goes wrong talking to a store, as one line a user can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ingest.errors import UserError
from ingest.settings import Settings


@contextmanager
def translate_errors(settings: Settings) -> Iterator[None]:
    """Server failures become one UserError line that names the URL and what to do."""
    if settings.embedded:
        yield
        return
    # Imported here: qdrant-client takes seconds to import, and the embedded store never needs it.
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    url = settings.qdrant_url
    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise UserError(
                f"Qdrant at {url} refused the request ({exc.status_code}): set QDRANT_API_KEY to the server's API key"
            ) from None
        raise UserError(f"Qdrant at {url} answered {exc.status_code}: {_short(exc.content)}") from None
    except (ResponseHandlingException, httpx.TransportError) as exc:
        cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
        if isinstance(cause, httpx.TimeoutException):
            raise UserError(
                f"Qdrant at {url} did not answer within {settings.timeout_s:g}s: "
                "check that the server is up (docker compose ps), or raise QDRANT_TIMEOUT"
            ) from None
        raise UserError(
            f"cannot reach Qdrant at {url} ({type(cause).__name__}): start the server "
            "(docker compose up -d qdrant) or unset QDRANT_URL to use the embedded store"
        ) from None


def _short(content: bytes | str | None) -> str:
    text = content.decode(errors="replace") if isinstance(content, bytes) else str(content or "")
    return text.strip().replace("\n", " ")[:200]
