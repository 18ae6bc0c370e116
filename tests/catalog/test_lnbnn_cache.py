"""The catalog's cached LNBNN reranker: fitted once per catalog state, read back exactly,
refitted on any change, and a damaged file refused, reported and repaired."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from cli.test_cli_rerank import coat_catalog  # noqa: F401 - the fixture
from descriptor_helpers import add_batch, catalog_with_descriptors, keypoints_for
from store_helpers import MODEL

from photoid.catalog.check import check_catalog
from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.lnbnn_files import LNBNN_DIR
from photoid.catalog.store import CatalogStore
from photoid.local.calibration import ProbabilityFusion, ScoreCalibrator
from photoid.local.descriptor_index import DescriptorIndex, DescriptorIndexConfig
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn import LnbnnConfig
from photoid.local.lnbnn_rerank import LnbnnReranker
from photoid.local.rerank import rerank_preset
from photoid.service.descriptors import load_descriptors
from photoid.service.lnbnn_cache import cached_reranker, state_to_json

CONFIG = rerank_preset("lnbnn")


@pytest.fixture
def root(tmp_path) -> Path:
    catalog_with_descriptors(tmp_path / "cat")
    return tmp_path / "cat"


@pytest.fixture
def fits(monkeypatch) -> list[int]:
    """Counts LnbnnReranker.fit calls (each appends the database size)."""
    calls: list[int] = []
    real = LnbnnReranker.fit

    def counted(self, vectors, *args, **kwargs):
        calls.append(len(vectors))
        return real(self, vectors, *args, **kwargs)

    monkeypatch.setattr(LnbnnReranker, "fit", counted)
    return calls


def _reranker(root: Path, config=CONFIG) -> LnbnnReranker:
    """What catalog identify makes: the whole catalog's reranker, through the cache."""
    store = CatalogStore(root)
    snap = store.snapshot()
    features = load_descriptors(store, snap.image_ids)
    return cached_reranker(
        store, snap, config, snap.vectors, features, snap.individuals, list(snap.paths)
    )


def _cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / LNBNN_DIR).iterdir())


def _scores(reranker: LnbnnReranker) -> np.ndarray:
    """Every score of three queries: a stored photo's keypoints, a stranger's, none."""
    queries = [keypoints_for("/b0/3.jpg"), keypoints_for("/elsewhere/q.jpg"), None]
    sims = np.linspace(-0.5, 0.9, len(reranker.vectors_))
    out = []
    for q in queries:
        c = reranker.score(q, sims)
        out.append(np.concatenate([c.lnbnn, c.inliers, c.embedding, c.fused]))
    return np.concatenate(out)


def test_second_call_reads_the_cache_and_scores_identically(root: Path, fits: list[int]):
    first = _reranker(root)
    assert fits == [20] and len(_cache_files(root)) == 2  # .faiss + .faiss.json
    second = _reranker(root)
    assert fits == [20]  # not fitted again
    assert second is not first and second.fusion_ is not first.fusion_
    np.testing.assert_allclose(_scores(second), _scores(first), rtol=0, atol=1e-9)
    assert _scores(first)[:4].any()  # the stored photo's own keypoints earn votes
    assert list(second.names_) == list(first.names_)
    np.testing.assert_array_equal(second.codes_, first.codes_)
    assert second.aggregate_ == first.aggregate_ and second.loo_top1_ == first.loo_top1_
    assert second.n_training_pairs_ == first.n_training_pairs_ > 0
    assert check_catalog(root).healthy


@pytest.mark.parametrize("change", ["add", "remove", "merge", "rename", "config"])
def test_any_change_fits_again(root: Path, fits: list[int], change: str):
    _reranker(root)
    store = CatalogStore(root)
    config = CONFIG
    if change == "add":
        add_batch(store, 1, MODEL)
    elif change == "remove":
        store.remove(paths=["/b0/3.jpg"])
    elif change == "merge":
        store.merge("ind1", "ind0")
    elif change == "rename":
        store.rename("ind0", "Ayo")
    else:
        lnbnn = dataclasses.replace(CONFIG.lnbnn, lnbnn=LnbnnConfig(k=3))
        config = dataclasses.replace(CONFIG, lnbnn=lnbnn)
    refit = _reranker(root, config)
    assert len(fits) == 2
    assert list(refit.names_) == sorted(set(CatalogStore(root).snapshot().individuals))
    # the old state's files are gone; another config's are kept beside (same state)
    assert len(_cache_files(root)) == (4 if change == "config" else 2)
    _reranker(root, config)
    assert len(fits) == 2


