"""Budgets: additive cost models of every space, the exact eligibility rule, latency tables."""
import itertools
import json

import numpy as np
import pytest
import torch

from zcpt.budget import Budget, BudgetError, CostTable, make_budget, measure_latency_table, size_tables
from zcpt.budget.costs import covering_states, input_groups
from zcpt.budget.latency import load_latency_table
from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.proxies.counts import count_macs, count_params
from zcpt.spaces import get_space, list_spaces
from zcpt.spaces.base import Edge, InputGroup, SearchSpace

pytestmark = pytest.mark.usefixtures("one_thread")


def small_options(space):
    """The evaluation network, made small where the space has depth/width options."""
    options = space.evaluation_options()
    if space.depth_option:
        options[space.depth_option] = 2 if space.depth_option == "layers" else 1
    if space.width_option:
        options[space.width_option] = 4
    return options


# NAS-Bench-101 cells (NAS-Bench-1Shot1) split a node's channels by the graph: op costs interact,
# so budgets are refused there (one error line) instead of being approximated.
NOT_ADDITIVE = ("nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3")


@pytest.mark.parametrize("name", list_spaces())
def test_additive_model_equals_the_count_of_the_built_network(name, tmp_path, monkeypatch):
    """constant + the kept ops' table entries == count_params / count_macs of the network,
    for random architectures of every space (the spaces in NOT_ADDITIVE refuse budgets)."""
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    space = get_space(name)
    options = small_options(space)
    if name in NOT_ADDITIVE:
        with pytest.raises(ZcptError, match=f"space '{name}'"):
            make_budget(space, options=options, max_params=1.0)
        return
    tables = size_tables(space, options=options)
    x = torch.zeros(1, *space.input_shape)
    rng = np.random.default_rng(0)
    for _ in range(4):
        genotype = space.sample(rng)
        net = space.build_network(genotype, **options)
        state = space.state_of(genotype)
        assert tables["params"].cost(state) == count_params(net, x)
        assert tables["flops"].cost(state) == count_macs(net, x)
    # the cache gives the same tables back
    again = size_tables(space, options=options)
    assert np.array_equal(again["params"].table, tables["params"].table, equal_nan=True)


def test_covering_states_keep_every_candidate_of_every_edge():
    space = get_space("darts-s1")
    covered = set()
    for state in covering_states(space):
        covered |= {(e, state.chosen(e)) for e in range(state.num_edges) if not state.is_edge_removed(e)}
    assert covered == {(e.index, o) for e in space.edges() for o in e.candidates}


def test_macro_costs_are_the_benchmark_table():
    from zcpt.benchmarks import get_benchmark

    space = get_space("macro")
    tables = size_tables(space)
    bench = get_benchmark("macro")
    for code in ("00000000", "22212220", "12021012", "22222222"):
        record = bench.query(space.parse(code))
        state = space.state_of(space.parse(code))
        assert tables["params"].cost(state) / 1e6 == pytest.approx(record["params_M"], abs=1e-9)
        assert tables["flops"].cost(state) / 1e6 == pytest.approx(record["flops_M"], abs=1e-9)


def test_nb201_params_are_the_published_counts():
    """NASLib's parameter counts (7 cells of its NB201 subset) equal the model's."""
    from zcpt.paths import data_file

    table = json.loads(data_file("nb201", "naslib_zc_nasbench201_subset.json").read_text())["cifar10"]
    names = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
    positions = (0, 1, 3, 2, 4, 5)  # NASLib's tuple order -> arch-string edge order
    space = get_space("nb201")
    params = size_tables(space)["params"]
    for key in list(table)[:7]:
        ops = [None] * 6
        for i, code in enumerate(eval(key)):  # keys are tuple literals of ints
            ops[positions[i]] = names[code]
        assert params.cost(space.state_of(tuple(ops))) / 1e6 == pytest.approx(table[key]["params"]["score"], abs=1e-6)


