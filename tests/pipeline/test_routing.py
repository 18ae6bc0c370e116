"""Routing with hand-made galleries: what a query may be matched with."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError
from photoid.pipeline.routing import QueryAttributes, allowed, routed_identify

# six gallery photos: a left and a right flank of each of two leopards, two dolphins
LABELS = np.array(["leo_a", "leo_a", "leo_b", "leo_b", "dol_c", "dol_d"], dtype=object)
SPECIES = np.array(["leopard"] * 4 + ["dolphin"] * 2)
VIEWS = np.array(["left", "right", "left", "right", "left", "other"])


def gallery_vectors() -> np.ndarray:
    # every gallery photo is a unit vector on its own axis
    return np.eye(6, dtype=np.float32)


def test_a_left_flank_query_never_gets_a_right_flank_candidate():
    # each query lies closest to a right-flank photo (or equally close to all): still none
    queries = np.array(
        [[0, 1, 0, 0, 0, 0], [0, 0.9, 0, 0.8, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=np.float32
    )
    attributes = QueryAttributes.given(viewpoint=["left"] * 3)
    routed = routed_identify(
        queries, attributes, gallery_vectors(), LABELS, SPECIES, VIEWS, route="viewpoint"
    )
    assert routed.n_routed == 3 and routed.n_fallback == 0
    for answer in routed.answers:
        assert answer.photo_ids  # something was found
        assert all(VIEWS[i] != "right" for i in answer.photo_ids if i >= 0)
    # the best left-flank photo of leo_a is row 0: ids point into the whole gallery
    assert routed.answers[0].photo_ids[0] in (0, 2, 4, 5)
    unified = routed_identify(
        queries, attributes, gallery_vectors(), LABELS, SPECIES, VIEWS, route="unified"
    )
    assert unified.answers[0].photo_ids[0] == 1  # without routing the right flank wins


def test_masks_by_route():
    def mask(route, species, view):
        return allowed(route, species, view, SPECIES, VIEWS).tolist()

    assert mask("unified", "dolphin", "left") == [True] * 6
    assert mask("species", "dolphin", "left") == [False] * 4 + [True] * 2
    assert mask("viewpoint", "", "right") == [False, True, False, True, False, True]
    assert mask("viewpoint", "", "other") == [True] * 6  # no opposite: nothing excluded
    assert mask("species+viewpoint", "leopard", "left") == [True, False, True, False, False, False]
    with pytest.raises(ConfigError, match="route"):
        mask("by-colour", "", "")


def test_unsure_predictions_and_empty_filters_fall_back_to_the_whole_gallery():
    queries = np.array([[0, 0, 0, 0, 1, 0]] * 3, dtype=np.float32)
    attributes = QueryAttributes(
        species=np.array(["leopard", "leopard", "whale"]),
        species_confidence=np.array([0.95, 0.5, 0.99]),
        viewpoint=np.array(["", "", ""]),
        viewpoint_confidence=np.zeros(3),
    )
    routed = routed_identify(
        queries, attributes, gallery_vectors(), LABELS, SPECIES, VIEWS,
        route="species", min_confidence=0.9,
    )  # fmt: skip
    assert routed.n_routed == 1 and routed.n_fallback == 2
    assert routed.answers[0].top1 in ("leo_a", "leo_b")  # confident: leopards only
    assert routed.answers[1].top1 == "dol_c"  # unsure: whole gallery
    assert routed.answers[2].top1 == "dol_c"  # no whale in the gallery: whole gallery
