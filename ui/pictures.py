"""Pictures as the page draws them: stored images read back, small ones enlarged with sharp
pixels (a 32x32 photo blurred up to 160 px shows nothing), and the decoder's reconstructions."""

from __future__ import annotations

from PIL import Image

from encoder.embed import Embedder
from encoder.plots import upscale
from ingest.query.montage import open_hits, reconstructions
from ingest.query.search import Hit
from ingest.store.media import MediaStore

# Sides in px: whole multiples of 32 (the sample's photos) keep every pixel the same size,
# and each fits its column on a 1,400 px wide laptop screen, so the browser never rescales.
RESULT_SIDE = 128  # six to a row
RESULT_PAIR_SIDE = 96  # picture + reconstruction, four pairs to a row
QUERY_SIDE = 192
QUERY_PAIR_SIDE = 160
BROWSE_SIDE = 96  # eight to a row
EXAMPLE_SIDE = 64  # the query's examples, ten to a row
GAP = 4


def missing(side: int) -> Image.Image:
    """A grey square where a stored picture has gone missing, so the grid keeps its shape."""
    return Image.new("RGB", (side, side), (225, 225, 225))


def sized(image: Image.Image | None, side: int) -> Image.Image:
    """Fit into side x side: enlarged by nearest neighbour, reduced with Lanczos."""
    return upscale(image, side) if image is not None else missing(side)


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """An image and its reconstruction as one picture, so they never wrap apart."""
    canvas = Image.new("RGB", (left.width + GAP + right.width, max(left.height, right.height)), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + GAP, 0))
    return canvas


def stored_pictures(media: MediaStore, hits: list[Hit]) -> list[Image.Image | None]:
    return open_hits(media, hits)


def with_reconstructions(embedder: Embedder, images: list[Image.Image | None]) -> list[Image.Image | None]:
    """Each image's reconstruction (None stays None); one batch. A photo model redraws at the side
    it embeds at, a thumbnail model at its input side."""
    present = [im for im in images if im is not None]
    if not present:
        return [None for _ in images]
    made = iter(reconstructions(embedder, present))
    return [next(made) if im is not None else None for im in images]


def reconstruction_error(embedder: Embedder, image: Image.Image) -> float:
    """Mean squared error of the decoder's output, on [0, 1] pixels, as ingest stores it."""
    return float(embedder.embed_images([image])[1][0])
