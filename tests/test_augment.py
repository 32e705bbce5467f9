"""pyconvnet.augment: exact geometry on small hand-made images, seeds, shapes, arguments."""

import numpy as np
import pytest

from pyconvnet import augment as A


def rng(seed=0):
    return np.random.default_rng(seed)


def arange_image(c=1, h=3, w=4):
    return np.arange(c * h * w, dtype=np.float32).reshape(1, c, h, w)


ALL = [
    A.RandomHorizontalFlip(),
    A.RandomVerticalFlip(),
    A.RandomCrop(6, padding=1),
    A.Grayscale(),
    A.ColorJitter(0.4, 0.4, 0.4),
    A.RandomTranslate(2),
    A.RandomRotation(30),
    A.Compose([A.RandomCrop(6, padding=2), A.RandomHorizontalFlip(), A.RandomRotation(10)]),
]


# ---------------------------------------------------------------------------------------------
# Geometry, exactly


def test_horizontal_flip_geometry():
    x = arange_image()
    assert np.array_equal(A.RandomHorizontalFlip(p=1)(x, rng()), x[..., ::-1])
    assert np.array_equal(A.RandomHorizontalFlip(p=0)(x, rng()), x)


def test_vertical_flip_geometry():
    x = arange_image(c=2)
    assert np.array_equal(A.RandomVerticalFlip(p=1)(x, rng()), x[:, :, ::-1, :])
    assert np.array_equal(A.RandomVerticalFlip(p=0)(x, rng()), x)


def test_flip_is_per_image():
    x = np.repeat(arange_image(), 200, axis=0)
    out = A.RandomHorizontalFlip(p=0.5)(x, rng(1))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)
    assert 60 < flipped.sum() < 140


def test_crop_without_padding_finds_every_window():
    x = arange_image(h=3, w=4)
    seen = set()
    for seed in range(60):
        out = A.RandomCrop((2, 3))(x, rng(seed))
        assert out.shape == (1, 1, 2, 3)
        y0, x0 = divmod(int(out[0, 0, 0, 0]), 4)
        assert np.array_equal(out[0, 0], x[0, 0, y0 : y0 + 2, x0 : x0 + 3])
        seen.add((y0, x0))
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_crop_with_zero_padding_keeps_shape_and_values():
    x = arange_image(c=2) + 1  # no zero pixel inside the image
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = {padded[0, :, i : i + 3, j : j + 4].tobytes() for i in range(3) for j in range(3)}
    seen = set()
    for seed in range(80):
        out = A.RandomCrop((3, 4), padding=1)(x, rng(seed))
        assert out.shape == x.shape
        assert out.tobytes() in windows
        seen.add(out.tobytes())
    assert seen == windows


def test_translate_geometry():
    x = arange_image() + 1
    n = 300
    batch = np.repeat(x, n, axis=0)
    out = A.RandomTranslate(1)(batch, rng(2))
    shifts = set()
    for img in out:
        match = None
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                want = np.zeros_like(x[0, 0])
                src = x[0, 0, max(0, -dy) : 3 - max(0, dy), max(0, -dx) : 4 - max(0, dx)]
                want[max(0, dy) : 3 - max(0, -dy), max(0, dx) : 4 - max(0, -dx)] = src
                if np.array_equal(img[0], want):
                    match = (dy, dx)
        assert match is not None
        shifts.add(match)
    assert len(shifts) == 9


def test_translate_positive_shift_moves_content_down_right():
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 2] = 1
    for seed in range(20):
        out = A.RandomTranslate((2, 0))(x, rng(seed))
        ys, xs = np.nonzero(out[0, 0])
        assert xs.tolist() == [2] and 0 <= ys[0] <= 4


def test_translate_larger_than_image_gives_zeros_or_shifted():
    x = np.ones((50, 1, 2, 2), np.float32)
    out = A.RandomTranslate(5)(x, rng(0))
    assert out.shape == x.shape
    assert set(np.unique(out)) <= {0.0, 1.0}


def test_rotation_90_is_rot90_on_square_images():
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(1, 2, 4, 4)
    out = A.RandomRotation((90, 90))(x, rng())
    assert np.array_equal(out, np.rot90(x, k=1, axes=(2, 3)))  # counter-clockwise
    out = A.RandomRotation((-90, -90))(x, rng())
    assert np.array_equal(out, np.rot90(x, k=-1, axes=(2, 3)))
    x3 = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    assert np.array_equal(A.RandomRotation((90, 90))(x3, rng()), np.rot90(x3, axes=(2, 3)))


