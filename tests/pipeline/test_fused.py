"""The fused road as a ``photoid compare`` design: what each crop kind does to the keypoints,
what the reranker learns from, and a cache that changes no answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photoid.cli.main import main
from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.pipeline import compare, fused

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "64"]


def test_fused_designs_take_keypoints_where_the_design_says(
    tiny_ladder, map_backbone, monkeypatch, tmp_path, light_fused
):
    table = load_photos(tiny_ladder)
    split = table.table["split"].to_numpy()
    calls = []
    real = fused.keypoints

    def spy(paths, config, *, boxes=None, use_cache=True, cache_dir=None):
        calls.append((list(paths), boxes, use_cache))
        return real(paths, config, boxes=boxes, use_cache=use_cache, cache_dir=cache_dir)

    monkeypatch.setattr(fused, "keypoints", spy)
    crops = ("none", "foreground", "regressor", "soft-truebox")
    result = compare.compare_designs(
        table, map_backbone, ClosedSplit(), crops=crops, routes=("unified",),
        roads=("lnbnn",), cache_dir=tmp_path,
    )  # fmt: skip
    assert [d.design for d in result.designs] == [f"{c}/unified/lnbnn" for c in crops]
    for d in result.designs:
        assert d.road == "lnbnn" and d.n_queries == 16 and 0 <= d.top1 <= d.map5 <= 1
    weighting = {d.design.split("/")[0]: d.weighting for d in result.designs}
    assert weighting["none"] == weighting["regressor"] == ""
    assert weighting["foreground"] in ("on", "off") and weighting["soft-truebox"] in ("on", "off")
    # per design: the database's keypoints (from the store), then the queries' (extracted)
    assert len(calls) == 2 * len(crops)
    train = {table.paths[i] for i in np.flatnonzero(split == "train")}
    for (d_paths, d_boxes, d_cache), (q_paths, q_boxes, q_cache), crop in zip(
        calls[::2], calls[1::2], crops, strict=True
    ):
        assert set(d_paths) == train and not set(q_paths) & train  # never a query in the index
        assert d_cache and not q_cache
        cut = crop == "regressor"
        assert (d_boxes is not None and q_boxes is not None) == cut
        if cut:
            assert all(b is not None and b[2] < 64 for b in d_boxes)


def test_weighting_on_counts_the_weights_and_a_cache_changes_no_answer(
    tiny_ladder, map_backbone, tmp_path, light_fused
):
    table = load_photos(tiny_ladder)

    def run(weighting):
        return compare.compare_designs(
            table, map_backbone, ClosedSplit(), crops=("none", "foreground"),
            routes=("unified",), roads=("lnbnn",), weighting=weighting, cache_dir=tmp_path,
        ).designs  # fmt: skip

    cold = run("on")
    warm = run("on")  # the database's keypoints and backbone features now from the caches
    assert [(d.map5, d.top1) for d in cold] == [(d.map5, d.top1) for d in warm]
    assert cold[1].weighting == "on" and np.isnan(cold[1].loo_top1_unweighted)
    off = run("off")
    assert off[1].weighting == "off" and np.isnan(off[1].loo_top1_weighted)
    # unweighted, foreground differs from none only by its pooled embedding
    assert off[0].design == "none/unified/lnbnn"


def test_cli_roads_and_the_soft_kinds_errors(tiny_ladder, capsys, light_fused):
    assert main(["compare", str(tiny_ladder), "--json", "--roads", "lnbnn", "--crops", "none",
                 "--routes", "unified", *TINY]) == 0  # fmt: skip
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "design" in x]
    assert line["design"] == "none/unified/lnbnn" and line["road"] == "lnbnn"
    assert {"map5", "top1", "ms_per_query", "weighting"} <= set(line)
    assert main(["compare", str(tiny_ladder), "--roads", "embedding", "--crops",
                 "soft-regressor", *TINY]) == 2  # fmt: skip
    assert "fused road only" in capsys.readouterr().err
    assert main(["compare", str(tiny_ladder), "--roads", "colour", *TINY]) == 2


@pytest.mark.parametrize("weighting", ["auto", "on", "off"])
def test_fused_config_is_the_catalog_default_with_the_weighting(weighting):
    from photoid.local.pipeline import rerank_config

    config = fused.fused_config(weighting)
    default = rerank_config("lnbnn")
    assert config.lnbnn.weighting == weighting
    assert config.lnbnn.lnbnn == default.lnbnn.lnbnn and config.features == default.features


def test_the_fused_road_reads_embeddings_as_unit_vectors(tiny_ladder, map_backbone, light_fused):
    """Raw backbone features scaled by any factor per photo rank the same: the reranker's
    calibration and the gallery's search both see cosine similarities."""
    from photoid.pipeline.compare import fused_config

    table = load_photos(tiny_ladder)
    split = table.table["split"].to_numpy()
    d, q = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    paths = [table.paths[i] for i in (*d, *q)]
    feats_all = fused.keypoints(paths, fused_config()).features
    feats = fused.DesignKeypoints(feats_all[: len(d)], feats_all[len(d) :], 0.0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(paths), 16)).astype(np.float32)
    labels = table.identities[d]
    one = fused.fused_ranking((vectors[: len(d)], vectors[len(d) :]), labels, paths[: len(d)],
                              feats, fused_config())  # fmt: skip
    scaled = vectors * rng.uniform(0.1, 10, (len(paths), 1)).astype(np.float32)
    two = fused.fused_ranking((scaled[: len(d)], scaled[len(d) :]), labels, paths[: len(d)],
                              feats, fused_config())  # fmt: skip
    assert one.predictions == two.predictions
