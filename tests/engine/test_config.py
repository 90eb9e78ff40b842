"""TrainConfig: one declaration per field gives the YAML types, the checks and the flags."""

import dataclasses

import pytest

from attnzoo.cli.main import build_parser, config_from_args
from attnzoo.engine.config import TrainConfig, config_fields


def test_every_field_has_help_and_a_flag_unless_set_by_the_spec_grammar():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.dest for a in train._actions}
    grammar = {"attention", "attention_options", "model_options"}  # --attention, --option, ...
    for f in config_fields():
        assert f.metadata["help"], f.name
        assert f.metadata.get("flag", True) == (f.name not in grammar), f.name
        assert f.name in flags or f.name in grammar, f.name


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"lr": "1e-3"}, {"lr": 1e-3}),  # YAML 1.1 reads 1e-3 as a string
        ({"train_per_class": None}, {"train_per_class": None}),
        ({"train_per_class": 5}, {"train_per_class": 5}),
        ({"attention": "se+ba2m"}, {"attention": ["se", "ba2m"]}),
        ({"lr": 1}, {"lr": 1}),  # an int is a float, kept as given (saved configs compare equal)
    ],
)
def test_yaml_values_are_read_as_their_declared_type(values, expected):
    config = TrainConfig.from_dict(values)
    assert {k: getattr(config, k) for k in expected} == expected
    assert type(config.lr) is type(expected.get("lr", 0.1))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": True}, "config: epochs=True should be of type int"),
        ({"lr": "abc"}, "config: lr='abc' should be of type float"),
        ({"milestones": [1.5]}, "config: milestones=[1.5] should be of type list[int]"),
        ({"train_per_class": "x"}, "config: train_per_class='x' should be of type int | None"),
        ({"attention_options": {"se": 3}}, "attention_options={'se': 3} should be of type dict"),
        ({"nope": 1}, "config: unknown key(s) nope"),
        ({"attention": "se,ba2m"}, "combine modules with '+' (se+ba2m)"),
    ],
)
def test_wrong_types_are_one_line_naming_field_type_and_value(values, message):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_to_dict_round_trips_and_keeps_field_order():
    config = TrainConfig(attention=["ba2m"], attention_options={"ba2m": {"tau": 0.5}}, lr=0.05)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert list(config.to_dict()) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert TrainConfig().milestones is not TrainConfig().milestones  # no shared mutable default


def test_flags_are_typed_from_the_declaration(capsys):
    args = build_parser().parse_args(["train", "--lr", "1e-3", "--train-per-class", "3"])
    config = config_from_args(args)
    assert (config.lr, config.train_per_class) == (1e-3, 3)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--epochs", "ten"])
    assert "epochs='ten' should be of type int" in capsys.readouterr().err


def test_compile_mode_is_a_checked_field_that_resumes_old_runs():
    from attnzoo.run_keys import RESUMABLE_CHANGES

    assert TrainConfig(compile_mode="reduce-overhead").compile_mode == "reduce-overhead"
    with pytest.raises(ValueError, match="compile_mode='fast' must be one of default"):
        TrainConfig(compile_mode="fast").validate()
    # How a network is compiled is not what it computes: runs from before the field still match.
    assert "compile_mode" in RESUMABLE_CHANGES


def test_one_same_run_check_for_resume_and_sweep():
    from attnzoo.run_keys import config_changes

    saved = {"lr": 0.1, "workers": 2, "epochs": 3, "old": 1}
    current = {"lr": 0.2, "workers": 8, "epochs": 3, "new": None}
    # workers may change; lr changed; "old" went (None now); "new" is None on both sides.
    assert config_changes(saved, current) == {"lr": (0.1, 0.2), "old": (1, None)}
    assert config_changes(saved, {**saved, "download": False}) == {}
