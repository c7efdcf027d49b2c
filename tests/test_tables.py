"""`dfcl table`: numbers come from the result files, the best value per column is marked by each
summary's direction, the caption names the interval method per run, and the LaTeX compiles with booktabs."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from benchmark import results, tables
from benchmark.cli import main
from benchmark.selection import select
from conftest import make_result, write_result
from scored_results import write_scored_result

LATEX_PACKAGES = ["texlive-latex-base", "texlive-latex-recommended"]  # pdflatex; booktabs
NAIVE_FINALS = [0.60, 0.70, 0.80]


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """pdflatex from the Debian packages, installed when missing and we are root; skips when it cannot be
    had (no apt, not root, no network, a held lock), so the rest of the suite is unaffected."""
    if shutil.which("pdflatex"):
        return shutil.which("pdflatex")
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("pdflatex is missing and cannot be installed here (needs root and apt-get)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=60", "install", "-y", "--no-install-recommends", *LATEX_PACKAGES]
    update = ["apt-get", "-o", "DPkg::Lock::Timeout=60", "update"]
    for command in (install, update, install):  # update the package lists only if the first try fails
        try:
            done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"installing {LATEX_PACKAGES} timed out")
        if command is install and done.returncode == 0 and shutil.which("pdflatex"):
            return shutil.which("pdflatex")
    pytest.skip(f"could not install {LATEX_PACKAGES}: {done.stderr.strip()[-300:]}")


@pytest.fixture()
def three_runs(tmp_path):
    """naive (3 seeds, scores saved), joint (3 seeds, no scores), my_ewc+tag (1 seed, no scores)."""
    rng = np.random.default_rng(0)
    for seed in range(3):
        write_scored_result(tmp_path, [[2.0, 0.2], [0.8 + 0.3 * seed, 2.5]], strategy="naive", seed=seed, rng=rng)
        write_result(tmp_path, make_result([[0.9, 0.5], [0.88 - 0.01 * seed, 0.93]], strategy="joint", seed=seed))
    write_result(tmp_path, make_result([[0.9, 0.5], [0.7, 0.95]], strategy="my_ewc+tag", seed=0))
    return tmp_path


def frame_of(results_dir, **kwargs):
    selection = select(results_dir, "demo")
    return tables.summary_frame(selection, resamples=50, **kwargs), selection


def test_cells_are_mean_sd_and_interval_of_the_seed_summaries(tmp_path):
    for seed, final in enumerate(NAIVE_FINALS):
        write_result(tmp_path, make_result([[0.9, 0.5], [final, 0.95]], strategy="naive", seed=seed))
    frame, selection = frame_of(tmp_path)
    average = frame.set_index("summary").loc["average"]
    values = [(f + 0.95) / 2 for f in NAIVE_FINALS]
    assert average["mean"] == pytest.approx(np.mean(values))
    assert average["std"] == pytest.approx(np.std(values, ddof=1))
    half = 4.302652729911275 * np.std(values, ddof=1) / np.sqrt(3)  # t(0.975, 2 df), from tables of Student's t
    assert (average["ci_low"], average["ci_high"]) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    text = tables.markdown(frame, selection.tasks)
    assert f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} [{np.mean(values) - half:.3f}" in text
    assert "Student t over seeds (n−1 df)" in text


def test_best_per_column_follows_each_summarys_direction(three_runs):
    frame, selection = frame_of(three_runs)
    best = frame[frame["best"]].groupby("summary")["label"].apply(set)
    by_mean = frame.pivot(index="label", columns="summary", values="mean")
    assert best["average"] == {by_mean["average"].idxmax()}
    assert best["forgetting"] == {by_mean["forgetting"].idxmin()}  # lower forgetting is better
    assert best["bwt"] == {by_mean["bwt"].idxmax()}
    text = tables.markdown(frame, selection.tasks)
    joint_row = next(line for line in text.splitlines() if line.startswith("| joint"))
    assert joint_row.count("**") == 2 * sum("joint" in labels for labels in best)


def test_caption_names_the_interval_of_each_run(three_runs):
    frame, selection = frame_of(three_runs)
    methods = frame.drop_duplicates("run").set_index("label")["ci_method"]
    assert "bootstrap over test samples (50 resamples)" in methods["naive"]
    assert methods["joint"] == methods["my_ewc+tag"] == "Student t over seeds (n−1 df)"
    text = tables.markdown(frame, selection.tasks)
    assert "naive: Student t over seeds combined with a stratified bootstrap" in text
    assert "joint, my_ewc+tag: Student t over seeds (n−1 df)" in text
    single = next(line for line in text.splitlines() if line.startswith("| my_ewc+tag"))
    assert "±" not in single and "[" not in single  # one seed, no scores: no spread, no interval


def test_test_set_uncertainty_is_counted_when_seeds_agree(tmp_path):
    """Three seeds with identical scores: over seeds there is no spread at all, yet a 120-image test set
    leaves the AUC uncertain; the interval must say so, about as wide as the Hanley–McNeil standard error."""
    for seed in range(3):
        write_scored_result(tmp_path, [[1.0]], strategy="naive", seed=seed, rng=np.random.default_rng(7))
    selection = select(tmp_path, "demo")
    seeds_only = tables.summary_frame(selection, resamples=0).set_index("summary").loc["average"]
    combined = tables.summary_frame(selection, resamples=400).set_index("summary").loc["average"]
    assert seeds_only["ci_high"] - seeds_only["ci_low"] == 0
    auc, n = combined["mean"], 60
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    hanley_mcneil = np.sqrt((auc * (1 - auc) + (n - 1) * (q1 - auc ** 2) + (n - 1) * (q2 - auc ** 2)) / n ** 2)
    half = (combined["ci_high"] - combined["ci_low"]) / 2
    assert half / 1.959964 == pytest.approx(hanley_mcneil, rel=0.2)


def test_csv_is_tidy_with_full_precision(three_runs, capsys):
    assert main(["table", "--results-dir", str(three_runs), "--format", "csv", "--resamples", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    assert {"strategy", "detector", "summary", "n", "mean", "std", "ci_low", "ci_high", "best"} <= set(header)
    assert len(lines) == 1 + 3 * 4  # three runs × four summaries


def test_latex_table_compiles_with_booktabs(three_runs, tmp_path, pdflatex):
    table = tmp_path / "table.tex"
    assert main(["table", "--results-dir", str(three_runs), "--format", "latex", "--resamples", "20",
                 "--output", str(table)]) == 0
    text = table.read_text()
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text and "my\\_ewc+tag" in text
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                        "\\input{table.tex}\n\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 0
    assert "Overfull \\hbox" not in log, "the table is wider than the text"
    assert "Missing character" not in log


def test_scores_that_do_not_reproduce_their_result_are_refused(tmp_path, capsys):
    rng = np.random.default_rng(3)
    mine = write_scored_result(tmp_path, [[2.0, 0.2], [0.8, 2.5]], strategy="naive", seed=0, rng=rng)
    other = write_scored_result(tmp_path, [[0.5, 0.2], [0.8, 2.5]], strategy="joint", seed=0, rng=rng)
    results.scores_path(mine).write_bytes(results.scores_path(other).read_bytes())
    assert main(["table", "--results-dir", str(tmp_path), "--resamples", "5"]) == 2
    err = capsys.readouterr().err
    assert f"{results.scores_path(mine)}: scores_after0_t0 give AUC" in err and "dfcl run --force" in err


def test_probe_summaries_are_tabulated_where_runs_have_probes(tmp_path):
    from probed_results import with_probe

    probes = [[[0.92, 0.6], [0.90, 0.95]], [[0.91, 0.6], [0.86, 0.95]], [[0.90, 0.6], [0.89, 0.95]]]
    for seed, (final, probe) in enumerate(zip(NAIVE_FINALS, probes)):
        write_result(tmp_path, with_probe(make_result([[0.9, 0.5], [final, 0.95]], strategy="naive", seed=seed), probe))
    write_result(tmp_path, make_result([[0.9, 0.5], [0.88, 0.93]], strategy="joint"))
    frame, selection = frame_of(tmp_path)
    rows = frame.set_index(["label", "summary"])
    gap = [p[1][0] - f for p, f in zip(probes, NAIVE_FINALS)]
    assert rows.loc[("naive", "readout_gap"), "mean"] == pytest.approx(np.mean(gap))
    assert rows.loc[("naive", "readout_gap"), "std"] == pytest.approx(np.std(gap, ddof=1))
    assert rows.loc[("naive", "repr_forgetting"), "n"] == 3 and rows.loc[("joint", "repr_forgetting"), "n"] == 0
    assert not frame[frame["summary"] == "readout_gap"]["best"].any()  # neither direction is better
    text = tables.markdown(frame, selection.tasks)
    assert "| Repr. forgetting (AUC) ↓ | Readout gap (AUC) |" in text and "readout gap: probe minus detector" in text
    joint = next(line for line in text.splitlines() if line.startswith("| joint"))
    assert joint.endswith("| n/a | n/a |")
    assert r"Readout gap" in tables.latex(frame, selection.tasks)


def test_tables_without_probes_keep_their_four_summaries(three_runs):
    frame, _ = frame_of(three_runs)
    assert set(frame["summary"]) == {"average", "forgetting", "bwt", "fwt"}