def test_rotation_180_on_3x4_about_centre():
    x = arange_image(h=3, w=4)
    out = A.RandomRotation((180, 180))(x, rng())
    assert np.array_equal(out, x[:, :, ::-1, ::-1])


def test_rotation_zero_is_identity_and_90_on_3x4_is_bilinear_zero_fill():
    x = arange_image(h=3, w=4)
    assert np.array_equal(A.RandomRotation(0)(x, rng()), x)
    # 90 degrees about (1, 1.5) on a 3x4 image: source (y_s, x_s) = (x - 0.5, 2.5 - y), half-way
    # between pixels; anything reaching outside the image mixes in zeros.
    out = A.RandomRotation((90, 90))(x, rng())[0, 0]
    img = np.pad(x[0, 0].astype(np.float64), 1)  # zero border, index + 1

    def sample(ys, xs):
        y0, x0 = int(np.floor(ys)), int(np.floor(xs))
        fy, fx = ys - y0, xs - x0
        g = lambda yy, xx: img[yy + 1, xx + 1] if -1 <= yy <= 3 and -1 <= xx <= 4 else 0.0
        return (
            g(y0, x0) * (1 - fy) * (1 - fx)
            + g(y0, x0 + 1) * (1 - fy) * fx
            + g(y0 + 1, x0) * fy * (1 - fx)
            + g(y0 + 1, x0 + 1) * fy * fx
        )

    want = np.array([[sample(j - 0.5, 2.5 - i) for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_rotation_keeps_the_centre_pixel_fixed():
    x = np.zeros((8, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1
    out = A.RandomRotation(45)(x, rng(5))
    assert np.allclose(out[:, 0, 4, 4], 1.0)
    assert np.all(out.sum(axis=(1, 2, 3)) < 2.0)


def test_rotation_fill_is_zero():
    x = np.ones((4, 1, 8, 8), np.float32)
    out = A.RandomRotation((45, 45))(x, rng())
    assert out[:, :, 0, 0].max() == 0.0 and out[:, :, 4, 4].min() == pytest.approx(1.0)


def test_grayscale():
    x = np.random.default_rng(0).random((2, 3, 4, 5), dtype=np.float32)
    out = A.Grayscale()(x, rng())
    want = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert out.shape == x.shape
    for c in range(3):
        np.testing.assert_allclose(out[:, c], want, rtol=1e-6)
    one = x[:, :1]
    out1 = A.Grayscale()(one, rng())
    assert np.array_equal(out1, one) and out1 is not one
    with pytest.raises(ValueError, match="channel"):
        A.Grayscale()(np.zeros((1, 2, 3, 3), np.float32), rng())


def test_color_jitter_matches_torchvision_formulas():
    x = np.random.default_rng(3).random((6, 3, 5, 5), dtype=np.float32) * 0.8
    jit = A.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5)
    out = jit(x, rng(7))
    g = rng(7)
    fb = g.uniform(0.5, 1.5, 6).astype(np.float32)[:, None, None, None]
    fc = g.uniform(0.5, 1.5, 6).astype(np.float32)[:, None, None, None]
    fs = g.uniform(0.5, 1.5, 6).astype(np.float32)[:, None, None, None]
    gray = lambda im: (0.299 * im[:, 0] + 0.587 * im[:, 1] + 0.114 * im[:, 2])[:, None]
    want = np.clip(x * fb, 0, 1)
    want = np.clip(fc * want + (1 - fc) * gray(want).mean(axis=(1, 2, 3), keepdims=True), 0, 1)
    want = np.clip(fs * want + (1 - fs) * gray(want), 0, 1)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_color_jitter_zero_is_identity_and_draws_nothing():
    x = np.random.default_rng(0).random((3, 3, 4, 4), dtype=np.float32)
    g = rng(0)
    out = A.ColorJitter()(x, g)
    assert np.array_equal(out, x) and out is not x
    assert g.random() == rng(0).random()


def test_color_jitter_gray_input_ignores_saturation():
    x = np.random.default_rng(0).random((3, 1, 4, 4), dtype=np.float32)
    out = A.ColorJitter(saturation=0.9)(x, rng())
    assert np.array_equal(out, x)
    out = A.ColorJitter(brightness=0.5)(x, rng(1))
    ratio = out / x
    assert np.allclose(ratio, ratio[:, :1, :1, :1], rtol=1e-5) or out.max() == 1.0


def test_color_jitter_clip_false_keeps_range():
    x = np.full((4, 1, 2, 2), 3.0, np.float32)
    out = A.ColorJitter(brightness=0.5, clip=False)(x, rng(0))
    assert out.max() > 1.0


# ---------------------------------------------------------------------------------------------
# Common behaviour


@pytest.mark.parametrize("t", ALL, ids=repr)
def test_new_batch_same_shape_dtype_and_input_untouched(t):
    x = np.random.default_rng(0).random((5, 3, 6, 6)).astype(np.float32)
    before = x.copy()
    out = t(x, rng(1))
    assert out.shape == x.shape and out.dtype == np.float32 and out.flags.c_contiguous
    assert out is not x and not np.shares_memory(out, x)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("t", ALL, ids=repr)
def test_seed_reproduces(t):
    x = np.random.default_rng(0).random((16, 3, 6, 6), dtype=np.float32)
    a, b = t(x, rng(42)), t(x, rng(42))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("t", [A.RandomHorizontalFlip(), A.RandomCrop(6, padding=2), A.RandomRotation(30),
                               A.RandomTranslate(2), A.ColorJitter(0.5)], ids=repr)
def test_parameters_differ_per_image(t):
    x = np.repeat(np.random.default_rng(0).random((1, 3, 6, 6), dtype=np.float32), 32, axis=0)
    out = t(x, rng(3))
    assert len({img.tobytes() for img in out}) > 1


def test_float64_and_strided_input_accepted():
    x = np.random.default_rng(0).random((4, 3, 8, 16))[:, :, :, ::2]
    out = A.RandomRotation(10)(x, rng())
    assert out.dtype == np.float32 and out.shape == (4, 3, 8, 8)


def test_empty_batch():
    x = np.zeros((0, 3, 6, 6), np.float32)
    for t in ALL:
        assert t(x, rng()).shape == (0, 3, 6, 6)


def test_compose_applies_in_order_and_empty_compose_copies():
    x = arange_image()
    t = A.Compose([A.RandomHorizontalFlip(1), A.RandomVerticalFlip(1)])
    assert np.array_equal(t(x, rng()), x[:, :, ::-1, ::-1])
    out = A.Compose([])(x, rng())
    assert np.array_equal(out, x) and out is not x
    assert "RandomHorizontalFlip" in repr(t)


# ---------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: A.RandomHorizontalFlip(p=1.5), "p"),
        (lambda: A.RandomVerticalFlip(p=-0.1), "p"),
        (lambda: A.RandomCrop(0), "size"),
        (lambda: A.RandomCrop((2, 2, 2)), "size"),
        (lambda: A.RandomCrop(4, padding=-1), "padding"),
        (lambda: A.RandomTranslate(-1), "max_shift"),
        (lambda: A.RandomRotation(-5), "degrees"),
        (lambda: A.RandomRotation((10, -10)), "degrees"),
        (lambda: A.RandomRotation(float("nan")), "degrees"),
        (lambda: A.RandomRotation((1, 2, 3)), "degrees"),
        (lambda: A.ColorJitter(brightness=-0.1), "brightness"),
        (lambda: A.ColorJitter(contrast=float("inf")), "contrast"),
        (lambda: A.ColorJitter(saturation=-1), "saturation"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: A.RandomCrop(2.5), "size"),
        (lambda: A.RandomTranslate("3"), "max_shift"),
        (lambda: A.RandomRotation("10"), "degrees"),
        (lambda: A.ColorJitter(brightness=True), "brightness"),
        (lambda: A.Compose([1]), "transforms"),
        (lambda: A.Compose(3), "transforms"),
    ],
)
def test_bad_argument_types_raise_type_error(make, name):
    with pytest.raises(TypeError, match=name):
        make()


@pytest.mark.parametrize("t", ALL, ids=repr)
def test_rng_must_be_a_generator(t):
    x = np.zeros((1, 3, 6, 6), np.float32)
    for bad in (None, 0, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="rng"):
            t(x, bad)


def test_bad_batches():
    t = A.RandomHorizontalFlip()
    with pytest.raises(ValueError, match="x"):
        t(np.zeros((3, 6, 6), np.float32), rng())
    with pytest.raises(TypeError, match="astype"):
        t(np.zeros((1, 1, 6, 6), np.uint8), rng())
    with pytest.raises(ValueError, match="size"):
        A.RandomCrop(10, padding=1)(np.zeros((1, 1, 6, 6), np.float32), rng())
