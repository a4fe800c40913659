"""Calibration by short training: the CLI on an image folder, resume, workers, tensors, a synthetic must-win case."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.proxies import PROXIES
from zcpt.study import calibration_run, trained_accuracy
from zcpt.study.calibration import CalibrationConfig
from zcpt.study.calibration_run import calibrate_proxies
from zcpt.training.brief import BriefTraining

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_NET = {"channels": 4, "cells_per_stage": 1}
TINY_BUDGET = BriefTraining(steps=3, batch_size=8, val_images=9, train_images=24)
TINY_FLAGS = ["--space", "nb201", "--channels", "4", "--cells", "1", "--proxies", "nwot", "synflow", "params",
              "--k", "6", "--steps", "3", "--train-batch-size", "8", "--val-images", "9", "--train-images", "24",
              "--batch-size", "8", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3 classes x 12 images of 8 x 8 pixels, class c brighter in channel c: networks learn
    something in 3 steps, and differently, so the accuracies differ."""
    from PIL import Image

    root = tmp_path_factory.mktemp("learnable")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / "train" / f"class{c}").mkdir(parents=True)
        for k in range(12):
            image = rng.integers(0, 128, (8, 8, 3)).astype(np.uint8)
            image[..., c] += 120
            Image.fromarray(image).save(root / "train" / f"class{c}" / f"{k}.png")
    return root


def cli(folder: Path, out: Path, *extra: str) -> int:
    return main(["calibrate", "--dataset", "imagefolder", "--data", str(folder), *TINY_FLAGS, "--out", str(out),
                 *extra])


def comparable(out: Path) -> dict:
    """What a calibration computed: scores, report and each network's record without its time."""
    networks = {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "seconds"}
                for p in sorted((out / "networks").glob("*.json"))}
    return {"scores": (out / "scores.json").read_text(), "report": (out / "calibration.json").read_text(),
            "networks": networks}


def test_cli_calibrates_on_an_image_folder(make_image_folder, tmp_path, capsys):
    folder = make_image_folder(3, 12, 8)
    assert cli(folder, tmp_path / "run") == 0
    printed = capsys.readouterr().out
    assert "3 training steps per network" in printed and "| nwot | 3 |" in printed and "calibrated: " in printed
    report = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert report["settings"]["training"]["steps"] == 3 and report["settings"]["fingerprint"]
    assert len(report["held_out"]) == 3 and len(list((tmp_path / "run" / "networks").glob("*.json"))) == 6
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())
    assert all(0 <= a["accuracy"] <= 100 and set(a["scores"]) == {"nwot", "synflow", "params"} for a in scores["archs"])
    assert PROXIES.entry(f"calibrated:{tmp_path / 'run' / 'calibration.json'}").spec.ensemble is not None
    assert cli(folder, tmp_path / "run") == 2  # an existing calibration needs --resume
    assert "already holds a calibration; use --resume" in capsys.readouterr().err


def test_workers_give_the_numbers_of_one_process(folder, tmp_path):
    assert cli(folder, tmp_path / "one") == 0
    assert cli(folder, tmp_path / "two", "--workers", "2") == 0
    one = comparable(tmp_path / "one")
    assert one == comparable(tmp_path / "two")
    assert len({record["accuracy"] for record in one["networks"].values()}) > 1  # not a trivial equality


def test_a_resumed_calibration_equals_an_uninterrupted_one(folder, tmp_path, monkeypatch):
    assert cli(folder, tmp_path / "whole") == 0
    real, calls = trained_accuracy.train_task, []

    def interrupted(task, data, tick=None):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(task.position)
        return real(task, data, tick)

    monkeypatch.setattr(trained_accuracy, "train_task", interrupted)
    assert cli(folder, tmp_path / "cut") == 130  # interrupted (Ctrl-C) after 4 networks
    assert len(list((tmp_path / "cut" / "networks").glob("*.json"))) == 4
    assert not (tmp_path / "cut" / "calibration.json").exists()
    calls.clear()
    monkeypatch.setattr(trained_accuracy, "train_task",
                        lambda task, data, tick=None: calls.append(task.position) or real(task, data, tick))
    assert cli(folder, tmp_path / "cut", "--resume") == 0
    assert sorted(calls) == [4, 5]  # a finished network is never trained again
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")
    assert cli(folder, tmp_path / "cut", "--resume", "--steps", "4") == 2  # another budget is another calibration


def test_tensors_from_python(tmp_path):
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((40, 3, 8, 8), dtype=np.float32))
    labels = torch.arange(40) % 2
    config = CalibrationConfig(space="nb201", proxies=("nwot", "params"), k=6, bootstrap=10, batch_size=8,
                               network_options=dict(TINY_NET), training=TINY_BUDGET)
    report = calibrate_proxies(config, tmp_path / "run", data=(images, labels), progress=False)
    assert report["settings"]["dataset"] == "custom" and report["settings"]["training"]["steps"] == 3
    assert len(report["heldout_rows"]) == 4 and (tmp_path / "run" / "calibration.json").is_file()
    dataset = torch.utils.data.TensorDataset(images, labels)
    again = calibrate_proxies(config, tmp_path / "dataset", data=dataset, progress=False)
    assert again == report  # the same images as a torch Dataset: the same calibration
    with pytest.raises(ZcptError, match="too few to hold out"):
        calibrate_proxies(CalibrationConfig(**{**config.__dict__, "training": BriefTraining(val_images=40)}),
                          tmp_path / "x", data=(images, labels), progress=False)


