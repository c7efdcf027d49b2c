"""`dfcl plot`: figures built from hand-written result files draw exactly the numbers in those files,
with one line / point / bar per task or run, labelled axes, and files that fit the paper's column."""

import re
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.image import imread
from matplotlib.patches import Rectangle

from benchmark import plots, style
from benchmark.cli import main
from benchmark.selection import select
from conftest import REPO, make_result, write_result

TASKS = ["gan", "diffusion", "faceswap"]
NAIVE = [  # three seeds of a 3-task AUC matrix
    [[0.90, 0.55, 0.60], [0.70, 0.92, 0.58], [0.65, 0.75, 0.95]],
    [[0.88, 0.50, 0.62], [0.72, 0.90, 0.61], [0.60, 0.70, 0.93]],
    [[0.91, 0.52, 0.59], [0.69, 0.94, 0.57], [0.62, 0.78, 0.96]],
]
JOINT = [[[0.90, 0.55, 0.60], [0.89, 0.91, 0.62], [0.88, 0.90, 0.94]]]
INITIAL = [0.5, 0.48, 0.52]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    results_dir = tmp_path_factory.mktemp("results")
    for seed, matrix in enumerate(NAIVE):
        write_result(results_dir, make_result(matrix, strategy="naive", seed=seed, tasks=TASKS, initial_auc=INITIAL))
    write_result(results_dir, make_result(JOINT[0], strategy="joint", seed=0, tasks=TASKS, initial_auc=INITIAL))
    selection = select(results_dir, "demo", ["naive", "joint"])
    figures = dict(plots.figures(selection))
    yield results_dir, figures
    for figure in figures.values():
        plt.close(figure)


def cells(figure) -> np.ndarray:
    ax = figure.axes[0]
    return np.asarray(ax.collections[0].get_array()).reshape(len(TASKS), len(TASKS))


def test_heatmap_cells_are_the_matrix_annotated_with_the_diagonal_marked(drawn):
    _, figures = drawn
    figure = figures["auc-matrix--naive--smallcnn--seed1"]
    ax = figure.axes[0]
    assert np.array_equal(cells(figure), np.array(NAIVE[1]))
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for row in NAIVE[1] for v in row]
    outlined = sorted(p.get_xy() for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill())
    assert outlined == [(j, j) for j in range(len(TASKS))]
    assert ax.get_xlabel() == "Tested on task j" and ax.get_ylabel() == "After training task i"
    assert [t.get_text() for t in ax.get_xticklabels()] == TASKS
    assert figure.axes[1].get_ylabel() == "AUC"  # the colour bar


def test_mean_heatmap_averages_the_seeds(drawn):
    _, figures = drawn
    assert np.allclose(cells(figures["auc-matrix--naive--smallcnn--mean"]), np.mean(NAIVE, axis=0))
    assert "mean of 3 seeds (0, 1, 2)" in figures["auc-matrix--naive--smallcnn--mean"].axes[0].get_title()


def test_per_task_curves_one_line_per_task_with_a_band(drawn):
    _, figures = drawn
    ax = figures["auc-per-task--naive--smallcnn"].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert sorted(lines) == sorted(TASKS)
    for j, task in enumerate(TASKS):
        expected = [INITIAL[j], *np.mean(NAIVE, axis=0)[:, j]]
        assert np.allclose(lines[task].get_ydata(), expected)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(TASKS)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["untrained", *TASKS]
    assert ax.get_ylabel() == "AUC on the tested task"
    assert "± 1 s.d. over 3 seeds" in figures["auc-per-task--naive--smallcnn"].legends[0].get_title().get_text()


def seed_summary(matrices, key):
    from benchmark import metrics
    return [metrics.summarise(np.array(m), np.array(INITIAL))[key] for m in matrices]


