"""Does the simulated camera noise look like a real camera's? Measured on real pairs.

Each pair of the PolyU set (data.REAL_PAIRS) is a shot and the mean of a tripod burst of the
same scene, its clean reference, and its file name says the camera and the ISO. So the real
noise is there to see: the shot minus its reference. Beside it, the noise that
camera.add_camera_noise (the noise kind `camera`) adds to the same reference, as the same
camera (darktable's measured profile of it) at the same ISO. Both are measured alike:

- the spread (standard deviation, of 255) against the reference's brightness, per colour
  channel, in BINS bins from dark to bright (the figure spread.png, one panel a camera);
- how much of the spread is left after averaging each 2x2 block of pixels: 0.5 for noise
  that is independent from pixel to pixel, up to 1 for noise spread evenly over the block
  (demosaicking, a camera's own smoothing and JPEG spread noise between neighbours);
- what `--noise-level auto` (noise.estimate_noise_level) estimates from the whole shot, over
  the spread measured;
- the quality each shot was saved at as a JPEG, read from its quantisation table.

Only the flatter half of each picture is measured (where the reference varies least around
each pixel, over FLAT_WINDOW pixels): at edges the shot and the mean of the burst can differ by
more than noise (the slightest shift between the shots shows there), and count as noise.

  python -m tools.camera_noise --out runs/camera-noise

Writes into --out: results.md (a table, a row a camera), results.json (the numbers of the
figure too), spread.png and crops.png (the flattest crop of the pair nearest mid-grey: the
reference, the real shot, the simulated one, and the two noises, brightened). The pairs are
for evaluation: this measures the simulation, it trains nothing.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image
from scipy import ndimage

import camera
import data
import denoiser
import noise
import plots
from machinery import arguments, files, signals

# The cameras of the PolyU pairs (Xu et al., 2018): the start of each file name, and the
# camera's name in darktable's profiles.
POLYU_CAMERAS = {"Canon5D2": "Canon EOS 5D Mark II", "Canon600D": "Canon EOS 600D",
                 "Canon80D": "Canon EOS 80D", "NikonD800": "Nikon D800",
                 "Sony": "Sony ILCE-7M2"}
# How many brightness bins the spread is measured in, from 0 to 1.
BINS = 8
# The luminance quantisation table of JPEG's standard (ITU T.81, Annex K), which a quality
# Q scales (as libjpeg does): a file's table says the quality it was saved at.
JPEG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
    56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81,
    104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
# A bin is drawn only where it holds at least this many pixels of a camera's pictures.
MIN_PIXELS = 2000
# The side of the window over which "flat" is judged (the reference's standard deviation).
FLAT_WINDOW = 5


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.camera_noise", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="measure the first N pairs only (default: all 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed of the simulated noise (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose real-noise/PolyU100/ holds the pairs (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download them); darktable's "
                             f"profiles come from ${data.DATA_DIR_VARIABLE}/camera-noise/ or are "
                             "downloaded")
    parser.add_argument("--out", required=True,
                        help="the folder for the results; it must not hold results.md yet")
    args = parser.parse_args(argv)
    arguments.refuse_an_out_that_holds(parser, args.out, ("results.md",))
    return args


def camera_and_iso(path):
    """The darktable name of the camera that took a PolyU picture, and its ISO, from the
    file name: Canon5D2_5_160_3200_chair_11_real.JPG is a Canon EOS 5D Mark II at ISO 3200
    (then the aperture and the shutter's 1/160 s before it)."""
    fields = os.path.basename(path).split("_")
    if fields[0] not in POLYU_CAMERAS or not fields[3].isdigit():
        raise data.DatasetError(f"{path}: not a PolyU file name (camera_aperture_shutter_ISO_...)")
    return POLYU_CAMERAS[fields[0]], int(fields[3])


def jpeg_quality(path):
    """The quality (1 to 100) a JPEG file was saved at, as libjpeg scales the standard
    luminance table: the one whose table is nearest the file's (None if not a JPEG)."""
    with Image.open(path) as picture:
        tables = getattr(picture, "quantization", None)
        if not tables:
            return None
        table = np.sort(np.array(tables[0]))

    def scaled(quality):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        return np.sort(np.clip((JPEG_LUMINANCE * scale + 50) // 100, 1, 255))

    return min(range(1, 101), key=lambda quality: np.abs(scaled(quality) - table).sum())


def flat_half(reference):
    """The pixels (H, W) where the grey of `reference` varies least over FLAT_WINDOW pixels
    around: the flatter half of the picture."""
    grey = reference.mean(axis=-1)
    mean = ndimage.uniform_filter(grey, FLAT_WINDOW)
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(grey ** 2, FLAT_WINDOW) - mean ** 2, 0))
    return spread <= np.median(spread)


def left_after_averaging(noise_picture, where):
    """The spread of `noise_picture` (H, W, C) after averaging each 2x2 block, over its
    spread, on the blocks whose 4 pixels are all in `where`."""
    height, width = (size // 2 * 2 for size in noise_picture.shape[:2])
    blocks = noise_picture[:height, :width].reshape(height // 2, 2, width // 2, 2, -1)
    inside = where[:height, :width].reshape(height // 2, 2, width // 2, 2).all(axis=(1, 3))
    averaged = blocks.mean(axis=(1, 3))[inside]
    return float(np.std(averaged) / np.std(blocks.transpose(0, 2, 1, 3, 4)[inside]))


class Spreads:
    """The noise of one camera's pictures, gathered bin by bin: count, sum and sum of
    squares per (channel, brightness bin), for the real noise and the simulated one."""

    def __init__(self):
        self.sums = {kind: np.zeros((3, BINS, 3)) for kind in ("real", "simulated")}
        self.pictures = []

    def add(self, reference, noises, where, row):
        bins = np.minimum((reference * BINS).astype(int), BINS - 1)
        for kind, noise_picture in noises.items():
            for channel in range(3):
                in_bin = bins[..., channel][where]
                values = noise_picture[..., channel][where].astype(np.float64)
                for power in range(3):
                    self.sums[kind][channel, :, power] += np.bincount(
                        in_bin, values ** power, minlength=BINS)
        self.pictures.append(row)

    def by_brightness(self, kind):
        """The spread (of 255) per channel and bin, NaN where a bin has too few pixels."""
        count, total, squares = np.moveaxis(self.sums[kind], -1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = 255 * np.sqrt(np.maximum(squares / count - (total / count) ** 2, 0))
        return np.where(count >= MIN_PIXELS, spread, np.nan)


def measure(paths, seed):
    """{camera name: Spreads} over the pairs at `paths`, and the pictures of the pair whose
    reference is nearest mid-grey for the crops: (reference, real shot, simulated shot)."""
    rng = np.random.default_rng(seed)
    spreads, shown = {}, None
    for noisy_path, clean_path in paths:
        name, iso = camera_and_iso(noisy_path)
        shot, reference = (denoiser.read_picture(path)[0] for path in (noisy_path, clean_path))
        simulated = camera.add_camera_noise(reference, iso, rng,
                                            taken_by=camera.camera_named(name))
        noises = {"real": shot - reference, "simulated": simulated - reference}
        where = flat_half(reference)
        row = {"file": os.path.basename(noisy_path), "iso": iso,
               "jpeg_quality": jpeg_quality(noisy_path)}
        for kind, noise_picture in noises.items():
            true = float(np.std(noise_picture[where]))
            estimated = noise.estimate_noise_level(reference + noise_picture)
            row[kind] = {"spread": 255 * true, "left_after_averaging":
                         left_after_averaging(noise_picture, where), "auto_over_true":
                         estimated / true}
        spreads.setdefault(name, Spreads()).add(reference, noises, where, row)
        if shown is None or abs(reference.mean() - 0.5) < abs(shown[0].mean() - 0.5):
            shown = (reference, shot, simulated)
        print(f"{row['file']}: real spread {row['real']['spread']:.2f}, simulated "
              f"{row['simulated']['spread']:.2f}", flush=True)
    return spreads, shown


def markdown_table(spreads, count):
    """A row a camera: its pairs and ISOs, and the means over its pairs of the three
    measurements, real beside simulated."""
    lines = [f"{count} PolyU pairs; the flatter half of each picture; spreads as standard "
             "deviations of 255, means over a camera's pairs", "",
             "| camera | pairs | ISO | JPEG quality | spread, real | spread, simulated | "
             "left after 2x2 averaging, real | simulated | auto estimate / true, real | "
             "simulated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, gathered in sorted(spreads.items()):
        rows = gathered.pictures
        isos = sorted({row["iso"] for row in rows})
        qualities = sorted({row["jpeg_quality"] for row in rows}, key=str)
        means = [np.nanmean([row[kind][key] for row in rows])  # NaN: auto made no estimate
                 for key in ("spread", "left_after_averaging", "auto_over_true")
                 for kind in ("real", "simulated")]
        lines.append(f"| {name} | {len(rows)} | {', '.join(map(str, isos))} | "
                     f"{', '.join(map(str, qualities))} | "
                     + " | ".join(f"{value:.2f}" for value in means) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("no results written")
    try:
        paths = data.real_pairs("polyu100", args.data_dir, args.limit)
        spreads, shown = measure(paths, args.seed)
    except (data.DatasetError, denoiser.PictureError) as error:
        sys.exit(f"error: {error}")
    os.makedirs(args.out, exist_ok=True)
    files.write_json(os.path.join(args.out, "results.json"), {
        "bins": BINS, "seed": args.seed,
        "cameras": {name: {kind: gathered.by_brightness(kind).round(3).tolist()
                           for kind in ("real", "simulated")} | {"pairs": gathered.pictures}
                    for name, gathered in spreads.items()}})
    plots.prepare(show=False)
    plots.save_camera_noise_spreads(os.path.join(args.out, "spread.png"), {
        name: (gathered.by_brightness("real"), gathered.by_brightness("simulated"))
        for name, gathered in sorted(spreads.items())})
    plots.save_real_and_simulated_crops(os.path.join(args.out, "crops.png"), *shown)
    table = markdown_table(spreads, len(paths))
    files.write_text(os.path.join(args.out, "results.md"), table)
    print(table + f"wrote results.md, results.json, spread.png and crops.png in {args.out}")


if __name__ == "__main__":
    main()
