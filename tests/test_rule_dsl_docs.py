"""docs/rules.md covers the rule language: every word of its tables, every clause of
its grammar, and its examples read as they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engines.rules import compile_rules, parse_rules
from engines.rules.cycles import MAX_CHAIN_DEPTH
from engines.rules.lexicon import KEYWORDS
from engines.rules.vocabulary import (
    ACTIONS,
    CHANNELS,
    FLOW_EVENTS,
    RECIPIENT_KINDS,
    RECORD_EVENTS,
    REPORT_CHANNELS,
    UNITS,
)
from tests.test_rule_dsl import CATALOG

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
GRAMMAR = (ROOT / "engines" / "rules" / "rules.lark").read_text(encoding="utf-8")


@pytest.mark.parametrize("table", [RECORD_EVENTS, FLOW_EVENTS, RECIPIENT_KINDS, CHANNELS,
                                   REPORT_CHANNELS, ACTIONS],
                         ids=["events", "flow events", "recipients", "channels",
                              "report channels", "actions"])
def test_every_word_of_the_vocabulary_is_documented(table):
    for word in table:
        assert f"`{word}" in DOC, word


def test_interval_units_and_chain_depth_are_documented():
    for unit in set(UNITS.values()):
        assert unit in DOC
    assert f"`MAX_CHAIN_DEPTH` ({MAX_CHAIN_DEPTH})" in DOC


def test_every_keyword_of_the_grammar_is_documented_and_known_to_the_lexicon():
    keywords = re.findall(r"^([A-Z]+)\.2: /(\w+)\\b/i", GRAMMAR, re.MULTILINE)
    expression_words = {"and", "or", "not", "in"}
    assert {word: name for name, word in keywords if word not in expression_words} == KEYWORDS
    for _name, word in keywords:
        assert re.search(rf"\b{word}\b", DOC), word


def _blocks(text: str) -> list[str]:
    return re.findall(r"```\n(rule .*?)```", text, re.DOTALL)


def test_the_rule_examples_of_the_docs_and_the_grammar_read():
    examples = [block for block in _blocks(DOC) if "<name>" not in block]  # not the outline
    assert len(examples) >= 2
    for example in examples:
        compile_rules(example, CATALOG)
    in_grammar = "\n".join(line[3:] for line in GRAMMAR.splitlines()
                           if line.startswith("//     "))
    parse_rules(in_grammar)
