"""The convolutional autoencoders of the lessons (train_conv.py, train_photos.py,
train_noisy_targets.py): one builder per preset.

Each builder takes the shape of one image, (height, width, channels), and returns a
functional Keras model whose output has the same shape, with pixels in [0, 1] (a sigmoid,
or a clip). `MODELS` names each preset with its recipe: the builder, and how it trains
by default.

They live here, as nanoGPT keeps its model in model.py: a lesson script runs from top to
bottom, cell by cell, and so cannot be imported without training; tools/speed.py and the
tests import the builders from here. train_conv.py builds its default, `unet-psnr`, in
the file itself, layer by layer, so that a learner sees it; `build_unet_psnr` here is the
same network (tests/test_end_to_end.py checks that they agree), made from the parts the
U-Nets share.

Where the presets come from: `small` is the 4,385-parameter autoencoder of the write-up
"the tiny autoencoders", `wide` the 64-64-32 resize-convolution denoiser of "codes and
resize-convolution", `rgb128` the 128x128 colour face denoiser of "faces with shot noise"
(docs/models.md names the write-ups); `transpose` is the keras.io denoising example,
`strided` the TensorFlow "Intro to Autoencoders" tutorial, `dncnn` the network of Zhang
et al. (2017), and the U-Nets are this project's.
"""

import keras
from keras import layers

from settings import Recipe

# The U-Net's filters at each scale: 28x28, 14x14 and 7x7 for MNIST.
UNET_FILTERS = (16, 32, 64)
# unet-dense's code across its whole bottleneck: as many numbers as the noise-layer autoencoder's.
DENSE_CODE_UNITS = 256
# DnCNN's convolutions, all at full resolution, and the filters of each (as in its paper).
DNCNN_DEPTH = 17
DNCNN_FILTERS = 64
# unet-level's filters at each scale: wider than the U-Net's, for photos.
LEVEL_UNET_FILTERS = (32, 64, 128)


def unet_features(inputs, dense_code_units=None, filters_per_scale=UNET_FILTERS, skips=True):
    """The body of a small U-Net: from the input to its last full-resolution features.

    Two convolutions at each scale, halved by max-pooling down to a bottleneck, then
    doubled back by UpSampling2D; each upsampled map is concatenated with the encoder's
    map of the same scale (a skip connection) before its two convolutions. With
    `dense_code_units`, the bottleneck also gets a dense code of the whole map
    (`whole_map_code`) between its two convolutions. With `skips=False`, nothing is
    concatenated: the same layers, widths and pooling make a plain autoencoder
    (`unet-noskip`, to measure what the skips bring).
    """
    x = inputs
    encoder_maps = []
    for filters in filters_per_scale[:-1]:  # encoder: two convolutions, remember, halve
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        encoder_maps.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(filters_per_scale[-1], 3, padding="same", activation="relu")(x)  # bottleneck
    if dense_code_units:
        x = layers.Concatenate()([x, whole_map_code(x, dense_code_units)])
    x = layers.Conv2D(filters_per_scale[-1], 3, padding="same", activation="relu")(x)
    for filters, encoder_map in zip(reversed(filters_per_scale[:-1]), reversed(encoder_maps)):
        x = layers.UpSampling2D(2)(x)  # decoder: double, join the skip, two convolutions
        if skips:
            x = layers.Concatenate()([x, encoder_map])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return x


def whole_map_code(feature_map, units):
    """A dense code of a whole feature map, spread back out to a map of the same shape.

    Flatten the map, squeeze it into `units` numbers (the code of a dense autoencoder,
    as in the dense write-ups), and widen it back: every number of the code sees every
    place of the map at once, where a convolution sees its 3x3 neighbourhood.
    """
    height, width, filters = feature_map.shape[1:]
    code = layers.Dense(units, activation="relu")(layers.Flatten()(feature_map))
    x = layers.Dense(height * width * filters, activation="relu")(code)
    return layers.Reshape((height, width, filters))(x)


