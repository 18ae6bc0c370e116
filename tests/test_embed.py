from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_photo

from photoid.data.loaders import from_folders
from photoid.embed import embed_paths, embed_table
from photoid.errors import ImageReadError


def test_vectors_are_unit_norm_and_deterministic(folder_catalog: Path, tiny_backbone):
    catalog = from_folders(folder_catalog)
    a = embed_table(catalog, tiny_backbone, use_cache=False, progress=False)
    b = embed_table(catalog, tiny_backbone, use_cache=False, progress=False, batch_size=2)
    assert a.vectors.shape == (9, tiny_backbone.num_features)
    assert a.valid.all()
    np.testing.assert_allclose(np.linalg.norm(a.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)


def test_second_run_is_served_from_cache(folder_catalog: Path, tiny_backbone, tmp_path: Path):
    catalog = from_folders(folder_catalog)
    first = embed_table(catalog, tiny_backbone, cache_dir=tmp_path, progress=False)
    second = embed_table(catalog, tiny_backbone, cache_dir=tmp_path, progress=False)
    assert first.n_computed == 9 and second.n_computed == 0
    np.testing.assert_array_equal(first.vectors, second.vectors)
    # a changed file is embedded again, the rest still come from the cache
    write_photo(folder_catalog / "ann" / "0.jpg", seed=999)
    third = embed_table(catalog, tiny_backbone, cache_dir=tmp_path, progress=False)
    assert third.n_computed == 1
    assert not np.allclose(third.vectors[0], first.vectors[0])


def test_corrupt_photo_is_skipped_and_reported(folder_catalog: Path, tiny_backbone):
    bad = folder_catalog / "bob" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    catalog = from_folders(folder_catalog)
    emb = embed_table(catalog, tiny_backbone, use_cache=False, progress=False)
    row = catalog.paths.index(str(bad.resolve()))
    assert not emb.valid[row] and emb.valid.sum() == 8
    assert np.isnan(emb.vectors[row]).all()
    assert [s.path for s in emb.report.skipped] == [str(bad.resolve())]
    assert "skipped 1" in emb.report.summary()
    with pytest.raises(ImageReadError, match="1.jpg"):
        embed_table(catalog, tiny_backbone, use_cache=False, progress=False, strict=True)


def test_missing_file_is_reported_not_dropped(tmp_path: Path, tiny_backbone):
    good = write_photo(tmp_path / "a.jpg", seed=1)
    emb = embed_paths([str(good), str(tmp_path / "gone.jpg")], tiny_backbone, progress=False)
    assert emb.valid.tolist() == [True, False]
    assert emb.report.skipped[0].path.endswith("gone.jpg")


def test_workers_give_the_same_vectors(folder_catalog: Path, tiny_backbone):
    catalog = from_folders(folder_catalog)
    a = embed_table(catalog, tiny_backbone, use_cache=False, progress=False, num_workers=0)
    b = embed_table(catalog, tiny_backbone, use_cache=False, progress=False, num_workers=2)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)


def test_default_workers_leave_cores_for_the_model():
    from photoid.embed import default_workers
    from photoid.models.engines import cpu_count

    assert default_workers(3, on_gpu=False) == 0 and default_workers(3, on_gpu=True) == 0
    assert 1 <= default_workers(1000, on_gpu=False) == max(1, cpu_count() // 2)
    assert 1 <= default_workers(1000, on_gpu=True) <= 8


def test_augmented_embedding_follows_the_seeds(folder_catalog: Path, tiny_backbone):
    from photoid.config import AugmentConfig
    from photoid.errors import ConfigError

    catalog = from_folders(folder_catalog)
    augment = AugmentConfig()
    kwargs = dict(use_cache=False, progress=False, augment=augment, engine="torch")
    seeds = list(range(9))
    a = embed_table(catalog, tiny_backbone, seeds=seeds, num_workers=0, **kwargs)
    b = embed_table(catalog, tiny_backbone, seeds=seeds, num_workers=2, batch_size=4, **kwargs)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    c = embed_table(catalog, tiny_backbone, seeds=[s + 1 for s in seeds], **kwargs)
    assert not np.allclose(a.vectors, c.vectors, atol=1e-3)
    with pytest.raises(ConfigError, match="never cached"):
        embed_table(catalog, tiny_backbone, augment=augment, seeds=seeds, progress=False)
    with pytest.raises(ConfigError, match="one seed per photo"):
        embed_table(catalog, tiny_backbone, augment=augment, use_cache=False, seeds=[1])


def test_the_cache_keeps_two_weight_sets_of_one_architecture_apart(
    folder_catalog: Path, tiny_backbone, retrained_backbone, tmp_path: Path
):
    catalog = from_folders(folder_catalog)
    kwargs = dict(cache_dir=tmp_path, progress=False, engine="torch")
    first = embed_table(catalog, tiny_backbone, **kwargs)
    second = embed_table(catalog, retrained_backbone, **kwargs)
    assert first.n_computed == second.n_computed == len(catalog)  # nothing served from first's
    reference = embed_table(catalog, retrained_backbone, use_cache=False, **kwargs)
    np.testing.assert_allclose(second.vectors, reference.vectors, atol=1e-6)
    assert np.abs(second.vectors - first.vectors).max() > 0.1
    assert second.fingerprint == retrained_backbone.fingerprint
    # each model finds its own vectors on the next run
    for backbone, before in [(tiny_backbone, first), (retrained_backbone, second)]:
        again = embed_table(catalog, backbone, **kwargs)
        assert again.n_computed == 0
        np.testing.assert_array_equal(again.vectors, before.vectors)


def test_saved_embeddings_and_the_log_say_what_was_embedded_and_skipped(
    folder_catalog: Path, tiny_backbone, tmp_path: Path, caplog
):
    import json
    import logging
    import time

    from photoid.embed import log_embedding, save_embeddings

    bad = folder_catalog / "cid" / "2.jpg"
    bad.write_bytes(b"not a photo")
    catalog = from_folders(folder_catalog)
    kw = dict(cache_dir=tmp_path / "cache", progress=False, engine="torch")
    embed_table(catalog, tiny_backbone, **kw)  # 8 photos computed, now in the cache
    write_photo(folder_catalog / "ann" / "0.jpg", seed=77)  # one changed photo
    started = time.perf_counter()
    emb = embed_table(catalog, tiny_backbone, **kw)
    with caplog.at_level(logging.INFO, logger="photoid"):
        log_embedding(emb, started)
    first, skipped = caplog.messages
    # computed: the changed photo and the unreadable one (tried again: never cached)
    assert first.startswith("embedded 9 photos (2 computed, 7 from cache) in ")
    assert first.endswith("; " + emb.report.summary())
    assert skipped == f"  skipped {bad.resolve()}: {emb.report.skipped[0].reason}"

    path = tmp_path / "out.npz"
    save_embeddings(path, emb, catalog.paths, catalog.identities)
    saved = np.load(path)
    np.testing.assert_array_equal(saved["vectors"], emb.vectors)  # NaN row included
    assert saved["valid"].tolist() == emb.valid.tolist() and saved["valid"].sum() == 8
    assert saved["paths"].tolist() == catalog.paths
    assert saved["identities"].tolist() == catalog.identities.tolist()
    assert str(saved["fingerprint"]) == tiny_backbone.fingerprint
    assert json.loads(str(saved["spec"])) == json.loads(emb.model.to_json())
