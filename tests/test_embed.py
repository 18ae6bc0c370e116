from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_photo
from PIL import Image

from photoid.data.loaders import from_folders
from photoid.embed import embed_paths, embed_table
from photoid.errors import ConfigError, ImageReadError


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
    assert (tmp_path / "embeddings.sqlite").is_file()  # the one cache file, by its name
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


class RecordingEngine:
    """A stand-in engine: each row is the first ``dim`` pixels of its image / 255 as float64
    (so cached rows must be stored as float32 to come back equal), the batch sizes it saw
    recorded. ``device`` is left unset (like the ONNX engine) unless given."""

    name = "recording"

    def __init__(self, dim: int, device: str | None = None, pin_memory: bool = False):
        import torch

        if device is not None:
            self.device = torch.device(device)
        self.dim, self.pin_memory, self.batches = dim, pin_memory, []

    def embed(self, images):
        self.batches.append(len(images))
        return images.reshape(len(images), -1)[:, : self.dim].double().numpy() / 255.0


@pytest.fixture
def loader_calls(monkeypatch):
    """DataLoader's keyword arguments per call; the loader itself runs in this process
    without pinned memory (no worker processes to start, no GPU needed)."""
    import photoid.embed as embed

    calls, real = [], embed.DataLoader

    def spy(dataset, **kw):
        calls.append(kw)
        return real(dataset, batch_size=kw.get("batch_size", 1), num_workers=0)

    monkeypatch.setattr(embed, "DataLoader", spy)
    return calls


def test_batches_and_workers_follow_the_engine_device(tmp_path: Path, tiny_backbone, loader_calls):
    # documented: 32 photos a batch and half the cores on a CPU, 256 and up to 8 on a GPU
    paths = [str(tmp_path / f"absent{i}.jpg") for i in range(40)]  # read errors: cheap
    dim = tiny_backbone.spec.dim
    kw = dict(use_cache=False, progress=False)
    cpu = RecordingEngine(dim)  # no device attribute: the CPU
    embed_paths(paths, tiny_backbone, engine=cpu, num_workers=0, **kw)
    assert cpu.batches == [32, 8]
    gpu = RecordingEngine(dim, device="cuda", pin_memory=True)
    more = paths + [str(tmp_path / f"absent{i}.jpg") for i in range(40, 257)]
    embed_paths(more, tiny_backbone, engine=gpu, num_workers=0, **kw)
    assert gpu.batches == [256, 1]
    assert loader_calls[-1]["pin_memory"] is True  # the engine says whether to pin
    assert loader_calls[0]["pin_memory"] is False
    given = RecordingEngine(dim, device="cpu")
    embed_paths(paths[:7], tiny_backbone, engine=given, batch_size=3, num_workers=0, **kw)
    assert given.batches == [3, 3, 1]

    import photoid.embed as embed

    loader_calls.clear()
    for engine in (RecordingEngine(dim), RecordingEngine(dim, device="cuda")):
        embed_paths(paths, tiny_backbone, engine=engine, **kw)  # default workers
    on_cpu, on_gpu = (call["num_workers"] for call in loader_calls)
    assert on_cpu == embed.default_workers(40, on_gpu=False)
    assert on_gpu == embed.default_workers(40, on_gpu=True)
    embed_paths(paths[:3], tiny_backbone, engine=RecordingEngine(dim), num_workers=2, **kw)
    assert loader_calls[-1]["num_workers"] == 2  # asked for, though 3 photos need none
    # workers prefetch deeper than torch's default of 2 batches; no workers, no prefetch
    assert loader_calls[-1]["prefetch_factor"] > 2
    embed_paths(paths[:3], tiny_backbone, engine=RecordingEngine(dim), num_workers=0, **kw)
    assert loader_calls[-1]["prefetch_factor"] is None


def test_an_engine_returning_too_few_rows_is_an_error(tmp_path: Path, tiny_backbone):
    class Short(RecordingEngine):
        def embed(self, images):
            return super().embed(images)[:-1]

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(3)]
    with pytest.raises(ValueError):  # not rows silently left empty
        embed_paths(paths, tiny_backbone, engine=Short(tiny_backbone.spec.dim), progress=False)