def clipped_linear_output(features, channels):
    """A linear 1x1 convolution to the image's channels, clipped to [0, 1] by a ReLU."""
    linear = layers.Conv2D(channels, 1)(features)
    return layers.ReLU(max_value=1.0)(linear)  # clip to the pixel range [0, 1]


def build_unet(input_shape):
    """A small U-Net with a sigmoid output, trained with binary cross-entropy.

    A plain autoencoder squeezes the image through a small code, so fine strokes must
    survive the bottleneck. A U-Net also passes each encoder scale straight across to
    the decoder (a skip connection, concatenated): the bottleneck only has to carry
    "what is noise and what is stroke", the skips carry "where exactly".
    Fully convolutional: any height and width divisible by 4 works.
    """
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Conv2D(input_shape[-1], 1, activation="sigmoid")(unet_features(inputs))
    return keras.Model(inputs, outputs, name="unet")


def build_unet_noskip(input_shape):
    """`unet` without its skip connections: the same layers, widths, output and recipe.

    Nothing is handed across, so everything the decoder draws comes up through the 7x7
    bottleneck, as in the plain autoencoders. Its decoder's convolutions take fewer
    channels in (no concatenated map), so it has somewhat fewer weights than `unet`.
    Trained beside `unet`, it measures what the skips alone bring (docs/unet.md).
    """
    inputs = keras.Input(shape=input_shape)
    features = unet_features(inputs, skips=False)
    outputs = layers.Conv2D(input_shape[-1], 1, activation="sigmoid")(features)
    return keras.Model(inputs, outputs, name="unet_noskip")


def build_unet_psnr(input_shape):
    """The default: the same U-Net, with an output that can reach 0 and 1, trained on PSNR.

    Two changes, both at the end of the network:
    - A sigmoid approaches 0 and 1 but never reaches them, and its slope vanishes on
      the way. Here the last convolution is linear, and a ReLU with max_value=1 clips it
      to [0, 1]: slope 1 inside the pixel range, and MNIST's black background (most of
      its pixels are exactly 0) can come out exactly 0.
    - The loss is minus the PSNR of each image (training.psnr_loss), the very score we
      report, instead of cross-entropy or squared error summed over all pixels.
    The same parameters as `unet`, trained in batches of 64 (twice the steps per epoch).
    docs/results-one-change.md measures each change alone (tools/benchmark.py).
    """
    inputs = keras.Input(shape=input_shape)
    outputs = clipped_linear_output(unet_features(inputs), input_shape[-1])
    return keras.Model(inputs, outputs, name="unet_psnr")


def build_unet_dense(input_shape):
    """unet-psnr with a dense code of its whole bottleneck: the U-Net meets the noise-layer autoencoder.

    A convolution sees a 3x3 neighbourhood; stacked and pooled, the U-Net's convolutions
    take in the whole 28x28 digit only at the bottleneck, and only through its last few
    layers. At heavy noise a pixel's neighbours are mostly noise, and the whole shape
    (which digit it is) tells more about it. So between the two bottleneck convolutions,
    the 7x7x64 map is flattened into a dense code of DENSE_CODE_UNITS numbers (the
    latent of the noise-layer autoencoder), widened back to 7x7x64 and concatenated with the map: the
    skips still carry "where exactly", the dense code adds "what the whole image is".

    The price: dense layers are made for one image size, so it trains and denoises at
    that size only (denoise.py cuts larger pictures into tiles of it); and many more
    parameters, nearly all in the dense layers. Each dense weight is used once per
    image, each convolution weight at every place, so the arithmetic grows far less
    than the parameter count.
    """
    inputs = keras.Input(shape=input_shape)
    features = unet_features(inputs, dense_code_units=DENSE_CODE_UNITS)
    outputs = clipped_linear_output(features, input_shape[-1])
    return keras.Model(inputs, outputs, name="unet_dense")


