"""The Zero-Cost-PT search (Algorithm 1) on tiny supernets and CIFAR-10 subsets.

Decisions are checked against brute-force proxy scores of hand-built states;
validation, determinism, resume and non-finite handling against the runner.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import numpy as np
import pytest
import torch

from zcpt.data import BatchSource, load_dataset
from zcpt.errors import NonFiniteScoreError, ZcptError
from zcpt.proxies import PROXIES, register_proxy, score_network
from zcpt.scoring import SCORERS, ScoringContext, register_scorer
from zcpt.search import SearchConfig, search
from zcpt.search import rundir, stages
from zcpt.search.proposal import run_pass
from zcpt.spaces import ArchState, Supernet, get_space

NB201 = get_space("nb201")
TINY_NB201 = {"channels": 4, "cells_per_stage": 1}
CONV3 = NB201.op_index("nor_conv_3x3")
NONE = NB201.op_index("none")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny networks gain nothing from intra-op threads, which on a shared
    2-core machine only wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(**overrides: Any) -> SearchConfig:
    settings: Dict[str, Any] = dict(
        space="nb201", proxy="nwot", order="random", proposals=2, validation=2, batch_size=8,
        supernet_options=dict(TINY_NB201), network_options=dict(TINY_NB201), train_images=200,
    )
    settings.update(overrides)
    return SearchConfig(**settings)


def without_seconds(result: Dict[str, Any]) -> Dict[str, Any]:
    """What a search determines: everything but how long it took and when it ran."""
    return {k: v for k, v in result.items() if k not in ("seconds", "provenance")}


# -- the proposal pass against brute force ---------------------------------------

@pytest.fixture(scope="module")
def batches() -> BatchSource:
    ds = load_dataset("cifar10").subset(200, 0, seed=0)
    return BatchSource(ds, "train", batch_size=8, seed=5, augment=True)


def _supernet() -> Supernet:
    torch.manual_seed(0)
    return NB201.build_supernet(num_classes=10, **TINY_NB201)


@pytest.mark.parametrize("scorer", ["zc-pt", "disc-zc"])
def test_fixed_pass_matches_brute_force(scorer: str, batches: BatchSource) -> None:
    supernet = _supernet()
    ctx = ScoringContext(space=NB201, supernet=supernet, proxy="nwot")
    used: List[int] = []

    def next_batch() -> Tuple[Any, Any]:
        used.append(len(used))
        return batches.batch(used[-1]), used[-1]

    result = run_pass(ctx, scorer, "fixed", np.random.default_rng(0), next_batch, NB201.initial_state())
    assert used == list(range(6))  # one minibatch per decision

    mask = NB201.initial_state().mask.copy()
    expected = []
    for edge in range(6):
        values = []
        for op in range(5):
            trial = mask.copy()
            if scorer == "zc-pt":  # A-(e,o): the op is switched off
                trial[edge, op] = False
            else:  # A+(e,o): the edge keeps only the op
                trial[edge] = False
                trial[edge, op] = True
            with supernet.use_state(ArchState(trial)):
                values.append(score_network("nwot", supernet, batches.batch(edge)))
        assert np.isfinite(values).all()
        # zc-pt: argmin S(A-(e,o)); disc-zc: argmax S(A+(e,o))
        op = int(np.argmin(values)) if scorer == "zc-pt" else int(np.argmax(values))
        sign = -1.0 if scorer == "zc-pt" else 1.0
        recorded = result.decisions[edge]["scores"]
        assert recorded == pytest.approx({NB201.op_names[o]: sign * v for o, v in enumerate(values)}, abs=1e-9)
        expected.append(NB201.op_names[op])
        mask[edge] = False
        mask[edge, op] = True
    assert [d["op"] for d in result.decisions] == expected
    assert result.state == ArchState(mask)


# -- validation ---------------------------------------------------------------------

# Two fixed cells the pass scorer below proposes: CELL_A on even passes, CELL_B on odd ones.
CELL_A = ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1")
CELL_B = ("nor_conv_1x1", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")


@pytest.fixture
def pass_scorer() -> Iterator[Callable[[Tuple[str, ...], Tuple[str, ...]], None]]:
    """Registers scorer 'test-pass-cell', which ignores the supernet: pass p
    proposes the first cell if p is even, the second if odd."""

    def register(even: Tuple[str, ...], odd: Tuple[str, ...]) -> None:
        @register_scorer("test-pass-cell")
        def scorer(ctx: ScoringContext, state: ArchState, edge: int, ops: List[int]) -> List[float]:
            _, index = ctx.batch_id  # ("proposal", p * _BATCHES_PER_PASS + t)
            cell = even if (index // stages.BATCHES_PER_PASS) % 2 == 0 else odd
            return [1.0 if NB201.op_names[o] == cell[edge] else 0.0 for o in ops]

    yield register
    if "test-pass-cell" in SCORERS:
        SCORERS.remove("test-pass-cell")


def _fingerprint(batch: Tuple[torch.Tensor, torch.Tensor]) -> str:
    x, y = batch
    return hashlib.sha1(x.cpu().numpy().tobytes() + y.cpu().numpy().tobytes()).hexdigest()


def test_validation_scores_every_candidate_on_the_same_batches(pass_scorer, monkeypatch) -> None:
    pass_scorer(CELL_A, CELL_B)
    seen: List[Tuple[Any, str, float]] = []

    def spy(name: str, net: torch.nn.Module, batch: Any, *args: Any, **kwargs: Any) -> float:
        value = score_network(name, net, batch, *args, **kwargs)
        seen.append((net, _fingerprint(batch), value))  # holding net keeps its id unique
        return value

    monkeypatch.setattr(stages, "score_network", spy)
    result = search(tiny(scorer="test-pass-cell", order="fixed", proposals=3, validation=3))

    a, b = NB201.format(CELL_A), NB201.format(CELL_B)
    assert [c["genotype"] for c in result["candidates"]] == [a, b]
    assert [c["proposed"] for c in result["candidates"]] == [2, 1]
    nets: Dict[int, List[Tuple[str, float]]] = {}
    for net, fp, value in seen:
        nets.setdefault(id(net), []).append((fp, value))
    assert len(nets) == 2  # the twice-proposed cell is validated once
    runs = list(nets.values())
    assert [fp for fp, _ in runs[0]] == [fp for fp, _ in runs[1]]  # the same V batches
    assert len({fp for fp, _ in runs[0]}) == 3  # ... and V different ones
    totals = [sum(v for _, v in r) for r in runs]
    assert [c["score"] for c in result["candidates"]] == pytest.approx(totals)
    assert result["genotype"] == [a, b][int(np.argmax(totals))]
    assert result["forward_passes"]["validation"] == 6


# -- determinism and resume ----------------------------------------------------------

def test_same_seed_same_result_other_seed_other_scores() -> None:
    first = search(tiny(seed=1))
    again = search(tiny(seed=1))
    assert without_seconds(first) == without_seconds(again)
    assert first["forward_passes"]["proposal"] > 0
    other = search(tiny(seed=2))
    assert [c["score"] for c in other["candidates"]] != [c["score"] for c in first["candidates"]]


def test_resume_after_interrupt_gives_the_uninterrupted_result(tmp_path: Path, monkeypatch) -> None:
    config = tiny(proposals=3, order="global-op-once")
    whole = search(config, out_dir=tmp_path / "whole")

    class InterruptAtSecond(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("proposal 2/"):
                raise KeyboardInterrupt

    logger = logging.getLogger("zcpt")
    handler, level = InterruptAtSecond(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyboardInterrupt):
            search(config, out_dir=tmp_path / "cut")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    saved = json.loads((tmp_path / "cut" / rundir.STATE_FILE).read_text())
    assert len(saved["proposals"]) == 2
    assert not (tmp_path / "cut" / rundir.RESULT_FILE).exists()

    passes = []
    real_pass = stages.run_pass
    monkeypatch.setattr(stages, "run_pass", lambda *a, **k: passes.append(1) or real_pass(*a, **k))
    resumed = search(config, out_dir=tmp_path / "cut", resume=True)
    assert len(passes) == 1  # only the missing proposal is run again
    on_disk = json.loads((tmp_path / "cut" / rundir.RESULT_FILE).read_text())
    assert without_seconds(on_disk) == without_seconds(whole.to_json())
    assert without_seconds(resumed) == without_seconds(whole)
    # the wall time counts both sessions: never less than the stages it contains
    seconds = resumed["seconds"]
    assert seconds["total"] >= seconds["proposal"] + seconds["validation"] > 0
    assert saved["seconds"]["total"] > 0  # the interrupted session's time was saved with its proposals


def test_resume_refuses_other_config_and_reuse_needs_resume(tmp_path: Path) -> None:
    config = tiny(proposals=1, validation=1)
    search(config, out_dir=tmp_path)
    with pytest.raises(ZcptError, match="already holds a search") as info:
        search(config, out_dir=tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(ZcptError, match="different configuration") as info:
        search(tiny(proposals=1, validation=2), out_dir=tmp_path, resume=True)
    assert "\n" not in str(info.value)
    fresh = search(config, out_dir=tmp_path / "empty", resume=True)  # nothing to resume: starts afresh
    assert (tmp_path / "empty" / rundir.RESULT_FILE).exists() and fresh["genotype"]


def test_refused_resume_names_the_settings_that_differ(tmp_path: Path) -> None:
    search(tiny(proposals=1, validation=1), out_dir=tmp_path)
    with pytest.raises(ZcptError, match=r"validation: saved 1, now 2") as info:
        search(tiny(proposals=1, validation=2), out_dir=tmp_path, resume=True)
    assert "proposals" not in str(info.value) and "\n" not in str(info.value)


def test_resume_during_validation_counts_every_forward_pass_once(tmp_path: Path, monkeypatch) -> None:
    config = tiny(proposals=1, validation=stages.SAVE_EVERY + 3)
    whole = search(config, out_dir=tmp_path / "whole")
    calls = []
    real_score = stages.score_network

    def interrupted(*args, **kwargs):  # stop after the first save, two batches later
        calls.append(1)
        if len(calls) == stages.SAVE_EVERY + 2:
            raise KeyboardInterrupt
        return real_score(*args, **kwargs)

    monkeypatch.setattr(stages, "score_network", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(config, out_dir=tmp_path / "cut")
    monkeypatch.setattr(stages, "score_network", real_score)
    saved = json.loads((tmp_path / "cut" / rundir.STATE_FILE).read_text())
    assert [len(v) for v in saved["validation"].values()] == [stages.SAVE_EVERY]
    resumed = search(config, out_dir=tmp_path / "cut", resume=True)
    assert resumed["forward_passes"] == whole["forward_passes"]
    assert without_seconds(resumed) == without_seconds(whole)


@pytest.mark.parametrize("change, message", [
    (lambda s: [], "not the progress file of a search"),
    (lambda s: {k: v for k, v in s.items() if k != "config"}, "not the progress file of a search"),
    (lambda s: {**s, "config": {**s["config"], "proposals": "two"}}, "proposals: saved 'two', now 2"),
    (lambda s: {**s, "proposals": {"0": "x"}}, "'proposals' must be a list"),
    (lambda s: {**s, "proposals": [7]}, "proposal record 0 is not a genotype string"),
    (lambda s: {**s, "proposals": [{**s["proposals"][0], "genotype": "|bad~0|"}]}, "proposal 0: "),
    (lambda s: {**s, "proposals": s["proposals"] * 3}, "holds 3 proposals, more than the 2"),
    (lambda s: {**s, "validation": []}, "'validation' must map genotypes"),
    (lambda s: {**s, "validation": {"x": [1.0, "a"]}}, "validation scores of 'x'"),
    (lambda s: {**s, "validation": {"x": [1.0] * 5}}, "at most 2 numbers"),
    (lambda s: {**s, "forward_passes": [3]}, "'forward_passes' must map stage names to numbers"),
    (lambda s: {**s, "seconds": {"proposal": "long"}}, "'seconds' must map stage names to numbers"),
])
def test_resume_of_a_progress_file_of_the_wrong_shape_is_one_line(tmp_path: Path, change, message) -> None:
    config = tiny()
    search(config, out_dir=tmp_path)
    path = tmp_path / rundir.STATE_FILE
    state = json.loads(path.read_text())
    state["proposals"] = state["proposals"][:1]  # an interrupted run: one proposal of two left
    (tmp_path / rundir.RESULT_FILE).unlink()
    path.write_text(json.dumps(change(state)))
    with pytest.raises(ZcptError, match="cannot resume") as info:
        search(config, out_dir=tmp_path, resume=True)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_batch_larger_than_the_data_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ZcptError, match="batch size 8 is larger than the 5 images of the train split") as info:
        search(tiny(train_images=5), out_dir=tmp_path / "run")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing written, not even an empty directory


def test_config_errors_are_one_line() -> None:
    for bad, pattern in [
        (tiny(proxy="nope"), "unknown proxy 'nope'"),
        (tiny(order="nope"), "unknown edge order 'nope'"),
        (tiny(space="nope"), "unknown search space 'nope'"),
        (tiny(scorer="nope"), "unknown scoring function 'nope'"),
        (tiny(proposals=0), "proposals must be a positive integer"),
        (tiny(seed=-1), "seed must be an integer from 0 to 4294967295"),
        (tiny(proxy="synflow", bn_mode="eval"), "no batch-norm mode"),
        (tiny(nonfinite="maybe"), "unknown --nonfinite"),
    ]:
        with pytest.raises(ZcptError, match=pattern) as info:
            search(bad)
        assert "\n" not in str(info.value)


# -- non-finite scores ------------------------------------------------------------------

# S(state) = sum of TABLE over the alive (edge, op) pairs, so zc-pt keeps each
# edge's highest entry; 'none' is 0, as it contributes nothing to a network.
# Ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
TABLE = np.array([[0.0, 0.2, 0.3, 0.9, 0.1]] + [[0.0, 0.1, 0.6, 0.3, 0.2]] * 5)
NAN_CELL = ("avg_pool_3x3",) * 6


@pytest.fixture
def table_proxy() -> Iterator[None]:
    """NaN on the perturbed state A-(edge 0, nor_conv_3x3) of the first decision
    and on the standalone network of NAN_CELL; the table sum elsewhere."""

    @register_proxy("test-table", needs_grad=False)
    def proxy(net: torch.nn.Module, batch: Any, loss_fn: Any) -> float:
        if isinstance(net, Supernet):
            mask = net.state.mask
            if not mask[0, CONV3] and mask[0].sum() > 1:
                return float("nan")
        else:
            if tuple(net.genotype) == NAN_CELL:
                return float("nan")
            mask = NB201.state_of(net.genotype).mask
        return float((TABLE * mask).sum())

    yield
    PROXIES.remove("test-table")


def test_nonfinite_proposal_score_names_edge_and_op(table_proxy: None) -> None:
    with pytest.raises(NonFiniteScoreError, match=r"1<-0:nor_conv_3x3=nan") as info:
        search(tiny(proxy="test-table", order="fixed", proposals=1, validation=1))
    assert "\n" not in str(info.value)


def test_nonfinite_proposal_score_skipped(table_proxy: None) -> None:
    with pytest.warns(RuntimeWarning, match="excluding non-finite scores: 1<-0:nor_conv_3x3"):
        result = search(tiny(proxy="test-table", order="fixed", proposals=1, validation=1, nonfinite="skip"))
    genotype = NB201.parse(result["genotype"])
    # edge 0 would keep nor_conv_3x3 (its best entry); skipped, the runner-up wins
    assert genotype == ("nor_conv_1x1",) + ("nor_conv_1x1",) * 5


def test_nonfinite_validation_total(table_proxy: None, pass_scorer) -> None:
    pass_scorer(NAN_CELL, CELL_A)  # NAN_CELL, proposed first, validates to NaN
    config = dict(proxy="test-table", scorer="test-pass-cell", order="fixed", proposals=2, validation=1)
    with pytest.raises(NonFiniteScoreError, match=r"non-finite score for \|avg_pool_3x3~0\|"):
        search(tiny(**config))
    with pytest.warns(RuntimeWarning, match="excluding"):
        result = search(tiny(nonfinite="skip", **config))
    assert result["genotype"] == NB201.format(CELL_A)


# -- DARTS --------------------------------------------------------------------------------

def test_darts_search_end_to_end(tmp_path: Path) -> None:
    size = {"layers": 3, "channels": 4}  # reduction cells at layers 1 and 2
    config = SearchConfig(space="darts", proxy="nwot", order="fixed", proposals=1, validation=1,
                          batch_size=8, supernet_options=size, network_options=size, train_images=100)
    result = search(config, out_dir=tmp_path)
    space = get_space("darts")
    genotype = space.parse(result["genotype"])
    assert len(genotype.normal) == len(genotype.reduce) == 8  # 2 inputs for each of 4 nodes
    for pairs in (genotype.normal, genotype.reduce):
        for k in range(4):
            inputs = [inp for _, inp in pairs[2 * k:2 * k + 2]]
            assert len(set(inputs)) == 2 and all(i < k + 2 for i in inputs)
    assert result["benchmark"]["params_M"] > 0 and result["benchmark"]["flops_M"] > 0
    assert json.loads((tmp_path / rundir.RESULT_FILE).read_text())["genotype"] == result["genotype"]

    decisions = json.loads((tmp_path / rundir.STATE_FILE).read_text())["proposals"][0]["decisions"]
    ops = [d for d in decisions if "edge" in d]
    topology = [d for d in decisions if "kept" in d]
    assert sorted(d["edge"] for d in ops) == sorted(e.name for e in space.edges())
    # nodes 3, 4, 5 of both cells have more than 2 inputs; node 2 has exactly 2
    assert [len(d["node_edges"]) for d in topology] == [3, 4, 5, 3, 4, 5]
    state = space.state_of(genotype)
    for d in topology:
        assert len(d["kept"]) == 2
        best_two = sorted(d["node_edges"], key=lambda e: -d["scores"][e])[:2]
        assert sorted(d["kept"]) == sorted(best_two)  # removal lowers the proxy most
        kept = [e.name for e in space.edges() if e.name in d["node_edges"] and not state.is_edge_removed(e.index)]
        assert sorted(kept) == sorted(d["kept"])


DARTS = get_space("darts")
# S(state) = sum of DARTS_TABLE over alive (edge, op); 'none' contributes 0.
DARTS_TABLE = np.random.default_rng(7).uniform(0.1, 1.0, size=(len(DARTS.edges()), len(DARTS.op_names)))
DARTS_TABLE[:, DARTS.op_index("none")] = 0.0


def _darts_table_score(mask: np.ndarray) -> float:
    return float((DARTS_TABLE * mask).sum())


@pytest.fixture
def darts_table_proxy() -> Iterator[None]:
    @register_proxy("test-darts-table", needs_grad=False)
    def proxy(net: torch.nn.Module, batch: Any, loss_fn: Any) -> float:
        mask = net.state.mask if isinstance(net, Supernet) else DARTS.state_of(net.genotype).mask
        return _darts_table_score(mask)

    yield
    PROXIES.remove("test-darts-table")


def test_darts_topology_step_matches_brute_force(darts_table_proxy: None, tmp_path: Path) -> None:
    size = {"layers": 3, "channels": 4}
    config = SearchConfig(space="darts", proxy="test-darts-table", order="random", proposals=1, validation=1,
                          batch_size=8, supernet_options=size, network_options=size, train_images=100)
    result = search(config, out_dir=tmp_path)
    decisions = json.loads((tmp_path / rundir.STATE_FILE).read_text())["proposals"][0]["decisions"]

    names = [e.name for e in DARTS.edges()]
    state = DARTS.initial_state()
    for d in decisions:
        if "edge" in d:
            # zc-pt on this proxy: argmin S(A-(e,o)) = the op with the largest table entry
            edge = names.index(d["edge"])
            assert d["op"] == DARTS.op_names[max(state.alive(edge), key=lambda o: DARTS_TABLE[edge, o])]
            state = state.only(edge, DARTS.op_index(d["op"]))
    assert state.is_discrete() and all(state.num_alive(e) == 1 for e in range(len(names)))
    for group in DARTS.input_groups():
        if len(group.edges) > 2:  # keep the 2 inputs whose removal lowers S most
            loss = {e: _darts_table_score(state.mask) - _darts_table_score(state.without_edge(e).mask)
                    for e in group.edges}
            keep = sorted(group.edges, key=lambda e: -loss[e])[:2]
            for e in group.edges:
                if e not in keep:
                    state = state.without_edge(e)
    assert DARTS.parse(result["genotype"]) == DARTS.genotype(state)


@pytest.mark.parametrize("space_name", ["darts-s1", "darts-s2", "darts-s3", "darts-s4", "darts-s5"])
def test_every_darts_subspace_searches_to_a_valid_genotype(space_name: str, tmp_path: Path) -> None:
    size = {"layers": 3, "channels": 4}
    proxy = "synflow" if space_name == "darts-s4" else "nwot"  # one gradient-based proxy as well
    config = SearchConfig(space=space_name, proxy=proxy, order="fixed", proposals=1, validation=1,
                          batch_size=4, supernet_options=size, network_options=size, train_images=40)
    result = search(config, out_dir=tmp_path)
    space = get_space(space_name)
    genotype = space.parse(result["genotype"])
    assert space.format(genotype) == result["genotype"]
    state = space.state_of(genotype)
    for edge in space.edges():  # every kept op is one of that edge's candidates
        if not state.is_edge_removed(edge.index):
            assert state.chosen(edge.index) in edge.candidates