def test_stability_plasticity_one_point_per_run_with_error_bars(drawn):
    _, figures = drawn
    ax = figures["auc-stability-plasticity"].axes[0]
    points = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(points) == 2
    naive = points[0][0]
    assert naive.get_xdata()[0] == pytest.approx(np.mean(seed_summary(NAIVE, "forgetting")))
    assert naive.get_ydata()[0] == pytest.approx(np.mean(seed_summary(NAIVE, "average")))
    x_bar = points[0].lines[2][0].get_segments()[0]  # horizontal error bar: mean ± s.d.
    assert x_bar[1][0] - x_bar[0][0] == pytest.approx(2 * np.std(seed_summary(NAIVE, "forgetting"), ddof=1))
    assert ax.get_xlabel() == "Forgetting (AUC) ↓, positive = forgotten"
    assert ax.get_ylabel() == "Avg AUC ↑, final model"


def test_summary_bars_one_bar_per_run_and_summary_and_a_dot_per_seed(drawn):
    _, figures = drawn
    ax = figures["auc-summary-bars"].axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [len(b) for b in bars] == [3, 3]
    heights = [bar.get_height() for bar in bars[0]]
    assert heights == pytest.approx([np.mean(seed_summary(NAIVE, key)) for key in plots.BARS])
    dots = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert dots == (3 + 1) * len(plots.BARS)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[1].startswith("Forgetting (AUC) ↓") and ticks[2].startswith("BWT (AUC) ↑")


def test_cli_writes_every_figure_as_pdf_png_svg_within_the_column(drawn, tmp_path):
    results_dir, figures = drawn
    plot = ["plot", "--scenario", "demo", "--results-dir", str(results_dir), "--runs", "joint", "--output"]
    assert main([*plot, str(tmp_path / "first")]) == 0
    written = {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir()}
    stems = [stem for stem in figures if "naive" not in stem]
    assert sorted(written) == sorted(f"{stem}.{fmt}" for stem in stems for fmt in style.FORMATS)
    for stem in stems:
        width_px = imread(tmp_path / "first" / f"{stem}.png").shape[1]
        assert width_px <= style.COLUMN_WIDTH * style.RC["savefig.dpi"] * 1.02, f"{stem} is wider than a column"
    pdf = written["auc-summary-bars.pdf"]
    assert b"/FontFile2" in pdf and b"/Subtype /Type3" not in pdf  # embedded TrueType, no Type 3 fonts
    assert b"<text" in written["auc-summary-bars.svg"]  # text stays text
    assert main([*plot, str(tmp_path / "again"), "--formats", "pdf", "svg"]) == 0
    again = list((tmp_path / "again").iterdir())  # no timestamps: a regenerated figure is byte-identical
    assert len(again) == 2 * len(stems) and [p.name for p in again if written[p.name] != p.read_bytes()] == []


def test_unknown_run_is_refused_naming_the_ones_there(drawn, capsys):
    results_dir, _ = drawn
    assert main(["plot", "--scenario", "demo", "--results-dir", str(results_dir), "--runs", "ewc"]) == 2
    err = capsys.readouterr().err
    assert "no run 'ewc'" in err and "available: joint--smallcnn, naive--smallcnn" in err