@keras.saving.register_keras_serializable(package="denoise")
class LevelMap(layers.Layer):
    """Spread each image's noise level into a constant map of the image's height and width.

    Given images (N, H, W, C) and levels (N, 1), returns (N, H, W, 1), every pixel of
    image i holding level i: a map that a convolution can read beside the pixels, as
    FFDNet (Zhang et al., 2018) gives its network the noise level. Keras has no layer
    that broadcasts one tensor to another's shape, so this one is written here.
    """

    def call(self, images, levels):
        ones = keras.ops.ones_like(images[..., :1])  # (N, H, W, 1), whatever H and W
        return ones * keras.ops.reshape(levels, (-1, 1, 1, 1))

    def compute_output_shape(self, images_shape, levels_shape):
        return (*images_shape[:-1], 1)


def told_a_map(model):
    """The same trained unet-level `model`, told a map of noise levels, one a pixel, in place
    of one level a picture: the map LevelMap makes of the level becomes an input, (N, H, W,
    1), and the rest of the network, weights and all, is unchanged. Its convolutions read the
    map pixel by pixel, as FFDNet's read theirs; but it learned constant maps only, so what a
    map of varying levels does to it must be measured (tools/noise_map.py)."""
    level_map = next(layer for layer in model.layers if isinstance(layer, LevelMap))
    return keras.Model([model.inputs[0], level_map.output], model.outputs[0],
                       name=f"{model.name}_told_a_map")


def build_unet_level(input_shape):
    """A U-Net that is told the noise level: one model for every level, with a strength knob.

    A blind model (trained on a range of levels, `--noise-level 15/255:50/255`) must
    judge from the picture itself how noisy it is, and where a fine texture could be
    noise it has to guess. This one gets a second input, `noise_level`: each image's
    noise standard deviation, spread into a constant map beside the pixels (LevelMap),
    as FFDNet does. It trains on a range of levels, each image told its own, and so
    learns how strongly to smooth at each level. Once trained, the level is a knob: told
    the true level it removes the noise; told a higher one it smooths more, a lower one
    less (denoise.py --noise-level; `auto` estimates the level from the picture).

    Two more changes from unet-psnr, both for photos: wider (LEVEL_UNET_FILTERS), and
    residual, as DnCNN: the network estimates the noise, and the output is the noisy
    input minus that estimate, clipped to [0, 1]. Noise of a known level looks alike in
    every photo; the photo does not, and the residual passes it straight through.
    """
    noisy = keras.Input(shape=input_shape, name="noisy")
    noise_level = keras.Input(shape=(1,), name="noise_level")
    level_map = LevelMap()(noisy, noise_level)
    outputs = wide_residual_unet(noisy, layers.Concatenate()([noisy, level_map]))
    return keras.Model([noisy, noise_level], outputs, name="unet_level")


def build_unet_level_blind(input_shape):
    """unet-level's blind twin: the same wider, residual U-Net, not told the level.

    One change from unet-level: its first layer reads the pixels only, with no map of the
    level beside them. Trained by the same recipe on the same range of levels, the two
    measure what the level input alone is worth (docs/told-the-level.md).
    """
    noisy = keras.Input(shape=input_shape, name="noisy")
    return keras.Model(noisy, wide_residual_unet(noisy, noisy), name="unet_level_blind")


def wide_residual_unet(noisy, first_input):
    """unet-level's network: a wider U-Net (LEVEL_UNET_FILTERS) reads `first_input` and
    estimates the noise; the output is `noisy` minus that estimate, clipped to [0, 1]."""
    features = unet_features(first_input, filters_per_scale=LEVEL_UNET_FILTERS)
    noise_estimate = layers.Conv2D(noisy.shape[-1], 1)(features)
    denoised = layers.Subtract()([noisy, noise_estimate])
    return layers.ReLU(max_value=1.0)(denoised)  # clip to the pixel range [0, 1]


