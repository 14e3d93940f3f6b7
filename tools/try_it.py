"""Make what the docs' "Try it" page loads: the exported models, the runtime that runs them in
the reader's browser, and the sample photos.

  python -m tools.try_it          # then `mkdocs serve`, and open "Try it"

Writes into --out (docs/demo by default, where the page looks):

- models/<name>.onnx: seven models of models/ (MODELS), written and checked by
  tools/export.py, and models.json, which tells the page their names, what each is for,
  and the sample photos;
- ort/: onnxruntime-web, the WebAssembly build of onnxruntime, at version ORT_WEB_VERSION:
  its package is fetched from the npm registry and checked against the registry's sha512
  (pinned below: 20 MB), and the three files the page needs are kept (11 MB);
- samples/*.png: small photos from scikit-image's own collection (CC0 or public domain).

The models and the runtime are made, not committed (.gitignore): the samples are committed,
as the page ships with them. What exists already is kept: a second call is quick.
"""

import argparse
import base64
import hashlib
import http.client
import io
import os
import sys
import tarfile
import urllib.request

import numpy as np
import pywt
import scipy.stats
import skimage.data

import denoiser
import noise
from machinery import files, signals
from tools import export

# The runtime, pinned: its version, and the sha512 the npm registry lists for its package.
ORT_WEB_VERSION = "1.22.0"
ORT_WEB_SHA512 = ("Ud/+EBo6mhuaQWt/OjaOk0iNWjXqJoeeMFr6xQEERZdIZH2OWpGzuujz7lfuOBjUa6TEE/sc4nb7"
                  "Da5dNL34fg==")
ORT_WEB_URL = ("https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-"
               f"{ORT_WEB_VERSION}.tgz")
# What the page needs of the package: the module it imports, and the WebAssembly runtime
# (single-threaded here: threads would need headers a static site cannot count on).
ORT_WEB_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# The models the page offers (the best of models/ for each kind of picture): file in
# models/ -> what it was trained on, as the page says it, with the file's name.
MODELS = {
    "unet-psnr-train400-blind": "blind, grey photos, sigma 15 to 50",
    "unet-psnr-cbsd432-blind": "blind, colour photos, sigma 15 to 50",
    "unet-psnr-cbsd432-camera": "blind, trained on simulated camera noise and JPEG",
    "unet-level-train400": "told the level, grey photos, sigma 10 to 55",
    "unet-level-cbsd432": "told the level, colour photos, sigma 10 to 55",
    "unet-level-cbsd432-camera": "told the level, taught simulated camera noise: for a camera's "
                                 "photo, noisy already (unet-level-cbsd432 scores higher there)",
    "unet-mnist-blind": "blind, grey digits, noise factor 0.05 to 0.5 (sigma about 13 to 128)",
}
# The sample photos: file name -> (scikit-image's picture, its licence). Each is cut to at
# most SAMPLE_SIDE pixels a side around its middle, so that the page denoises it in a second.
SAMPLES = {
    "camera.png": ("camera", "a grey photo, CC0 (Lav Varshney)"),
    "astronaut.png": ("astronaut", "a colour photo, public domain (NASA)"),
    "coffee.png": ("coffee", "a colour photo, CC0 (Rachel Michetti)"),
}
SAMPLE_SIDE = 256
# The settings of the page's noise estimates, which are denoise.py's --noise-level auto and
# camera written again in JavaScript (the page runs no Python): each from where it is set.
ESTIMATES = {
    "highPass": list(pywt.Wavelet("db2").dec_hi),  # the wavelet scikit-image's estimate uses
    "donoho": float(scipy.stats.norm.ppf(0.75)),  # and what it divides the median by
    "zeroDetail": noise.ZERO_DETAIL,
    "minTexturedFraction": noise.MIN_TEXTURED_FRACTION,
    "cameraBlock": noise.CAMERA_NOISE_BLOCK,
    "cameraFactor": noise.CAMERA_NOISE_FACTOR,
    "minBlocks": noise.MIN_BLOCKS,
    "cameraLevelFactor": noise.CAMERA_LEVEL_FACTOR,
}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.try_it", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("docs", "demo"),
                        help="the folder the page loads from (default: docs/demo)")
    parser.add_argument("--models-dir", default="models",
                        help="where the .keras models are (default: models)")
    return parser.parse_args(argv)


