"""Efros & Leung texture synthesis: shapes, seeds, periodic textures keep their period, and
Ctrl-C hands back the texture grown so far."""
import numpy as np
import pytest

from tinyconv.methods.texture_efros_leung import SynthesisInterrupted, synthesize


def smooth_noise(size, channels, seed):
    rng = np.random.default_rng(seed)
    noise = rng.random((size // 4, size // 4, channels))
    return (noise.repeat(4, 0).repeat(4, 1) * 255).astype(np.uint8)


def checkerboard(size, period):
    yy, xx = np.mgrid[:size, :size]
    board = ((yy // (period // 2) + xx // (period // 2)) % 2).astype(np.uint8)
    return np.stack([board * 200 + 30, board * 60 + 90, 220 - board * 180], -1).astype(np.uint8)


def autocorrelation_peak(image, axis, max_lag):
    """Lag in 2..max_lag of the largest mean autocorrelation of the zero-mean image along axis."""
    x = image.astype(np.float64).mean(-1) if image.ndim == 3 else image.astype(np.float64)
    x = x - x.mean()
    n = x.shape[axis]
    scores = [np.mean(np.take(x, range(n - lag), axis) * np.take(x, range(lag, n), axis))
              for lag in range(2, max_lag + 1)]
    return 2 + int(np.argmax(scores))


def test_shape_dtype_and_seed():
    sample = smooth_noise(20, 3, 0)
    a = synthesize(sample, (18, 23), window=5, seed=1)
    assert a.shape == (18, 23, 3) and a.dtype == np.uint8
    assert np.array_equal(a, synthesize(sample, (18, 23), window=5, seed=1))
    assert not np.array_equal(a, synthesize(sample, (18, 23), window=5, seed=2))
    gray = synthesize(sample[:, :, 0], (12, 12), window=5, seed=1)
    assert gray.shape == (12, 12)


def test_output_pixels_come_from_the_sample():
    sample = smooth_noise(16, 3, 3)
    out = synthesize(sample, (14, 14), window=5, order="scanline")
    colours = {tuple(c) for c in sample.reshape(-1, 3)}
    assert all(tuple(c) in colours for c in out.reshape(-1, 3))


@pytest.mark.parametrize("order", ["onion", "scanline"])
def test_checkerboard_keeps_its_period(order):
    period = 8  # the window must see a whole square to know the phase
    sample = checkerboard(24, period)
    out = synthesize(sample, (36, 36), window=9, order=order, seed=0)
    for axis in (0, 1):
        assert autocorrelation_peak(sample, axis, 14) == period
        assert autocorrelation_peak(out, axis, 14) == period
    assert np.array_equal(out[period:], out[:-period])  # exactly periodic, not just on average
    assert np.array_equal(out[:, period:], out[:, :-period])


def test_stripes_keep_their_period():
    period = 6
    sample = np.tile((np.arange(30) % period < 3).astype(np.uint8) * 255, (30, 1))
    out = synthesize(sample, (40, 40), window=7, seed=4)
    assert autocorrelation_peak(out, 1, 14) == period
    assert np.all(out == out[:1])  # vertical stripes stay vertical


def test_interrupt_keeps_the_texture_grown_so_far():
    sample = smooth_noise(24, 3, 1)
    grown = []

    def stop_after_two_batches(done, total):
        grown.append(done)
        if len(grown) == 2:
            raise KeyboardInterrupt

    with pytest.raises(SynthesisInterrupted) as stopped:
        synthesize(sample, (20, 20), window=5, progress=stop_after_two_batches)
    texture = stopped.value.texture
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert texture.shape == (20, 20, 3) and texture.dtype == np.uint8
    assert (texture.sum(-1) > 0).sum() == grown[-1] < 20 * 20  # grown pixels; the rest black


def test_bad_arguments():
    sample = smooth_noise(16, 3, 0)
    with pytest.raises(ValueError, match="odd window"):
        synthesize(sample, (10, 10), window=6)
    with pytest.raises(ValueError, match="larger than the window"):
        synthesize(sample[:8, :8], (10, 10), window=9)
    with pytest.raises(ValueError, match="order"):
        synthesize(sample, (10, 10), window=5, order="spiral")
