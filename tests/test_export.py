"""zcpt export: files that load without zcpt (checked in a subprocess that cannot import
it), ONNX run by onnxruntime against torch's outputs."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from zcpt.cli import main
from zcpt.export import export_model, read_metadata
from zcpt.search import SearchResult

pytestmark = pytest.mark.usefixtures("one_thread")
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# Runs in a fresh interpreter that cannot import zcpt: the files must load with torch/onnxruntime alone.
LOADER = textwrap.dedent("""
    import json, sys

    class NoZcpt:
        def find_spec(self, name, path=None, target=None):
            if name == "zcpt" or name.startswith("zcpt."):
                raise ImportError("zcpt may not be imported here")

    sys.meta_path.insert(0, NoZcpt())
    import numpy as np
    import onnxruntime
    import torch

    x = torch.from_numpy(np.load("x.npy"))
    out = {}
    with torch.no_grad():
        out["torchscript"] = torch.jit.load("model.ts")(x).numpy().tolist()
        out["pt"] = torch.export.load("model.pt2").module()(x).numpy().tolist()
    session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    out["onnx"] = session.run(["logits"], {"images": x.numpy()})[0].tolist()
    assert not any(m == "zcpt" or m.startswith("zcpt.") for m in sys.modules)
    print(json.dumps(out))
""")


def test_every_format_loads_without_zcpt_and_matches_torch(tmp_path):
    result = SearchResult(space="nb201", genotype=NB201_ARCH, data={"num_classes": 3})
    torch.manual_seed(0)
    model = result.build_model(channels=4, cells_per_stage=1).eval()
    meta = {"space": "nb201", "genotype": NB201_ARCH, "classes": ["a", "b", "c"]}
    for fmt, name in (("torchscript", "model.ts"), ("pt", "model.pt2"), ("onnx", "model.onnx")):
        check = export_model(model, fmt, tmp_path / name, (3, 32, 32), meta)
        assert check["max_abs_diff"] < 1e-4
        saved = read_metadata(tmp_path / name)
        assert saved["classes"] == ["a", "b", "c"] and saved["input_shape"] == [3, 32, 32]
    x = torch.randn(5, 3, 32, 32)  # a batch size the export never saw
    np.save(tmp_path / "x.npy", x.numpy())
    (tmp_path / "load.py").write_text(LOADER)
    done = subprocess.run([sys.executable, "-I", "load.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = json.loads(done.stdout.strip().splitlines()[-1])
    with torch.no_grad():
        expected = model(x).numpy()
    for fmt, got in outputs.items():
        np.testing.assert_allclose(np.array(got), expected, atol=1e-4, err_msg=fmt)


def test_export_command_from_a_search_result(tmp_path, capsys):
    run = tmp_path / "run"
    SearchResult(space="macro", genotype="22212220",
                 data={"dataset": "imagefolder", "num_classes": 4, "classes": ["w", "x", "y", "z"],
                       "image_size": [32, 32], "mean": [0.5] * 3, "std": [0.25] * 3}).save(run)
    assert main(["export", str(run), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "freshly initialised (untrained), 4 classes, input 3x32x32" in out
    loaded = torch.jit.load(str(run / "model.ts"))
    assert loaded(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    meta = read_metadata(run / "model.ts")
    assert meta["classes"] == ["w", "x", "y", "z"] and meta["mean"] == [0.5] * 3 and meta["trained"] is False
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.ts")]) == 2
    assert capsys.readouterr().err.startswith("zcpt: error: no such search result file")


def test_a_trained_checkpoint_exports_its_weights(tmp_path, capsys):
    from zcpt.models import load_trained

    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('sep_conv_3x3', 2), "
                "('skip_connect', 0), ('dil_conv_3x3', 3), ('sep_conv_3x3', 1), ('avg_pool_3x3', 4)], "
                "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('max_pool_3x3', 0), ('skip_connect', 2), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('skip_connect', 3)], reduce_concat=[2, 3, 4, 5])")
    from PIL import Image

    folder = tmp_path / "pets"  # an image folder with a test split: train/<class>/*, test/<class>/*
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog", "owl"):
            (folder / split / cls).mkdir(parents=True)
            for k in range(count):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / split / cls / f"{k}.png")
    run = tmp_path / "search"
    SearchResult(space="darts", genotype=genotype).save(run)
    out = tmp_path / "train"
    assert main(["train", "--from", str(run), "--dataset", "imagefolder", "--data", str(folder), "--out", str(out),
                 "--layers", "2", "--channels", "4", "--epochs", "1", "--batch-size", "8", "--max-steps", "1",
                 "--cutout", "0"]) == 0
    capsys.readouterr()
    model, meta = load_trained(out / "checkpoint.pt")
    assert meta["trained"] is True and meta["num_classes"] == 3 and meta["classes"] == ["cat", "dog", "owl"]
    weights = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert torch.equal(model.state_dict()["classifier.weight"], weights["classifier.weight"])
    assert main(["export", str(out), "--format", "torchscript"]) == 0
    assert "trained, 3 classes, input 3x32x32" in capsys.readouterr().out
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(torch.jit.load(str(out / "model.ts"))(x).numpy(), model(x).numpy(), atol=1e-5)

    # zcpt predict: the top classes of image files (any size and mode; resized, normalised as trained)
    rgb, grey = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(rgb)
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8), "L").save(grey)
    assert main(["predict", str(out), str(rgb), str(grey), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(rgb), str(grey)]
    assert all(len(line.split(": ", 1)[1].split(", ")) == 2 for line in lines)
    assert all(line.split(": ", 1)[1].split(" ")[0] in meta["classes"] for line in lines)
    assert main(["predict", str(out), str(tmp_path / "missing.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_onnx_without_its_extra_names_the_extra(tmp_path, monkeypatch, capsys):
    """onnx is the optional [export] extra: without it, one line saying how to get it, and no file."""
    run = tmp_path / "run"
    SearchResult(space="macro", genotype="22212220").save(run)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "ONNX export needs onnx: pip install 'zcpt[export]'" in err and "\n" not in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("score", [float("nan"), float("inf"), [1.0, float("-inf")]])
def test_a_result_with_a_non_finite_score_is_refused(tmp_path, capsys, score):
    run = tmp_path / "run"
    SearchResult(space="macro", genotype="22212220", candidates=[{"genotype": "22212220", "score": score}]).save(run)
    assert main(["export", str(run), "--out", str(tmp_path / "m.ts")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "candidate 0 has the non-finite score" in err[0] and not (tmp_path / "m.ts").exists()
    SearchResult(space="macro", genotype="22212220", candidates=[{"genotype": "22212220", "score": score}],
                 config={"nonfinite": "skip"}).save(run)  # a search that skipped it records it
    assert main(["export", str(run), "--out", str(tmp_path / "m.ts")]) == 0
