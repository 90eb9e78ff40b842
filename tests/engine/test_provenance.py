"""Where a run came from: its code (a diff when dirty, refused under results/), its dataset's
identity and its plan, as the engine records them and the report reads them."""

import hashlib
import json
import subprocess

import pytest
from tests.fixtures import write_cifar10

from attnzoo import machine
from attnzoo.cli.main import main
from attnzoo.engine import TrainConfig, train
from attnzoo.engine.config import changes_since
from attnzoo.engine.provenance import PLAN_FILE, check_code
from attnzoo.engine.sweep import Sweep, execute_sweep, plan_sweep
from attnzoo.report.provenance import missing
from attnzoo.report.tables import read_summaries
from attnzoo.run_keys import DIFF_FILE

TINY = dict(
    model="resnet20", epochs=1, batch_size=20, eval_batch_size=50, lr=0.05, tensorboard=False
)


def git(root, *args):
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A checkout with one commit, taken as attnzoo's own code; no version from the environment."""
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "a.py").write_text("A = 1\n")
    (root / "src" / "pkg" / "data.bin").write_bytes(bytes(range(256)))
    (root / "README").write_text("docs\n")
    (root / ".gitignore").write_text("*.pyc\n")
    git(tmp_path, "init", "-q", str(root))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    monkeypatch.setattr(machine, "SOURCE_ROOT", root)
    monkeypatch.delenv("ATTNZOO_CODE_VERSION", raising=False)
    return root


def make_dirty(root):
    (root / "src" / "pkg" / "a.py").write_text("A = 2\n")
    (root / "src" / "pkg" / "data.bin").write_bytes(bytes(range(255, -1, -1)))
    (root / "src" / "pkg" / "new.py").write_text("B = 3\n")  # untracked, not ignored
    (root / "src" / "pkg" / "cache.pyc").write_bytes(b"ignored")


def test_code_version_is_dirty_for_code_changes_only(repo):
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    (repo / "README").write_text("docs changed\n")  # not code
    (repo / "results").mkdir()
    (repo / "results" / "summary.json").write_text("{}")  # a sweep's output, untracked
    assert machine.code_version() == head
    (repo / "src" / "pkg" / "new.py").write_text("B = 3\n")
    assert machine.code_version() == head + "+dirty"


def test_the_diff_replays_the_dirty_code_on_its_commit(repo, tmp_path):
    make_dirty(repo)
    diff = machine.code_diff()
    clean = tmp_path / "clean"
    git(repo, "worktree", "add", "-q", str(clean), "HEAD")
    subprocess.run(["git", "-C", str(clean), "apply"], input=diff, check=True)
    for name in ("a.py", "data.bin", "new.py"):
        assert (clean / "src/pkg" / name).read_bytes() == (repo / "src/pkg" / name).read_bytes()
    assert not (clean / "src/pkg/cache.pyc").exists()  # ignored files are not code


def test_dirty_code_under_results_needs_allow_dirty():
    run = TrainConfig(out_dir="somewhere/results/cifar/resnet20/none/s0")
    with pytest.raises(ValueError, match=r"refusing .*under results/.*abc\+dirty.*--allow-dirty"):
        check_code(run, "abc+dirty")
    check_code(TrainConfig(out_dir=run.out_dir, allow_dirty=True), "abc+dirty")
    check_code(run, "abc")  # clean code
    check_code(TrainConfig(out_dir="runs/x"), "abc+dirty")  # not under results/
    # allow_dirty does not make a run another one: a run may resume with it, or be reused.
    assert changes_since(run.to_dict(), TrainConfig(out_dir=run.out_dir, allow_dirty=True)) == {}


