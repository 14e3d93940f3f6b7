"""How fast is each preset on each Keras backend, on this machine? Images per second.

Keras 3 runs the same model on TensorFlow, JAX or PyTorch (KERAS_BACKEND picks one, once,
when Keras is first imported). This script measures, for every preset and every backend
asked for, each in a fresh Python process:

- training: images per second through `model.fit` (forward pass, gradients, an Adam step),
  at the preset's own batch size, after a first `fit` that compiles;
- denoising: images per second through `model.predict`, in batches of 256;
- for scale, the backend's matrix-multiply rate on this machine (GFLOP/s, float32,
  1024x1024 matrices): divide images/s by it to compare machines.

Speed does not depend on what the pixels show, so the images are random: 28x28 grey for
every preset but rgb128, which gets 128x128 colour ones. Quality is tools/benchmark.py's job.

Writes results.md (the table; tools/make_docs.py puts one in docs/results.md) and results.json into --out.

Example:
  python -m tools.speed                                  # every preset, every backend (~15 minutes)
  python -m tools.speed --backends jax torch --presets unet small
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import keras
import numpy as np

import conv_models
import dense_models
import noise
import training
from machinery import arguments, signals
from tools.benchmark import machine_description

BACKENDS = ("tensorflow", "jax", "torch")
# Every preset, as the training scripts build it: name -> (recipe, takes a noise level).
PRESETS = {**{name: (recipe, True) for name, recipe in dense_models.MODELS.items()},
           **{name: (recipe, False) for name, recipe in conv_models.MODELS.items()}}
PREDICT_BATCH_SIZE = 256
MATMUL_SIZE = 1024


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    installed = [name for name in BACKENDS if importlib.util.find_spec(name)]
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=installed,
                        help=f"the Keras backends to measure (default: those installed: "
                             f"{', '.join(installed)})")
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS),
                        help="the presets to measure (default: all)")
    parser.add_argument("--steps", type=arguments.positive_int, default=20,
                        help="training steps (batches) timed per preset; denoising times "
                             "the same number of images (default: 20)")
    parser.add_argument("--out", default=os.path.join("runs", "speed"),
                        help="the folder for results.md and results.json (default: runs/speed)")
    parser.add_argument("--measure-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    missing = [name for name in args.backends if not importlib.util.find_spec(name)]
    if missing:
        parser.error(f"argument --backends: {', '.join(missing)} not installed "
                     "(pip install -r requirements-backends.txt)")
    return args


# ## The measurements, made in the process of one backend


def matmul_gflops(repeats=20):
    """The backend's float32 matrix-multiply rate, in billions of operations a second."""
    rng = np.random.default_rng(0)
    a, b = (keras.ops.convert_to_tensor(rng.random((MATMUL_SIZE, MATMUL_SIZE), np.float32))
            for _ in range(2))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        product = keras.ops.matmul(a, b)
    keras.ops.convert_to_numpy(product)  # JAX computes asynchronously: wait for the result
    seconds = time.perf_counter() - start
    return 2 * MATMUL_SIZE**3 * repeats / seconds / 1e9


def build_preset(name):
    """The preset's model as its training script builds it, and the recipe."""
    recipe, takes_level = PRESETS[name]
    channels, side = (3, 128) if recipe.photos_only else (1, 28)
    if takes_level:
        model = recipe.build((side, side, channels), 0.2)
    else:
        model = recipe.build(conv_models.input_shape(name, (side, side, channels)))
    return model, recipe, (side, side, channels)


