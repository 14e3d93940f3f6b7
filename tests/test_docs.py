"""The README and docs/: links that resolve, numbers that come from docs/results.md, figures
small enough to commit, and tools/make_docs.py, which makes them, still working."""

import re
import subprocess
import sys
from pathlib import Path

from tools import make_docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# [text](target) and ![text](target); the target up to a space (a title) or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
# A number as prose quotes a measurement: 26.68, 0.973, 4,385.
NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+\.\d+)(?![\w/-]|\.\d)")


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
    results = (DOCS / "results.md").read_text()
    missing = []
    for page in PAGES:
        if page.name in ("results.md", "index.md"):
            continue
        for number in NUMBER.findall(prose(page.read_text())):
            if number not in results:
                missing.append(f"{page.relative_to(ROOT)}: {number}")
    assert not missing


def test_numbers_are_found_in_prose_and_not_in_code():
    text = "From 16.75 dB to 26.68 dB with 4,385 weights; `--noise-level 0.2` and 25/255."
    assert NUMBER.findall(prose(text)) == ["16.75", "26.68", "4,385"]


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
    for stamp in ("- command: `python -m tools.make_docs --quick", "- date: ", "- commit: ",
                  "- packages: keras ", "- machine: "):
        assert stamp in results
    assert "(not made yet)" not in results
    for step in make_docs.STEPS:
        if step.result == "metrics.json":  # a row of the lessons' table, with its command
            assert f"| {step.name} | `python {step.command[0]}" in results  # a training script
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
