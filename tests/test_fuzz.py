"""Property-based tests of what zcpt parses and reads: any input gives a valid object or a
:class:`~zcpt.errors.ZcptError`, never another exception; formatting round-trips.

Bounded (a few dozen examples each, no deadline) so the file runs in well under 30 s.
"""
from __future__ import annotations

import io
import json
import struct
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zcpt.errors import ZcptError
from zcpt.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPACES = ("nb201", "darts", "macro", "mobilenet", "nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3")
_SPACE_CACHE: Dict[str, Any] = {}


def space_of(name: str) -> Any:
    if name not in _SPACE_CACHE:
        _SPACE_CACHE[name] = get_space(name)
    return _SPACE_CACHE[name]


def valid_or_zcpt_error(fn: Callable[..., Any], *args: Any) -> Optional[Any]:
    """``fn(*args)``, or None if it raised a ZcptError (whose message is one line);
    any other exception fails the test."""
    try:
        return fn(*args)
    except ZcptError as exc:
        assert "\n" not in str(exc), str(exc)
        return None


# -- strategies ----------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=10)
HOSTILE = ["9" * 30, "-1", "0", "1e999", "nan", "range(0, 99999999999)", "[", "]", "(", ")", "'", ",", "+", "*", "~",
           "|", ":", "<", "=", "\x00", "é", " ", "\n", "None", "{}", "[[]]", "1.5", "inf", "True"]


