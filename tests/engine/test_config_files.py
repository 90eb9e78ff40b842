"""Named configs: in the package, found from any directory, extendable from a user's YAML."""

import pytest
import yaml

from attnzoo.engine.config_files import (
    config_path,
    list_configs,
    packaged_configs,
    read_config_file,
)


def test_named_configs_are_package_data_found_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./configs here: only the packaged ones
    names = list_configs()
    assert "cifar10-smoke" in names and "ba2m-cifar100" in names
    shipped = packaged_configs() / "cifar10-smoke.yaml"
    assert config_path("cifar10-smoke").read_text() == shipped.read_text()
    assert read_config_file("cifar10-smoke") == {
        k: v for k, v in yaml.safe_load(shipped.read_text()).items() if k != "description"
    }


def test_a_users_yaml_anywhere_extends_a_named_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "elsewhere" / "mine.yaml"
    mine.parent.mkdir()
    mine.write_text("extends: cifar10-smoke\nepochs: 2\n")
    values = read_config_file(str(mine))
    parent = read_config_file("cifar10-smoke")
    parent.pop("sweep", None)
    assert values == {**parent, "epochs": 2}


def test_local_configs_folder_wins_over_the_packaged_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "cifar10-smoke.yaml").write_text("epochs: 99\n")
    (tmp_path / "configs" / "my-recipe.yaml").write_text("epochs: 3\n")
    assert read_config_file("cifar10-smoke") == {"epochs": 99}
    assert "my-recipe" in list_configs() and "ba2m-cifar100" in list_configs()


def test_an_unknown_name_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"not found.*Known configs: .*cifar10-smoke"):
        config_path("nope")