def test_cached_vectors_come_back_as_computed_float32(tmp_path: Path, tiny_backbone):
    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(3)]
    dim = tiny_backbone.spec.dim
    kw = dict(cache_dir=tmp_path / "cache", progress=False)
    first = embed_paths(paths, tiny_backbone, engine=RecordingEngine(dim), **kw)
    again = RecordingEngine(dim)
    second = embed_paths(paths, tiny_backbone, engine=again, **kw)
    assert again.batches == [] and second.n_computed == 0
    assert first.vectors.dtype == second.vectors.dtype == np.float32
    np.testing.assert_array_equal(second.vectors, first.vectors)
    assert first.report.n_read == second.report.n_read == 3


def test_a_fully_cached_run_builds_no_engine(tmp_path: Path, tiny_backbone, monkeypatch):
    import photoid.embed as embed

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(2)]
    kw = dict(cache_dir=tmp_path / "cache", progress=False, engine="torch")
    first = embed_paths(paths, tiny_backbone, **kw)

    def refuse(*args, **kwargs):
        raise AssertionError("no engine is needed: every vector is cached")

    monkeypatch.setattr(embed, "select_engine", refuse)
    second = embed_paths(paths, tiny_backbone, **kw)
    np.testing.assert_array_equal(second.vectors, first.vectors)


def test_the_engine_choice_gets_the_options_and_the_photos_left_to_embed(
    tmp_path: Path, tiny_backbone, monkeypatch
):
    import photoid.embed as embed

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(3)]
    cache = tmp_path / "cache"
    embed_paths(paths[:2], tiny_backbone, cache_dir=cache, progress=False, engine="torch")
    calls = []
    real = embed.select_engine

    def spy(backbone, engine="auto", **kw):
        calls.append((backbone, engine, kw))
        return real(backbone, engine, **kw)

    monkeypatch.setattr(embed, "select_engine", spy)
    emb = embed_paths(
        paths, tiny_backbone, cache_dir=cache, progress=False, engine="torch", device="cpu"
    )
    assert emb.n_computed == 1
    [(backbone, engine, kw)] = calls
    assert backbone is tiny_backbone and engine == "torch"
    assert kw == dict(device="cpu", n_images=1, cache_dir=cache)


def test_loader_options_are_checked(tmp_path: Path, tiny_backbone, monkeypatch):
    import photoid.embed as embed
    from photoid.errors import ConfigError

    paths = [str(tmp_path / "absent.jpg")]
    for bad in (dict(batch_size=0), dict(num_workers=-1)):
        with pytest.raises(ConfigError):
            embed_paths(paths, tiny_backbone, progress=False, **bad)
    monkeypatch.setattr(embed, "cpu_count", lambda: 3)
    assert embed.max_workers() == 12  # 4 per core
    embed.check_loader_options(1, 12)  # the smallest batch, the most workers: accepted
    embed.check_loader_options(None, 0)
    for batch_size, workers in [(True, None), (False, None), (0, None), (None, 13)]:
        with pytest.raises(ConfigError):
            embed.check_loader_options(batch_size, workers)


def test_default_workers_by_start_method_and_cores(monkeypatch):
    import multiprocessing

    import photoid.embed as embed

    monkeypatch.setattr(embed, "cpu_count", lambda: 5)
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda *a, **k: "fork")
    assert embed.default_workers(15, on_gpu=False) == 0  # fewer than 16: none
    assert embed.default_workers(16, on_gpu=False) == 2  # half of 5 cores
    assert embed.default_workers(16, on_gpu=True) == 5  # up to 8: all 5
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda *a, **k: "spawn")
    assert embed.default_workers(63, on_gpu=True) == 0  # fewer than 64: none
    assert embed.default_workers(64, on_gpu=True) == 5
    monkeypatch.setattr(embed, "cpu_count", lambda: 20)
    assert embed.default_workers(64, on_gpu=True) == 8
    assert embed.default_workers(64, on_gpu=False) == 10
    monkeypatch.setattr(embed, "cpu_count", lambda: 1)
    assert embed.default_workers(64, on_gpu=False) == 1  # at least one


def test_the_progress_bar_counts_photos_under_its_name(tmp_path: Path, tiny_backbone, capsys):
    paths = [str(tmp_path / f"absent{i}.jpg") for i in range(3)]
    engine = RecordingEngine(tiny_backbone.spec.dim)
    embed_paths(paths, tiny_backbone, engine=engine, use_cache=False, num_workers=0)
    shown = capsys.readouterr().err
    assert "embedding: 100%" in shown and "3/3" in shown and "img/s" in shown
    embed_paths(paths, tiny_backbone, engine=engine, use_cache=False, desc="gallery")
    assert "gallery: 100%" in capsys.readouterr().err
    embed_paths(paths, tiny_backbone, engine=engine, use_cache=False, progress=False)
    assert capsys.readouterr().err == ""


