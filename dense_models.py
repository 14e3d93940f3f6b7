"""The dense (fully connected) autoencoders that train_dense.py trains: one builder per preset.

Each builder takes the shape of one image, (28, 28, 1), flattens it to 784 numbers, and
reshapes its 784 outputs (sigmoid, in [0, 1]) back into an image, so that the dense
models eat the same arrays as the convolutional ones. `MODELS` names each preset with
its recipe: the builder, and how it trains by default.

They live here, as nanoGPT keeps its model in model.py: the lesson script runs from top
to bottom, cell by cell, and so cannot be imported without running a whole training;
tools/speed.py and the tests import the builders from here. train_dense.py builds its
default, `deep`, in the file itself, layer by layer; `build_deep` here is the same
network (tests/test_end_to_end.py checks that they agree).

Where the presets come from: `deep` is the 784-500-300-100-300-500-784 denoiser of
the write-up "the deep dense denoiser", `noise-layer` the in-model noise layer of "the
noise-layer autoencoder", `shallow64` the 784-64-784 autoencoder of "codes and
resize-convolution" and `shallow32` the 784-32-784 one of "the tiny autoencoders"
(docs/models.md names the write-ups).
"""

import keras
from keras import layers

import training
from settings import Recipe

# The hidden layer sizes of the deep dense denoiser's encoder (its write-up's); its decoder mirrors them.
DEEP_ENCODER_UNITS = (500, 300, 100)
# The size of the noise-layer model's code (as in the noise-layer autoencoder's write-up).
NOISE_LAYER_LATENT = 256



def build_deep(input_shape):
    """The deep dense denoiser of its write-up: 784-500-300-100-300-500-784.

    Each layer narrows the image down to 100 numbers, then widens it back. Noise is
    hard to squeeze through 100 numbers while digits are not: the bottleneck is the
    denoiser.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    for units in DEEP_ENCODER_UNITS + DEEP_ENCODER_UNITS[-2::-1]:  # 500 300 100 300 500
        name = "code" if units == DEEP_ENCODER_UNITS[-1] else None  # the bottleneck
        x = layers.Dense(units, activation="relu", name=name)(x)
    x = layers.Dense(input_shape[0] * input_shape[1] * input_shape[2], activation="sigmoid")(x)
    outputs = layers.Reshape(input_shape)(x)
    return keras.Model(inputs, outputs, name="deep")


def build_shallow(input_shape, code_size):
    """The write-ups "codes and resize-convolution" and "the tiny autoencoders": one hidden layer of `code_size` numbers, 784-n-784.

    The hidden layer is named "code", so `code_model` can show what the model keeps of
    each image.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    code = layers.Dense(code_size, activation="relu", name="code")(x)
    x = layers.Dense(input_shape[0] * input_shape[1] * input_shape[2], activation="sigmoid")(code)
    outputs = layers.Reshape(input_shape)(x)
    return keras.Model(inputs, outputs, name=f"shallow{code_size}")


def build_noise_layer(input_shape, stddev):
    """The noise-layer autoencoder's write-up: the noise is part of the model, and added only while training.

    The model trains on clean images as both input and target; its first layer,
    TrainingGaussianNoise, corrupts the input during `fit` and does nothing in
    `predict`. The encoder (784 -> 256, LeakyReLU) and the decoder (256 -> 784) are
    models of their own, so each can be used alone: `model.get_layer("encoder")`.
    """
    pixels = input_shape[0] * input_shape[1] * input_shape[2]
    encoder_inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(encoder_inputs)
    x = training.TrainingGaussianNoise(stddev)(x)
    x = layers.Dense(NOISE_LAYER_LATENT)(x)
    code = layers.LeakyReLU()(x)
    encoder = keras.Model(encoder_inputs, code, name="encoder")

    decoder_inputs = keras.Input(shape=(NOISE_LAYER_LATENT,))
    x = layers.Dense(pixels, activation="sigmoid")(decoder_inputs)
    decoder = keras.Model(decoder_inputs, layers.Reshape(input_shape)(x), name="decoder")

    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, decoder(encoder(inputs)), name="noise_layer")


def code_model(model):
    """The part of a dense model from its input to its code: its layer named "code" (the
    bottleneck of `deep` and the shallow models), or the noise-layer model's encoder."""
    if any(layer.name == "encoder" for layer in model.layers):
        return model.get_layer("encoder")
    return keras.Model(model.inputs, model.get_layer("code").output)


def noise_of_batches(name, kind):
    """The noise the training batches of preset `name` get: `kind`, or None (clean
    batches) for the noise-layer model, whose own layer adds the noise while training."""
    return None if name == "noise-layer" else kind


# Each preset with its default recipe: loss and epochs (--loss and --epochs override them).
# Builders take (input_shape, noise_level); only the noise-layer model uses the level.
MODELS = {
    "deep": Recipe(lambda shape, level: build_deep(shape), "mse", 10,
                            "the deep dense denoiser: 784-500-300-100-300-500-784"),
    "shallow32": Recipe(lambda shape, level: build_shallow(shape, 32), "bce", 10,
                                 "the tiny autoencoders: 784-32-784"),
    "shallow64": Recipe(lambda shape, level: build_shallow(shape, 64), "bce", 10,
                                 "codes and resize-convolution: 784-64-784"),
    # Its layer adds Gaussian noise unclipped, so it is scored on unclipped noise too (by
    # default at that kind's level, 25/255; its write-up trains at 2 and 6).
    "noise-layer": Recipe(build_noise_layer, "bce", 10,
                          "the noise-layer autoencoder: in-model noise, latent 256",
                          noise="gaussian-unclipped", takes_a_range=False),
}