def test_settings_the_fit_does_not_read_share_the_cache(root: Path, fits: list[int]):
    _reranker(root)
    _reranker(root, dataclasses.replace(CONFIG, top_n=7, calibration="logistic"))
    assert len(fits) == 1


@pytest.mark.parametrize("suffix", [".faiss", ".faiss.json"])
def test_a_damaged_cache_is_refused_reported_and_repaired(root: Path, fits: list[int], suffix: str):
    _reranker(root)
    (faiss_file,) = (root / LNBNN_DIR).glob("*.faiss")
    damaged = faiss_file.with_name(faiss_file.name.removesuffix(".faiss") + suffix)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CatalogDamaged) as err:
        _reranker(root)
    assert f"{LNBNN_DIR}/{faiss_file.name}" in str(err.value)
    assert "checksum mismatch" in str(err.value) and "check" in str(err.value)
    report = check_catalog(root)
    assert [d.part for d in report.damage] == [f"{LNBNN_DIR}/{faiss_file.name}"]
    repaired = check_catalog(root, repair=True)
    assert repaired.repaired and _cache_files(root) == []
    assert check_catalog(root).healthy
    _reranker(root)
    assert len(fits) == 2


def test_a_well_named_file_of_another_catalog_is_refused(root: Path, fits: list[int]):
    """A state whose digest matches but whose individuals are not the catalog's (a file
    copied in from elsewhere) does not restore: damage, not a silent wrong answer."""
    first = _reranker(root)
    (faiss_file,) = (root / LNBNN_DIR).glob("*.faiss")
    state = dataclasses.replace(first.state(), names=("x", "y", "z", "w"))
    from photoid.catalog.lnbnn_files import digest as _digest

    body = state_to_json(state)
    index = faiss_file.read_bytes()
    name = faiss_file.name[: -len("0123456789abcdef.faiss")] + _digest(index, body) + ".faiss"
    for old in (root / LNBNN_DIR).iterdir():
        old.unlink()
    (root / LNBNN_DIR / name).write_bytes(index)
    (root / LNBNN_DIR / (name + ".json")).write_bytes(body)
    with pytest.raises(CatalogDamaged, match="does not restore the reranker"):
        _reranker(root)


def test_a_failed_write_only_logs(root: Path, fits: list[int], caplog):
    (root / LNBNN_DIR).write_text("not a folder")  # mkdir fails
    with caplog.at_level(logging.WARNING):
        reranker = _reranker(root)
    assert reranker.n_training_pairs_ > 0 and "could not cache the LNBNN reranker" in caplog.text
    assert (root / LNBNN_DIR).read_text() == "not a folder"


def test_restored_calibrators_and_fusion_predict_exactly_as_fitted():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.gamma(2.0, 5.0, 200), rng.gamma(4.0, 9.0, 60)])
    same = np.arange(260) >= 200
    grid = np.linspace(-5.0, 300.0, 1001)
    for log_scale in (True, False):
        fitted = ScoreCalibrator("logistic", log_scale=log_scale).fit(scores, same)
        restored = ScoreCalibrator.from_state(fitted.state())
        np.testing.assert_array_equal(restored.predict(grid), fitted.predict(grid))
        assert restored.n_pairs_ == 260 and restored.positive_rate_ == fitted.positive_rate_
    probs = np.column_stack([rng.random(260) * 0.5 + 0.5 * same, rng.random(260)])
    for fusion in (ProbabilityFusion("logistic"), ProbabilityFusion("mean", [3.0, 1.0])):
        fitted = fusion.fit(probs, same)
        restored = ProbabilityFusion.from_state(fitted.state())
        p_grid = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41)), -1)
        p_grid = p_grid.reshape(-1, 2)
        np.testing.assert_array_equal(restored.predict(p_grid), fitted.predict(p_grid))
    assert ProbabilityFusion.from_state(fitted.state()).weights_.tolist() == [0.75, 0.25]