def build_small(input_shape):
    """The tiny autoencoders' write-up: the classic small convolutional autoencoder, exactly 4,385 parameters.

    Three convolution + max-pooling steps take 28x28 down to a 4x4x8 code (128 numbers);
    three UpSampling2D + convolution steps bring it back. Upsampling 4 -> 8 -> 16 -> 32
    would overshoot 28, so one convolution uses padding="valid" (16 -> 14) before the
    last upsampling (14 -> 28): the trick only fits 28x28 images.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)  # 14x14
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)  # 7x7
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    code = layers.MaxPooling2D(2, padding="same")(x)  # 4x4x8
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(code)
    x = layers.UpSampling2D(2)(x)  # 8x8
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2)(x)  # 16x16
    x = layers.Conv2D(16, 3, activation="relu", padding="valid")(x)  # 14x14
    x = layers.UpSampling2D(2)(x)  # 28x28
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="small")


def build_wide(input_shape):
    """Codes and resize-convolution (its write-up): a wider autoencoder (64-64-32 filters) with a resize-convolution decoder.

    A Conv2DTranspose with stride 2 paints overlapping 3x3 stamps on a 2x grid; where
    stamps overlap twice as often, a checkerboard pattern shows. Resizing first (nearest
    neighbour, here UpSampling2D) and then convolving gives every output pixel the same
    treatment, so no checkerboard can form.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2)(x)  # 14x14
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D(2)(x)  # 7x7
    code = layers.Conv2D(32, 3, activation="relu", padding="same")(x)  # 7x7x32
    x = layers.UpSampling2D(2, interpolation="nearest")(code)  # 14x14
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2, interpolation="nearest")(x)  # 28x28
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="wide")


def build_transpose(input_shape):
    """The keras.io example "Convolutional autoencoder for image denoising".

    Two convolution + max-pooling steps down to 7x7x32, two Conv2DTranspose layers
    with stride 2 back up: the strongest peer tutorial we measure against.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)  # 14x14
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    code = layers.MaxPooling2D(2, padding="same")(x)  # 7x7x32
    x = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(code)
    x = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="transpose")


def build_resize(input_shape):
    """`transpose` with one change: each Conv2DTranspose is an UpSampling2D then a Conv2D of
    the same 32 filters of 3x3, the resize-convolution of `wide`'s decoder. The encoder, the
    widths, the weights' count and the recipe stay: the pair measures that one choice
    (tools/make_docs.py's decoder-curves), where `transpose` against `wide` changes several
    at once.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)  # 14x14
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    code = layers.MaxPooling2D(2, padding="same")(x)  # 7x7x32
    x = layers.UpSampling2D(2, interpolation="nearest")(code)  # 14x14
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2, interpolation="nearest")(x)  # 28x28
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="resize")


