"""``zcpt train``: the DARTS evaluation recipe, its outputs, checkpoints and resume."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zcpt.cli import main
from zcpt.data import ImageDataset, load_dataset
from zcpt.errors import DataError, ZcptError
from zcpt.spaces.darts_genotype import DARTS_V1, DARTS_V2, format_genotype
from zcpt.search.result import SearchResult
from zcpt.training import CHECKPOINT_FILE, LOG_FILE, RESULT_FILE, TrainConfig, train
from zcpt.training.trainer import _loss_and_logits

V2 = format_genotype(DARTS_V2)
TINY = dict(layers=3, channels=4, batch_size=16, epochs=2, max_steps=2, seed=3)
TINY_FLAGS = ["--layers", "3", "--channels", "4", "--batch-size", "16", "--epochs", "2",
              "--max-steps", "2", "--train-images", "64", "--test-images", "32", "--seed", "3"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny networks run faster single-threaded on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cifar() -> ImageDataset:
    try:
        ds = load_dataset("cifar10")
    except DataError as exc:
        pytest.skip(f"bundled CIFAR-10 not available: {exc}")
    return ds.subset(64, 32, seed=0)


def _fake_dataset(num_classes: int, n: int = 32) -> ImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % num_classes
    return ImageDataset("fake", [f"c{i}" for i in range(num_classes)], (0.5,) * 3, (0.25,) * 3,
                        images, labels, images[:16], labels[:16])


def _checkpoint(path):
    return torch.load(path / CHECKPOINT_FILE, map_location="cpu", weights_only=True)


def _strip_seconds(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


# -- the recipe ------------------------------------------------------------------------------------
def test_standard_and_mobile_settings():
    std = TrainConfig.from_setting("standard")
    assert (std.layers, std.channels, std.auxiliary_weight, std.cutout, std.drop_path) == (20, 36, 0.4, 16, 0.2)
    assert (std.lr, std.momentum, std.weight_decay, std.grad_clip, std.batch_size, std.epochs) == (
        0.025, 0.9, 3e-4, 5.0, 96, 600)
    mobile = TrainConfig.from_setting("mobile", dataset="cifar100")
    assert (mobile.layers, mobile.channels, mobile.dataset) == (8, 16, "cifar100")
    assert mobile.to_dict() | {"layers": 20, "channels": 36, "setting": "standard", "dataset": "cifar10"} == std.to_dict()
    assert TrainConfig.from_setting("mobile", layers=3, epochs=None).layers == 3  # flags override, None keeps
    with pytest.raises(ZcptError, match="unknown training setting 'tiny'"):
        TrainConfig.from_setting("tiny")
    with pytest.raises(ZcptError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ZcptError, match="drop_path"):
        TrainConfig(drop_path=1.0)


def test_loss_adds_the_weighted_auxiliary_term():
    torch.manual_seed(0)
    logits, aux, y = torch.randn(5, 10), torch.randn(5, 10), torch.randint(0, 10, (5,))
    loss, out = _loss_and_logits((logits, aux), y, 0.4)
    assert out is logits
    assert torch.allclose(loss, F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y))
    assert torch.allclose(_loss_and_logits(logits, y, 0.4)[0], F.cross_entropy(logits, y))


# -- a run, its files, and resume ----------------------------------------------------------------------
def test_resume_reproduces_an_uninterrupted_run(cifar, tmp_path):
    # 4 epochs, interrupted after 2: drop path is 0 in epoch 1, so only from epoch 2 on
    # does the torch RNG move (its saved state must be restored), and the scheduler
    # must be restored for the lr of epoch 4.
    config = TrainConfig(**dict(TINY, epochs=4))
    whole = train(V2, "darts", config, tmp_path / "whole", data=cifar, device=torch.device("cpu"))

    part = train(V2, "darts", config, tmp_path / "part", data=cifar, stop_after=2)
    assert part["finished"] is False and part["epochs"] == 2
    assert not (tmp_path / "part" / RESULT_FILE).exists()
    assert len((tmp_path / "part" / LOG_FILE).read_text().splitlines()) == 2
    lines = []
    resumed = train(V2, "darts", config, tmp_path / "part", data=cifar, resume=True, log=lines.append)
    assert any("resuming" in line for line in lines)

    a, b = _checkpoint(tmp_path / "whole"), _checkpoint(tmp_path / "part")
    assert a["epoch"] == b["epoch"] == 4
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert _strip_seconds(a["history"]) == _strip_seconds(b["history"])
    for key in ("test_error", "test_acc", "epochs", "params_M", "genotype"):
        assert whole[key] == resumed[key]
    # Cosine schedule over 4 epochs, stepped per epoch; drop path ramps up linearly.
    cosine = [0.025 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert [r["lr"] for r in a["history"]] == pytest.approx(cosine)
    assert [r["drop_path_prob"] for r in a["history"]] == pytest.approx([0.0, 0.05, 0.1, 0.15])

    # The result file and log of a finished run.
    result = json.loads((tmp_path / "whole" / RESULT_FILE).read_text())
    assert {"genotype", "test_error", "test_acc", "epochs", "params_M", "config", "seconds"} <= result.keys()
    assert result["genotype"] == V2 and result["epochs"] == 4 and result["finished"] is True
    assert result["test_error"] == pytest.approx(100.0 - result["test_acc"])
    assert result["config"] == config.to_dict()
    aux_free = sum(v.numel() for k, v in a["model"].items()
                   if not k.startswith("auxiliary_head.") and "running" not in k and "num_batches" not in k)
    assert result["params_M"] == pytest.approx(aux_free / 1e6)
    log = [json.loads(line) for line in (tmp_path / "whole" / LOG_FILE).read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert all(math.isfinite(r["train_loss"]) and 0 <= r["test_acc"] <= 100 for r in log)


def test_a_different_seed_gives_different_weights(cifar, tmp_path, capsys):
    one = dict(TINY, epochs=1, max_steps=1)
    train(V2, "darts", TrainConfig(**one), tmp_path / "s3", data=cifar, progress=True)
    assert "epoch 1/1 step 1/1 loss" in capsys.readouterr().err
    train(V2, "darts", TrainConfig(**dict(one, seed=4)), tmp_path / "s4", data=cifar)
    a, b = _checkpoint(tmp_path / "s3")["model"], _checkpoint(tmp_path / "s4")["model"]
    assert not torch.equal(a["classifier.weight"], b["classifier.weight"])


def test_resume_refuses_a_different_run(cifar, tmp_path):
    config = TrainConfig(**dict(TINY, max_steps=1))
    out = tmp_path / "run"
    train(V2, "darts", config, out, data=cifar, stop_after=1)
    with pytest.raises(ZcptError, match=r"differs from the checkpoint.*layers: 2 != 3"):
        train(V2, "darts", TrainConfig(**dict(TINY, max_steps=1, layers=2)), out, data=cifar, resume=True)
    with pytest.raises(ZcptError, match="genotype differs"):
        train(format_genotype(DARTS_V1), "darts", config, out, data=cifar, resume=True)
    with pytest.raises(ZcptError, match="already holds a training checkpoint"):
        train(V2, "darts", config, out, data=cifar)
    with pytest.raises(ZcptError, match="nothing to resume"):
        train(V2, "darts", config, tmp_path / "empty", data=cifar, resume=True)
    (out / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ZcptError, match="cannot read checkpoint"):
        train(V2, "darts", config, out, data=cifar, resume=True)


def test_num_classes_follow_the_dataset_and_aux_weight_zero_drops_the_head(tmp_path):
    config = TrainConfig(**dict(TINY, epochs=1, max_steps=1, auxiliary_weight=0.0, batch_size=8))
    train(V2, "darts", config, tmp_path, data=_fake_dataset(3))
    model = _checkpoint(tmp_path)["model"]
    assert model["classifier.weight"].shape[0] == 3
    assert not any(k.startswith("auxiliary_head.") for k in model)


def test_training_learns(tmp_path):
    """Real learning: dark vs bright noise images are told apart after a few steps
    (an untrained or frozen network scores 50%), and the train loss falls."""
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = (rng.integers(0, 128, size=(32, 32, 32, 3)) + 128 * labels[:, None, None, None]).astype(np.uint8)
    ds = ImageDataset("fake", ["dark", "bright"], (0.5,) * 3, (0.25,) * 3, images, labels, images, labels)
    config = TrainConfig(layers=2, channels=4, batch_size=16, epochs=3, lr=0.05, cutout=0, drop_path=0.0,
                         auxiliary_weight=0.0, seed=0)
    result = train(V2, "darts", config, tmp_path, data=ds)
    history = _checkpoint(tmp_path)["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert result["test_acc"] == 100.0


def test_bad_inputs(cifar, tmp_path):
    config = TrainConfig(**TINY)
    with pytest.raises(ZcptError, match="space 'macro' is none of them"):
        train("01201201", "macro", config, tmp_path, data=cifar)
    with pytest.raises(ZcptError, match="malformed DARTS genotype"):
        train("Genotype(normal=[", "darts", config, tmp_path, data=cifar)
    with pytest.raises(ZcptError, match="stop_after"):
        train(V2, "darts", config, tmp_path, data=cifar, stop_after=0)


# -- the command ---------------------------------------------------------------------------------------
def read_result_genotype(path):
    result = SearchResult.load(path)
    return result.space, result.genotype


def test_read_result_genotype(tmp_path):
    (tmp_path / "result.json").write_text(json.dumps({"space": "darts-s2", "genotype": V2}))
    assert read_result_genotype(tmp_path) == ("darts-s2", V2)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ZcptError, match="cannot read search result"):
        read_result_genotype(tmp_path / "bad.json")
    (tmp_path / "nog.json").write_text(json.dumps({"space": "darts"}))
    with pytest.raises(ZcptError, match="no 'genotype'"):
        read_result_genotype(tmp_path / "nog.json")
    with pytest.raises(ZcptError, match="no such search result"):
        read_result_genotype(tmp_path / "missing.json")


def test_cli_train_stop_and_resume(tmp_path, capsys):
    search = tmp_path / "search"
    search.mkdir()
    (search / "result.json").write_text(json.dumps({"space": "darts", "genotype": V2, "proxy": "nwot"}))
    out = tmp_path / "train"
    assert main(["train", "--from", str(search / "result.json"), "--out", str(out), *TINY_FLAGS,
                 "--stop-after", "1"]) == 0
    text = capsys.readouterr().out
    assert "epoch 1/2" in text and "continue with --resume" in text
    assert main(["train", "--from", str(search), "--out", str(out), *TINY_FLAGS, "--resume", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "epoch" not in text.replace("2 epochs", "") and "final test error" in text
    result = json.loads((out / RESULT_FILE).read_text())
    assert result["epochs"] == 2 and result["config"]["train_images"] == 64
    assert f"{result['test_error']:.2f}%" in text

    # Resuming with another recipe value is refused, as is a second genotype source.
    assert main(["train", "--genotype", V2, "--out", str(out), *TINY_FLAGS, "--lr", "0.1", "--resume"]) == 2
    assert "lr: 0.1 != 0.025" in capsys.readouterr().err
    assert main(["train", "--genotype", V2, "--from", str(search), "--out", str(out)]) == 2
    assert "exactly one of --genotype" in capsys.readouterr().err
    assert main(["train", "--out", str(out)]) == 2
    capsys.readouterr()
    assert main(["train", "--from", str(search), "--space", "darts-s2", "--out", str(out)]) == 2
    assert "conflicts with space 'darts'" in capsys.readouterr().err
    assert main(["train", "--genotype", "Genotype(normal=[('bogus_op', 0)])", "--out", str(out)]) == 2
    assert "malformed DARTS genotype" in capsys.readouterr().err


# -- the ProxylessNAS ImageNet recipe (mobilenet) ----------------------------------------------------
MOBILE = "3100-5133-6333-4333-6655-6"  # ProxylessNAS (mobile)
TINY_WIDTHS = "4,4,4,6,8,10,12,14,16"  # stem, first block, 6 stages, head


def test_imagenet_setting_is_the_proxylessnas_recipe():
    c = TrainConfig.from_setting("imagenet")
    assert (c.epochs, c.batch_size, c.lr, c.momentum, c.nesterov) == (300, 1024, 0.5, 0.9, True)
    assert (c.label_smoothing, c.color_jitter, c.resized_crop, c.test_crop, c.image_size) == (0.1, 0.4, 0.08, 0.875, 224)
    assert (c.weight_decay, c.bn_weight_decay) == (4e-5, False)
    assert (c.cutout, c.auxiliary_weight, c.drop_path, c.grad_clip, c.layers, c.channels) == (0, 0.0, 0.0, 0.0, None, None)
    assert TrainConfig.from_setting("imagenet", lr=0.2, label_smoothing=0.0).lr == 0.2  # every value a flag
    with pytest.raises(ZcptError, match="label_smoothing must be in"):
        TrainConfig.from_setting("imagenet", label_smoothing=1.5)
    with pytest.raises(ZcptError, match="test_crop must be in"):
        TrainConfig(test_crop=0.0)


def test_label_smoothing_and_no_weight_decay_on_batch_norm():
    from zcpt.spaces import get_space
    from zcpt.training.trainer import _optimizer

    torch.manual_seed(0)
    logits, y = torch.randn(6, 5), torch.randint(0, 5, (6,))
    smooth = _loss_and_logits(logits, y, 0.0, label_smoothing=0.1)[0]
    target = torch.full((6, 5), 0.1 / 5).scatter_(1, y[:, None], 0.9 + 0.1 / 5)
    assert torch.allclose(smooth, -(target * F.log_softmax(logits, 1)).sum(1).mean())

    net = get_space("mobilenet").build_network(MOBILE, num_classes=3, widths=TINY_WIDTHS)
    groups = _optimizer(net, TrainConfig.from_setting("imagenet")).param_groups
    bn = {id(p) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert {id(p) for p in groups[1]["params"]} == bn and groups[1]["weight_decay"] == 0.0
    assert groups[0]["weight_decay"] == 4e-5 and not bn & {id(p) for p in groups[0]["params"]}
    assert groups[0]["nesterov"] is True
    assert len(_optimizer(net, TrainConfig(layers=None, channels=None)).param_groups) == 1


def test_cli_trains_mobilenet_with_the_imagenet_recipe(tmp_path, capsys, make_image_folder):
    """A few steps at a chosen image size on a generated image folder; mobilenet's default setting
    is imagenet, and its DARTS-only options are refused."""
    data = make_image_folder(3, 8, 20)
    test = data / "test"
    for c in range(3):
        (test / f"class{c}").mkdir(parents=True)
        for k in range(2):
            (data / "train" / f"class{c}" / f"{k}.png").rename(test / f"class{c}" / f"{k}.png")
    out = tmp_path / "train"
    flags = ["--space", "mobilenet", "--genotype", MOBILE, "--dataset", "imagefolder", "--data", str(data),
             "--image-size", "24", "--widths", TINY_WIDTHS, "--batch-size", "6", "--epochs", "2", "--max-steps", "2"]
    assert main(["train", *flags, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "training on imagefolder (18 train / 6 test images)" in text and "final test error" in text
    result = json.loads((out / RESULT_FILE).read_text())
    assert result["space"] == "mobilenet" and result["config"]["setting"] == "imagenet"
    assert result["config"]["image_size"] == 24 and result["config"]["label_smoothing"] == 0.1
    history = _checkpoint(out)["history"]
    assert [r["lr"] for r in history] == pytest.approx([0.5, 0.25])  # cosine over 2 epochs from lr 0.5
    from zcpt.models import load_trained

    model, _ = load_trained(out)  # rebuilt with the trained widths (the checkpoint records them)
    assert sum(p.numel() for p in model.parameters()) == round(result["params_M"] * 1e6)
    assert all(math.isfinite(r["train_loss"]) for r in history)
    assert main(["train", *flags, "--layers", "3", "--out", str(tmp_path / "bad")]) == 2
    assert "space 'mobilenet' has no layers" in capsys.readouterr().err
    assert main(["train", "--genotype", V2, "--setting", "imagenet", "--out", str(tmp_path / "bad2")]) == 2
    assert "needs layers and channels" in capsys.readouterr().err


def test_cli_trains_an_nb201_cell_with_its_own_recipe(tmp_path, capsys):
    """An NB201 cell (what `zcpt search --space nb201` finds) trains with NAS-Bench-201's recipe by
    default, --layers/--channels size it, and the trained network loads for inference."""
    from zcpt.models import load_trained

    c = TrainConfig.from_setting("nb201")
    assert (c.layers, c.channels, c.epochs, c.batch_size, c.lr, c.nesterov, c.weight_decay) == (
        5, 16, 200, 256, 0.1, True, 5e-4)
    assert (c.auxiliary_weight, c.cutout, c.drop_path, c.grad_clip) == (0.0, 0, 0.0, 0.0)
    cell = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    out = tmp_path / "train"
    flags = ["--space", "nb201", "--genotype", cell, "--layers", "1", "--channels", "4", "--batch-size", "16",
             "--epochs", "2", "--max-steps", "2", "--train-images", "64", "--test-images", "32"]
    assert main(["train", *flags, "--out", str(out)]) == 0
    result = json.loads((out / RESULT_FILE).read_text())
    assert result["config"]["setting"] == "nb201" and result["epochs"] == 2
    model, meta = load_trained(out)
    x = torch.randn(2, 3, 32, 32)
    expected = get_space_network(cell, _checkpoint(out)["model"])(x)
    assert torch.allclose(model(x), expected)
    capsys.readouterr()
    assert main(["train", *flags, "--auxiliary-weight", "0.4", "--out", str(tmp_path / "bad")]) == 2
    assert "an NB201 network has no auxiliary head" in capsys.readouterr().err


def get_space_network(cell, weights):
    """The NB201 network of ``cell`` at the test's size (1 cell per stage, C=4), ``weights`` loaded, eval mode."""
    from zcpt.spaces import get_space

    net = get_space("nb201").build_network(cell, num_classes=10, cells_per_stage=1, channels=4)
    net.load_state_dict(weights)
    return net.eval()