def test_a_photo_without_a_content_key_is_skipped_not_stored(
    tmp_path: Path, tiny_backbone, monkeypatch
):
    import photoid.embed as embed

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(2)]
    real = embed.content_key
    # e.g. unreadable when hashed, readable a moment later: no key to file its vector under
    monkeypatch.setattr(
        embed, "content_key", lambda p, b=None: None if p == paths[1] else real(p, b)
    )
    engine = RecordingEngine(tiny_backbone.spec.dim)
    emb = embed_paths(paths, tiny_backbone, progress=False, engine=engine)
    assert emb.valid.tolist() == [True, False]
    assert [(s.path, s.reason) for s in emb.report.skipped] == [
        (paths[1], "file not found or unreadable")
    ]


def test_strict_names_the_photo_and_the_reason(tmp_path: Path, tiny_backbone):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    kw = dict(use_cache=False, progress=False, engine=RecordingEngine(tiny_backbone.spec.dim))
    [skipped] = embed_paths([str(bad)], tiny_backbone, **kw).report.skipped
    with pytest.raises(ImageReadError) as err:
        embed_paths([str(bad)], tiny_backbone, strict=True, **kw)
    assert str(bad) in str(err.value) and skipped.reason in str(err.value)
    assert "--strict" in str(err.value)  # the way to skip it instead


def _png(path: Path, pixels: np.ndarray) -> str:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="PNG")
    return str(path)


def test_a_box_crops_the_photo_and_keys_the_cache(tmp_path: Path, tiny_backbone):
    import pandas as pd

    from photoid.data.table import PhotoTable
    from photoid.embed import table_boxes

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    whole = _png(tmp_path / "whole.png", pixels)
    crop = _png(tmp_path / "crop.png", pixels[5:35, 10:40])  # x 10, y 5, w 30, h 30
    kw = dict(progress=False, engine="torch", cache_dir=tmp_path / "cache")
    plain = embed_paths([whole, crop], tiny_backbone, **kw)
    boxed = embed_paths([whole], tiny_backbone, boxes=[(10, 5, 30, 30)], **kw)
    assert boxed.n_computed == 1  # not the whole photo's cached vector
    to_crop, to_whole = (np.abs(boxed.vectors[0] - v).max() for v in plain.vectors[::-1])
    assert to_crop < to_whole / 10  # the crop's vector, up to resampling at the edges
    with pytest.raises(ValueError):  # one box per photo, no more, no less
        embed_paths([whole], tiny_backbone, boxes=[None, None], **kw)

    table = pd.DataFrame(
        {
            "path": [whole, _png(tmp_path / "copy.png", pixels)],
            "identity": ["a", "a"],
            "bbox_x": [10, None], "bbox_y": [5, None], "bbox_w": [30, None], "bbox_h": [30, None],
        }
    )  # fmt: skip
    catalog = PhotoTable(table)
    assert table_boxes(catalog) == [(10.0, 5.0, 30.0, 30.0), None]  # empty box: whole photo
    emb = embed_table(catalog, tiny_backbone, **kw)
    np.testing.assert_array_equal(emb.vectors, [boxed.vectors[0], plain.vectors[0]])


def test_an_unreadable_photo_reads_as_zero_model_input(tmp_path: Path, tiny_backbone):
    import torch

    from photoid.embed import PhotoDataset

    dataset = PhotoDataset([str(tmp_path / "gone.jpg")], [None], tiny_backbone.preprocessing)
    pixels, i, error = dataset[0]
    size = tiny_backbone.preprocessing.image_size
    assert pixels.dtype == torch.uint8 and tuple(pixels.shape) == (3, size, size)
    assert i == 0 and error and not pixels.any()


def test_an_unwritable_embedding_cache_says_which_cache(tmp_path: Path, tiny_backbone):
    from photoid.errors import PhotoidError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PhotoidError, match=r"cannot open the embedding cache \("):
        embed_paths([str(blocker)], tiny_backbone, cache_dir=blocker, progress=False)