# -- the eligibility rule, checked by brute force ---------------------------------------------
class TinySpace(SearchSpace):
    """7 edges, 2 or 3 ops each; edges 2-4 feed one node and 5-6 another, each keeping 2."""

    name = "tiny"
    op_names = ("a", "b", "c")

    def edges(self):
        return [Edge(i, f"e{i}", (0, 1, 2) if i % 2 else (0, 2)) for i in range(7)]

    def input_groups(self):
        return [InputGroup("n1", (2, 3, 4), 2), InputGroup("n2", (5, 6), 2)]

    def build_supernet(self, *args, **kwargs):
        raise NotImplementedError

    def build_network(self, *args, **kwargs):
        raise NotImplementedError

    genotype = state_of = parse = format = lambda self, x: x


def completions(space, state):
    """Every fully decided completion of ``state``: {kept edge: op}."""
    groups = input_groups(space)
    grouped = {e for g, _ in groups for e in g}
    layouts = []
    for g, k in groups:
        alive = [e for e in g if not state.is_edge_removed(e)]
        layouts.append([set(c) for c in itertools.combinations(alive, k)] if len(alive) > k else [set(alive)])
    free = {e for e in range(state.num_edges) if e not in grouped and not state.is_edge_removed(e)}
    for layout in itertools.product(*layouts):
        kept = sorted(free.union(*layout))
        for ops in itertools.product(*[state.alive(e) for e in kept]):
            yield dict(zip(kept, ops))


def brute_feasible(space, state, tables, limits, kept=None):
    for c in completions(space, state):
        if (kept is None or kept in c) and all(tables[m].constant + sum(tables[m].table[e, o] for e, o in c.items()) <= lim
               for m, lim in limits.items()):
            return True
    return False


def test_eligibility_never_excludes_a_feasible_completion():
    """On a tiny space with input groups, for one, two and three limits at once:
    feasible() and eligible_ops() agree with an enumeration of all completions."""
    space = TinySpace()
    rng = np.random.default_rng(1)
    checked = 0
    for trial in range(120):
        tables = {m: CostTable(m, rng.integers(0, 50, size=(7, 3)) * (1 + i) + rng.integers(0, 9, size=(7, 3)),
                               float(rng.integers(0, 20)))
                  for i, m in enumerate(("params", "flops", "latency"))}
        metrics = (("params",), ("params", "flops"), ("params", "flops", "latency"))[trial % 3]
        state = space.initial_state()
        for e in range(7):
            r = rng.random()
            if r < 0.3:
                state = state.only(e, int(rng.choice(space.edges()[e].candidates)))
            elif r < 0.5 and state.num_alive(e) > 1:
                state = state.without(e, int(rng.choice(state.alive(e))))
        if rng.random() < 0.3:
            state = state.without_edge(2)
        costs = np.array([[tables[m].constant + sum(tables[m].table[e, o] for e, o in c.items()) for m in metrics]
                          for c in completions(space, state)])
        limits = {m: float(np.quantile(costs[:, i], rng.uniform(0, 0.3))) for i, m in enumerate(metrics)}
        budget = Budget(space, tables, limits)
        assert budget.feasible(state) == brute_feasible(space, state, tables, limits)
        for e in range(7):
            if state.num_alive(e) > 1:
                want = [o for o in state.alive(e) if brute_feasible(space, state.only(e, o), tables, limits)]
                assert budget.eligible_ops(state, e) == want
                checked += 1
        for g, (edges, keep) in enumerate(input_groups(space)):
            if sum(not state.is_edge_removed(e) for e in edges) > keep:
                want = [e for e in edges if not state.is_edge_removed(e)
                        and brute_feasible(space, state, tables, limits, kept=e)]
                assert budget.eligible_inputs(state, g) == want
                checked += 1
    assert checked > 100


def test_eligibility_on_nb201_params_and_flops_matches_the_whole_space():
    """Real NB201 tables, two limits at once: an op is eligible exactly when one of
    the 15,625 cells that completes the partial cell fits both."""
    space = get_space("nb201")
    tables = size_tables(space)
    all_ops = np.array(list(itertools.product(range(5), repeat=6)))
    cost = {m: tables[m].constant + tables[m].table[np.arange(6), all_ops].sum(axis=1) for m in ("params", "flops")}
    rng = np.random.default_rng(3)
    for _ in range(30):
        limits = {"params": float(np.quantile(cost["params"], rng.uniform(0.01, 0.5))),
                  "flops": float(np.quantile(cost["flops"], rng.uniform(0.01, 0.5)))}
        budget = Budget(space, tables, limits)
        fits = (cost["params"] <= limits["params"]) & (cost["flops"] <= limits["flops"])
        state = space.initial_state()
        for e in rng.permutation(6)[: rng.integers(0, 4)]:
            state = state.only(int(e), int(rng.integers(5)))
        consistent = np.all(state.mask[np.arange(6), all_ops], axis=1)
        edge = next(e for e in range(6) if state.num_alive(e) > 1)
        want = [o for o in range(5) if (fits & consistent & (all_ops[:, edge] == o)).any()]
        assert budget.eligible_ops(state, edge) == want


