import json
import subprocess
import sys

from attnzoo.report.document import best_epoch_sentence, read_sweep, sweep_section

from .fake_runs import write_run

H200 = {"gpu": "NVIDIA H200", "cpu": "Xeon", "cores": 16, "torch": "2.11.0+cu130"}
EPYC = {"cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0+cpu"}


def _run(run_dir, machine, **config):
    summary = write_run(run_dir, augment="cifar", **config) / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "machine": machine}))


def test_a_sweep_on_one_machine_names_it_once(tmp_path):
    _run(tmp_path / "none" / "s0", H200)
    _run(tmp_path / "none" / "s1", H200, seed=1)
    text = sweep_section(read_sweep(tmp_path))
    assert "Measured on NVIDIA H200, torch 2.11.0+cu130.\n" in text
    assert "500 training and 100 test images, 3 epochs, batch 128, lr 0.1 (cosine)" in text


def test_a_sweep_finished_elsewhere_names_every_machine_and_setting(tmp_path):
    _run(tmp_path / "a" / "s0", H200)
    _run(tmp_path / "a" / "s1", H200, seed=1)
    _run(tmp_path / "b" / "s0", EPYC, attention=("se",), batch_size=32)
    text = sweep_section(read_sweep(tmp_path))
    assert (
        "Measured on NVIDIA H200, torch 2.11.0+cu130 (2 runs); "
        "AMD EPYC, 2 cores, torch 2.13.0+cpu (1 run).\n" in text
    )
    assert "3 epochs, batch 32/128, lr 0.1" in text


def test_the_report_does_not_import_the_engine():
    """The report layer reads JSON; it sits above the engine and must not pull it in."""
    code = "import sys, attnzoo.report; print('attnzoo.engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_best_epoch_sentence_says_which_runs_held_out_a_validation_split():
    plain = {"data": {"train_images": 900}}
    held = {"data": {"train_images": 900, "val_images": 1000}, "best": {"epoch": 3}}
    assert "No run here held out a validation split" in best_epoch_sentence([plain, plain])
    both = best_epoch_sentence([held, held])
    assert "on 1,000 training images held out" in both and "held out none" not in both
    assert "1 of the 3 runs held out none" in best_epoch_sentence([held, plain, held])
