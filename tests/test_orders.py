"""Task orders: seeded permutations that are distinct and reproducible, results that record their order and
live apart, matrices comparable by task name, and the spread over orders beside the spread over seeds in the
leaderboard, `dfcl table` and `dfcl plot`."""

import json
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from benchmark import leaderboard, orders, plots, results, tables
from benchmark.cli import main
from benchmark.errors import ConfigError, ResultError
from benchmark.runner import RunRequest, run
from benchmark.selection import select
from conftest import make_result

TASKS = ["gan", "diffusion", "faceswap"]


# --- permutations --------------------------------------------------------------------------------------

def test_order_zero_is_the_scenarios_own_and_order_k_is_numpys_seeded_permutation():
    assert orders.permutation(0, 5) == [0, 1, 2, 3, 4]
    assert orders.permutation(1, 5) == np.random.default_rng(1).permutation(5).tolist()
    assert orders.permutation(3, 5) == orders.permutation(3, 5)  # depends on k and T only


def test_orders_are_distinct_even_when_a_seed_draws_an_earlier_one():
    every = [tuple(orders.permutation(k, 3)) for k in range(6)]  # 3 tasks have 3! = 6 orders
    assert len(set(every)) == 6
    with pytest.raises(ConfigError, match="order 6 does not exist for 3 tasks"):
        orders.permutation(6, 3)
    with pytest.raises(ConfigError, match="integer ≥ 0"):
        orders.permutation(-1, 3)


def test_matrices_are_reindexed_by_task_name():
    trained = ["b", "c", "a"]
    matrix = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])  # [after b, c, a][on b, c, a]
    by_name = orders.by_name(matrix, trained, ["a", "b", "c"])
    assert by_name[0, 1] == matrix[2, 0]  # after training a, on b
    assert orders.by_name(matrix[-1], trained, ["a", "b", "c"]).tolist() == [9, 7, 8]


# --- runs in another order ---------------------------------------------------------------------------

def test_a_run_in_another_order_records_it_lives_apart_and_scores_the_same_untrained_model(three_task_scenario,
                                                                                         tmp_path):
    request = lambda k: RunRequest(scenario="three", strategy="naive", seeds=[0], results_dir=tmp_path,  # noqa: E731
                                   order_seed=k)
    own, = run(request(0), scenario=three_task_scenario)
    other, = run(request(2), scenario=three_task_scenario)
    permuted = [three_task_scenario.task_names[i] for i in orders.permutation(2, 3)]
    assert own.path == tmp_path / "three" / "naive--smallcnn" / "seed0.json"
    assert other.path == tmp_path / "three+order2" / "naive--smallcnn" / "seed0.json"
    assert "order" not in own.result["scenario"] and "order" not in own.result["config"]["scenario"]
    assert other.result["scenario"]["tasks"] == permuted
    assert other.result["scenario"]["order"] == {"index": 2, "scenario_tasks": three_task_scenario.task_names}
    assert other.result["provenance"]["config_hash"] != own.result["provenance"]["config_hash"]
    assert other.result["scenario"]["fingerprint"] == own.result["scenario"]["fingerprint"]  # the same data
    # The untrained model is the same in both orders: by task name, its scores agree exactly.
    for metric in ("auc", "acc"):
        reindexed = orders.by_name(np.array(other.result["initial"][metric]), permuted, three_task_scenario.task_names)
        assert reindexed.tolist() == own.result["initial"][metric]
    assert results.order_of(results.load(other.path)) == 2


def test_dfcl_run_order_seed_writes_the_order_folder(two_task_yaml, tmp_path):
    assert main(["-q", "run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--order-seed", "1",
                 "--results-dir", str(tmp_path)]) == 0
    result = results.load(tmp_path / "tiny+order1" / "naive--smallcnn" / "seed0.json")
    assert result["scenario"]["tasks"] == ["faceswap", "gan_tconv"]
    assert main(["-q", "run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--order-seed", "2",
                 "--results-dir", str(tmp_path)]) == 2  # two tasks have two orders


def write_order_result(results_dir, auc, *, order, seed, strategy="naive", scenario="demo"):
    tasks = [TASKS[i] for i in orders.permutation(order, len(TASKS))]
    result = make_result(auc, scenario=scenario, strategy=strategy, seed=seed, tasks=tasks,
                         config_hash=f"sha256:{strategy}{order}")
    if order:
        result["scenario"]["order"] = {"index": order, "scenario_tasks": TASKS}
    path = results.result_path(results_dir, scenario, strategy, "smallcnn", seed, order)
    results.write(path, result)
    return path