@st.composite
def mutated(draw: Any, text: str) -> str:
    """``text`` with a few slices replaced by hostile pieces or random text."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 6)))
        text = text[:i] + draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=3))) + text[j:]
    return text


def formatted(name: str, seed: int) -> str:
    space = space_of(name)
    return space.format(space.sample(np.random.default_rng(seed)))


# -- parsers -------------------------------------------------------------------------------------
@FAST
@given(st.sampled_from(SPACES), st.text(max_size=120))
def test_any_text_parses_to_a_genotype_or_a_zcpt_error(name: str, text: str) -> None:
    valid_or_zcpt_error(space_of(name).parse, text)


@FAST
@given(st.sampled_from(SPACES), st.integers(0, 2**32 - 1), st.data())
def test_damaged_genotype_text_parses_or_is_a_zcpt_error(name: str, seed: int, data: Any) -> None:
    text = data.draw(mutated(formatted(name, seed)))
    genotype = valid_or_zcpt_error(space_of(name).parse, text)
    if genotype is not None:  # what parses formats and parses back to itself
        assert space_of(name).parse(space_of(name).format(genotype)) == genotype


@FAST
@given(st.sampled_from(SPACES), st.integers(0, 2**32 - 1))
def test_format_then_parse_round_trips(name: str, seed: int) -> None:
    space = space_of(name)
    genotype = space.sample(np.random.default_rng(seed))
    text = space.format(genotype)
    assert space.parse(text) == genotype
    assert space.format(space.parse(text)) == text


def _proxy_names() -> list:
    from zcpt.proxies import PROXIES

    return PROXIES.names()


@FAST
@given(st.one_of(st.text(max_size=60), mutated("ensemble:nwot*2+synflow+zico*0.5"),
                mutated("ensemble:logrank:nwot*2+synflow")))
def test_ensemble_specs_parse_or_are_a_zcpt_error(text: str) -> None:
    from zcpt.proxies.ensemble import parse_ensemble

    spec = valid_or_zcpt_error(parse_ensemble, text)
    if spec is not None:
        assert parse_ensemble(spec.label) == spec


@FAST
@given(st.lists(st.tuples(st.sampled_from(_proxy_names()), st.floats(0.01, 100)), min_size=1, max_size=4,
                unique_by=lambda t: t[0]))
def test_ensemble_label_round_trips(terms: list) -> None:
    from zcpt.proxies.ensemble import EnsembleSpec, parse_ensemble

    spec = parse_ensemble("ensemble:" + "+".join(f"{n}*{w!r}" for n, w in terms))
    assert spec == EnsembleSpec(tuple(n for n, _ in terms), tuple(w for _, w in terms))
    assert parse_ensemble(spec.label) == spec


@FAST
@given(st.lists(st.tuples(st.sampled_from(_proxy_names()), st.floats(0.01, 100)), min_size=1, max_size=4,
                unique_by=lambda t: t[0]), st.sampled_from(["rank", "logrank"]))
def test_ensemble_rule_label_round_trips(terms: list, rule: str) -> None:
    from zcpt.proxies.ensemble import EnsembleSpec, parse_ensemble

    spec = EnsembleSpec(tuple(n for n, _ in terms), tuple(w for _, w in terms), rule)
    assert parse_ensemble(spec.label) == spec
    assert parse_ensemble(f"ensemble:{rule}:" + "+".join(f"{n}*{w!r}" for n, w in terms)) == spec


def _option_names() -> list:
    from zcpt.proxies import PROXIES

    return sorted({o.name for p in PROXIES.names() for o in PROXIES.entry(p).options}) + ["nope"]


@FAST
@given(st.sampled_from(_proxy_names() + ["ensemble:nwot+synflow"]),
       st.lists(st.one_of(st.text(max_size=30),
                          st.builds("{}={}".format, st.sampled_from(_option_names()),
                                    st.one_of(st.text(max_size=12), st.sampled_from(["1e999", "nan", "9" * 5000, "true"])))),
                max_size=3),
       st.dictionaries(st.sampled_from(_option_names()), st.one_of(scalars, st.integers(-2**1100, 2**1100)), max_size=3))
def test_proxy_options_parse_or_are_a_zcpt_error(proxy: str, items: list, values: dict) -> None:
    from zcpt.commands.search import parse_proxy_options
    from zcpt.proxies import PROXIES

    parsed = valid_or_zcpt_error(parse_proxy_options, proxy, items)
    if parsed is not None:
        valid_or_zcpt_error(PROXIES.check_options, proxy, parsed)
    valid_or_zcpt_error(PROXIES.check_options, proxy, values)


# -- readers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


RESULT_FIELDS = ["space", "genotype", "method", "seed", "proxy", "order", "scorer", "proposals", "validation",
                 "batch_size", "candidates", "benchmark", "seconds", "forward_passes", "config", "details", "budget",
                 "data", "format"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@FAST
@given(st.dictionaries(st.sampled_from(RESULT_FIELDS), json_values, max_size=5), st.booleans(),
       st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([b"[" * 5000, b"1" * 5000, b"NaN", b"\xff"])))
def test_result_json_reads_or_is_a_zcpt_error(scratch: Path, fields: dict, keep: bool, raw: Optional[bytes]) -> None:
    from zcpt.search import SearchResult

    path = scratch / "result.json"
    data = {"space": "nb201", "genotype": ARCH, **fields} if keep else fields
    path.write_bytes(json.dumps(data).encode() if raw is None else raw)
    result = valid_or_zcpt_error(SearchResult.load, path)
    if result is not None:
        valid_or_zcpt_error(result.check_scores)
        valid_or_zcpt_error(result.architecture)
        assert result.num_classes >= 1
        json.dumps(result.to_json())


@FAST
@given(json_values, st.dictionaries(st.sampled_from(["config", "forward_passes", "seconds", "proposals"]), json_values,
                                    max_size=3), st.booleans())
def test_progress_json_resumes_or_is_a_zcpt_error(scratch: Path, anything: Any, fields: dict, shaped: bool) -> None:
    from zcpt.search import SearchConfig
    from zcpt.search.rundir import RunDir

    defaults = SearchConfig().to_json()
    run = scratch / "run"
    run.mkdir(exist_ok=True)
    (run / "progress.json").write_text(json.dumps({"config": defaults, **fields} if shaped else anything))
    valid_or_zcpt_error(lambda: RunDir(run, defaults, defaults).open(True))


@FAST
@given(st.dictionaries(st.sampled_from(["format", "version", "space", "num_classes", "input_shape", "options",
                                        "table"]), json_values, max_size=7), st.booleans())
def test_latency_tables_read_or_are_a_zcpt_error(scratch: Path, fields: dict, shaped: bool) -> None:
    from zcpt.budget.latency import load_latency_table

    space = space_of("nb201")
    options = space.evaluation_options()
    base = {"format": "zcpt-latency-table", "version": 1, "space": "nb201", "num_classes": 10,
            "input_shape": [3, 32, 32], "options": options} if shaped else {}
    path = scratch / "lut.json"
    path.write_text(json.dumps({**base, **fields}))
    valid_or_zcpt_error(load_latency_table, path, space, 10, [3, 32, 32], options)


def _checkpoint_state() -> Dict[str, Any]:
    net = space_of("macro").build_network("22212220", num_classes=2)
    return {"format": "zcpt-train-checkpoint", "version": 1, "space": "macro", "genotype": "22212220",
            "config": {"dataset": "imagefolder"}, "epoch": 1, "seconds": 1.0, "history": [],
            "model": net.state_dict(), "optimizer": {}, "scheduler": {}, "rng": {},
            "network": {"num_classes": 2, "options": {}},
            "data": {"classes": ["a", "b"], "mean": [0.5] * 3, "std": [0.25] * 3, "image_size": [32, 32]}}


tensors = st.sampled_from([torch.zeros(3), torch.zeros(()), torch.ones(2, 2, dtype=torch.int64)])
checkpoint_values = st.one_of(json_values, tensors, st.dictionaries(st.text(max_size=20), tensors, max_size=2))


@SLOW
@given(st.dictionaries(st.sampled_from(["format", "version", "space", "genotype", "config", "epoch", "model",
                                        "network", "data"]), checkpoint_values, max_size=2),
       st.dictionaries(st.sampled_from(["num_classes", "options"]), checkpoint_values, max_size=1),
       st.dictionaries(st.sampled_from(["classes", "mean", "std", "image_size", "other"]), checkpoint_values,
                       max_size=1),
       st.one_of(st.none(), st.binary(max_size=200)))
def test_checkpoints_load_or_are_a_zcpt_error(scratch: Path, top: dict, network: dict, data: dict,
                                              raw: Optional[bytes]) -> None:
    from zcpt.models import load_trained

    path = scratch / "checkpoint.pt"
    if raw is not None:
        path.write_bytes(raw)
    else:
        state = {**_checkpoint_state(), **top}
        if network:
            state["network"] = {"num_classes": 2, "options": {}, **network}
        if data:
            state["data"] = {"classes": ["a", "b"], **data}
        torch.save(state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's notes on a file are not shown either
        loaded = valid_or_zcpt_error(load_trained, path)
    if loaded is not None:
        json.dumps(loaded[1])  # the metadata an export embeds


def _image_bytes() -> list:
    rng = np.random.default_rng(0)
    out = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


IMAGES = _image_bytes()


@FAST
@given(st.sampled_from(IMAGES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       st.one_of(st.none(), st.integers(1, 400)), st.sampled_from([None, 8]))
def test_images_decode_or_are_a_zcpt_error(data: bytes, flips: list, cut: Optional[int], size: Optional[int]) -> None:
    from zcpt.data.formats import decode_image

    damaged = bytearray(data)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    if cut is not None:
        damaged = damaged[:cut]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = valid_or_zcpt_error(decode_image, bytes(damaged), "x.png", "fuzz", size)
    if image is not None:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


@SLOW
@given(st.lists(st.one_of(st.binary(max_size=30), st.sampled_from(IMAGES)), min_size=1, max_size=3),
       st.lists(st.sampled_from(IMAGES), min_size=1, max_size=2))
def test_image_folders_read_or_are_a_zcpt_error(scratch: Path, first: list, second: list) -> None:
    import shutil

    from zcpt.data.formats import read_image_folder

    root = scratch / "images"
    shutil.rmtree(root, ignore_errors=True)
    for name, files in (("a", first), ("b", second)):
        (root / "train" / name).mkdir(parents=True)
        for i, content in enumerate(files):
            (root / "train" / name / f"{i}.png").write_bytes(content)
    raw = valid_or_zcpt_error(read_image_folder, root, "imagefolder", 8)
    if raw is not None:
        assert raw.train_images.shape[1:] == (8, 8, 3) and raw.classes == ["a", "b"]


HASH = "0123456789abcdef0123456789abcdef"


@FAST
@given(st.lists(st.one_of(st.binary(max_size=60),
                          json_values.map(lambda v: json.dumps([HASH, v, v, v, v]).encode()),
                          st.tuples(st.integers(0, 300), st.text(max_size=20), st.binary(max_size=20)).map(
                              lambda t: json.dumps([HASH, t[0], "0" * 49, t[1], t[2].hex()]).encode())),
                max_size=3),
       st.booleans())
def test_nasbench_101_tables_read_or_are_a_zcpt_error(scratch: Path, records: list, framed: bool) -> None:
    from zcpt.benchmarks.nb101 import lookup

    path = scratch / "table.tfrecord"
    if framed:
        path.write_bytes(b"".join(struct.pack("<Q", len(r)) + b"\0" * 4 + r + b"\0" * 4 for r in records))
    else:
        path.write_bytes(b"".join(records))
    valid_or_zcpt_error(lookup, path, HASH)
