"""tools/export.py: a model written as ONNX runs in onnxruntime as it runs in Keras, and an
export that differs, or a model that cannot be loaded, is refused without a file."""

import re

import numpy as np
import pytest
from conftest import REPOSITORY

onnxruntime = pytest.importorskip("onnxruntime", reason="pip install -r requirements-export.txt")

import conv_models  # noqa: E402
import denoiser  # noqa: E402
import dense_models  # noqa: E402
import noise  # noqa: E402
from tools import export  # noqa: E402


def saved(builder, input_shape, path):
    """An untrained model of `builder`, saved as a .keras file at `path` (its weights are
    random, which is all an export check needs)."""
    builder(input_shape).save(path)
    return path


def test_a_told_the_level_model_exports_and_onnxruntime_matches_keras_at_another_size(
        tmp_path, capsys):
    model_path = saved(conv_models.build_unet_level, (None, None, 1), tmp_path / "level.keras")
    export.main([str(model_path), "--out", str(tmp_path / "onnx")])
    printed = capsys.readouterr().out
    assert "largest difference from Keras" in printed and "`noise_level` (N, 1)" in printed
    assert "multiples of 8" in printed
    # A size the tool did not check, and two pictures told two levels: the same outputs.
    model = denoiser.load_model(str(model_path))
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "level.onnx"))
    assert [tensor.name for tensor in session.get_inputs()] == ["noisy", "noise_level"]
    pictures = np.random.default_rng(1).random((2, 24, 56, 1), np.float32)
    inputs = noise.model_inputs(pictures, [0.05, 0.2], told_the_level=True)
    (exported,) = session.run(None, inputs)
    assert exported.shape == pictures.shape
    assert np.max(np.abs(exported - np.asarray(model(inputs)))) < export.TOLERANCE
    assert sorted(path.name for path in (tmp_path / "onnx").iterdir()) == ["level.onnx"]


def test_a_model_of_fixed_size_says_its_size(tmp_path, capsys):
    model_path = saved(dense_models.build_deep, (28, 28, 1), tmp_path / "deep.keras")
    export.main([str(model_path), "--out", str(tmp_path)])
    assert "28x28 pixels only" in capsys.readouterr().out
    assert (tmp_path / "deep.onnx").stat().st_size > 0


def test_an_export_that_differs_or_a_model_that_will_not_load_is_refused_without_a_file(
        tmp_path, capsys, monkeypatch):
    good = saved(conv_models.build_unet_psnr, (None, None, 1), tmp_path / "good.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip archive")
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # every difference, even 0, is too large
    with pytest.raises(SystemExit) as raised:
        export.main([str(tmp_path / "broken.keras"), str(good), "--out", str(tmp_path / "onnx")])
    assert raised.value.code == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[0].startswith("error: ") and "broken.keras: not a .keras model file" in errors[0]
    assert "good.keras: the ONNX model's output differs from Keras' by up to" in errors[1]
    assert errors[1].endswith("not written") and len(errors) == 2
    assert list((tmp_path / "onnx").iterdir()) == []  # nothing, not even a partial file


def test_an_onnx_file_already_there_is_kept_without_overwrite(tmp_path, capsys):
    model_path = saved(conv_models.build_unet_psnr, (None, None, 1), tmp_path / "m.keras")
    (tmp_path / "m.onnx").write_text("earlier work")
    with pytest.raises(SystemExit):
        export.main([str(model_path), "--out", str(tmp_path)])
    assert "add --overwrite" in capsys.readouterr().err
    assert (tmp_path / "m.onnx").read_text() == "earlier work"


@pytest.mark.parametrize("model_path", sorted((REPOSITORY / "models").glob("*.keras")),
                         ids=lambda path: path.stem)
def test_every_model_of_models_exports_and_answers_as_in_keras(model_path, tmp_path, capsys):
    """Each ready-trained model, checked by the tool at two sizes (a model told the level
    with its level too): written, and within the tolerance."""
    export.export(str(model_path), str(tmp_path), overwrite=False)
    printed = capsys.readouterr().out
    difference = float(re.search(r"largest difference from Keras (\S+);", printed).group(1))
    assert difference < export.TOLERANCE
    exported = denoiser.load_model(str(tmp_path / f"{model_path.stem}.onnx"))  # an image denoiser
    assert exported.output_shape == denoiser.load_model(str(model_path)).output_shape


def saved_onnx(path, node, declared):
    """An ONNX file of one `node` from `noisy` to `denoised`, which declares the shape
    `declared` for its output, in a form that older onnxruntimes read too."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [node], "one-node",
        [helper.make_tensor_value_info("noisy", onnx.TensorProto.FLOAT, [None, None, None, 1])],
        [helper.make_tensor_value_info("denoised", onnx.TensorProto.FLOAT, declared)],
        initializer=[onnx.numpy_helper.from_array(np.array([0], np.int64), "first")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                ir_version=8), str(path))
    return str(path)


def test_a_wrong_output_shape_that_tf2onnx_declared_is_replaced_by_keras_one(tmp_path):
    """tf2onnx once declared (1, N, H, W, 1) for outputs of (N, H, W, 1); denoise.py then
    refused the model. Here an ONNX file that declares that, given Keras' shape."""
    from onnx import helper

    path = saved_onnx(tmp_path / "declared.onnx",
                      helper.make_node("Identity", ["noisy"], ["denoised"]),
                      [1, None, None, None, 1])
    with pytest.raises(denoiser.PictureError, match="not an image denoiser"):
        denoiser.load_model(path)
    export.match_output_shape(path, (None, None, None, 1), rank=4)
    model = denoiser.load_model(path)
    assert model.output_shape == (None, None, None, 1)
    pictures = np.random.default_rng(0).random((2, 8, 16, 1), np.float32)
    np.testing.assert_array_equal(model.predict(pictures), pictures)  # the graph is unchanged


def test_an_output_with_one_more_axis_in_front_loses_it(tmp_path):
    """tf2onnx's graph now and then gives outputs of (1, N, H, W, 1) for Keras' (N, H, W, 1)
    (it failed CI twice): the axis is taken off, and the pictures come through unchanged."""
    from onnx import helper

    path = saved_onnx(tmp_path / "more.onnx",
                      helper.make_node("Unsqueeze", ["noisy", "first"], ["denoised"]),
                      [1, None, None, None, 1])
    pictures = np.random.default_rng(0).random((2, 8, 16, 1), np.float32)
    assert denoiser.OnnxModel(path).predict(pictures).shape == (1, 2, 8, 16, 1)
    export.match_output_shape(path, (None, None, None, 1), rank=5)
    model = denoiser.load_model(path)
    assert model.output_shape == (None, None, None, 1)
    np.testing.assert_array_equal(model.predict(pictures), pictures)


def test_an_export_whose_outputs_have_another_shape_is_refused_without_a_file(
        tmp_path, monkeypatch):
    model_path = saved(conv_models.build_unet_psnr, (None, None, 1), tmp_path / "m.keras")
    predict = denoiser.OnnxModel.predict
    monkeypatch.setattr(denoiser.OnnxModel, "predict",  # every other row only
                        lambda self, inputs, **options: predict(self, inputs, **options)[:, ::2])
    with pytest.raises(denoiser.PictureError, match=r"outputs are \(1, 32, 64, 1\), "
                                                   r"Keras' \(1, 64, 64, 1\); not written"):
        export.export(str(model_path), str(tmp_path / "onnx"), overwrite=False)
    assert list((tmp_path / "onnx").iterdir()) == []
