"""Photo sets by name: found here, or downloaded from a mirror the test serves on 127.0.0.1,
checked against their sha256, and never left half-written."""

import contextlib
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import data
from conftest import REPOSITORY, run_script

# The number of files of each real set, as the literature knows them.
SET_SIZES = {"bsd68": 68, "set12": 12, "train400": 400, "cbsd68": 68, "cbsd432": 432,
             "kodak24": 24, "mcmaster": 18, "faces": 2500, "polyu100": 200}


class Mirror(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 serving a folder; it counts requests, and can be told
    to stop halfway through every file (`cut_short`), to wait before it answers
    (`delay`, seconds), to send a byte at a time, slowly (`trickle`), or to send a file
    1,000 times over (`flood`), as hostile or broken mirrors do."""

    def __init__(self, folder):
        self.folder, self.requests, self.cut_short = Path(folder), 0, False
        self.delay, self.trickle, self.flood = 0, False, False
        super().__init__(("127.0.0.1", 0), MirrorHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests += 1
        path = self.server.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        time.sleep(self.server.delay)
        content = path.read_bytes()
        if self.server.flood:
            content *= 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.server.trickle:  # a byte every 20 ms, until the client hangs up
            with contextlib.suppress(ConnectionError):
                for byte in content:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.02)
            return
        self.wfile.write(content[: len(content) // 2] if self.server.cut_short else content)

    def log_message(self, *arguments):  # quiet
        pass


def png_bytes(pixels, kind="PNG"):
    output = io.BytesIO()
    Image.fromarray(pixels).save(output, kind)
    return output.getvalue()


@pytest.fixture
def tiny_sets(tmp_path, monkeypatch):
    """Three tiny photo sets on a mirror: 'tiny' (PNGs kept as they are), 'tifs' (TIFF ->
    PNG) and 'chips' (200x200 JPEG faces -> 128x128 PNG); the cache in tmp_path/keras."""
    rng = np.random.default_rng(0)
    upstream = {
        "tiny": {f"{index}.png": png_bytes(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
                 for index in range(3)},
        "tifs": {"1.tif": png_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "TIFF")},
        "chips": {"30_1_0_2017.jpg.chip.jpg": png_bytes(
            rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), "JPEG")},
    }
    mirror_folder, lines = tmp_path / "mirror", []
    for name, files in upstream.items():
        folder = mirror_folder / "owner" / "repo" / "abc123" / "sets" / name
        folder.mkdir(parents=True)
        for file_name, content in files.items():
            (folder / file_name).write_bytes(content)
            lines.append(f"{hashlib.sha256(content).hexdigest()} {len(content)} "
                         f"{name.title()}/{file_name}")
    checksums = tmp_path / "photo_sets.sha256"
    checksums.write_text("# test sets\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(data, "PHOTO_SET_CHECKSUMS", str(checksums))
    for name, convert in (("tiny", ""), ("tifs", "tif-to-png"), ("chips", "face-128")):
        monkeypatch.setitem(data.PHOTO_SETS, name, data.PhotoSet(
            name.title(), "a test set", "owner/repo", "abc123", f"sets/{name}/", "test only",
            convert))
    mirror = Mirror(mirror_folder)
    threading.Thread(target=mirror.serve_forever, daemon=True).start()
    monkeypatch.setenv(data.MIRROR_VARIABLE, mirror.url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(data.DATA_DIR_VARIABLE, raising=False)
    yield mirror, upstream
    mirror.shutdown()
    mirror.server_close()


def cache_entries(tmp_path):
    folder = tmp_path / "keras" / "datasets"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_a_set_is_downloaded_once_into_the_cache_and_loads(tiny_sets, tmp_path):
    mirror, upstream = tiny_sets
    images = data.load_folder("tiny", channels=3)
    assert len(images) == 3 and images[0].shape == (20, 24, 3)
    assert mirror.requests == 3
    folder = tmp_path / "keras" / "datasets" / "Tiny"
    assert sorted(os.listdir(folder)) == ["0.png", "1.png", "2.png"]
    assert (folder / "1.png").read_bytes() == upstream["tiny"]["1.png"]  # kept as it came
    assert cache_entries(tmp_path) == ["Tiny"]  # no temporary folder left
    assert len(data.load_folder("tiny")) == 3 and mirror.requests == 3  # not downloaded again


def test_tiffs_and_face_chips_are_converted_to_png(tiny_sets, tmp_path):
    _, upstream = tiny_sets
    (tif,) = data.load_folder("tifs")
    original = np.asarray(Image.open(io.BytesIO(upstream["tifs"]["1.tif"])), dtype=np.float32)
    np.testing.assert_array_equal(tif * 255, original)  # without loss
    (face,) = data.load_folder("chips")
    assert face.shape == (128, 128, 3)
    assert os.listdir(tmp_path / "keras" / "datasets" / "Chips") == ["30_1_0_2017.png"]


def test_a_file_whose_checksum_differs_is_refused_and_nothing_is_kept(tiny_sets, tmp_path):
    mirror, upstream = tiny_sets
    size = len(upstream["tiny"]["2.png"])  # the right size, the wrong bytes
    (mirror.folder / "owner/repo/abc123/sets/tiny/2.png").write_bytes(b"x" * size)
    with pytest.raises(data.DatasetError) as raised:
        data.load_folder("tiny")
    message = str(raised.value)
    assert "sets/tiny/2.png" in message and "sha256" in message and "\n" not in message
    assert cache_entries(tmp_path) == []


def test_a_server_that_stops_mid_file_leaves_nothing_behind(tiny_sets, tmp_path):
    mirror, _ = tiny_sets
    mirror.cut_short = True
    with pytest.raises(data.DatasetError) as raised:
        data.load_folder("tiny")
    assert "could not download tiny" in str(raised.value)
    assert cache_entries(tmp_path) == []


def test_a_mirror_that_trickles_is_cut_off_by_the_files_deadline(tiny_sets, tmp_path,
                                                                  monkeypatch):
    """The socket's timeout bounds each read; a byte every 20 ms never trips it. The file
    as a whole has a deadline: here 1 s plus its size at 1,000 bytes a second."""
    mirror, _ = tiny_sets
    mirror.trickle = True
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 1)
    monkeypatch.setattr(data, "MIN_BYTES_PER_SECOND", 1000)
    started = time.monotonic()
    with pytest.raises(data.DatasetError) as raised:
        data.load_folder("tiny")
    message = str(raised.value)
    assert time.monotonic() - started < 5
    assert "sets/tiny/0.png came too slowly" in message and "\n" not in message
    assert cache_entries(tmp_path) == []  # nothing of the set is kept


def test_a_mirror_that_sends_too_much_is_stopped_at_the_files_size(tiny_sets, tmp_path):
    mirror, upstream = tiny_sets
    mirror.flood = True
    with pytest.raises(data.DatasetError) as raised:
        data.load_folder("tiny")
    size = len(upstream["tiny"]["0.png"])
    assert f"sends more than the {size:,} bytes it should have" in str(raised.value)
    assert cache_entries(tmp_path) == []


def test_a_cache_it_cannot_write_is_said_so_and_not_blamed_on_the_network(tiny_sets, tmp_path,
                                                                           monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way of the cache folder")
    monkeypatch.setenv("KERAS_HOME", str(blocked))
    with pytest.raises(data.DatasetError) as raised:
        data.load_folder("tiny")
    message = str(raised.value)
    assert message.startswith("could not write tiny into") and "KERAS_HOME" in message
    assert "internet" not in message


def test_two_downloads_of_one_set_at_once_both_end_with_the_set(tiny_sets, tmp_path):
    """The second waits for the first (a lock on the cache folder), then finds the set it
    finished."""
    mirror, _ = tiny_sets
    mirror.delay = 1  # slow enough that the two overlap: 3 s for the set
    command = ("import data; "  # data.py --download tiny, with the test's sets
               f"data.PHOTO_SET_CHECKSUMS = {data.PHOTO_SET_CHECKSUMS!r}; "
               f"data.PHOTO_SETS['tiny'] = data.{data.PHOTO_SETS['tiny']!r}; "
               "data.main(['--download', 'tiny'])")
    started = [subprocess.Popen([sys.executable, "-c", command], cwd=REPOSITORY,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in started]
    assert [process.returncode for process in started] == [0, 0], outputs
    assert sum("waiting for another download into" in error for _, error in outputs) == 1
    assert cache_entries(tmp_path) == ["Tiny"]
    assert mirror.requests == 3  # each file once


def test_a_download_killed_earlier_is_cleaned_up_by_the_next(tiny_sets, tmp_path):
    cache = tmp_path / "keras" / "datasets"
    abandoned = cache / f"Tiny.partial-{2**22 + 12345}"  # no such process
    abandoned.mkdir(parents=True)
    (abandoned / "0.png").write_bytes(b"half")
    data.load_folder("tiny")
    assert cache_entries(tmp_path) == ["Tiny"]


def test_a_copy_in_the_data_dir_comes_first(tiny_sets, tmp_path):
    mirror, _ = tiny_sets
    copy = tmp_path / "data" / "images" / "Tiny"
    copy.mkdir(parents=True)
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(copy / "only.png")
    assert len(data.load_folder("tiny", data_dir=str(tmp_path / "data"))) == 1
    assert mirror.requests == 0 and cache_entries(tmp_path) == []


def test_offline_with_no_copy_is_one_line_naming_the_set_and_both_fixes(tmp_path):
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there now
    result = run_script("train_photos.py", "--dataset", "bsd68", "--channels", 1, "--out",
                        tmp_path / "run", env={data.MIRROR_VARIABLE: f"http://127.0.0.1:{port}",
                                               "KERAS_HOME": str(tmp_path / "keras"),
                                               data.DATA_DIR_VARIABLE: ""})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: could not download bsd68")
    assert "--data-dir" in last_line and data.MIRROR_VARIABLE in last_line
    assert cache_entries(tmp_path) == []
    assert os.listdir(tmp_path / "run") == []  # offline may pass: the same command again


def test_every_real_set_lists_each_of_its_files_once():
    for name, count in SET_SIZES.items():
        files = data.photo_set_files(name)
        assert len(files) == len({path for path, _, _ in files}) == count, name
        assert all(len(sha256) == 64 and size > 0 for _, sha256, size in files)


@pytest.mark.skipif(not os.environ.get(data.DATA_DIR_VARIABLE), reason="needs the local copy")
def test_the_checksums_match_the_local_copy_of_the_sets_kept_as_they_come():
    for name, photo_set in {**data.PHOTO_SETS, **data.REAL_PAIRS}.items():
        folder = data.find_photo_set(name)
        if photo_set.convert or folder is None:
            continue  # converted sets hold PNGs; their list has the upstream files' sums
        for path, sha256, _ in data.photo_set_files(name):
            content = (Path(folder) / os.path.basename(path)).read_bytes()
            assert hashlib.sha256(content).hexdigest() == sha256, path


def test_data_py_lists_the_sets_with_source_and_licence():
    result = run_script("data.py", "--list")
    assert result.returncode == 0, result.stderr
    for name in SET_SIZES:
        assert f"{name}:" in result.stdout
    assert "UTKFace: non-commercial research use only" in result.stdout
    assert "PolyU: non-commercial use only" in result.stdout
    assert "cszn/DnCNN" in result.stdout and "licence:" in result.stdout
    assert (REPOSITORY / "photo_sets.sha256").is_file()
