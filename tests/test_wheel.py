"""attnzoo as a user installs it: the wheel, in a fresh venv, run from outside the clone.

The venv reuses the packages of the running interpreter (torch among them) through a path file,
which adds their directory without processing its own path files, so the clone's editable install
is not seen: the only attnzoo importable there is the wheel's.
"""

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.fixtures import BUNDLED_CIFAR10

# One worker builds the wheel and its venv (the module fixture) for both tests.
pytestmark = pytest.mark.xdist_group("wheel")

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]  # pip's reason, not only its exit status
    (wheel,) = dist.glob("attnzoo-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    own = Path(
        run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], root, {}).strip()
    )
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no attnzoo but the wheel
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env=clean,
    )
    # After the install: pip would otherwise see the clone's editable attnzoo as installed.
    (own / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(root), "OMP_NUM_THREADS": "1"}
    env["ATTNZOO_DATA_DIR"] = str(BUNDLED_CIFAR10.parent)
    env["ATTNZOO_DATA_MIRROR"] = "http://127.0.0.1:9/no-downloads-in-tests/"  # no internet here
    return python, env


@pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason=f"{BUNDLED_CIFAR10} is absent")
def test_the_wheel_works_outside_the_clone(installed, tmp_path):
    python, env = installed
    work = tmp_path / "empty"
    work.mkdir()
    where = run([str(python), "-c", "import attnzoo; print(attnzoo.__file__)"], work, env)
    assert not Path(where.strip()).is_relative_to(REPO)  # the wheel's copy, not the clone's
    attnzoo = [str(python.parent / "attnzoo")]  # the console script the wheel installs
    assert "cifar10-smoke" in run([*attnzoo, "list"], work, env)
    # A published table from the wheel's data: the quickest to count (3 s; BA2M Table XI's
    # CIFAR-100 networks take 20). tests/benchmarks/test_complexity.py checks the counts.
    table = run([*attnzoo, "complexity", "--paper", "--table", "SPEM Table 1"], work, env)
    assert "SPEM Table 1" in table and "| ResNet-164 (CIFAR-10) | 1.70 |" in table
    run(
        [
            *attnzoo,
            "train",
            "--config",
            "cifar10-smoke",
            "--epochs",
            "1",
            "--train-per-class",
            "8",
            "--test-per-class",
            "4",
            "--batch-size",
            "16",
            "--no-tensorboard",
            "--quiet",
            "--out-dir",
            "run",
        ],
        work,
        env,
    )
    assert (work / "run" / "summary.json").is_file()
    compared = run([*attnzoo, "compare", "run", "--published", "ba2m-table11"], work, env)
    assert "resnet20" in compared
    loaded = run(
        [
            str(python),
            "-c",
            "import json, attnzoo; model, config = attnzoo.load_run('run'); "
            "print(json.dumps([type(model).__name__, model.training, config.model]))",
        ],
        work,
        env,
    )
    name, training, model = json.loads(loaded.strip().splitlines()[-1])
    assert not training and model == "resnet20" and name


def test_an_installed_wheel_has_no_clone_to_lean_on(installed):
    python, env = installed
    code = "import attnzoo.data.places as p; print([str(d) for d in p.data_dirs()])"
    dirs = run([str(python), "-c", code], Path(env["HOME"]), {**env, "ATTNZOO_DATA_DIR": ""})
    assert str(REPO) not in dirs
    assert os.sep + "attnzoo" in dirs  # the per-user directory