def test_an_ivf_descriptor_index_survives_serialisation():
    rng = np.random.default_rng(1)
    features = []
    for n in (300, 0, 500, 200):
        d = rng.standard_normal((n, 128)).astype(np.float32)
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        features.append(LocalFeatures(np.zeros((n, 2), np.float32), d, (10, 10)))
    config = DescriptorIndexConfig(backend="ivf", nlist=16, nprobe=4, train_size=1000)
    built = DescriptorIndex(config).build(features)
    restored = DescriptorIndex.deserialize(built.serialize(), features, config)
    queries = features[2].descriptors[:50]
    for a, b in zip(built.search(queries, 5), restored.search(queries, 5), strict=True):
        np.testing.assert_array_equal(a, b)
    assert restored.backend_ == "ivf" and restored.photo_counts_.tolist() == [300, 0, 500, 200]
    with pytest.raises(Exception, match="holds 1000 descriptors"):
        DescriptorIndex.deserialize(built.serialize(), features[:2], config)


def test_catalog_identify_fits_once_then_answers_from_the_cache(
    coat_catalog: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys,
    fits: list[int],
):
    """The wiring: ``catalog identify --rerank local`` (preset lnbnn) goes through the cache."""
    import json

    from local.textures import texture, transformed

    from photoid.cli.main import main

    cat = tmp_path / "cat"
    model = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
    assert main(["catalog", "create", str(cat), *model]) == 0
    assert main(["catalog", "add", str(cat), str(coat_catalog), "--quiet"]) == 0
    assert main(["catalog", "descriptors", str(cat), "--quiet"]) == 0
    query = tmp_path / "q.png"
    transformed(texture(1, size=160), angle=30, scale=0.9).save(query)
    args = ["catalog", "identify", str(cat), str(query), "--json", "--rerank", "local"]
    answers = []
    for call in range(3):
        if call == 1:  # the first call stored the query's keypoints (float16): fit again
            for path in (cat / LNBNN_DIR).iterdir():
                path.unlink()
        capsys.readouterr()
        assert main([*args, "--weights", "random", "--quiet"]) == 0
        answers.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert fits == [12, 12] and len(_cache_files(cat)) == 2
    answers = answers[1:]  # fitted, then read from the cache: the same query keypoints
    assert answers[0]["individuals"][0] == "bob"
    assert answers[1]["individuals"] == answers[0]["individuals"]
    np.testing.assert_allclose(answers[1]["scores"], answers[0]["scores"], rtol=0, atol=1e-9)
    assert answers[1]["evidence"] == answers[0]["evidence"]


def test_a_model_that_records_its_training_photos_is_calibrated_on_the_others(
    root: Path, monkeypatch
):
    """A catalog built with a trained head: the LNBNN calibration's anchors come from the
    photos the model did not train on (as in ``identify --model``), hashed only when
    fitting, and a model with another record gets its own cached fit."""
    import photoid.local.pipeline as pipeline

    hashed: list[str] = []

    def key(path: str) -> str:  # the catalog's photos are fake paths: key them by name
        hashed.append(path)
        return "sha:" + path

    monkeypatch.setattr(pipeline, "content_key", key)
    pools: list = []
    real = LnbnnReranker.fit

    def spy(self, vectors, features, labels, names=None, anchor_pool=None):
        pools.append(anchor_pool)
        return real(self, vectors, features, labels, names, anchor_pool)

    monkeypatch.setattr(LnbnnReranker, "fit", spy)
    store = CatalogStore(root)
    snap = store.snapshot()
    features = load_descriptors(store, snap.image_ids)
    paths = [str(p) for p in snap.paths]

    def reranker(trained):
        model = type("Model", (), {"trained_photos": frozenset(trained)})()
        return cached_reranker(
            store, snap, CONFIG, snap.vectors, features, snap.individuals, paths, model=model
        )

    first = reranker("sha:" + p for p in paths[:12])
    assert len(pools) == 1 and len(hashed) == 20
    np.testing.assert_array_equal(pools[0], np.arange(20) >= 12)
    # the anchors were the 8 photos the model never saw (calibration_anchors = 150 > 8)
    assert first.n_training_pairs_ > 0
    again = reranker("sha:" + p for p in paths[:12])
    assert len(pools) == 1 and len(hashed) == 20  # read from the cache: nothing hashed
    assert again.n_training_pairs_ == first.n_training_pairs_
    reranker("sha:" + p for p in paths[:4])  # another record: fitted again, on 16 photos
    assert len(pools) == 2
    np.testing.assert_array_equal(pools[1], np.arange(20) >= 4)
    reranker(())  # a model that records nothing: every photo may calibrate
    assert len(pools) == 3 and pools[2] is None
    assert len(_cache_files(root)) == 6
