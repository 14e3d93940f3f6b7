"""The docs' "Try it" page in a real browser (Debian's chromium, driven by Playwright), against
the built site served on 127.0.0.1: the runtime starts, a noisy picture the test makes is
denoised as Python's onnxruntime denoises it, the strength knob changes the output and starts,
for a picture noisy already, at the level denoise.py would tell (auto or camera), the model
runs in a worker while the page keeps answering, a picture the page cannot take (too large,
too small, transparent, not a picture) is refused with a message and clears what the
previous one showed, so does a model that fails, and no request leaves 127.0.0.1."""

import functools
import http.server
import io
import os
import shutil
import subprocess
import sys
import threading
from urllib.parse import urlparse

import numpy as np
import pytest
from conftest import REPOSITORY
from PIL import Image

pytest.importorskip("onnxruntime", reason="pip install -r requirements-export.txt")
pytest.importorskip("tf2onnx", reason="pip install -r requirements-export.txt")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")

import denoiser  # noqa: E402
import noise  # noqa: E402
from tools import try_it  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The docs site built with the page's models and runtime, served on 127.0.0.1: its URL."""
    folder = tmp_path_factory.mktemp("try-it")
    try_it.main(["--out", str(folder / "demo")])
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir",
                    str(folder / "site")], cwd=REPOSITORY, check=True,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    for made in ("models", "ort"):  # what the build of docs/ lacks: the made files
        shutil.copytree(folder / "demo" / made, folder / "site" / "demo" / made, dirs_exist_ok=True)
    server = serve(folder / "site")
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments):
        pass