def fetch_runtime(folder):
    """Put ORT_WEB_FILES of onnxruntime-web ORT_WEB_VERSION into `folder`, unless there."""
    stamp = os.path.join(folder, "VERSION")
    if os.path.exists(stamp) and all(os.path.exists(os.path.join(folder, name))
                                     for name in ORT_WEB_FILES):
        with open(stamp) as file:
            if file.read().strip() == ORT_WEB_VERSION:
                return
    print(f"fetching onnxruntime-web {ORT_WEB_VERSION} from the npm registry")
    try:
        with urllib.request.urlopen(ORT_WEB_URL, timeout=120) as response:
            package = response.read()
    except (OSError, http.client.HTTPException) as error:  # offline, a download cut short
        sys.exit(f"error: cannot fetch {ORT_WEB_URL} ({error}); nothing was written")
    digest = base64.b64encode(hashlib.sha512(package).digest()).decode()
    if digest != ORT_WEB_SHA512:
        sys.exit(f"error: {ORT_WEB_URL} is not the package pinned (sha512 {digest}); "
                 "nothing was written")
    os.makedirs(folder, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        for name in ORT_WEB_FILES:
            content = archive.extractfile(f"package/dist/{name}").read()
            files.replace_atomically(os.path.join(folder, name), lambda path: write_bytes(path, content))
    files.replace_atomically(stamp, lambda path: write_bytes(path, ORT_WEB_VERSION.encode()))


def write_bytes(path, content):
    with open(path, "wb") as file:
        file.write(content)


def export_models(models_dir, folder):
    """Export each of MODELS into `folder` (tools/export.py checks it against Keras); return
    what the page needs to know of each: its file, name, label, channels, and whether it
    is told the noise level."""
    os.makedirs(folder, exist_ok=True)
    listing = []
    for name, label in MODELS.items():
        path = os.path.join(folder, f"{name}.onnx")
        if not os.path.exists(path):
            export.export(os.path.join(models_dir, f"{name}.keras"), folder, overwrite=False)
        model = denoiser.load_model(path)
        listing.append({"file": f"models/{name}.onnx", "name": name, "label": f"{label} ({name})",
                        "channels": denoiser.image_shape(model)[-1],
                        "toldTheLevel": noise.takes_noise_level(model)})
    return listing


def write_samples(folder):
    """Cut each of SAMPLES from scikit-image's picture, and write it as a PNG."""
    os.makedirs(folder, exist_ok=True)
    for name, (picture, _) in SAMPLES.items():
        path = os.path.join(folder, name)
        if os.path.exists(path):
            continue
        pixels = getattr(skimage.data, picture)()
        top, left = ((side - min(side, SAMPLE_SIDE)) // 2 for side in pixels.shape[:2])
        cut = pixels[top : top + SAMPLE_SIDE, left : left + SAMPLE_SIDE]
        cut = cut[..., np.newaxis] if cut.ndim == 2 else cut
        denoiser.write_picture(path, cut.astype(np.float32) / 255, bits=8)


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("every file written so far is whole; run it again to finish")
    fetch_runtime(os.path.join(args.out, "ort"))
    try:
        models = export_models(args.models_dir, os.path.join(args.out, "models"))
    except denoiser.PictureError as error:
        sys.exit(f"error: {error}")
    write_samples(os.path.join(args.out, "samples"))
    listing = {
        "runtime": ORT_WEB_VERSION,
        "models": models,
        "estimates": ESTIMATES,
        "samples": [{"file": f"samples/{name}", "label": f"{name.removesuffix('.png')}: {about}"}
                    for name, (_, about) in SAMPLES.items()],
    }
    files.write_json(os.path.join(args.out, "models", "models.json"), listing)
    print(f"the page's models, runtime and samples are in {args.out}")


if __name__ == "__main__":
    main()
