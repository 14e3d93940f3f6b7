"""Published numbers: what the papers report on the photo benchmarks, with their sources.

These numbers are not measured here. They are copied from the papers, as the authors'
repositories list them (github.com/cszn: DnCNN, FFDNet and DPIR, the code of DRUNet), so that
a learner can set our models beside the published denoisers: mean PSNR (dB) on the 68
photos of BSD68 (grey) or CBSD68 (colour) with Gaussian noise of sigma 15, 25 and 50 on the
0-255 scale. The papers drew their own noise: a published number and one measured here
are not scored on the very same noisy pictures. `PUBLISHED_REAL` holds the scores two
recent papers' tables give on the real camera noise of the 100 PolyU pairs: the same
pictures as ours, but each paper's own run and protocol.

A lesson quotes a published number only from this table, and says "published"
(tests/test_docs.py checks both). Write the table into the docs with:

  python -m tools.published                    # docs/results-published.md
"""

import argparse
from typing import NamedTuple

# The sigmas (of 255) of every row, in this order.
SIGMAS = (15, 25, 50)
DNCNN = ("Zhang, Zuo, Chen, Meng and Zhang, \"Beyond a Gaussian denoiser: residual learning of "
         "deep CNN for image denoising\", IEEE Transactions on Image Processing 26(7), 2017")
FFDNET = ("Zhang, Zuo and Zhang, \"FFDNet: toward a fast and flexible solution for CNN-based "
          "image denoising\", IEEE Transactions on Image Processing 27(9), 2018")
DRUNET = ("Zhang, Li, Zuo, Zhang, Van Gool and Timofte, \"Plug-and-play image restoration with "
          "deep denoiser prior\", IEEE Transactions on Pattern Analysis and Machine "
          "Intelligence 44(10), 2022")


class Published(NamedTuple):
    method: str
    dataset: str  # bsd68 (grey) or cbsd68 (colour)
    psnr: tuple  # at each of SIGMAS
    source: str  # the paper whose table gives it


PUBLISHED = [
    Published("BM3D", "bsd68", (31.07, 28.57, 25.62), DNCNN),
    Published("DnCNN-S", "bsd68", (31.73, 29.23, 26.23), DNCNN),
    Published("FFDNet", "bsd68", (31.63, 29.19, 26.29), FFDNET),
    Published("DRUNet", "bsd68", (31.91, 29.48, 26.59), DRUNET),
    Published("CBM3D", "cbsd68", (33.52, 30.71, 27.38), FFDNET),
    Published("CDnCNN", "cbsd68", (33.89, 31.23, 27.92), FFDNET),
    Published("FFDNet", "cbsd68", (33.87, 31.21, 27.96), FFDNET),
    Published("DRUNet", "cbsd68", (34.30, 31.69, 28.51), DRUNET),
]


DMID = ("Li, Feng, Wang, Zhu, Xiong and Huang, \"Stimulating diffusion model for image "
        "denoising via adaptive embedding and ensembling\", IEEE Transactions on Pattern "
        "Analysis and Machine Intelligence, 2024, Table 3")
MASH = ("Chihaoui and Favaro, \"Masked and shuffled blind spot denoising for real-world "
        "images\", CVPR 2024, Table 1")


class PublishedReal(NamedTuple):
    """A paper's score on real camera noise: one PSNR and SSIM over a set of real pairs."""
    method: str
    pairs: str  # a set of data.REAL_PAIRS
    psnr: float
    ssim: float
    source: str  # the paper whose table gives it
    note: str  # which variant, or what the table leaves unsaid


# On the 100 PolyU pairs (Xu et al., 2018; 512x512 crops). Each paper's own protocol: MASH
# states 100 pictures of 3x512x512; DMID's released code scores 8-bit RGB pictures whole and
# averages over them, as tools/real_pairs.py does. Neither is the very same run as ours.
PUBLISHED_REAL = [
    PublishedReal("BM3D", "polyu100", 37.40, 0.953, MASH,
                  "among single-picture methods; the paper cites BM3D-SAPCA (Dabov et al., 2009)"),
    PublishedReal("Restormer", "polyu100", 37.51, 0.9776, DMID,
                  "listed among supervised methods; its training set is not stated there"),
    PublishedReal("ScoreDVI", "polyu100", 37.77, 0.959, MASH, "the same in DMID's Table 3"),
    PublishedReal("DMID", "polyu100", 38.62, 0.9853, DMID,
                  "DMID-d, a diffusion model (DMID-p: 38.46)"),
]


def real_noise_table():
    """A row per published score on real pairs: method, pairs, PSNR, SSIM, source, note."""
    lines = ["| method | pairs | PSNR (dB) | SSIM | source (published) | note |",
             "|---|---|---|---|---|---|"]
    for row in PUBLISHED_REAL:
        lines.append(f"| {row.method} | {row.pairs} | {row.psnr:.2f} | {row.ssim} | "
                     f"{row.source} | {row.note} |")
    return "\n".join(lines)


# The photo sets of the table, and the channels the papers scored them in.
CHANNELS = {"bsd68": 1, "cbsd68": 3}


def scores_at(dataset, channels, noise_kind, level):
    """The published (method, PSNR) pairs for a comparison run the papers' way: on BSD68 in
    grey or CBSD68 in colour, Gaussian noise unclipped, at one of SIGMAS (level on 0-1);
    none for any other set, channels, noise or level."""
    if CHANNELS.get(dataset) != channels or noise_kind != "gaussian-unclipped":
        return []
    at = [index for index, sigma in enumerate(SIGMAS) if abs(sigma - level * 255) < 1e-6]
    return [(row.method, row.psnr[at[0]]) for row in PUBLISHED if row.dataset == dataset and at]


def markdown_table():
    """A row per published number set: the method, the photos, its PSNR at each sigma, and
    the paper it comes from."""
    lines = ["| method | photos | " + " | ".join(f"sigma {sigma}" for sigma in SIGMAS)
             + " | source (published) |", "|---" * (len(SIGMAS) + 3) + "|"]
    for row in PUBLISHED:
        lines.append(f"| {row.method} | {row.dataset.upper()} | "
                     + " | ".join(f"{psnr:.2f}" for psnr in row.psnr) + f" | {row.source} |")
    return "\n".join(lines)


def page():
    """docs/results-published.md: the table, under what it is and is not."""
    return ("# Published numbers\n\nWhat the papers report, not measured here: mean PSNR (dB) on "
            "the 68 photos of BSD68 (grey) or CBSD68 (colour), Gaussian noise of the sigma (of "
            "255) in the header. Copied from the papers as their authors' repositories list "
            "them (github.com/cszn), by `python -m tools.published`; our own scores are in "
            "[the results](results.md).\n\n" + markdown_table() + "\n\n## Real camera noise\n\n"
            "What the papers report on real noisy photos with clean references: the 100 pairs "
            "of the PolyU set (512x512 crops; 8-bit RGB, averaged over the pictures, as far "
            "as each paper says), each paper's own run. Ours, by tools/real_pairs.py, are "
            "in [the real-noise results](results-real-noise.md).\n\n" + real_noise_table() + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.published", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/results-published.md",
                        help="the page to write (default: docs/results-published.md)")
    args = parser.parse_args(argv)
    with open(args.out, "w") as file:
        file.write(page())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
