"""docs/modules.md against the code, so that the page cannot drift from the modules it describes:
one section per registered module and no other, each options table equal to the module's signature
and its declared meanings (``describe_options``, which ``attnzoo list MODULE`` prints), the hooks
table equal to the hooks each class declares, and every test that cites a section citing one that
exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch import nn

from attnzoo import build_attention, list_attention
from attnzoo.attention import AttentionModule, get_attention_class
from attnzoo.attention.base import option_names
from attnzoo.attention.registry import describe_options

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "modules.md"
NOT_MODULES = {"Conventions", "Where a module goes: the hooks"}
REGISTERED = list_attention()  # at collection, before any test registers a scratch module
OPTIONS_HEADER = ["option", "type", "default", "meaning"]
HOOKS_HEADER = [
    "module",
    "default_placement",
    "default_stages",
    "placements",
    "ends_with_bn_relu",
    "aux_loss",
    "identity_at_inference",
]
CITATION = re.compile(r"docs/modules\.md,\s+([A-Za-z0-9]+)")
# Modules that declare no option_help yet: ba2m.py is being changed on another branch, and gets its
# declaration (the texts of its options table) when that lands. Until then `attnzoo list ba2m`
# points to the docstring; test_every_option_declares_its_meaning fails once it declares.
UNDECLARED: set[str] = set()


def sections() -> dict[str, str]:
    """The page's level-2 sections: title -> body."""
    parts = re.split(r"^## (.+)$", DOC.read_text(), flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def cells(line: str) -> list[str]:
    """A Markdown table row's cells, ``\\|`` read as a pipe and code spans unwrapped."""
    raw = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|").strip("`") for cell in raw]


def table(body: str, header: list[str]) -> list[list[str]]:
    """The rows of the one table in ``body`` whose header is ``header``."""
    lines = body.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and cells(line) == header]
    assert len(starts) == 1, f"expected one table headed {header}, found {len(starts)}"
    rows = []
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows


def test_one_section_per_registered_module_and_no_other():
    modules = set(sections()) - NOT_MODULES
    assert modules == {name.upper() for name in REGISTERED}


@pytest.mark.parametrize("name", REGISTERED)
def test_options_table_equals_the_signature(name):
    rows = table(sections()[name.upper()], OPTIONS_HEADER)
    documented = [tuple(row[:3]) for row in rows]
    declared = [(o.name, o.type, o.default) for o in describe_options(name)]
    assert documented == declared
    assert all(row[3] for row in rows), "every option says what it means"
    if name not in UNDECLARED:  # the page's meaning, code spans unmarked, is the declared one
        meanings = [row[3].replace("`", "") for row in rows]
        assert meanings == [o.meaning for o in describe_options(name)]


@pytest.mark.parametrize("name", REGISTERED)
def test_every_option_declares_its_meaning(name):
    """One non-empty line per option, in the signature's order, each its own, and no other key."""
    declared = get_attention_class(name).option_help
    if name in UNDECLARED:
        assert declared == {}, f"{name} declares option_help now: take it out of UNDECLARED"
        return
    assert list(declared) == option_names(get_attention_class(name))
    texts = list(declared.values())
    assert all(t.strip() == t and t and "\n" not in t for t in texts)
    assert len(set(texts)) == len(texts), "two options share one meaning"


def hook_cells(name: str) -> list[str]:
    """A module's row of the hooks table as the code declares it (methods at default options)."""
    cls = get_attention_class(name)
    module = build_attention(name, 64)
    return [
        name,
        repr(cls.default_placement),
        repr(cls.default_stages),
        repr(cls.placements),
        repr(cls.ends_with_bn_relu),
        "yes" if module.aux_loss() is not None else "no",
        "yes" if module.identity_at_inference() else "no",
    ]


def test_hooks_table_equals_the_declarations():
    rows = table(sections()["Where a module goes: the hooks"], HOOKS_HEADER)
    assert sorted(row[0] for row in rows) == REGISTERED
    for row in rows:
        assert row == hook_cells(row[0])


def declared_hooks() -> set[str]:
    """The names AttentionModule adds to nn.Module: its hooks."""
    return {n for n in vars(AttentionModule) if not n.startswith("_")} - set(vars(nn.Module))


def test_every_declared_hook_is_described():
    body = sections()["Where a module goes: the hooks"]
    described = set(re.findall(r"^- `(\w+)", body, re.MULTILINE))
    assert declared_hooks() >= {"default_placement", "aux_loss", "uncounted_macs"}
    assert described == declared_hooks()


@pytest.mark.parametrize("name", REGISTERED)
def test_each_module_test_cites_its_section(name):
    text = (REPO / "tests" / "attention" / f"test_{name}.py").read_text()
    assert name.upper() in CITATION.findall(text)


def test_every_citation_names_a_section():
    titles = set(sections())
    files = [*(REPO / "tests").rglob("*.py"), *(REPO / "src").rglob("*.py")]
    cited = {(p.name, c) for p in files for c in CITATION.findall(p.read_text())}
    assert cited, "the tests cite docs/modules.md"
    assert {(f, c) for f, c in cited if c not in titles} == set()
