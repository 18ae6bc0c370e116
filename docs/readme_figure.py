"""The README's picture: a lion's photo beside its best candidates, keypoint matches drawn.

``python docs/readme_figure.py [--data ../shared/data] [--out docs/img/readme-match.png]``:
the lions' ``closed_split`` train photos are the gallery, answered through the same
:class:`photoid.Identifier` as the CLI, on the fused road (``rerank_config("lnbnn")``); every
test photo is identified, and the one whose right lion comes first with the most verified
keypoints is drawn beside its three best candidates' photos, each pair joined by its
verified matches. Deterministic: the same data give the same picture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
ROW_PX = 200  # each photo's height in the picture
COLOURS = ["#00e676", "#ffea00", "#00b0ff", "#ff4081", "#76ff03"]


def best_query(identifier, paths: list[str], truth: list[str]):
    """The answer whose first candidate is right with the most verified keypoints."""
    answers = identifier.identify_paths(paths)
    scored = [
        (a.candidates[0].inliers or 0, -i)
        for i, a in enumerate(answers)
        if a.answer is not None and a.answer.individuals[0] == truth[i]
    ]
    _, i = max(scored)
    return answers[-i]


def row(query: Image.Image, photo: Image.Image, pairs, caption: str) -> Image.Image:
    """``query`` and ``photo`` side by side, their matched keypoints joined, a caption above."""
    images = [im.convert("RGB") for im in (query, photo)]
    images = [im.resize((max(1, round(im.width * ROW_PX / im.height)), ROW_PX)) for im in images]
    gap, top = 12, 22
    canvas = Image.new("RGB", (images[0].width + gap + images[1].width, ROW_PX + top), "white")
    canvas.paste(images[0], (0, top))
    canvas.paste(images[1], (images[0].width + gap, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 4), caption, fill="black")
    if pairs is not None:
        sizes = [np.array([im.width, im.height], float) for im in images]
        ends = zip(pairs.query * sizes[0], pairs.photo * sizes[1], strict=True)
        for k, (a, b) in enumerate(ends):
            c = COLOURS[k % len(COLOURS)]
            a = (a[0], a[1] + top)
            b = (b[0] + images[0].width + gap, b[1] + top)
            draw.line([a, b], fill=c, width=1)
            for x, y in (a, b):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=c)
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "readme-match.png"))
    parser.add_argument("--candidates", type=int, default=3)
    args = parser.parse_args(argv)

    import photoid
    from photoid.identifier import GallerySource

    photos = photoid.load_photos(Path(args.data) / "lions")
    split = np.asarray(photos.column("closed_split"))
    model = photoid.create_model()
    train = photos.subset(split == "train")
    test = photos.subset(split == "test")
    gallery = GallerySource.from_table(train, photoid.embed_table(train, model))
    identifier = photoid.Identifier(gallery, model, rerank=photoid.rerank_config("lnbnn"))
    answer = best_query(identifier, list(map(str, test.paths)), list(test.identities))
    [query_features] = identifier.query_features([answer.path])
    candidates = answer.candidates[: args.candidates]
    rows = [int(r) for r in answer.answer.photo_ids[: args.candidates]]
    pairs = identifier.verified_pairs(query_features, rows)
    query = Image.open(answer.path)
    parts = []
    for rank, (c, p) in enumerate(zip(candidates, pairs, strict=True), start=1):
        caption = (
            f"{rank}. {c.individual}: p = {c.score:.2f}, {c.inliers or 0} verified keypoints"
            + ("  (the right lion)" if c.individual == Path(answer.path).parent.name else "")
        )
        parts.append(row(query, Image.open(c.photo), p, caption))
    width = max(p.width for p in parts)
    title_px = 24
    canvas = Image.new("RGB", (width, title_px + sum(p.height + 8 for p in parts)), "white")
    ImageDraw.Draw(canvas).text(
        (2, 6),
        f"query: {Path(answer.path).name} (left in each row), against {len(train)} catalog photos",
        fill="black",
    )
    y = title_px
    for p in parts:
        canvas.paste(p, (0, y))
        y += p.height + 8
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=128, dither=Image.Dither.NONE).save(out, optimize=True)
    print(f"{out}: {answer.path} beside {', '.join(c.individual for c in candidates)} "
          f"({out.stat().st_size / 1024:.0f} kB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
