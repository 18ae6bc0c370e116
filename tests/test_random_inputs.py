"""Property: random bytes as photos and random text as catalogs, through load → validate →
embed, end in a result or a PhotoidError — never another exception, never a hang.

A modest number of examples per property keeps this fast (a few seconds each); the tiny
random backbone embeds at 32 pixels."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from bad_input import HANG_SECONDS, within
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photoid.data.loaders import load_photos
from photoid.embed import embed_paths, embed_table
from photoid.errors import PhotoidError

SETTINGS = settings(
    max_examples=30,
    deadline=HANG_SECONDS * 1000,  # ms; a true hang is caught by `within`
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure reproduces
)


def _encoded(fmt: str, size: tuple[int, int], mode: str) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


VALID = [
    _encoded("JPEG", (24, 16), "RGB"),
    _encoded("PNG", (16, 24), "RGBA"),
    _encoded("PNG", (8, 8), "I;16"),
    _encoded("GIF", (12, 12), "P"),
    _encoded("BMP", (10, 6), "RGB"),
    _encoded("TIFF", (9, 7), "CMYK"),
    _encoded("WEBP", (16, 16), "RGB"),
]


@st.composite
def photo_bytes(draw) -> bytes:
    """Anything from pure noise to a real photo damaged in a few places."""
    kind = draw(st.sampled_from(["noise", "magic+noise", "truncated", "flipped"]))
    if kind == "noise":
        return draw(st.binary(max_size=3000))
    valid = draw(st.sampled_from(VALID))
    if kind == "magic+noise":
        return valid[: draw(st.integers(2, 16))] + draw(st.binary(max_size=3000))
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid)))]
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@SETTINGS
@given(photos=st.lists(photo_bytes(), min_size=1, max_size=3))
def test_random_photo_bytes_embed_or_are_skipped(photos: list[bytes], tiny_backbone):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(photos):
            path = Path(tmp) / f"{i}.jpg"
            path.write_bytes(data)
            paths.append(str(path))
        emb = within(
            HANG_SECONDS,
            lambda: embed_paths(
                paths, tiny_backbone, use_cache=False, progress=False, engine="torch", num_workers=0
            ),
        )
    assert emb.vectors.shape == (len(photos), tiny_backbone.num_features)
    assert emb.report.n_read + len(emb.report.skipped) == len(photos)
    assert np.isfinite(emb.vectors[emb.valid]).all()
    assert np.isnan(emb.vectors[~emb.valid]).all()


CSV_ALPHABET = st.sampled_from(
    list("abc,,,\n\n\"' ./-_0123456789")
    + [
        "path",
        "identity",
        "a.jpg",
        "b.jpg",
        "bbox_x",
        "bbox_y",
        "bbox_w",
        "bbox_h",
        "nan",
        "inf",
        "\x00",
        "é",
        "\r\n",
        "../",
        "/dev/zero",
    ]
)


HEADERS = [
    "",
    "path,identity\n",
    "path,identity,bbox_x,bbox_y,bbox_w,bbox_h\n",
    "image,species,individual_id\n",
]


@st.composite
def csv_text(draw) -> bytes:
    """Random CSV-ish text, sometimes behind a valid header, sometimes not UTF-8 at all."""
    body = "".join(draw(st.lists(CSV_ALPHABET, max_size=60)))
    header = draw(st.sampled_from(HEADERS))
    data = (header + body).encode()
    if draw(st.booleans()) and draw(st.booleans()):
        data += draw(st.binary(max_size=40))
    return data


@SETTINGS
@given(text=csv_text())
def test_random_csv_catalogs_load_and_embed_or_say_why(text: bytes, tiny_backbone):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("a.jpg", "b.jpg"):
            (root / name).write_bytes(VALID[0])
        (root / "metadata.csv").write_bytes(text)

        def load_and_embed():
            try:
                table = load_photos(root)
            except PhotoidError:
                return None
            return table, embed_table(
                table, tiny_backbone, use_cache=False, progress=False, engine="torch", num_workers=0
            )

        done = within(HANG_SECONDS, load_and_embed)
    if done is not None:
        table, emb = done
        assert len(emb.vectors) == len(table) >= 1
        assert emb.report.n_read + len(emb.report.skipped) == len(table)


@pytest.mark.parametrize("size", [0, 1, 7, 100])
def test_tiny_and_empty_files_are_named(size: int, tmp_path: Path, tiny_backbone):
    path = tmp_path / "x.png"
    path.write_bytes(VALID[1][:size])
    emb = embed_paths([str(path)], tiny_backbone, use_cache=False, progress=False)
    assert not emb.valid[0] and emb.report.skipped[0].path == str(path)