def test_a_result_moved_to_another_orders_folder_or_with_a_wrong_order_is_refused(tmp_path):
    path = write_order_result(tmp_path, np.eye(3).tolist(), order=1, seed=0)
    stray = tmp_path / "demo" / "naive--smallcnn" / "seed0.json"
    stray.parent.mkdir(parents=True)
    shutil.copy(path, stray)
    with pytest.raises(ResultError, match=r"its content is demo\+order1/naive--smallcnn/seed0.json"):
        results.load(stray)
    forged = json.loads(path.read_text())
    forged["scenario"]["tasks"] = TASKS  # claims order 1 but was trained in the scenario's own order
    with pytest.raises(ResultError, match="not order 1"):
        results.validate(forged)


# --- leaderboard, table and figures ------------------------------------------------------------------

def final_row(values):
    """A 3-task AUC matrix whose last row is ``values`` (earlier rows: a perfectly learned diagonal)."""
    return [[1.0, 0.5, 0.5], [0.9, 1.0, 0.5], list(values)]


#: Average AUC per (strategy, order, seed): replay leads in orders 0 and 1, lwf in order 2.
FINALS = {("replay", 0): [(0.80, 0.80, 0.80), (0.82, 0.82, 0.82)], ("replay", 1): [(0.78,) * 3, (0.80,) * 3],
          ("replay", 2): [(0.70,) * 3, (0.72,) * 3],
          ("lwf", 0): [(0.75,) * 3, (0.76,) * 3], ("lwf", 1): [(0.74,) * 3, (0.74,) * 3],
          ("lwf", 2): [(0.77,) * 3, (0.79,) * 3]}


@pytest.fixture()
def by_order(tmp_path):
    for (strategy, order), seeds in FINALS.items():
        for seed, finals in enumerate(seeds):
            write_order_result(tmp_path, final_row(finals), order=order, seed=seed, strategy=strategy)
    write_order_result(tmp_path, final_row((0.6,) * 3), order=0, seed=0, strategy="naive")  # the own order only
    return tmp_path


def expected_spread(strategy):
    means = [np.mean([np.mean(f) for f in FINALS[(strategy, k)]]) for k in range(3)]
    variances = [np.var([np.mean(f) for f in FINALS[(strategy, k)]], ddof=1) for k in range(3)]
    return np.mean(means), np.sqrt(np.mean(variances)), np.std(means, ddof=1)


def test_leaderboard_ranks_the_own_order_and_adds_the_spread_over_orders(by_order):
    text = leaderboard.render(by_order, by_order / "board.md")
    ranked, sensitivity = text.split("### Task-order sensitivity")
    assert ranked.count("| smallcnn | 2 (0, 1)") == 2 and "naive" in ranked  # order 0 only, every row
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in sensitivity.splitlines() if line.startswith("| ") and "Strategy" not in line}
    assert set(rows) == {"replay", "lwf"}  # naive was trained in its own order only
    for strategy in ("replay", "lwf"):
        mean, sd_seeds, sd_orders = expected_spread(strategy)
        assert rows[strategy][2:7] == ["0, 1, 2", "2, 2, 2", f"{mean:.3f}", f"{sd_seeds:.3f}", f"{sd_orders:.3f}"]
    assert rows["replay"][-1] == "1 / 1 / 2" and rows["lwf"][-1] == "2 / 2 / 1"
    assert "changes across orders" in sensitivity
    assert "order 2: lwf--smallcnn > replay--smallcnn" in sensitivity
    assert f"- order 1: {' → '.join(TASKS[i] for i in orders.permutation(1, 3))}" in sensitivity


def test_a_ranking_that_holds_in_every_order_is_said_to(tmp_path):
    for order in range(2):
        write_order_result(tmp_path, final_row((0.9,) * 3), order=order, seed=0, strategy="replay")
        write_order_result(tmp_path, final_row((0.7,) * 3), order=order, seed=0, strategy="lwf")
    assert "is the same in every order" in leaderboard.render(tmp_path, tmp_path / "board.md")


