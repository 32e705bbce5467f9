"""datasets.make_scenes: masks agree with boxes and labels, objects never overlap, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet.datasets import SCENE_CLASSES, make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(64, size=64, max_objects=4, seed=3)


def test_shapes_and_dtypes(scenes):
    images, masks, boxes, labels = scenes
    assert images.shape == (64, 3, 64, 64) and images.dtype == np.float32
    assert masks.shape == (64, 64, 64) and masks.dtype == np.int64
    assert len(boxes) == len(labels) == 64
    assert images.min() >= 0.0 and images.max() <= 1.0
    for b, lab in zip(boxes, labels):
        assert b.dtype == np.float32 and b.ndim == 2 and b.shape[1] == 4
        assert lab.dtype == np.int64 and lab.shape == (b.shape[0],)
        assert 1 <= len(lab) <= 4
        assert np.all((lab >= 1) & (lab < len(SCENE_CLASSES)))
        assert np.all(b[:, :2] >= 0) and np.all(b[:, 2:] <= 64) and np.all(b[:, 2:] > b[:, :2])


def test_each_box_is_the_tight_bound_of_its_object(scenes):
    _, masks, boxes, labels = scenes
    for mask, b, lab in zip(masks, boxes, labels):
        covered = np.zeros(mask.shape, bool)
        for (x1, y1, x2, y2), label in zip(b.astype(int), lab):
            inside = np.zeros(mask.shape, bool)
            inside[y1:y2, x1:x2] = True
            # only this object's label (or background) inside its box
            assert set(np.unique(mask[inside])) <= {0, int(label)}
            rows, cols = np.nonzero(inside & (mask == label))
            assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x1, y1, x2, y2)
            covered |= inside & (mask > 0)
        # every object pixel belongs to some box
        np.testing.assert_array_equal(covered, mask > 0)


def test_objects_do_not_overlap_or_touch(scenes):
    _, _, boxes, _ = scenes
    for b in boxes:
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                p, q = b[i], b[j]
                # disjoint with at least one pixel between them
                assert p[2] < q[0] or q[2] < p[0] or p[3] < q[1] or q[3] < p[1]


def test_variety(scenes):
    _, masks, boxes, labels = scenes
    all_labels = np.concatenate(labels)
    assert set(all_labels.tolist()) == {1, 2, 3}
    counts = {len(v) for v in labels}
    assert len(counts) >= 3  # varied object counts
    sides = np.concatenate([b[:, 2] - b[:, 0] for b in boxes])
    assert sides.min() <= 10 and sides.max() >= 18  # varied sizes (8 to 21 pixels at size 64)


def test_objects_stand_out_from_the_background(scenes):
    images, masks, _, _ = scenes
    strongest = images.max(axis=1)  # each object has one channel at full strength
    for img, mask in zip(strongest, masks):
        assert img[mask > 0].mean() > img[mask == 0].mean() + 0.4


def test_shapes_fill_their_box_as_their_class_says(scenes):
    _, masks, boxes, labels = scenes
    fill = {1: [], 2: [], 3: []}
    for mask, b, lab in zip(masks, boxes, labels):
        for (x1, y1, x2, y2), label in zip(b.astype(int), lab):
            fill[int(label)].append((mask[y1:y2, x1:x2] == label).mean())
    # square 1, disc about pi/4, triangle about 1/2
    assert np.allclose(fill[1], 1.0)
    assert 0.65 < np.mean(fill[2]) < 0.85
    assert 0.4 < np.mean(fill[3]) < 0.65


def test_seeded_and_deterministic():
    a = make_scenes(5, seed=11)
    b = make_scenes(5, seed=11)
    c = make_scenes(5, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for x, y in zip(a[2] + a[3], b[2] + b[3]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    fresh = make_scenes(2)  # seed=None: fresh scenes, same format
    assert fresh[0].shape == (2, 3, 64, 64)


def test_sizes_and_counts():
    images, masks, boxes, labels = make_scenes(3, size=16, max_objects=1, seed=0)
    assert images.shape == (3, 3, 16, 16) and all(len(v) == 1 for v in labels)
    images, masks, boxes, labels = make_scenes(0, seed=0)
    assert images.shape == (0, 3, 64, 64) and masks.shape == (0, 64, 64) and boxes == [] and labels == []
    # a crowded request places what fits, never overlapping
    _, masks, boxes, labels = make_scenes(4, size=32, max_objects=30, seed=1)
    assert all(1 <= len(v) <= 30 for v in labels)


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"n": -1}, ValueError, "n"),
    ({"n": 2.5}, TypeError, "n"),
    ({"n": 2, "size": 8}, ValueError, "size"),
    ({"n": 2, "max_objects": 0}, ValueError, "max_objects"),
    ({"n": 2, "seed": -3}, ValueError, "seed"),
    ({"n": 2, "seed": "a"}, TypeError, "seed"),
])
def test_argument_errors(kwargs, exc, word):
    with pytest.raises(exc, match=rf"\b{word}\b"):
        make_scenes(**kwargs)