def serve(folder):
    """Serve `folder` on 127.0.0.1 in a thread; return the server (its port is chosen free)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_runtime_package_that_is_not_the_pinned_one_is_refused_and_nothing_written(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "package.tgz").write_bytes(b"not the package")
    server = serve(tmp_path / "served")
    monkeypatch.setattr(try_it, "ORT_WEB_URL",
                        f"http://127.0.0.1:{server.server_address[1]}/package.tgz")
    with pytest.raises(SystemExit) as raised:
        try_it.fetch_runtime(tmp_path / "ort")
    server.shutdown()
    assert "is not the package pinned" in str(raised.value)
    assert not (tmp_path / "ort").exists()


@pytest.fixture(scope="module")
def page(site):
    """The page, loaded and ready; every request it makes is noted, and any that is not for
    127.0.0.1 is stopped."""
    if CHROMIUM is None:
        pytest.skip("no chromium here: on Debian or Ubuntu, apt-get install chromium (.ci/run does)")
    url, _ = site
    requests = []

    def only_here(route):
        address = urlparse(route.request.url)
        if address.scheme in ("data", "blob") or address.hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(service_workers="block")
        context.route("**/*", only_here)
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.goto(f"{url}/try-it/")
        page.wait_for_function("window.tryIt && window.tryIt.ready", timeout=60_000)
        yield page, requests
        browser.close()
    assert [address for address in requests if urlparse(address).hostname not in ("127.0.0.1", None)] == []


def denoise_on_the_page(page, **settings):
    """Set the page's controls (select, check and range values by element id), press
    Denoise, and return its denoised pixels as an (H, W, C) array."""
    runs = page.evaluate("window.tryIt.runs")
    for name, value in settings.items():
        page.evaluate("""([id, value]) => {
            const control = document.getElementById(id);
            if (control.type === "checkbox") control.checked = value; else control.value = value;
            control.dispatchEvent(new Event(control.type === "range" ? "input" : "change"));
        }""", [name, value])
    page.click("#try-denoise")
    page.wait_for_function(f"window.tryIt.runs > {runs}", timeout=60_000)
    state = page.evaluate("""() => ({message: window.tryIt.message,
        noisy: {height: window.tryIt.noisy.height, width: window.tryIt.noisy.width,
                channels: window.tryIt.noisy.channels},
        denoised: Array.from(window.tryIt.denoised || [])})""")
    assert state["message"].startswith("denoised with"), state["message"]
    noisy = state["noisy"]
    return np.array(state["denoised"], np.float32).reshape(
        noisy["height"], noisy["width"], noisy["channels"])


def test_the_page_denoises_a_picture_as_python_does_and_the_knob_changes_it(page, site, tmp_path):
    page, _ = page
    _, folder = site
    rng = np.random.default_rng(3)
    rows, columns = np.meshgrid(np.linspace(0, 3, 90), np.linspace(0, 5, 122), indexing="ij")
    clean = 0.5 + 0.35 * np.sin(rows) * np.cos(columns)
    noisy = np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1)
    pixels = np.round(noisy * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "noisy.png")
    page.set_input_files("#try-file", str(tmp_path / "noisy.png"))
    page.wait_for_function("window.tryIt.message.startsWith('noisy.png: 122x90')")
    told_25 = denoise_on_the_page(page, **{"try-as-is": True, "try-model": "unet-level-train400",
                                           "try-strength": "25"})
    model = denoiser.load_model(str(folder / "demo" / "models" / "unet-level-train400.onnx"))
    expected = denoiser.denoise_picture(model, pixels[..., None].astype(np.float32) / 255,
                                       level=25 / 255)
    off = np.abs(told_25 - expected) > 1 / 255
    assert told_25.shape == expected.shape and off.mean() < 0.001
    told_50 = denoise_on_the_page(page, **{"try-strength": "50"})
    assert np.abs(told_50 - told_25).mean() > 1 / 255  # told more, it smooths more
    assert told_50.std() < told_25.std()


def test_a_sample_with_added_noise_gets_its_psnr_and_a_grey_model_denoises_colour(page):
    page, _ = page
    page.evaluate("""() => { const select = document.getElementById("try-sample");
        select.value = "samples/astronaut.png"; select.dispatchEvent(new Event("change")); }""")
    page.wait_for_function("window.tryIt.message.startsWith('astronaut.png: 256x256 pixels, colour')")
    denoised = denoise_on_the_page(page, **{"try-as-is": False, "try-sigma": "25",
                                            "try-model": "unet-psnr-train400-blind"})
    assert denoised.shape == (256, 256, 3)
    text = page.inner_text("#try-psnr")
    noisy_psnr, denoised_psnr = (float(part.split(":")[1].split("dB")[0]) for part in text.split(","))
    assert denoised_psnr > noisy_psnr + 3


def test_a_picture_noisy_already_gets_denoise_py_s_estimates_auto_and_camera(page, site):
    """The page's estimates are noise.py's, written again in JavaScript: the same numbers on
    a colour picture whose noise neighbours share, as a camera's; the strength is the level
    denoise.py would tell a model (with `camera`, CAMERA_LEVEL_FACTOR times the camera
    estimate), to a tenth of a sigma."""
    page, _ = page
    _, folder = site
    rng = np.random.default_rng(5)
    rows, columns = np.meshgrid(np.linspace(0, 3, 150), np.linspace(0, 4, 130), indexing="ij")
    clean = 0.5 + 0.3 * np.sin(rows)[..., None] * np.cos(columns)[..., None] * [1, 0.8, 0.6]
    white = rng.normal(0, 12 / 255, (151, 131, 3))
    shared = (white[1:, 1:] + white[:-1, 1:] + white[1:, :-1] + white[:-1, :-1]) / 4
    pixels = np.uint8(np.clip(np.round((clean + shared) * 255), 0, 255))
    page.set_input_files("#try-file", files=[{"name": "camera.png", "mimeType": "image/png",
                                              "buffer": png(Image.fromarray(pixels))}])
    page.wait_for_function("window.tryIt.message.startsWith('camera.png: 130x150 pixels, colour')")
    picture = pixels.astype(np.float32) / 255
    estimates = {}
    for kind in ("auto", "camera"):
        page.check("#try-as-is")
        page.select_option("#try-estimate", kind)
        estimates[kind] = page.evaluate("window.tryIt.estimate")
        estimates[kind]["strength"] = float(page.input_value("#try-strength"))
    auto, camera = noise.estimate_noise_level(picture), noise.estimate_camera_noise_level(picture)
    assert camera > 1.5 * auto  # shared noise: the blocks say more than the finest details
    assert estimates["auto"]["sigma"] == pytest.approx(255 * auto, rel=1e-4)
    assert estimates["camera"]["sigma"] == pytest.approx(255 * camera, rel=1e-4)
    model = denoiser.load_model(str(folder / "demo" / "models" / "unet-level-cbsd432.onnx"))
    for kind in ("auto", "camera"):
        told = denoiser.level_to_tell(model, picture, kind)
        assert estimates[kind]["strength"] == pytest.approx(255 * told, abs=0.05), kind


def show_a_result(page):
    """Open a small colour picture, add noise, denoise it: the page shows a result and scores."""
    rows, columns = np.meshgrid(np.linspace(0, 1, 40), np.linspace(0, 1, 48), indexing="ij")
    picture = np.stack([rows, columns, (rows + columns) / 2], axis=-1)
    page.set_input_files("#try-file", files=[{"name": "good.png", "mimeType": "image/png",
                                              "buffer": png(Image.fromarray(np.uint8(picture * 255)))}])
    page.wait_for_function("window.tryIt.message.startsWith('good.png:')")
    denoise_on_the_page(page, **{"try-as-is": False, "try-sigma": "25",
                                 "try-model": "unet-psnr-train400-blind"})
    assert "denoised:" in page.inner_text("#try-psnr")


def png(picture):
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def shown(page):
    """What the page shows of a picture: its pictures' sizes, the scores, and the state."""
    return page.evaluate("""() => ({
        sizes: ["try-clean", "try-noisy", "try-denoised", "try-compare"].map((id) =>
            [document.getElementById(id).width, document.getElementById(id).height]),
        scores: document.getElementById("try-psnr").textContent,
        noisy: window.tryIt.noisy !== null, denoised: window.tryIt.denoised !== null})""")