def build_strided(input_shape):
    """The TensorFlow tutorial "Intro to Autoencoders": strided convolutions, no pooling.

    Convolutions with stride 2 (16, then 8 filters) shrink 28x28 to 7x7x8; two
    Conv2DTranspose layers grow it back. Its tutorial trains it with MSE; docs/aim-at-the-score.md
    says why that can collapse to an all-black output on MNIST.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(16, 3, strides=2, activation="relu", padding="same")(inputs)  # 14x14
    code = layers.Conv2D(8, 3, strides=2, activation="relu", padding="same")(x)  # 7x7x8
    x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(code)
    x = layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="strided")


def build_rgb128(input_shape):
    """Faces with shot noise (its write-up): a convolutional autoencoder for 128x128 colour photos with Poisson noise.

    Three convolution + max-pooling steps (32, 64, 128 filters) take 128x128x3 down to a
    16x16x128 code; three Conv2DTranspose layers with stride 2 bring it back to 128x128,
    and a last convolution to 3 colours. Trained as its write-up (faces with shot noise) trains it: MSE, Adam 1e-3,
    batch 16, Poisson noise. No skip connections: compare it with the U-Net on the same
    photos to see what they add.
    """
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters in (32, 64, 128):  # 128 -> 64 -> 32 -> 16
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D(2)(x)
    for filters in (128, 64, 32):  # 16 -> 32 -> 64 -> 128
        x = layers.Conv2DTranspose(filters, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="rgb128")


def build_dncnn(input_shape):
    """DnCNN (Zhang et al., 2017): residual learning, the network predicts the noise.

    Every model above outputs the clean image. DnCNN outputs the noise it sees, and the
    model returns the input minus that noise: a residual connection from the input to
    the output. The noise is simpler to learn than the picture (it looks alike in every
    image; a face and a digit do not), which is the paper's central point, and it lets
    one model learn a range of levels. No pooling and no bottleneck: 17 convolutions of
    64 filters at full resolution, batch normalisation between the middle ones, mean
    squared error, trained on small patches (40x40 in the paper: `--image-size 40`).
    The output is clipped to [0, 1] by a ReLU with max_value 1.

    The price: every one of its weights is applied at every pixel, with no pooling to
    shrink the maps, so it needs many times the U-Net's arithmetic per image. It is made
    for a GPU; tools/speed.py measures what it costs on yours.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(DNCNN_FILTERS, 3, padding="same", activation="relu")(inputs)
    for _ in range(DNCNN_DEPTH - 2):
        x = layers.Conv2D(DNCNN_FILTERS, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    predicted_noise = layers.Conv2D(input_shape[-1], 3, padding="same")(x)
    denoised = layers.Subtract()([inputs, predicted_noise])
    outputs = layers.ReLU(max_value=1.0)(denoised)  # clip to the pixel range [0, 1]
    return keras.Model(inputs, outputs, name="dncnn")


# Each preset with its default recipe: loss and epochs (--loss and --epochs override them).
MODELS = {
    "unet-psnr": Recipe(build_unet_psnr, "psnr", 3, "the U-Net with a clipped linear "
                                 "output, trained on PSNR", batch_size=64),
    "unet-dense": Recipe(build_unet_dense, "psnr", 3, "unet-psnr with a dense code "
                                  "of its whole bottleneck; one image size", batch_size=64,
                         any_size=False),
    "unet-level": Recipe(build_unet_level, "psnr", 3, "a wider, residual U-Net told the noise "
                         "level (a second input); train it on a range", batch_size=16,
                         noise="gaussian-unclipped", told_the_level=True),
    "unet-level-blind": Recipe(build_unet_level_blind, "psnr", 3, "unet-level's blind twin: "
                               "the same network with no level input (one change)",
                               batch_size=16, noise="gaussian-unclipped"),
    "unet": Recipe(build_unet, "bce", 3, "small U-Net with skip connections"),
    "unet-noskip": Recipe(build_unet_noskip, "bce", 3, "unet without its skip connections"),
    "small": Recipe(build_small, "bce", 10, "the tiny autoencoders: 16-8-8 filters, 4,385 parameters; "
                    "28x28 images only", only_size=28, any_size=False),
    "wide": Recipe(build_wide, "bce", 3, "codes and resize-convolution: 64-64-32 filters, resize-convolution"),
    "transpose": Recipe(build_transpose, "bce", 10, "keras.io example, Conv2DTranspose"),
    "resize": Recipe(build_resize, "bce", 10, "transpose with resize-convolutions in place "
                     "of its Conv2DTranspose layers (one change)"),
    "strided": Recipe(build_strided, "bce", 10, "TensorFlow tutorial, strided 16/8"),
    "rgb128": Recipe(build_rgb128, "mse", 10, "faces with shot noise: 128x128 colour photos, "
                              "Conv2DTranspose", batch_size=16, noise="poisson",
                              photos_only=True),
    "dncnn": Recipe(build_dncnn, "mse", 3, "DnCNN, 17 layers, predicts the noise "
                             "(residual); made for a GPU"),
}
# The presets that work at any height and width (divisible by 4; by 8 for rgb128): they
# are built with an input of (None, None, channels), so that the saved model denoises
# pictures of any size (denoise.py). All but `small`, whose trick fits 28x28 images only,
# and `unet-dense`, whose dense layers fit the size it was built for.
FULLY_CONVOLUTIONAL = tuple(name for name, recipe in MODELS.items() if recipe.any_size)


def input_shape(name, image_shape):
    """The input shape to build preset `name` with, for pictures of `image_shape`
    (height, width, channels): any height and width where the preset takes any size."""
    height, width, channels = image_shape
    if name in FULLY_CONVOLUTIONAL:
        height = width = None
    return (height, width, channels)

