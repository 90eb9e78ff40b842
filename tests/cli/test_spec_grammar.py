"""One grammar of attention specs through every command: the same strings, the same models."""

from functools import partial

import pytest

from attnzoo import create_model
from attnzoo.attention import BA2M, SE
from attnzoo.attention.spec import (
    parse_attention,
    parse_options,
    parse_setting,
    parse_settings,
    spec_name,
)
from attnzoo.cli.common import config_from_args
from attnzoo.cli.main import build_parser, main
from attnzoo.engine.sweep import plan_sweep

SETTINGS = "none,se,se+ba2m"
EXPECTED = [[], ["se"], ["se", "ba2m"]]


def _modules(model):
    """The attention modules a network holds, by class name, in order."""
    from attnzoo.attention.registry import _REGISTRY

    classes = tuple(_REGISTRY.values())
    return [type(m).__name__ for m in model.modules() if isinstance(m, classes)]


def test_grammar():
    assert parse_settings(SETTINGS) == EXPECTED
    assert parse_settings(["none", "se", "se+ba2m"]) == EXPECTED
    assert parse_settings([["se", "ba2m"]]) == [["se", "ba2m"]]
    assert [spec_name(s) for s in EXPECTED] == ["none", "se", "se+ba2m"]
    assert spec_name([("se", {}), ("ba2m", {"tau": 0.5})]) == "se+ba2m"
    assert parse_setting("none") == parse_setting("") == parse_setting(None) == []
    with pytest.raises(ValueError, match=r"combine modules with '\+' \(se\+ba2m\)"):
        parse_setting("se,ba2m")
    with pytest.raises(ValueError, match="empty module name"):
        parse_setting("se+")
    assert parse_options(["ba2m"], ["stages=2,3", "tau=1e-3"]) == {
        "ba2m": {"stages": [2, 3], "tau": 1e-3}
    }


def _read(spec, **where):
    return [(m.name, m.options, m.placement, m.stages) for m in parse_attention(spec, **where)]


def test_every_python_form_reads_into_one_structure():
    both = [("se", {}, "block", "all"), ("ba2m", {}, "stage", "all")]  # the classes' defaults
    for spec in ("se+ba2m", ["se", "ba2m"], [SE, BA2M], [("se", {}), (BA2M, {})], ["se+ba2m"]):
        assert _read(spec) == both, spec
    for spec in (None, "none", "", [], ["none"]):
        assert parse_attention(spec) == (), spec
    placed = [("ba2m", {"tau": 0.5}, "block", (2, 3))]
    assert _read(("ba2m", {"tau": 0.5, "placement": "block", "stages": [3, 2]})) == placed
    assert _read(("ba2m", {"tau": 0.5}), placement="block", stages=(2, 3)) == placed
    assert _read("bam", stages=2, placement="stage") == [("bam", {}, "stage", (2,))]
    bound = parse_attention(partial(BA2M, tau=0.5))[0]
    assert (bound.name, bound.given_options()) == ("ba2m", {"tau": 0.5})


@pytest.mark.parametrize(
    "spec",
    [("se", "block"), ("se+ba2m", {"tau": 0.5}), [["se", "ba2m"]], ("se",), 3, {"se": {}}, len],
    ids=["placement-word", "pair-of-two", "nested-list", "one-tuple", "int", "dict", "function"],
)
def test_a_spec_of_no_form_is_one_error_naming_the_forms(spec):
    with pytest.raises(ValueError, match=r"is none of the forms: a module name .*a list of these"):
        parse_attention(spec)


def test_spec_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown attention 'sse'; valid names: .*ba2m"):
        parse_attention("se+sse")
    with pytest.raises(ValueError, match=r"several settings, one model is wanted"):
        parse_attention("se,ba2m")
    with pytest.raises(ValueError, match=r"\['stages'\] given for 2 modules.*\(name, options\)"):
        parse_attention("se+ba2m", stages=(2,))
    with pytest.raises(ValueError, match=r"\['placement'\] given both in the spec and as keywords"):
        parse_attention(("se", {"placement": "stage"}), placement="block")


def _train_model(setting, tmp_path):
    args = build_parser().parse_args(
        ["train", "--attention", setting, "--out-dir", str(tmp_path), "--option", "se.reduction=8"]
        if "se" in setting
        else ["train", "--attention", setting, "--out-dir", str(tmp_path)]
    )
    config = config_from_args(args)
    return config.attention, create_model("resnet20", attention=config.attention_spec())


def test_same_strings_same_models_in_train_sweep_bench_complexity(tmp_path, capsys):
    from attnzoo.cli import bench as bench_cli

    sweep = plan_sweep(
        {"attention_options": {"se": {"reduction": 8}}},
        models=["resnet20"],
        attention=parse_settings(SETTINGS),
        seeds=1,
        root=tmp_path,
    )
    bench_args = build_parser().parse_args(["bench", "modules", "--attention", SETTINGS])
    bench_settings = [list(v) for v in parse_settings(bench_args.attention)]
    assert bench_cli.normalize_argv(["bench", "--attention", SETTINGS])[:2] == ["bench", "modules"]
    for setting, names, run in zip(SETTINGS.split(","), EXPECTED, sweep, strict=True):
        trained, model = _train_model(setting, tmp_path / setting)
        assert trained == run.config.attention == names
        assert names in bench_settings
        swept = create_model("resnet20", attention=run.config.attention_spec())
        assert _modules(model) == _modules(swept)
        assert sum(p.numel() for p in model.parameters()) == sum(
            p.numel() for p in swept.parameters()
        )
        capsys.readouterr()
        argv = ["complexity", "resnet20", "--attention", setting, "--input-size", "32"]
        assert main([*argv, *(["--option", "se.reduction=8"] if "se" in names else [])]) == 0
        total = next(
            line for line in capsys.readouterr().out.splitlines() if line.startswith("total")
        )
        params = sum(p.numel() for p in model.parameters())
        assert float(total.split()[1]) == pytest.approx(params / 1e6, abs=1e-4)


def test_train_refuses_two_settings_in_one_line(tmp_path, capsys):
    argv = ["train", "--attention", "se,ba2m", "--out-dir", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("attnzoo train: error: --attention 'se,ba2m'")
    assert "combine modules with '+' (se+ba2m)" in err
    assert not (tmp_path / "run").exists()
