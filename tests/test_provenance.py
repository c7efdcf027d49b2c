"""Provenance: what a result records of the code that made it."""

import subprocess

from benchmark import provenance


def test_the_dirty_flag_describes_the_code_not_the_results_it_writes(tmp_path):
    """Regenerating committed results rewrites tracked files under results/; that alone must not mark the
    runs as made from uncommitted code, while any change to a source file must."""
    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    for path in ("benchmark/runner.py", "results/synthetic/naive--smallcnn/seed0.json", "leaderboard.md",
                 "figures/synthetic/table.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    assert provenance.git_state(tmp_path)[1] is False
    for path in ("results/synthetic/naive--smallcnn/seed0.json", "leaderboard.md", "figures/synthetic/table.md"):
        (tmp_path / path).write_text("v2\n")
    (tmp_path / "results" / "synthetic" / "new.json").write_text("{}\n")
    assert provenance.git_state(tmp_path)[1] is False
    (tmp_path / "benchmark" / "runner.py").write_text("v2\n")
    assert provenance.git_state(tmp_path)[1] is True


def test_a_new_source_file_not_yet_committed_makes_the_tree_dirty(tmp_path):
    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (tmp_path / "cache.pyc").write_text("ignored\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "seed0.json").write_text("{}\n")
    assert provenance.git_state(tmp_path)[1] is False
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "mine.py").write_text("# not committed\n")
    assert provenance.git_state(tmp_path)[1] is True