REFUSED = [  # name, content, complaint
    # 1-bit, 48 kB, and 400 million pixels: the page reads its size from the header, and
    # refuses it at once; decoded, it took 9 s and froze the page for 5
    ("huge.png", lambda: png(Image.new("1", (20000, 20000))),
     "20000x20000 pixels is too large for this page"),
    ("large.png", lambda: png(Image.new("L", (1100, 1000), 128)),
     "1100x1000 pixels is too large for this page"),
    ("small.png", lambda: png(Image.new("L", (12, 40), 128)),
     "12x40 pixels is too small (at least 16x16)"),
    ("clear.png", lambda: png(Image.new("RGBA", (32, 32), (0, 0, 0, 0))), "has transparent pixels"),
    ("broken.png", lambda: b"\x89PNG\r\n\x1a\n and then not a picture", "cannot be opened"),
]


@pytest.mark.parametrize("name, content, complaint", REFUSED, ids=[name for name, *_ in REFUSED])
def test_a_picture_the_page_cannot_take_is_refused_with_a_message_and_clears_the_last_one(
        page, name, content, complaint):
    page, _ = page
    show_a_result(page)
    page.set_input_files("#try-file", files=[{"name": name, "mimeType": "image/png",
                                              "buffer": content()}])
    page.wait_for_function(f"window.tryIt.message.startsWith('{name}:')", timeout=5_000)
    assert complaint in page.evaluate("window.tryIt.message")
    assert shown(page) == {"sizes": [[0, 0]] * 4, "scores": "", "noisy": False, "denoised": False}


def test_a_model_that_fails_says_so_and_clears_the_last_result(page):
    page, _ = page
    show_a_result(page)
    page.context.route("**/models/unet-mnist-blind.onnx",
                       lambda route: route.fulfill(body=b"not a model"))
    runs = page.evaluate("window.tryIt.runs")
    page.select_option("#try-model", "unet-mnist-blind")
    page.click("#try-denoise")
    page.wait_for_function(f"window.tryIt.runs > {runs}", timeout=60_000)
    page.context.unroute("**/models/unet-mnist-blind.onnx")
    assert page.evaluate("window.tryIt.message").startswith("the model failed:")
    after = shown(page)
    assert after["sizes"][2:] == [[0, 0], [0, 0]] and not after["denoised"]  # no result, no compare
    assert after["noisy"] and after["scores"].startswith("noisy:") and "denoised" not in after["scores"]


def test_the_model_runs_in_a_worker_and_the_page_keeps_answering(page):
    """A model's run is one long call: on the page's thread, it froze the tab till the end
    (5 s for 481x321 colour pixels, 34 s for 1000x1000). In the worker, the page's timers
    keep firing, and the button counts the seconds."""
    page, _ = page
    assert any(worker.url.endswith("/demo/try-it-worker.js") for worker in page.workers)
    rng = np.random.default_rng(4)
    picture = Image.fromarray(rng.integers(0, 256, (320, 480, 3), dtype=np.uint8))
    page.set_input_files("#try-file", files=[{"name": "colour.png", "mimeType": "image/png",
                                              "buffer": png(picture)}])
    page.wait_for_function("window.tryIt.message.startsWith('colour.png: 480x320 pixels, colour')")
    page.select_option("#try-model", "unet-psnr-train400-blind")  # grey: three runs, a while
    runs = page.evaluate("window.tryIt.runs")
    page.evaluate("""() => {  // a timer every 10 ms notes how long each wait between ticks was
        window.gaps = [];
        let last = performance.now();
        window.ticker = setInterval(() => {
            const now = performance.now();
            window.gaps.push(now - last);
            last = now;
        }, 10);
    }""")
    page.click("#try-denoise")
    assert page.inner_text("#try-denoise").startswith("Denoising…")  # the page answers at once
    page.wait_for_function(f"window.tryIt.runs > {runs}", timeout=120_000)
    gaps = page.evaluate("clearInterval(window.ticker), window.gaps")
    message = page.evaluate("window.tryIt.message")
    assert message.startswith("denoised with")
    seconds = float(message.split(" in ")[1].removesuffix(" s"))
    # on the page's thread, the longest wait was the whole run; now at most what drawing
    # and scoring the result takes
    assert max(gaps) < seconds * 1000 / 4, (max(gaps), seconds)
    assert page.inner_text("#try-denoise") == "Denoise"
