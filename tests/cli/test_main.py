import json

import pytest

from attnzoo.attention.spec import parse_options
from attnzoo.cli.main import main


def test_train_eval_compare(tiny_cifar10, tmp_path, capsys):
    runs = [tmp_path / "none", tmp_path / "se+ba2m"]
    common = [
        "train",
        "--data",
        str(tiny_cifar10),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--train-per-class",
        "10",
        "--quiet",
    ]
    assert main([*common, "--out-dir", str(runs[0])]) == 0
    assert (
        main(
            [
                *common,
                "--attention",
                "se+ba2m",
                "--option",
                "ba2m.tau=0.5",
                "--out-dir",
                str(runs[1]),
            ]
        )
        == 0
    )
    summary = json.loads((runs[1] / "summary.json").read_text())
    assert summary["attention"] == "se+ba2m"
    assert summary["config"]["attention_options"] == {"ba2m": {"tau": 0.5}}
    capsys.readouterr()

    assert main(["eval", "--checkpoint", str(runs[1] / "checkpoint.safetensors")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["top1"] == pytest.approx(summary["top1"])

    assert main(["compare", *map(str, runs)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| model | attention | data | seeds | top-1 err")
    assert table[3].startswith(f"| resnet20 | se+ba2m | {tiny_cifar10} | 1 | ")


def test_parse_options():
    assert parse_options(["ba2m"], ["tau=0.5", "sar=spatial"]) == {
        "ba2m": {"tau": 0.5, "sar": "spatial"}
    }
    assert parse_options(["se", "ba2m"], ["se.reduction=8"]) == {"se": {"reduction": 8}}
    with pytest.raises(ValueError, match="name the module"):
        parse_options(["se", "ba2m"], ["tau=0.5"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["se"], ["tau"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--attention", "nope"], "unknown attention 'nope'"),
        (["train", "--attention", "ba2m", "--option", "sar=x"], "sar='x'"),
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--data", "/no/such/data"], "dataset not found: /no/such/data"),
        (["eval", "--checkpoint", "/no/such.pt"], "checkpoint not found"),
        (["compare", "/no/such/run"], "no summary.json in /no/such/run"),
    ],
)
def test_errors_are_one_clear_line(argv, message, capsys, tmp_path, tiny_cifar10):
    if argv[0] == "train":
        argv = [*argv, "--out-dir", str(tmp_path / "run"), "--quiet"]
        if "--data" not in argv:  # a dataset at hand: the default, cifar10, would be downloaded
            argv += ["--data", str(tiny_cifar10)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "checkpoint.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    assert "is not a safetensors checkpoint" in capsys.readouterr().err


def test_config_file_then_flags(tmp_path):
    """Defaults < the --config file < flags given on the command line."""
    from attnzoo.cli.common import config_from_args
    from attnzoo.cli.main import build_parser

    path = tmp_path / "exp.yaml"
    path.write_text(
        "description: test\nmodel: resnet32\nepochs: 7\nlr: 0.2\nattention: se\n"
        "attention_options: {se: {reduction: 8}}\nsweep: {seeds: 3}\n"
    )
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(path),
            "--lr",
            "0.05",
            "--option",
            "reduction=4",
            "--no-norm-bias-decay",
            "--amp",
            "bf16",
            "--model-option",
            "foo=1",
        ]
    )
    config = config_from_args(args)
    assert (config.model, config.epochs, config.lr) == ("resnet32", 7, 0.05)
    assert config.attention == ["se"] and config.attention_options == {"se": {"reduction": 4}}
    assert config.norm_bias_decay is False and config.amp == "bf16"
    assert config.model_options == {"foo": 1}
    assert config.batch_size == 128  # untouched: the dataclass default
    with pytest.raises(ValueError, match="resnet32: unknown model option"):
        config.validate()


def test_bad_flag_values_are_rejected_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--amp", "fp8"])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


def test_train_into_a_run_refuses_then_restart_moves_it_aside(tiny_cifar10, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--data",
        str(tiny_cifar10),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--train-per-class",
        "10",
        "--quiet",
        "--out-dir",
        str(out),
    ]
    assert main(argv) == 0
    first = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main([*argv, "--attention", "se"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err and "restart" in err
    assert (out / "summary.json").read_text() == first  # nothing replaced
    assert main([*argv, "--attention", "se", "--restart"]) == 0
    (old,) = tmp_path.glob("run.old-*")
    assert (old / "summary.json").read_text() == first
    assert json.loads((out / "summary.json").read_text())["attention"] == "se"


def test_list_module_options_models_pattern_and_configs(capsys):
    import inspect

    from attnzoo.attention import get_attention_class

    assert main(["list", "ba2m"]) == 0
    out = capsys.readouterr().out
    params = inspect.signature(get_attention_class("ba2m").__init__).parameters
    for name in ("tau", "eval_mode", "gsa_groups"):  # every option, with its type and default
        assert f"  {name}" in out and f"= {params[name].default!r}" in out
    assert main(["list", "--models", "resnet1*"]) == 0
    names = capsys.readouterr().out.split()
    assert names and all(n.startswith("resnet1") for n in names) and "resnet18" in names
    assert main(["list"]) == 0
    assert "cifar10-smoke" in capsys.readouterr().out  # packaged configs
    assert main(["list", "--models", "nothing*"]) == 2
    assert "no model matches" in capsys.readouterr().err
