"""Train a fully connected (dense) autoencoder to remove noise from MNIST or Fashion-MNIST.

The story, top to bottom: load clean images, corrupt them, build a model, train it to map
noisy images back to clean ones, score it on noisy test images, and save what it does.
A dense model sees each 28x28 image as a flat list of 784 numbers: it knows nothing of
which pixels are neighbours, which is why the convolutional models (train_conv.py) beat it.

Presets (--model):
  deep         seed 000, the default: 784-500-300-100-300-500-784, ReLU, sigmoid output, MSE
  shallow32    seed 003: 784-32-784, binary cross-entropy; also saves codes.png
  shallow64    seed 002: 784-64-784, binary cross-entropy; also saves codes.png
  noise-layer  seed 001: the noise is a layer inside the model (stddev = --noise-level),
               active only while training; latent 256 with LeakyReLU, binary cross-entropy

Example:
  python train_dense.py                                   # seed 000 on MNIST, noise 0.2
  python train_dense.py --model noise-layer --dataset fashion_mnist --noise-level 2
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

import keras  # noqa: E402
from keras import layers  # noqa: E402

import distribute  # noqa: E402
import noise  # noqa: E402
import plots  # noqa: E402
import training  # noqa: E402

DEFAULT_MODEL = "deep"
# The hidden layer sizes of seed 000's deep encoder; its decoder mirrors them.
DEEP_ENCODER_UNITS = (500, 300, 100)
# The size of the noise-layer model's code (seed 001).
NOISE_LAYER_LATENT = 256


# ## The models
#
# Each function takes the shape of one image, (28, 28, 1), flattens it to 784 numbers,
# and reshapes its 784 outputs (sigmoid, in [0, 1]) back into an image, so that the
# dense models eat the same arrays as the convolutional ones.


def build_deep(input_shape):
    """Seed 000: a deep dense denoiser, 784-500-300-100-300-500-784.

    Each layer narrows the image down to 100 numbers, then widens it back. Noise is
    hard to squeeze through 100 numbers while digits are not: the bottleneck is the
    denoiser.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    for units in DEEP_ENCODER_UNITS + DEEP_ENCODER_UNITS[-2::-1]:  # 500 300 100 300 500
        x = layers.Dense(units, activation="relu")(x)
    x = layers.Dense(input_shape[0] * input_shape[1] * input_shape[2], activation="sigmoid")(x)
    outputs = layers.Reshape(input_shape)(x)
    return keras.Model(inputs, outputs, name="deep")


def build_shallow(input_shape, code_size):
    """Seeds 002 and 003: one hidden layer of `code_size` numbers, 784-n-784.

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
    """Seed 001: the noise is part of the model, and added only while training.

    The model trains on clean images as both input and target; its first layer,
    TrainingGaussianNoise, corrupts the input during `fit` and does nothing in
    `predict`. The encoder (784 -> 256, LeakyReLU) and the decoder (256 -> 784) are
    models of their own, so each can be used alone: `model.get_layer("encoder")`.
    """
    pixels = input_shape[0] * input_shape[1] * input_shape[2]
    encoder_inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(encoder_inputs)
    x = noise.TrainingGaussianNoise(stddev)(x)
    x = layers.Dense(NOISE_LAYER_LATENT)(x)
    code = layers.LeakyReLU()(x)
    encoder = keras.Model(encoder_inputs, code, name="encoder")

    decoder_inputs = keras.Input(shape=(NOISE_LAYER_LATENT,))
    x = layers.Dense(pixels, activation="sigmoid")(decoder_inputs)
    decoder = keras.Model(decoder_inputs, layers.Reshape(input_shape)(x), name="decoder")

    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, decoder(encoder(inputs)), name="noise_layer")


def code_model(model):
    """The part of a shallow model from its input to its code layer."""
    return keras.Model(model.inputs, model.get_layer("code").output)


# Each preset with its default recipe: loss and epochs (--loss and --epochs override them).
# Builders take (input_shape, noise_level); only the noise-layer model uses the level.
MODELS = {
    "deep": training.Recipe(lambda shape, level: build_deep(shape), "mse", 10,
                            "seed 000, 784-500-300-100-300-500-784"),
    "shallow32": training.Recipe(lambda shape, level: build_shallow(shape, 32), "bce", 10,
                                 "seed 003, 784-32-784"),
    "shallow64": training.Recipe(lambda shape, level: build_shallow(shape, 64), "bce", 10,
                                 "seed 002, 784-64-784"),
    "noise-layer": training.Recipe(build_noise_layer, "bce", 10,
                                   "seed 001, in-model noise, latent 256", takes_a_range=False),
}


def main(argv=None):
    args = training.parse_arguments(__doc__, MODELS, DEFAULT_MODEL, argv, folders=False)
    training.seed_everything(args.seed)  # same seed, same weights and scores
    plots.prepare(args.show)

    # ## 1. Load clean images in [0, 1], shape (N, 28, 28, 1).
    (x_train, _), (x_test, _) = training.load_data(args)

    # ## 2. Corrupt them. Training batches get fresh noise every epoch (the noise-layer
    # model gets clean batches and corrupts them itself); the test images get one fixed
    # noisy copy, the same for every model, so scores compare.
    in_model_noise = args.model == "noise-layer"
    train_batches = noise.NoisyBatches(x_train, None if in_model_noise else args.noise,
                                       args.noise_level, args.batch_size, seed=args.seed)
    x_test_noisy = noise.noisy_test_images(x_test, args.noise, args.noise_level)

    # ## 3. Build the model, and 4. train it to map noisy images to clean ones,
    # validating on the test images. With --distribute, both happen in a scope that puts
    # a copy of the model on each device (see distribute.py); otherwise on one device.
    with distribute.scope(args.distribute):
        model = MODELS[args.model].build(x_train.shape[1:], args.noise_level)
        print(f"{model.name}: {model.count_params():,} parameters")
        history, train_seconds = training.train(model, train_batches, (x_test_noisy, x_test),
                                                args)

    # ## 5. Evaluate: how much closer to the clean images is the output than the input?
    x_test_denoised, scores = training.evaluate(model, x_test, x_test_noisy, args)

    # ## 6. Show: save the model, the numbers and the pictures.
    if args.model.startswith("shallow"):  # what the model keeps of each noisy test image
        codes = code_model(model).predict(x_test_noisy[:10], verbose=0)
        training.replace_atomically(os.path.join(args.out, "codes.png"), lambda path: (
            plots.save_codes(path, x_test_noisy, codes, x_test_denoised)))
    training.save_results(args, model, history, train_seconds, len(x_train), scores,
                          (x_test, x_test_noisy, x_test_denoised))
    if args.show:
        plots.show_figures()


if __name__ == "__main__":
    main()