def test_train_refuses_dirty_code_under_results_in_one_line(repo, tiny_cifar10, tmp_path, capsys):
    make_dirty(repo)
    out = tmp_path / "results" / "run"
    args = ["train", "--data", str(tiny_cifar10), "--out-dir", str(out), "--epochs", "1"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("attnzoo train: error: refusing to train") and "--allow-dirty" in line
    assert not out.exists()  # refused before anything was written


def test_a_run_records_its_provenance_in_full(repo, tiny_cifar10, tmp_path):
    """Dirty code with allow_dirty: the diff is saved, and the report finds nothing missing."""
    make_dirty(repo)
    out = tmp_path / "results" / "run"
    config = TrainConfig(**TINY, data=str(tiny_cifar10), out_dir=str(out), allow_dirty=True)
    summary = train(config, progress=False)
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    assert summary["machine"]["code"] == head + "+dirty"
    assert (out / DIFF_FILE).read_bytes() == machine.code_diff()
    files = sorted(p for p in tiny_cifar10.iterdir())
    manifest = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in files)
    assert summary["data"]["sha256"] == hashlib.sha256(manifest.encode()).hexdigest()
    planned = summary["planned"]
    assert planned["seeds"] == 1 and planned["by"] == "train" and planned["at"].endswith("+00:00")
    assert "planned" not in summary["config"] and "allow_dirty" in summary["config"]
    (read,) = read_summaries([out])
    assert missing(read) == []

    # The same run resumed on changed data is refused: it would mix two datasets.
    (tiny_cifar10 / "readme.html").write_text("a file more")
    resumed = TrainConfig(**{**config.to_dict(), "resume": "auto"})
    with pytest.raises(ValueError, match="the dataset changed"):
        train(resumed, progress=False)


def test_a_sweep_records_when_it_planned_each_run_and_for_how_many_seeds(tmp_path, monkeypatch):
    import attnzoo.engine.sweep as sweep_module

    root = tmp_path / "sweep"
    # 50 training images: what is checked is the plans the runs record, not what they learn.
    base = {**TINY, "data": str(write_cifar10(tmp_path, per_batch=10))}
    for seeds, at in ((1, "2025-01-01T00:00:00+00:00"), (2, "2025-02-01T00:00:00+00:00")):
        monkeypatch.setattr(sweep_module, "utc_now", lambda at=at: at)
        runs = plan_sweep(base, models=["resnet20"], attention=[[]], seeds=seeds, root=root)
        execute_sweep(Sweep("tiny", runs, root))
    first, added = (
        json.loads((root / f"resnet20/none/s{s}/summary.json").read_text()) for s in (0, 1)
    )
    assert first["planned"] == {"at": "2025-01-01T00:00:00+00:00", "seeds": 1, "by": "sweep"}
    assert added["planned"] == {"at": "2025-02-01T00:00:00+00:00", "seeds": 2, "by": "sweep"}

    # A re-plan (here with more seeds still) keeps each run's first plan.
    monkeypatch.setattr(sweep_module, "utc_now", lambda: "2025-03-01T00:00:00+00:00")
    (root / "resnet20/none/s0/summary.json").unlink()  # as if it had not finished
    runs = plan_sweep(base, models=["resnet20"], attention=[[]], seeds=3, root=root)
    sweep_module.record_plans(runs, 3)
    assert json.loads((root / "resnet20/none/s0" / PLAN_FILE).read_text())["seeds"] == 1
    assert json.loads((root / "resnet20/none/s2" / PLAN_FILE).read_text())["seeds"] == 3


def test_a_sweep_refuses_dirty_code_before_writing_anything(repo, tiny_cifar10, tmp_path):
    make_dirty(repo)
    root = tmp_path / "results" / "tiny"
    runs = plan_sweep(
        {**TINY, "data": str(tiny_cifar10)},
        models=["resnet20"],
        attention=[[]],
        seeds=1,
        root=root,
    )
    with pytest.raises(ValueError, match="refusing to train"):
        execute_sweep(Sweep("tiny", runs, root))
    assert not root.exists()


def test_sweep_allow_dirty_flag_reaches_every_run():
    from attnzoo.cli.main import build_parser
    from attnzoo.cli.sweep import _overrides

    assert _overrides(build_parser().parse_args(["sweep", "tiny", "--allow-dirty"])) == {
        "allow_dirty": True
    }
    assert "allow_dirty" not in _overrides(build_parser().parse_args(["sweep", "tiny"]))
