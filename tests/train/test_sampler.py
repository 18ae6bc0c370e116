import numpy as np

from photoid.train.sampler import PKSampler, ShuffleSampler


def test_pk_batches_hold_p_labels_k_each():
    labels = np.repeat(np.arange(10), [2, 3, 4, 5, 6, 2, 3, 4, 5, 6])
    sampler = PKSampler(labels, p=4, k=3, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        got = labels[batch]
        values, counts = np.unique(got, return_counts=True)
        assert len(values) == 4 and (counts == 3).all()


def test_pk_epoch_gives_each_label_k_slots_per_k_photos():
    # n photos -> ceil(n / k) visits of k slots: 16 -> 16, 4 -> 4, 2 -> 4 (with replacement).
    # PML's MPerClassSampler would draw the 12 labels uniformly instead.
    labels = np.repeat(np.arange(12), [16] * 3 + [4] * 6 + [2] * 3)
    got = labels[[i for batch in PKSampler(labels, p=3, k=4, seed=0) for i in batch]]
    assert np.bincount(got, minlength=12).tolist() == [16] * 3 + [4] * 9
    for seed in range(1, 6):  # visits left once fewer than p labels remain are dropped
        got = labels[[i for batch in PKSampler(labels, p=3, k=4, seed=seed) for i in batch]]
        assert (np.bincount(got, minlength=12) <= [16] * 3 + [4] * 9).all()


def test_pk_ranks_split_the_same_epoch():
    labels = np.repeat(np.arange(12), 4)
    whole = list(PKSampler(labels, 3, 2, seed=5))
    r0 = list(PKSampler(labels, 3, 2, seed=5, rank=0, world_size=2))
    r1 = list(PKSampler(labels, 3, 2, seed=5, rank=1, world_size=2))
    assert len(r0) == len(r1) == len(whole) // 2
    assert r0 == whole[0::2][: len(r0)] and r1 == whole[1::2][: len(r1)]


def test_epochs_differ_and_repeat():
    labels = np.repeat(np.arange(6), 4)
    s = PKSampler(labels, 2, 2, seed=0)
    s.set_epoch(0)
    a = list(s)
    s.set_epoch(1)
    b = list(s)
    s.set_epoch(0)
    assert list(s) == a != b


def test_shuffle_sampler_covers_without_repeats():
    s = ShuffleSampler(10, 3, seed=0)
    seen = [i for b in s for i in b]
    assert len(seen) == 9 and len(set(seen)) == 9
    r = [list(ShuffleSampler(10, 2, 0, rank, 2)) for rank in (0, 1)]
    assert not {i for b in r[0] for i in b} & {i for b in r[1] for i in b}