def test_the_log_lists_at_most_20_skipped_photos(caplog):
    import logging
    import time

    from photoid.data.images import ReadReport
    from photoid.embed import Embeddings, log_embedding

    report = ReadReport()
    for k in range(21):
        report.skip(ImageReadError(f"p{k}.jpg", "missing"))
    emb = Embeddings(np.full((21, 2), np.nan, np.float32), np.zeros(21, bool), None, report, 21)
    with caplog.at_level(logging.INFO, logger="photoid"):
        log_embedding(emb, time.perf_counter())
    assert len(caplog.messages) == 1 + 20


def test_auto_decoding_goes_to_the_device_only_for_a_working_cuda_decoder(monkeypatch):
    import torch

    import photoid.embed as embed

    seen = []

    def available(device):
        seen.append(device)
        return device.type == "cuda"

    monkeypatch.setattr(embed, "device_decoding_available", available)
    gpu = RecordingEngine(4, device="cuda:1")
    cpu, onnx = RecordingEngine(4, device="cpu"), RecordingEngine(4)  # onnx: no device
    assert embed._decodes_on_device(gpu, "auto") and seen == [torch.device("cuda:1")]
    assert not embed._decodes_on_device(cpu, "auto") and not embed._decodes_on_device(onnx, "auto")
    assert len(seen) == 1  # a CPU engine never probes a decoder
    assert embed._decodes_on_device(cpu, "device") and not embed._decodes_on_device(gpu, "cpu")
    monkeypatch.setattr(embed, "device_decoding_available", lambda device: False)
    assert not embed._decodes_on_device(gpu, "auto")  # no nvJPEG: the workers decode


def _scene_jpeg(path: Path, seed: int) -> str:
    """A smooth photo-like JPEG (resampling differences stay small on it)."""
    y, x = np.mgrid[0:160, 0:200] / 200.0
    phase = np.random.default_rng(seed).random(3) * 6
    pixels = 127 + 80 * np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in phase], -1)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, "JPEG", quality=92)
    return str(path)


class PixelEngine:
    """Rows = the input's pixels / 255 (float64), so inputs can be compared through
    :func:`embed_paths`."""

    name, pin_memory = "pixels", False

    def __init__(self, dim: int):
        self.dim, self.device = dim, torch.device("cpu")

    def embed(self, images):
        return images.reshape(len(images), -1)[:, : self.dim].double().numpy() / 255.0


def test_embed_paths_decodes_on_the_device_when_asked(tmp_path: Path, tiny_backbone):
    paths = [_scene_jpeg(tmp_path / f"{i}.jpg", i) for i in range(3)]
    paths.append(str(tmp_path / "gone.jpg"))
    engine = PixelEngine(tiny_backbone.spec.dim)
    kw = dict(use_cache=False, progress=False, engine=engine, batch_size=2)
    cpu = embed_paths(paths, tiny_backbone, decode="cpu", **kw)
    dev = embed_paths(paths, tiny_backbone, decode="device", **kw)
    assert dev.valid.tolist() == cpu.valid.tolist() == [True, True, True, False]
    assert np.abs(dev.vectors[:3] - cpu.vectors[:3]).mean() < 1 / 255
    assert [s.reason for s in dev.report.skipped] == [s.reason for s in cpu.report.skipped]
    # "auto" on a CPU engine keeps the CPU path
    auto = embed_paths(paths, tiny_backbone, **kw)
    np.testing.assert_array_equal(auto.vectors[:3], cpu.vectors[:3])


def test_decode_option_errors(tmp_path: Path, tiny_backbone):
    from photoid.config import AugmentConfig

    path = [_scene_jpeg(tmp_path / "a.jpg", 0)]
    with pytest.raises(ConfigError, match="decode"):
        embed_paths(path, tiny_backbone, decode="gpu", progress=False)
    with pytest.raises(ConfigError, match="decode='cpu'"):
        embed_paths(
            path, tiny_backbone, decode="device", augment=AugmentConfig(), seeds=[0],
            use_cache=False, progress=False,
        )  # fmt: skip


def test_the_default_batch_shrinks_with_the_input_size():
    from photoid.embed import default_batch_size

    assert [default_batch_size(False, s) for s in (32, 224, 448, 1024)] == [32, 32, 8, 1]
    assert [default_batch_size(True, s) for s in (224, 448, 1024)] == [256, 64, 12]
