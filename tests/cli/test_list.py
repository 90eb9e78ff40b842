"""`attnzoo list MODULE`: one line per option, with its type, its default and the meaning the
module declares for that option (``option_help``), never another option's or a docstring's."""

import inspect

import pytest

from attnzoo import list_attention
from attnzoo.attention import get_attention_class
from attnzoo.cli.main import main


@pytest.mark.parametrize("name", list_attention())
def test_each_option_shows_its_own_declared_meaning(name, capsys):
    assert main(["list", name]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    cls = get_attention_class(name)
    params = inspect.signature(cls.__init__).parameters
    options = [p for p in params if p not in ("self", "channels")]
    assert header.startswith(f"{name}: options")
    assert [line.split()[0] for line in lines] == options
    for option, line in zip(options, lines, strict=True):
        meaning = cls.option_help.get(option, "see the module's docstring")
        assert line.endswith(f"= {params[option].default!r}: {meaning}"), line
