import keras
import numpy as np
import pytest

import conv_models
import dense_models
import noise

MNIST_SHAPE = (28, 28, 1)
# The presets made for other pictures than 28x28 digits, and the shape each is tried on.
PHOTO_SHAPES = {"rgb128": (32, 32, 3)}


def build(script, name):
    recipe = script.MODELS[name]
    if script is dense_models:
        return recipe.build(MNIST_SHAPE, 0.2)
    return recipe.build(PHOTO_SHAPES.get(name, MNIST_SHAPE))


ALL_PRESETS = [(dense_models, name) for name in dense_models.MODELS] + [
    (conv_models, name) for name in conv_models.MODELS
]


@pytest.mark.parametrize("script, name", ALL_PRESETS,
                         ids=[name for _, name in ALL_PRESETS])
def test_every_preset_maps_an_image_to_an_image_in_the_unit_range(script, name):
    model = build(script, name)
    x = np.random.default_rng(0).random((2, *model.inputs[0].shape[1:]), dtype=np.float32)
    y = model.predict(told_a_level(model, x), verbose=0)
    assert y.shape == x.shape
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_seed_003_small_model_has_exactly_4385_parameters():
    assert build(conv_models, "small").count_params() == 4385


def test_seed_000_deep_model_has_the_layer_sizes_of_the_write_up():
    model = build(dense_models, "deep")
    units = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert units == [500, 300, 100, 300, 500, 784]


@pytest.mark.parametrize("name, size", [("shallow32", 32), ("shallow64", 64)])
def test_shallow_models_expose_their_code(name, size):
    model = build(dense_models, name)
    codes = dense_models.code_model(model).predict(np.zeros((3, *MNIST_SHAPE)), verbose=0)
    assert codes.shape == (3, size)
    assert model.count_params() == 784 * size + size + size * 784 + 784