def test_plots_tables_and_comparisons_never_import_torch(drawn, tmp_path):
    results_dir, _ = drawn
    code = ("import sys\n"
            "from benchmark.cli import main\n"
            f"assert main(['plot', '--scenario', 'demo', '--results-dir', {str(results_dir)!r}, '--output', "
            f"{str(tmp_path)!r}, '--formats', 'svg', '--runs', 'joint']) == 0\n"
            f"assert main(['table', '--results-dir', {str(results_dir)!r}, '--format', 'latex']) == 0\n"
            f"assert main(['compare', 'naive', 'joint', '--scenario', 'demo', '--results-dir', {str(results_dir)!r}]) == 0\n"
            "import benchmark.plots, benchmark.tables, benchmark.compare, benchmark.uncertainty, benchmark.selection\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('no torch')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("no torch")


def test_committed_figures_are_what_the_committed_results_make():
    """figures/synthetic/ is generated by `make figures` (part of `make run`): the strategies and the detectors
    sets as `dfcl plot --no-seed-matrices --runs …` writes them from results/, each with at most ten runs."""
    folder = REPO / "figures" / "synthetic"
    makefile = (REPO / "Makefile").read_text()
    expected = {"table.md", "table.tex"}
    for subset, variable in (("strategies", "STRATEGY_RUNS"), ("detectors", "DETECTOR_RUNS")):
        runs = re.search(rf"^{variable} := (.*)$", makefile, re.M).group(1).replace("'", "").split()
        selection = select(REPO / "results", "synthetic", runs)
        assert len(selection.runs) <= len(style.PALETTE)
        for stem, figure in plots.figures(selection, seed_matrices=False):
            expected |= {f"{subset}/{stem}.{fmt}" for fmt in style.FORMATS}
            plt.close(figure)
    found = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert found == expected, "figures/synthetic/ is stale: run `make figures`"
    readme = (REPO / "README.md").read_text()
    embedded = re.findall(r"!\[[^\]]*\]\((figures/synthetic/[^)]+\.png)\)", readme)
    assert embedded and all((REPO / path).is_file() for path in embedded)


@pytest.mark.parametrize("command", ["plot", "table", "compare"])
def test_help_for_the_figure_table_and_comparison_commands(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: dfcl {command}" in capsys.readouterr().out


def test_without_seed_matrices_only_the_mean_heatmap_of_each_run_is_drawn(drawn):
    results_dir, with_seeds = drawn
    stems = []
    for stem, figure in plots.figures(select(results_dir, "demo", ["naive", "joint"]), seed_matrices=False):
        stems.append(stem)
        plt.close(figure)
    assert stems == [stem for stem in with_seeds if "--seed" not in stem]
    assert "auc-matrix--naive--smallcnn--mean" in stems and len(stems) < len(with_seeds)


def test_bars_beyond_the_palette_are_told_apart_by_hatching():
    runs = range(3 * len(style.PALETTE))
    assert style.hatch(0) is None and style.hatch(len(style.PALETTE)) is not None
    assert len({(style.colour(k), style.hatch(k)) for k in runs}) == len(runs)


def test_runs_are_chosen_by_name_strategy_or_pattern_in_the_order_given(tmp_path):
    for strategy, detector in [("naive", "smallcnn"), ("joint", "smallcnn"), ("naive", "cmfl"), ("ewc", "smallcnn")]:
        write_result(tmp_path, make_result(JOINT[0], strategy=strategy, detector=detector, tasks=TASKS))
    assert select(tmp_path, "demo", ["joint", "*--smallcnn"]).runs == ["joint--smallcnn", "ewc--smallcnn",
                                                                      "naive--smallcnn"]
    assert select(tmp_path, "demo", ["naive--*"]).runs == ["naive--cmfl", "naive--smallcnn"]


PROBE = [  # per naive seed: the features keep the old tasks that the head forgets
    [[0.93, 0.60, 0.62], [0.90, 0.94, 0.60], [0.88, 0.91, 0.96]],
    [[0.90, 0.55, 0.63], [0.89, 0.92, 0.62], [0.86, 0.90, 0.95]],
    [[0.92, 0.58, 0.60], [0.88, 0.95, 0.59], [0.87, 0.92, 0.97]],
]


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """naive with probes on seeds 0 and 1 (seed 2 without), joint with probes, ewc without any."""
    from probed_results import with_probe

    results_dir = tmp_path_factory.mktemp("probed")
    for seed, (matrix, probe) in enumerate(zip(NAIVE, PROBE)):
        result = make_result(matrix, strategy="naive", seed=seed, tasks=TASKS, initial_auc=INITIAL)
        write_result(results_dir, with_probe(result, probe) if seed < 2 else result)
    write_result(results_dir, with_probe(make_result(JOINT[0], strategy="joint", tasks=TASKS), JOINT[0]))
    write_result(results_dir, make_result(JOINT[0], strategy="ewc", tasks=TASKS))
    figures = {}
    for stem, figure in plots.figures(select(results_dir, "demo", ["naive", "joint", "ewc"]), seed_matrices=False):
        figures[stem] = figure
        if "probe" not in stem and "location" not in stem:  # drawn above already; keep few figures open
            plt.close(figure)
    yield results_dir, figures
    for figure in figures.values():
        plt.close(figure)


def test_probe_figure_shows_r_p_and_their_gap_on_one_scale_for_probed_runs_only(probed):
    _, figures = probed
    assert "auc-probe-matrix--ewc--smallcnn" not in figures
    figure = figures["auc-probe-matrix--naive--smallcnn"]
    heatmaps = [ax for ax in figure.axes if ax.texts]  # the annotated panels, not their colour bars
    r, p, gap = (np.asarray(ax.collections[0].get_array()).reshape(3, 3) for ax in heatmaps[:3])
    assert np.allclose(r, np.mean(NAIVE[:2], axis=0)) and np.allclose(p, np.mean(PROBE[:2], axis=0))
    assert np.allclose(gap, p - r)
    assert heatmaps[0].collections[0].norm.vmin == heatmaps[1].collections[0].norm.vmin  # one colour scale
    assert [t.get_text() for t in heatmaps[2].texts][6] == f"{gap[2, 0]:+.2f}"
    past_gap = np.mean(gap[2, :2])
    assert f"{past_gap:+.3f}" in heatmaps[2].get_title()
    assert "2 seeds with probes (0, 1)" in figure._suptitle.get_text()


def test_forgetting_location_places_each_probed_run_at_its_mean_with_seed_spread(probed):
    from benchmark import metrics

    _, figures = probed
    ax = figures["auc-forgetting-location"].axes[0]
    points = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(points) == 2  # naive and joint; ewc has no probes
    representation = [metrics.forgetting(np.array(p)) for p in PROBE[:2]]
    readout = [metrics.forgetting(np.array(r)) - f for r, f in zip(NAIVE[:2], representation)]
    naive = points[0][0]
    assert naive.get_xdata()[0] == pytest.approx(np.mean(representation))
    assert naive.get_ydata()[0] == pytest.approx(np.mean(readout))
    y_bar = points[0].lines[2][1].get_segments()[0]
    assert y_bar[1][1] - y_bar[0][1] == pytest.approx(2 * np.std(readout, ddof=1))
    assert ax.get_xlabel() == "Repr. forgetting (AUC) ↓, positive = the features forgot"
    assert ax.get_ylabel().replace("\n", " ").startswith("Readout forgetting (AUC), positive = the head forgot")
    assert "naive (n = 2)" in [t.get_text() for t in figures["auc-forgetting-location"].legends[0].get_texts()]


def test_cli_writes_the_probe_figures(probed, tmp_path):
    results_dir, _ = probed
    assert main(["plot", "--scenario", "demo", "--results-dir", str(results_dir), "--output", str(tmp_path),
                 "--formats", "png", "--no-seed-matrices"]) == 0
    written = {p.name for p in tmp_path.iterdir()}
    assert {"auc-probe-matrix--naive--smallcnn.png", "auc-probe-matrix--joint--smallcnn.png",
            "auc-forgetting-location.png"} <= written
    assert "auc-probe-matrix--ewc--smallcnn.png" not in written
    width_px = imread(tmp_path / "auc-forgetting-location.png").shape[1]
    assert width_px <= style.COLUMN_WIDTH * style.RC["savefig.dpi"] * 1.02
    width_px = imread(tmp_path / "auc-probe-matrix--naive--smallcnn.png").shape[1]
    assert width_px <= style.FULL_WIDTH * style.RC["savefig.dpi"] * 1.02  # three panels: a two-column figure
    for folder in ("svg-a", "svg-b"):
        assert main(["plot", "--scenario", "demo", "--results-dir", str(results_dir), "--output",
                     str(tmp_path / folder), "--formats", "svg", "pdf", "--runs", "naive"]) == 0
    stems = ["auc-probe-matrix--naive--smallcnn", "auc-forgetting-location"]
    assert all((tmp_path / "svg-a" / f"{stem}.{fmt}").read_bytes() == (tmp_path / "svg-b" / f"{stem}.{fmt}").read_bytes()
               for stem in stems for fmt in ("svg", "pdf"))  # byte-stable, as every figure