def images_per_second(name, steps):
    """Training and denoising speed of one preset on this process's backend."""
    model, recipe, shape = build_preset(name)
    model.compile(optimizer="adam", loss=training.LOSSES[recipe.loss])
    rng = np.random.default_rng(0)
    images = rng.random((steps * recipe.batch_size, *shape), dtype=np.float32)
    noisy = noise.add_noise(images, "gaussian", 0.2, rng)

    def inputs(count):  # the first `count` noisy images, and for unet-level their level
        return noise.model_inputs(noisy[:count], 0.2, recipe.told_the_level)

    warm_up = 2 * recipe.batch_size  # the first steps compile the training step
    model.fit(inputs(warm_up), images[:warm_up], batch_size=recipe.batch_size, verbose=0)
    start = time.perf_counter()
    model.fit(inputs(len(images)), images, batch_size=recipe.batch_size, shuffle=False, verbose=0)
    train_speed = len(images) / (time.perf_counter() - start)

    model.predict(inputs(PREDICT_BATCH_SIZE), batch_size=PREDICT_BATCH_SIZE, verbose=0)
    start = time.perf_counter()
    model.predict(inputs(len(images)), batch_size=PREDICT_BATCH_SIZE, verbose=0)
    denoise_speed = len(noisy) / (time.perf_counter() - start)
    return {"preset": name, "batch_size": recipe.batch_size, "params": model.count_params(),
            "train_images_per_second": round(train_speed, 1),
            "denoise_images_per_second": round(denoise_speed, 1)}


def measure_here(args):
    """Print one JSON line per preset, measured on the backend this process runs."""
    gflops = round(matmul_gflops(), 1)
    for name in args.presets:
        result = {"backend": keras.backend.backend(), **images_per_second(name, args.steps),
                  "matmul_gflops": gflops}
        print(json.dumps(result), flush=True)


# ## Every backend in a process of its own, and the table


def measure_backend(backend, args):
    """Run this script on one backend; return its results, or the reason it failed."""
    command = [sys.executable, "-m", "tools.speed", "--measure-here", "--steps", str(args.steps),
               "--presets", *args.presets]
    print(f"$ KERAS_BACKEND={backend} python -m tools.speed --presets {' '.join(args.presets)}",
          flush=True)
    finished = signals.run_child(command, env={**os.environ, "KERAS_BACKEND": backend},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        results.append({"backend": backend, "failed": f"exit code {finished.returncode}: "
                                                     f"{last_line}"})
    return results


def markdown_table(results):
    """One row per preset, one column per backend for each speed; failures as notes below."""
    backends = list(dict.fromkeys(result["backend"] for result in results))
    measured = {(r["backend"], r["preset"]): r for r in results if "failed" not in r}
    presets = list(dict.fromkeys(preset for _, preset in measured))
    columns = ["preset", "batch", "params"] + [f"{what} img/s, {backend}" for what in
                                               ("train", "denoise") for backend in backends]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for preset in presets:
        first = next(measured[b, preset] for b in backends if (b, preset) in measured)
        cells = [preset, first["batch_size"], f"{first['params']:,}"]
        for key in ("train_images_per_second", "denoise_images_per_second"):
            cells += [f"{measured[b, preset][key]:,.0f}" if (b, preset) in measured else ""
                      for b in backends]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    gflops = {r["backend"]: r["matmul_gflops"] for r in measured.values()}
    rates = [f"{gflops[backend]:.0f}" if backend in gflops else "" for backend in backends]
    cells = ["matmul GFLOP/s", "", ""] + rates * 2
    lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n{r['backend']} failed: {r['failed']}" for r in results if "failed" in r]
    return "\n".join(lines)


def main(argv=None):
    args = parse_arguments(argv)
    if args.measure_here:
        measure_here(args)
        return
    signals.stop_in_one_line(f"nothing of this run was written into {args.out}")
    os.makedirs(args.out, exist_ok=True)
    results = []
    for backend in args.backends:
        measured = measure_backend(backend, args)
        print(markdown_table(measured), flush=True)
        results += measured
    versions = {name: importlib.import_module(name).__version__ for name in args.backends}
    header = (f"Speed on {machine_description()}; Keras {keras.__version__}, "
              + ", ".join(f"{name} {version}" for name, version in versions.items())
              + f"\nCommand: python -m tools.speed {' '.join(argv or sys.argv[1:])}\n")
    with open(os.path.join(args.out, "results.md"), "w") as file:
        file.write(header + "\n" + markdown_table(results) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as file:
        json.dump({"machine": machine_description(), "keras": keras.__version__,
                   "versions": versions, "results": results}, file, indent=2)
    print("\n" + header + f"\nwrote results.md and results.json in {args.out}")


if __name__ == "__main__":
    main()
