"""Every figure docs/study.md states in its prose is one its tables hold.

The tables are generated (tests/report/test_claims.py keeps them equal to `attnzoo report`'s) or
copied from a command's output file; the prose must not carry a figure of its own that can go
stale. A decimal number in a sentence (outside tables, code and links) must equal a number of one
of the document's tables, at the sentence's precision (19.03 or 19.0 for a cell 19.03), or be one
of the study's design constants below. Whole numbers (seeds, epochs, images) are not checked.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"(?<![\w.])[+-]?\d+\.\d+(?!\w|\.\d)")
# Design constants, not results: alpha, the learning rate, the weight decay, the focal gamma, the
# OHEM fraction, the power target.
CONSTANTS = {"0.05", "0.1", "5e-4", "2.0", "0.7", "0.8"}


def _prose_and_tables(text: str) -> tuple[list[str], list[str]]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # commands
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    prose, tables = [], []
    for line in text.splitlines():
        (tables if line.lstrip().startswith("|") else prose).append(line)
    prose = [re.sub(r"\]\([^)]*\)|`[^`]*`", "", line) for line in prose]  # link targets, code
    return prose, tables


def stale_numbers(text: str) -> list[str]:
    """The decimal numbers of ``text``'s prose that none of its tables holds."""
    prose, tables = _prose_and_tables(text)
    held = {abs(float(n)): n for line in tables for n in NUMBER.findall(line)}
    stale = []
    for line in prose:
        for number in NUMBER.findall(line):
            digits = len(number.split(".")[1])
            value = abs(float(number))
            if number.lstrip("+-") in CONSTANTS:
                continue
            if not any(abs(round(v, digits) - value) < 1e-9 for v in held):
                stale.append(f"{number} in: {line.strip()}")
    return stale


def test_the_checker_finds_a_stale_figure():
    text = "| a | 19.03 | +2.47 [-2.49, +7.43] |\n\nThe gain is +2.47, about 19.0, not +2.96.\n"
    assert stale_numbers(text) == ["+2.96 in: The gain is +2.47, about 19.0, not +2.96."]


def test_every_figure_of_the_study_s_prose_is_in_its_tables():
    stale = stale_numbers((REPO / "docs" / "study.md").read_text())
    assert not stale, "\n".join(stale)