def test_table_reports_the_spread_over_orders_beside_the_spread_over_seeds(by_order):
    selection = select(by_order, "demo", ["replay", "lwf", "naive"])
    frame = tables.order_frame(selection)
    average = frame[frame["summary"] == "average"].set_index("strategy")
    assert list(average.index) == ["replay", "lwf"]
    for strategy in ("replay", "lwf"):
        assert tuple(average.loc[strategy, ["mean", "sd_seeds", "sd_orders"]]) == pytest.approx(expected_spread(strategy))
    assert average.loc["lwf", "rank_order2"] == 1 and average.loc["replay", "rank_order2"] == 2
    forgetting = frame[frame["summary"] == "forgetting"].set_index("strategy")
    assert forgetting.loc["replay", "mean_order0"] == pytest.approx(np.mean([1.0 - 0.80, 1.0 - 0.82]))
    text = tables.order_markdown(frame, selection)
    mean, sd_seeds, sd_orders = expected_spread("replay")
    assert f"| replay | 0 1 2 | 2 2 2 | {mean:.3f} ({sd_seeds:.3f} / {sd_orders:.3f})" in text
    assert "sample s.d. over seeds within an order / sample s.d. over orders" in text
    assert r"\toprule" in tables.order_latex(frame, selection)


def test_dfcl_table_appends_the_order_table_and_csv_its_columns(by_order, capsys):
    assert main(["table", "--results-dir", str(by_order), "--resamples", "0"]) == 0
    out = capsys.readouterr().out
    assert "**demo**" in out and "**demo, task orders**" in out
    assert main(["table", "--results-dir", str(by_order), "--resamples", "0", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert {"sd_seeds", "sd_orders", "mean_order2", "rank_order2"} <= set(header)


def test_selection_of_another_order_uses_its_tasks(by_order):
    selection = select(by_order, "demo", ["replay"], order=2)
    assert selection.tasks == tuple(TASKS[i] for i in orders.permutation(2, 3))
    assert selection.seeds("replay--smallcnn") == [0, 1]
    with pytest.raises(ResultError, match="task order 5"):
        select(by_order, "demo", order=5)


def test_figures_draw_average_and_forgetting_per_order_and_final_scores_by_task_name(by_order):
    selection = select(by_order, "demo", ["replay", "lwf"])
    figures = dict(plots.figures(selection, seed_matrices=False))
    try:
        average_ax, forgetting_ax = figures["auc-orders"].axes
        lines = [c for c in average_ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(lines) == 2
        replay = [np.mean([np.mean(f) for f in FINALS[("replay", k)]]) for k in range(3)]
        assert lines[0][0].get_ydata() == pytest.approx(replay)
        assert forgetting_ax.get_ylabel() == "Forgetting (AUC) ↓,\npositive = forgotten"
        figure = figures["auc-orders"]
        figure.canvas.draw()  # each panel's title stays beside its own panel, clear of the other one
        renderer = figure.canvas.get_renderer()
        for ax in (average_ax, forgetting_ax):
            title, panel = ax.yaxis.label.get_window_extent(renderer), ax.get_window_extent(renderer)
            assert panel.y0 - 1 <= title.y0 and title.y1 <= panel.y1 + 1, ax.get_ylabel()
        assert [t.get_text() for t in forgetting_ax.get_xticklabels()] == ["0 (own)", "1", "2"]
        found, finals = selection.final_by_task("replay--smallcnn")
        assert found == [0, 1, 2]
        assert finals[0] == pytest.approx([0.81, 0.81, 0.81])
        heatmap = figures["auc-final-by-order--replay--smallcnn"].axes[0]
        assert np.asarray(heatmap.collections[0].get_array()).reshape(3, 3) == pytest.approx(finals)
        assert [t.get_text() for t in heatmap.get_xticklabels()] == TASKS  # columns by name, whatever the order
    finally:
        for figure in figures.values():
            plt.close(figure)


def test_final_scores_follow_the_task_name_not_the_position(tmp_path):
    """Order 1 trains the tasks in another sequence: its last row, by name, must land in the right columns."""
    trained = [TASKS[i] for i in orders.permutation(1, 3)]
    last = {name: 0.6 + 0.1 * k for k, name in enumerate(TASKS)}  # gan 0.6, diffusion 0.7, faceswap 0.8
    write_order_result(tmp_path, final_row([last[name] for name in trained]), order=1, seed=0)
    write_order_result(tmp_path, final_row([last[name] for name in TASKS]), order=0, seed=0)
    found, finals = select(tmp_path, "demo").final_by_task("naive--smallcnn")
    assert np.allclose(finals, [[0.6, 0.7, 0.8], [0.6, 0.7, 0.8]])