def test_fitted_weights_must_beat_each_proxy_through_the_whole_run(folder, tmp_path, monkeypatch):
    """Truth a + b; one proxy sees a, the other b, each with its own noise: only a mix ranks well."""
    rng = np.random.default_rng(7)
    a, b = rng.random(120), rng.random(120)
    table = {"nwot": a + 0.15 * rng.standard_normal(120), "synflow": b + 0.15 * rng.standard_normal(120)}

    def train(task, data, tick=None):
        return {"position": task.position, "arch": task.arch, "accuracy": float(a[task.position] + b[task.position])}

    monkeypatch.setattr(trained_accuracy, "train_task", train)
    monkeypatch.setattr(calibration_run, "network_scorer",
                        lambda *args: (lambda genotype, index, proxy: float(table[proxy][index])))
    config = CalibrationConfig(space="nb201", proxies=("nwot", "synflow"), k=120, seed=1, bootstrap=50,
                               batch_size=8, network_options=dict(TINY_NET), training=TINY_BUDGET)
    report = calibrate_proxies(config, tmp_path / "run", data=folder_data(folder), progress=False)
    rows = {r["proxy"]: r for r in report["heldout_rows"]}
    calibrated = next(r for name, r in rows.items() if name.startswith("calibrated: "))
    assert len(report["held_out"]) == 60 and set(report["held_out"]).isdisjoint(report["fitted_on"])
    for proxy in ("nwot", "synflow"):
        assert calibrated["kendall"][0] > rows[proxy]["kendall"][0] + 0.15, rows


def folder_data(folder: Path):
    from zcpt.data import load_dataset

    return load_dataset("imagefolder", path=folder)


def test_brief_training_refuses_bad_budgets():
    for bad, pattern in [(dict(steps=0), "steps"), (dict(lr=float("nan")), "lr"), (dict(momentum=-1), "momentum"),
                         (dict(train_images=1), "training images"), (dict(threads=0), "threads")]:
        with pytest.raises(ZcptError, match=pattern) as info:
            BriefTraining(**bad)
        assert "\n" not in str(info.value)


def test_validation_split_holds_out_balanced_training_images(folder):
    ds = folder_data(folder)
    split = ds.validation_split(9, 15, seed=3)
    assert split.num_train == 15 and split.num_test == 9 and split.classes == ds.classes
    assert np.bincount(split.test_labels).tolist() == [3, 3, 3]
    rows = {image.tobytes() for image in ds.train_images}
    held, kept = ({image.tobytes() for image in images} for images in (split.test_images, split.train_images))
    assert held <= rows and kept <= rows and held.isdisjoint(kept)
    again = ds.validation_split(9, 15, seed=3)
    assert np.array_equal(again.train_images, split.train_images)
    assert np.array_equal(again.test_labels, split.test_labels)
    assert ds.validation_split(9, seed=3).num_train == 36 - 9


GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide" / "calibration.md"
TINY_TABLE = ["--k", "6", "--proxies", "nwot", "params", "--channels", "4", "--cells", "2", "--batch-size", "8",
              "--bootstrap", "10"]
TINY_TRAINING = ["--steps", "2", "--train-batch-size", "8", "--val-images", "9", "--train-images", "24",
                 "--workers", "1"]
TINY_SEARCH = ["-N", "1", "-V", "1", "--batch-size", "8", "--channels", "4", "--cells", "1", "--train-images", "24"]


def guide_commands():
    """The ``zcpt ...`` command lines of the guide's bash blocks (continuations joined)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)
    lines = [line.split("#")[0] for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("zcpt ")]


def test_the_guide_runs(folder, tmp_path, monkeypatch):
    """Every command of docs/guide/calibration.md and its Python block, shrunk to tiny settings."""
    import zcpt

    monkeypatch.chdir(tmp_path)  # a search without --out writes runs/ under the working directory
    commands = guide_commands()
    assert {argv[0] for argv in commands} == {"calibrate", "search"} and len(commands) >= 5
    for argv in commands:
        argv = [str(folder) if a == "runs/images" else a.replace("runs/", f"{tmp_path}/") for a in argv]
        trains = "--accuracy" in argv or "imagefolder" in argv or "darts" in argv
        tiny = TINY_SEARCH if argv[0] == "search" else TINY_TABLE + (TINY_TRAINING if trains else [])
        assert main(argv + tiny) == 0, argv
    blocks = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)
    real_config, real_budget = zcpt.CalibrationConfig, zcpt.BriefTraining
    monkeypatch.setattr(zcpt, "CalibrationConfig", lambda **kw: real_config(
        **{**kw, "k": 6, "bootstrap": 10, "batch_size": 8, "network_options": dict(TINY_NET)}))
    monkeypatch.setattr(zcpt, "BriefTraining", lambda **kw: real_budget(
        **{**kw, "steps": 2, "batch_size": 8, "val_images": 9, "train_images": 24}))
    namespace: dict = {}
    exec(compile(blocks[0], str(GUIDE), "exec"), namespace)  # noqa: S102
    assert namespace["report"]["ensemble"].startswith("ensemble:")
    assert (tmp_path / "runs" / "calibration-tensors" / "calibration.json").is_file()


def test_the_help_states_the_budget_defaults():
    """The CLI module names the defaults without importing torch; they must be BriefTraining's."""
    from zcpt.commands.calibrate import TRAINING_FLAGS

    budget = BriefTraining()
    for flag, (field_name, _, default, _) in TRAINING_FLAGS.items():
        expected = getattr(budget, field_name)
        assert default == expected or (expected is None and field_name == "train_images"), flag
