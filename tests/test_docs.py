"""The README and docs/: links that resolve, numbers that come from docs/results.md, figures
small enough to commit, and tools/make_docs.py, which makes them, still working."""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import make_docs, published

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# [text](target) and ![text](target); the target up to a space (a title) or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
# A number as prose quotes a measurement: 26.68, 0.973, 4,385.
NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+\.\d+)(?![\w/-]|\.\d)")
# A fenced block of shell commands, and what its commands name: a saved model, a run folder.
BASH_BLOCK = re.compile(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
KERAS_PATH = re.compile(r"[^\s'\"(),=]+\.keras(?=[\s'\"),]|$)")
OUT_FOLDER = re.compile(r"--out[= ](\S+)")
TRAINING = re.compile(r"\btrain_(?:conv|dense|photos|noisy_targets)\.py\b")
BENCHMARK = re.compile(r"\btools\.benchmark\b")  # trains each run into --out/<run>-seed<N>
# The pages whose commands a learner runs: the README and the lessons (trained-models.md too).
COMMAND_PAGES = [ROOT / "README.md", *(page for page in sorted(DOCS.glob("*.md"))
                                      if not page.name.startswith("results"))]


def prose(text):
    """The text without its code: fenced blocks and `inline code` hold commands and
    flags (--noise-level 0.2), not measurements."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return re.sub(r"`[^`]*`", "", text)


def test_every_relative_link_and_picture_resolves():
    broken = []
    for page in [*PAGES, ROOT / "models" / "README.md"]:
        for target in LINK.findall(prose(page.read_text())):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, or a heading of the same page
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("![a figure](figures/none.png) and `[code](not-a-link.md)`")
    targets = LINK.findall(prose(page.read_text()))
    assert targets == ["figures/none.png"]
    assert not (tmp_path / targets[0]).exists()


def test_every_number_the_readme_and_lessons_quote_is_in_the_results():
    # results.md (tools/make_docs.py) and the results of a lesson's own command (results-*.md);
    # trained-models.md quotes its models' own records (models/*.metrics.json), as they were
    # trained, and is a record page itself.
    results = "".join(page.read_text() for page in DOCS.glob("results*.md"))
    missing = []
    for page in PAGES:
        if page.name.startswith("results") or page.name in ("index.md", "trained-models.md"):
            continue
        for number in NUMBER.findall(prose(page.read_text())):
            if number not in results:
                missing.append(f"{page.relative_to(ROOT)}: {number}")
    assert not missing


def statements(text):
    """A page's prose as its sentences, and each table row on its own after its header row
    (so that a header saying "published" marks every row below it)."""
    for paragraph in re.split(r"\n\s*\n", prose(text)):
        if paragraph.lstrip().startswith("|"):
            header, *rows = paragraph.strip().splitlines()
            yield from (f"{header}\n{row}" for row in rows if not re.match(r"\|[-| :]+\|$", row))
        else:
            yield from re.split(r"(?<=[.!?])\s+", paragraph)


# Every published row: on Gaussian noise (a PSNR at each sigma) and on real noise (one PSNR).
PUBLISHED_ROWS = published.PUBLISHED + published.PUBLISHED_REAL


def psnrs(row):
    """A published row's PSNRs: one per sigma, or its one on real pairs."""
    return row.psnr if isinstance(row.psnr, tuple) else (row.psnr,)


def published_rows(statement):
    """The rows of tools/published.py's tables whose method the statement names (DnCNN for
    DnCNN-S; BM3D is not CBM3D), or every row where it names none."""
    named = [row for row in PUBLISHED_ROWS
             if re.search(rf"\b{re.escape(row.method.split('-')[0])}\b", statement)]
    return named or PUBLISHED_ROWS


def published_number_faults(text, measured):
    """The numbers of `text` that break the rule for published numbers. In a statement that
    says "published" (and not "not published"), every number must be in the published row
    of a method it names. Elsewhere, a number of the row of a method the statement names is
    a published number quoted unmarked; so is any number of the published table that no
    measured result (`measured`) holds."""
    every_number = {f"{psnr:.2f}" for row in PUBLISHED_ROWS for psnr in psnrs(row)}
    faults = []
    for statement in statements(text):
        lowered = statement.lower()
        marked = "published" in lowered and "not published" not in lowered
        rows = published_rows(statement)
        numbers = {f"{psnr:.2f}" for row in rows for psnr in psnrs(row)}
        for number in NUMBER.findall(statement):
            if marked:
                wrong = number not in numbers
            else:
                wrong = (number in numbers and rows is not PUBLISHED_ROWS) or (
                    number in every_number and number not in measured)
            if wrong:
                faults.append(f"{number} in: {' '.join(statement.split())[:120]}")
    return faults


def test_a_published_number_is_marked_published_and_sits_in_the_published_table():
    measured = "".join(page.read_text() for page in DOCS.glob("results*.md")
                       if page.name != "results-published.md")
    faults = []
    for page in PAGES:
        if not page.name.startswith("results"):
            faults += [f"{page.relative_to(ROOT)}: {fault}"
                       for fault in published_number_faults(page.read_text(), measured)]
    assert not faults


@pytest.mark.parametrize("text, measured, faults", [
    ("FFDNet's published score at sigma 50 is 26.29 dB.", "", 0),
    ("| model | sigma 25 |\n|---|---|\n| FFDNet, published | 29.19 |", "", 0),
    ("| model | sigma 25 (published) |\n|---|---|\n| FFDNet | 29.19 |", "", 0),
    ("FFDNet scores 31.63 dB. Ours 31.41 dB.", "31.41", 1),  # unmarked
    ("CBM3D scores 30.71 dB on CBSD68.", "30.71", 1),  # unmarked, though measured elsewhere
    ("Our specialist scores 31.69 dB.", "31.69", 0),  # ours, the same as DRUNet's by chance
    ("FFDNet's published score: 31.99 dB.", "", 1),  # made up
    ("DRUNet's published score is 26.29 dB.", "", 1),  # FFDNet's number
    ("FFDNet is not published at 31.63 dB.", "", 1),  # not marked
])
def test_the_published_number_check_catches_what_it_should(text, measured, faults):
    assert len(published_number_faults(text, measured)) == faults


def test_the_published_page_is_the_published_table_with_a_paper_for_every_row():
    assert (DOCS / "results-published.md").read_text() == published.page()
    for row in published.PUBLISHED:
        assert len(row.psnr) == len(published.SIGMAS)
        assert re.search(r", (19|20)\d\d$", row.source), row  # authors, title, venue, year


def test_numbers_are_found_in_prose_and_not_in_code():
    text = "From 16.75 dB to 26.68 dB with 4,385 weights; `--noise-level 0.2` and 25/255."
    assert NUMBER.findall(prose(text)) == ["16.75", "26.68", "4,385"]


def commands(text):
    """The shell commands of a page's ```bash blocks, in order: a line ending in a backslash
    joined to the next, comments dropped, spaces collapsed."""
    for block in BASH_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(re.sub(r"(^|\s)#.*", "", line).split())
            if line:
                yield line


def models_not_there(text, root):
    """Each .keras file a page's commands load that a learner following the page from the top,
    in a fresh clone, would not have: neither a file of the repository (models/x.keras) nor
    <F>/model.keras of a training command with `--out <F>` earlier on the page, or
    <F>/<run>/model.keras of a benchmark with `--out <F>`. A file a command saves
    (`model.save('x.keras')`) is written, not loaded."""
    trained, benchmarked, missing = set(), set(), []
    for command in commands(text):
        saved = set(re.findall(r"\.save\('([^']+)'\)", command))
        for path in (path for path in KERAS_PATH.findall(command) if path not in saved):
            folder, _, name = path.rpartition("/")
            # runs/ holds what training writes here, and is never committed (.gitignore).
            # A shell pattern (models/*.keras) names the committed files that match it.
            committed = (any(root.glob(path)) if "*" in path else (root / path).is_file()) \
                and not path.startswith("runs/")
            made = name == "model.keras" and (folder in trained
                                              or folder.rpartition("/")[0] in benchmarked)
            if not committed and not made:
                missing.append(path)
        if TRAINING.search(command):
            trained.update(folder.rstrip("/") for folder in OUT_FOLDER.findall(command))
        if BENCHMARK.search(command):
            benchmarked.update(folder.rstrip("/") for folder in OUT_FOLDER.findall(command))
    return missing


def test_every_model_a_command_loads_is_committed_or_trained_earlier_on_its_page():
    missing = [f"{page.relative_to(ROOT)}: {path}" for page in COMMAND_PAGES
               for path in models_not_there(page.read_text(), ROOT)]
    assert not missing


def test_the_model_check_finds_a_model_no_earlier_command_made(tmp_path):
    for path in ("models/ready.keras", "runs/nowhere/model.keras"):  # runs/: made here only
        (tmp_path / path).parent.mkdir(parents=True)
        (tmp_path / path).write_bytes(b"")
    page = """```bash
python train_conv.py --model small \\
    --out runs/small    # a comment: runs/commented/model.keras
python -m tools.compare --models models/ready.keras runs/small/model.keras
python -m tools.export models/*.keras runs/*.keras models/none*.keras --out exported
python denoise.py --model runs/nowhere/model.keras photo.png --out runs/denoised
python denoise.py --model runs/later/model.keras photo.png
python train_conv.py --out runs/later
python -c "import keras; keras.models.load_model('runs/denoised/model.keras')"
python -c "import keras; keras.models.load_model('runs/small/model.keras').save('runs/copy.keras')"
python train_photos.py --out runs/photos
python train_noisy_targets.py --out runs/n2n
python -m tools.compare --models runs/photos/model.keras runs/n2n/model.keras
python -m tools.benchmark --runs small --seeds 0 1 --out runs/bench
python -m tools.compare --models runs/bench/small-seed*/model.keras runs/bench2/small-seed0/model.keras
```

`python denoise.py --model runs/inline/model.keras` is not a command block.
"""
    assert list(commands(page))[0] == "python train_conv.py --model small --out runs/small"
    # Loaded before it is trained, or from the --out of something other than a training.
    assert models_not_there(page, tmp_path) == [
        "runs/*.keras", "models/none*.keras", "runs/nowhere/model.keras",
        "runs/later/model.keras", "runs/denoised/model.keras", "runs/bench2/small-seed0/model.keras"]


def test_the_glossary_explains_psnr_and_the_lessons_point_to_it():
    glossary = (DOCS / "glossary.md").read_text()
    sections = {section.split("\n", 1)[0].strip(): section
                for section in re.split(r"^## ", glossary, flags=re.MULTILINE)[1:]}
    psnr = [text for heading, text in sections.items() if heading.startswith("PSNR")]
    assert psnr and "log10" in psnr[0]
    assert "(docs/glossary.md" in (ROOT / "README.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    lessons = re.findall(r"^      - .*: (\S+\.md)$", nav, re.MULTILINE)  # under "Lessons:"
    assert len(lessons) >= 10
    for lesson in [*lessons, "models.md"]:
        assert "(glossary.md#" in (DOCS / lesson).read_text(), lesson


def test_the_training_scripts_link_to_the_glossary():
    for script in ("train_conv.py", "train_dense.py", "train_photos.py", "train_noisy_targets.py"):
        assert "docs/glossary.md" in (ROOT / script).read_text(), script


def slug(heading):
    """The anchor mkdocs gives a heading: Python-Markdown's toc slugifies its text (without
    the backticks of `code`, which it renders, not shows)."""
    from markdown.extensions.toc import slugify  # installed with mkdocs

    return slugify(heading.replace("`", ""), "-")


def anchors(page):
    """The anchors of a page's headings, and of the pages it includes (`include-markdown`,
    as docs/index.md includes the README); those in fenced code are comments, not headings."""
    if not page.exists():  # a broken link: the link check above says so
        return set()
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    found = {slug(heading) for heading in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}
    for included in re.findall(r'include-markdown "([^"]+)"', text):
        found |= anchors((page.parent / included).resolve())
    return found


def test_every_link_to_a_heading_names_one_of_its_headings():
    """mkdocs --strict would say so too, at the end of CI; this says it in a second."""
    assert slug("Salt-and-pepper noise") == "salt-and-pepper-noise"
    assert "psnr" in anchors(DOCS / "glossary.md")
    unknown = []
    for page in [*PAGES, ROOT / "models" / "README.md"]:
        for target in LINK.findall(prose(page.read_text())):
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if (anchor and not re.match(r"[a-z]+:", target) and linked.suffix == ".md"
                    and anchor not in anchors(linked)):
                unknown.append(f"{page.relative_to(ROOT)}: {target}")
    assert not unknown


# The words the lessons use that a learner may not know: each has a heading of its own in
# docs/glossary.md, and each is on at least one lesson page (so that the list stays honest).
GLOSSARY_TERMS = [
    "Activation", "Adam", "Autoencoder", "Backend", "Batch", "Bit depth", "Blind denoising", "BM3D",
    "Bottleneck", "Callback", "Camera noise", "Channel", "Class", "Classical denoiser", "Clip", "Code", "Concatenate", "Convolution", "Crop", "Cross-entropy", "Decoder",
    "Demosaicking", "Dense layer", "Device", "DnCNN", "Dropout", "DRUNet", "Encoder", "Epoch",
    "Feature map", "FFDNet", "Filter", "Fine-tuning", "Floating point", "Fully convolutional", "Gaussian noise", "Gradient",
    "ISO", "JPEG", "Jupytext", "Keras", "Layer", "Learning rate", "Lesson", "Loss", "MNIST", "MSE", "NaN",
    "Neighbor2Neighbor", "Noise level", "Noise sweep", "Noise2Noise", "Non-local means", "ONNX",
    "Optimizer", "Padding", "Parameters", "Papermill", "Photo set", "PolyU", "Poisson noise", "Pooling", "Preset",
    "PSNR", "Quantisation table", "Regulariser", "ReLU", "Residual", "Resize-convolution", "Resume", "Safe mode", "Scikit-image", "Seed", "Self-ensemble",
    "Sigma", "Sigmoid", "Skip connection", "Specialist", "Spread", "sRGB curve", "SSIM",
    "Standard deviation", "Stride", "Tile", "Total variation", "Transposed convolution", "Turns and mirrors", "U-Net", "Upsampling",
    "UTKFace", "Validation", "Variance", "Wavelet", "Weights", "White noise", "Write-up",
]
# The lesson pages: docs/*.md but the results and the glossary itself.
LESSON_PAGES = [page for page in sorted(DOCS.glob("*.md"))
                if not page.name.startswith("results") and page.name != "glossary.md"]


def glossary_gaps(terms, glossary, lessons):
    """The terms that have no heading in the glossary's text, and those that no lesson's text
    uses (as a word, in any case, or its plural)."""
    headings = {heading.strip().lower()
                for heading in re.findall(r"^## (.*)$", glossary, flags=re.MULTILINE)}
    gaps = [f"no glossary heading: {term}" for term in terms if term.lower() not in headings]
    for term in terms:
        used = re.compile(rf"(?<![\w-]){re.escape(term)}(?:e?s)?(?!\w)", re.IGNORECASE)
        if not any(used.search(lesson) for lesson in lessons):
            gaps.append(f"on no lesson page: {term}")
    return gaps


def test_the_glossary_has_a_heading_for_each_term_the_lessons_use():
    """Links to the glossary's headings are checked by the heading-link test above."""
    assert len(LESSON_PAGES) >= 10
    assert not glossary_gaps(GLOSSARY_TERMS, (DOCS / "glossary.md").read_text(),
                             [page.read_text() for page in LESSON_PAGES])


def test_the_glossary_check_finds_a_missing_heading_and_an_unused_term():
    glossary = "# Glossary\n\n## Tile\n\nA piece.\n\n## Noise sweep\n\nLevels.\n"
    lessons = ["Big pictures go in tiles.", "The noise sweep, and BM3D."]
    assert glossary_gaps(["Tile", "Noise sweep"], glossary, lessons) == []
    assert glossary_gaps(["BM3D", "Wavelet", "Tile"], glossary, lessons) == [
        "no glossary heading: BM3D", "no glossary heading: Wavelet", "on no lesson page: Wavelet"]


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    first_screen = "\n".join(readme.splitlines()[:30])
    assert "pip install -r requirements.txt" in first_screen
    assert "bash tests/run.sh" in first_screen  # the test command, one short line
    assert "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()  # what CI runs
    for page in PAGES:  # users have no ../shared
        assert "../shared" not in page.read_text() and "seed 00" not in page.read_text()


def test_the_committed_figures_are_small_and_each_is_shown():
    figures = sorted((DOCS / "figures").glob("*.png"))
    assert figures
    shown = "".join(page.read_text() for page in PAGES)
    for figure in figures:
        assert figure.stat().st_size <= make_docs.MAX_FIGURE_BYTES, figure.name
        assert f"figures/{figure.name}" in shown, f"{figure.name} is on no page"


def test_every_committed_figure_is_the_one_the_last_make_docs_call_wrote():
    """A figure remade by hand, or by another call than the one results.md comes from, has
    another digest than the one results.md lists."""
    listed = make_docs.figure_digests((DOCS / "results.md").read_text())
    for figure in (DOCS / "figures").glob("*.png"):
        assert listed.get(figure.name) == make_docs.file_digest(figure), figure.name


def test_a_found_run_is_made_again_when_its_command_or_a_model_it_read_has_changed(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "models" / "m.keras"
    trained = tmp_path / "runs" / "trained" / "model.keras"
    for model in (committed, trained):
        model.parent.mkdir(parents=True)
        model.write_bytes(b"the first model")
    writes_its_result = ("import os, sys; os.makedirs(sys.argv[1]); "
                         "open(os.path.join(sys.argv[1], 'done.txt'), 'w').close()")
    step = make_docs.Step("scored", ["-c", writes_its_result, "{runs}/scored", "models/m.keras",
                                     "{runs}/trained/model.keras"], [], "done.txt")
    args = argparse.Namespace(runs="runs", quick=False, data_dir=None)
    assert not make_docs.finished(step, args)
    assert make_docs.run_step(step, args) and make_docs.finished(step, args)
    for model in (committed, trained):  # either one trained again: the next call remakes it
        model.write_bytes(b"a model trained again")
        assert not make_docs.finished(step, args)
        model.write_bytes(b"the first model")
        assert make_docs.finished(step, args)
    changed = step._replace(command=[*step.command, "--another-option"])
    assert not make_docs.finished(changed, args)  # a command changed since: made again
    showing = step._replace(figures=(("done.png", "scored-done.png"),))
    assert not make_docs.finished(showing, args)  # a figure the step now shows: made again
    (tmp_path / "runs" / "scored" / make_docs.MADE_FROM).unlink()
    assert not make_docs.finished(step, args)  # no record of what it was made from: made again


def test_make_docs_removes_or_writes_over_nothing_it_did_not_write(tmp_path):
    """A --runs or --docs folder of the user's own: a folder or log of a step's name, a
    results.md, a figure of a step's name; make_docs stops in one line, before any run."""
    runs, docs = tmp_path / "runs", tmp_path / "docs"
    (runs / "default").mkdir(parents=True)
    (runs / "default" / "notes.txt").write_text("mine")
    (runs / "unet.log").write_text("my log")
    (docs / "figures").mkdir(parents=True)
    (docs / "results.md").write_text("# My results")
    (docs / "figures" / "knob.png").write_bytes(b"my figure")
    with pytest.raises(SystemExit) as raised:
        make_docs.main(["--runs", str(runs), "--docs", str(docs), "--steps", "default", "unet"])
    message = str(raised.value.code)
    for path in (runs / "default", runs / "unet", docs / "results.md",
                 docs / "figures" / "knob.png"):
        assert str(path) in message
    assert message.startswith("error: ") and "\n" not in message
    assert (runs / "default" / "notes.txt").read_text() == "mine"
    assert (runs / "unet.log").read_text() == "my log"
    assert (docs / "results.md").read_text() == "# My results"


def test_make_docs_removes_only_the_stale_figures_it_wrote(tmp_path):
    """A figure no step makes any more is removed if results.md lists it as written, with
    the same digest; any other file in figures/ is left as it is."""
    figures = tmp_path / "docs" / "figures"
    figures.mkdir(parents=True)
    for name in ("retired.png", "changed.png", "mine.png"):
        (figures / name).write_bytes(name.encode())
    written = {name: make_docs.file_digest(figures / name) for name in ("retired.png", "changed.png")}
    (figures / "changed.png").write_bytes(b"edited by hand since")
    (tmp_path / "docs" / "results.md").write_text(
        make_docs.RESULTS_START + "\n\n" + make_docs.figures_table(
            [(name, "a-step", digest) for name, digest in written.items()]))
    args = argparse.Namespace(runs=str(tmp_path / "runs"), docs=str(tmp_path / "docs"),
                              quick=False, data_dir=None)
    assert make_docs.copy_figures(args) == []  # no step finished there
    assert sorted(os.listdir(figures)) == ["changed.png", "mine.png"]


def test_a_figure_an_earlier_call_wrote_stays_known_after_a_call_that_did_not_make_it(tmp_path):
    """A call whose --runs has not finished a step (one failed, or --steps left it out)
    keeps that step's figure and its row: the next call still knows it for its own."""
    figures = tmp_path / "docs" / "figures"
    figures.mkdir(parents=True)
    (figures / "knob.png").write_bytes(b"written by an earlier call")
    row = ("knob.png", "knob", make_docs.file_digest(figures / "knob.png"))
    (tmp_path / "docs" / "results.md").write_text(
        make_docs.RESULTS_START + "\n\n" + make_docs.figures_table([row]))
    args = argparse.Namespace(runs=str(tmp_path / "runs"), docs=str(tmp_path / "docs"),
                              quick=False, data_dir=None)
    assert make_docs.copy_figures(args) == [row]
    assert make_docs.docs_not_ours(args) == []


def test_make_docs_quick_makes_every_figure_and_table(tmp_path):
    """The command that makes the docs still works: --quick, every step on tiny runs."""
    finished = subprocess.run(
        [sys.executable, "-m", "tools.make_docs", "--quick", "--runs", str(tmp_path / "runs"),
         "--docs", str(tmp_path / "docs")],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    made = {path.name for path in (tmp_path / "docs" / "figures").glob("*.png")}
    assert made == {path.name for path in (DOCS / "figures").glob("*.png")}
    results = (tmp_path / "docs" / "results.md").read_text()
    assert make_docs.figure_digests(results) == {
        path.name: make_docs.file_digest(path) for path in (tmp_path / "docs" / "figures").glob(
            "*.png")}
    for stamp in ("- command: `python -m tools.make_docs --quick", "- date: ", "- commit: ",
                  "- packages: keras ", "- machine: "):
        assert stamp in results
    assert "(not made yet)" not in results
    for step in make_docs.STEPS:
        if step.result == "metrics.json":  # a row of the lessons' table, with its command
            assert f"| {step.name} | `python {step.command[0]}" in results  # a training script
    rows = {line.split(" | ")[0]: line for line in results.splitlines()  # the lessons' table
            if line.startswith("| ") and " | `python train_" in line}
    assert "| gaussian 0.2 |" in rows["| default"]  # each row says the level it was scored at:
    assert "| gaussian 0.275 |" in rows["| blind"]  # a blind run, its range's middle
    # A second call finds every run and trains nothing again.
    again = subprocess.run(
        [sys.executable, "-m", "tools.make_docs", "--quick", "--runs", str(tmp_path / "runs"),
         "--docs", str(tmp_path / "docs")],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "$ python" not in again.stdout


def test_a_transposed_convolution_paints_a_checkerboard_and_resizing_does_not(tmp_path):
    from tools import checkerboard
    import plots

    plots.prepare(show=False)
    outputs = checkerboard.save_checkerboard(tmp_path / "checkerboard.png")
    transposed, resized = (output[4:12, 4:12, 0] for output in outputs.values())
    assert sorted(set(transposed.ravel().tolist())) == [1.0, 2.0, 4.0]  # 1, 2 or 4 stamps
    assert set(resized.ravel().tolist()) == {9.0}  # every pixel: the same nine weights
    assert (tmp_path / "checkerboard.png").stat().st_size > 0