def test_the_noise_layer_models_encoder_and_decoder_work_on_their_own():
    model = build(dense_models, "noise-layer")
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    x = np.random.default_rng(0).random((3, *MNIST_SHAPE), dtype=np.float32)
    codes = encoder.predict(x, verbose=0)
    assert codes.shape == (3, 256)
    np.testing.assert_allclose(decoder.predict(codes, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert any(isinstance(layer, keras.layers.LeakyReLU) for layer in encoder.layers)


def test_the_wide_decoder_resizes_then_convolves_without_transposed_convolutions():
    kinds = {type(layer) for layer in build(conv_models, "wide").layers}
    assert keras.layers.UpSampling2D in kinds and keras.layers.Conv2DTranspose not in kinds
    assert [layer.filters for layer in build(conv_models, "wide").layers
            if isinstance(layer, keras.layers.Conv2D)][:3] == [64, 64, 32]


def test_the_unet_psnr_output_reaches_exact_black_and_white_where_a_sigmoid_cannot():
    """unet-psnr clips a linear output, so it can say 0 and 1 exactly; unet's sigmoid
    cannot (at its float32 limit it still gives about 1e-7 above 0 for a bias of -16)."""
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    for name, bias, expected in (("unet-psnr", -0.5, 0.0), ("unet-psnr", 1.5, 1.0),
                                 ("unet", -16.0, None)):
        model = build(conv_models, name)
        last = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][-1]
        last.set_weights([np.zeros_like(last.kernel), np.full_like(last.bias, bias)])
        y = model.predict(x, verbose=0)
        if expected is None:
            assert 0.0 < y.min()
        else:
            assert (y == expected).all()


def convolutions(model):
    """Each Conv2D layer of `model` as (filters, kernel size, activation): what a one-change
    twin must keep."""
    return [(layer.filters, layer.kernel_size, layer.activation.__name__)
            for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_unet_noskip_is_the_unet_with_nothing_concatenated():
    """The skip comparison changes one thing: the same convolutions, filters and output,
    and no Concatenate (so the decoder's convolutions take in fewer channels)."""
    unet, noskip = build(conv_models, "unet"), build(conv_models, "unet-noskip")
    assert convolutions(noskip) == convolutions(unet)
    assert any(isinstance(layer, keras.layers.Concatenate) for layer in unet.layers)
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in noskip.layers)
    # Each decoder scale's first 3x3 convolution took in the skip's `filters` channels too:
    skipped = sum(3 * 3 * filters * filters for filters in conv_models.UNET_FILTERS[:-1])
    assert unet.count_params() - noskip.count_params() == skipped


def test_unet_level_blind_is_unet_level_without_its_level_input():
    """The told-or-blind comparison changes one thing: the same convolutions, and no level
    input (so the first convolution reads the pixels only, not the level's map beside them)."""
    told, blind = build(conv_models, "unet-level"), build(conv_models, "unet-level-blind")
    assert convolutions(blind) == convolutions(told)
    assert [tensor.name for tensor in told.inputs] == ["noisy", "noise_level"]
    assert [tensor.name for tensor in blind.inputs] == ["noisy"]
    assert not any(isinstance(layer, conv_models.LevelMap) for layer in blind.layers)
    # The first 3x3 convolution took in the level's map too, one channel more:
    assert told.count_params() - blind.count_params() == 3 * 3 * conv_models.LEVEL_UNET_FILTERS[0]


def test_unet_dense_adds_a_dense_code_of_the_whole_bottleneck_to_unet_psnr():
    model = build(conv_models, "unet-dense")
    filters = conv_models.UNET_FILTERS[-1]
    bottleneck = 7 * 7 * filters  # 28x28 pooled twice
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [conv_models.DENSE_CODE_UNITS, bottleneck]
    # Its two dense layers, and the second bottleneck convolution's input doubled in depth:
    added = (2 * bottleneck * conv_models.DENSE_CODE_UNITS + conv_models.DENSE_CODE_UNITS
             + bottleneck + 3 * 3 * filters * filters)
    assert model.count_params() == build(conv_models, "unet-psnr").count_params() + added
    assert "unet-dense" not in conv_models.FULLY_CONVOLUTIONAL  # dense layers fix the size


@pytest.mark.parametrize("name", conv_models.FULLY_CONVOLUTIONAL)
def test_the_fully_convolutional_presets_take_any_size(name):
    model = conv_models.MODELS[name].build((None, None, 3))
    for shape in ((1, 32, 48, 3), (1, 64, 24, 3)):
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        assert model.predict(told_a_level(model, x), verbose=0).shape == x.shape


def told_a_level(model, images, level=0.1):
    """The inputs of `model`: the images, and a level if it is told one (unet-level)."""
    return noise.model_inputs(images, level, noise.takes_noise_level(model))


def test_the_level_map_spreads_each_images_level_over_its_pixels():
    images = np.zeros((2, 5, 7, 3), np.float32)
    level_map = conv_models.LevelMap()(images, np.array([[0.1], [0.3]], np.float32))
    assert level_map.shape == (2, 5, 7, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(level_map)[:, 2, 3, 0], [0.1, 0.3])


def test_unet_level_is_told_the_level_and_its_output_depends_on_it():
    keras.utils.set_random_seed(0)
    model = conv_models.MODELS["unet-level"].build((None, None, 1))
    assert [tensor.name for tensor in model.inputs] == ["noisy", "noise_level"]
    assert noise.takes_noise_level(model)
    assert not noise.takes_noise_level(conv_models.MODELS["unet-psnr"].build((None, None, 1)))
    picture = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    low, high = (model.predict(told_a_level(model, picture, level), verbose=0)
                 for level in (5 / 255, 50 / 255))
    assert np.abs(low - high).mean() > 1e-4  # the same picture, two levels: two outputs


def test_seed_004_model_pools_to_16x16_and_grows_back_with_transposed_convolutions():
    model = conv_models.build_rgb128((128, 128, 3))
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert pools[-1].output.shape[1:3] == (16, 16)
    assert sum(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers) == 3
    recipe = conv_models.MODELS["rgb128"]
    assert (recipe.loss, recipe.batch_size, recipe.noise) == ("mse", 16, "poisson")


def test_resize_is_transpose_with_one_change_in_its_decoder():
    """The same layers and weights' count, each Conv2DTranspose an UpSampling2D and a Conv2D."""
    transpose = conv_models.build_transpose((28, 28, 1))
    resize = conv_models.build_resize((28, 28, 1))
    assert resize.count_params() == transpose.count_params() == 28_353
    kinds = [type(layer).__name__ for layer in transpose.layers]
    swapped = [type(layer).__name__ for layer in resize.layers]
    one_for_two = [kind for kind in kinds for kind in (
        ("UpSampling2D", "Conv2D") if kind == "Conv2DTranspose" else (kind,))]
    assert swapped == one_for_two
    assert resize.predict(np.zeros((1, 28, 28, 1)), verbose=0).shape == (1, 28, 28, 1)
