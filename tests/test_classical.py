import numpy as np
import pytest

from tools import classical


def smooth_image(shape):
    """A smooth ramp with a bright square: something a denoiser can recover."""
    height, width, channels = shape
    image = np.tile(np.linspace(0.2, 0.6, width, dtype=np.float32), (height, 1))
    image[height // 4 : height // 2, width // 4 : width // 2] = 0.9
    return np.repeat(image[..., np.newaxis], channels, axis=-1)


def psnr(clean, image):
    return 10 * np.log10(1.0 / np.mean((clean - image) ** 2))


@pytest.mark.parametrize("name", list(classical.METHODS))
@pytest.mark.parametrize("shape", [(32, 40, 1), (32, 40, 3)])
def test_every_method_keeps_the_shape_and_range_and_removes_noise(name, shape):
    clean = smooth_image(shape)
    noisy = np.clip(clean + 0.1 * np.random.default_rng(0).standard_normal(shape), 0, 1)
    method = classical.METHODS[name]
    sigma = classical.estimate_noise_sigma([noisy])
    assert sigma == pytest.approx(0.1, rel=0.3)
    candidates = method.candidates(sigma)
    [denoised] = classical.denoise_images(name, candidates[len(candidates) // 2], [noisy])
    assert denoised.shape == shape and denoised.dtype == np.float32
    assert 0.0 <= denoised.min() and denoised.max() <= 1.0
    assert psnr(clean, denoised) > psnr(clean, noisy) + 1.0


def test_bm3d_is_listed_even_when_it_is_not_installed():
    assert classical.METHOD_NAMES[-1] == "bm3d"
    assert ("bm3d" in classical.METHODS) == (classical.bm3d is not None)


def test_the_strengths_are_scaled_also_on_digits_whose_background_noise_leaves_black():
    """Poisson noise leaves a digit's black background at 0: noise.estimate_noise_level
    refuses to guess a level there, but the strengths tried still need a scale."""
    import noise

    digits = np.zeros((4, 28, 28, 1), np.float32)
    digits[:, 8:20, 12:16] = 1.0
    noisy = noise.add_noise(digits, "poisson", 30, 0)
    assert np.isnan(noise.estimate_noise_level(noisy[0]))
    sigma = classical.estimate_noise_sigma(list(noisy))
    assert 0.01 < sigma < 0.5
    assert all(np.isfinite(value) for value in classical.METHODS["total-variation"].candidates(sigma)
               if value is not None)