def test_a_budget_below_the_cheapest_network_is_one_line_error():
    space = get_space("nb201")
    budget = make_budget(space, max_params=0.01)
    with pytest.raises(BudgetError, match=r"nothing in space 'nb201' fits params <= 0.01 M \(its cheapest networks: params 0.07331 M\)"):
        budget.check_start(space.initial_state())
    with pytest.raises(ZcptError, match="--max-params must be a positive finite number"):
        make_budget(space, max_params=-1)
    with pytest.raises(ZcptError, match="go together"):
        make_budget(space, max_latency_ms=5.0)


# -- latency tables ------------------------------------------------------------------------
def test_latency_table_times_every_op_at_every_position(tmp_path):
    space = get_space("nb201")
    options = {"channels": 4, "cells_per_stage": 1}
    lut = measure_latency_table(space, torch.device("cpu"), batch_size=2, options=options,
                                warmup=0, repeats=1, check=3)
    assert len(lut["positions"]) == 6 * 5 * 3  # 6 edges x 5 ops x 3 cells
    assert all(p["ms"] > 0 for p in lut["positions"])
    assert lut["check"]["networks"] == 3 and len(lut["check"]["measured_ms"]) == 3
    table = CostTable.from_json(lut["table"])
    per_op = sum(p["ms"] for p in lut["positions"] if p["edge"] == "1<-0" and p["op"] == "nor_conv_3x3")
    assert table.table[0, space.op_index("nor_conv_3x3")] / 1e6 == pytest.approx(per_op, abs=1e-5)
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(lut))
    loaded = load_latency_table(path, space, 10, (3, 32, 32), options)
    assert np.array_equal(loaded.table, table.table)
    with pytest.raises(ZcptError, match="measured for another network: num_classes 10 \\(this search: 5\\)"):
        load_latency_table(path, space, 5, (3, 32, 32), options)
    with pytest.raises(ZcptError, match="no such latency table"):
        load_latency_table(tmp_path / "missing.json", space, 10, (3, 32, 32), options)
    budget = make_budget(space, options=options, max_latency_ms=1e6, latency_table=path)
    assert budget.feasible(space.initial_state())


def test_latency_command(tmp_path, capsys):
    out = tmp_path / "lut.json"
    assert main(["latency", "--space", "macro", "--batch-size", "1", "--out", str(out), "--warmup", "0",
                 "--repeats", "1", "--check", "3", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "timed           24 op positions" in text  # 8 layers x 3 ops, one position each
    assert "3 random networks" in text
    lut = json.loads(out.read_text())
    assert lut["space"] == "macro" and lut["batch_size"] == 1 and lut["threads"] == 1
    assert main(["latency", "--space", "macro", "--out", str(tmp_path), "--check", "0"]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["nb201", "darts-s1"])
def test_sampling_under_a_budget(name):
    """Budget.sample: every draw fits; a generous budget draws exactly what space.sample draws."""
    space = get_space(name)
    options = None if name == "nb201" else {"layers": 5, "channels": 8}
    generous = make_budget(space, options=options, max_params=1e4)
    for seed in range(3):
        assert space.genotype(generous.sample(np.random.default_rng(seed))) == space.sample(np.random.default_rng(seed))
    costs = sorted(generous.cost(space.state_of(space.sample(np.random.default_rng(s))))["params"] for s in range(20))
    tight = make_budget(space, options=options, max_params=costs[2] / 1e6)
    for seed in range(10):
        assert tight.fits(tight.sample(np.random.default_rng(seed)))
