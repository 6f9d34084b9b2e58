from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_PARAMS, make
from textclf.core.params import NormalizeOptions
from textclf.ml.model import TextNormalizer
from textclf.ml.text import MENTION_TOKEN, URL_TOKEN, as_texts, normalize

OPTIONS = REPO_PARAMS.prepare.normalize


def test_html_breaks_and_entities() -> None:
    assert normalize("Great.<br /><br />Really &amp; truly &amp;amp; more", OPTIONS) == (
        "Great. Really & truly & more"
    )


def test_urls_and_mentions_become_tokens() -> None:
    text = "@bob look http://t.co/abc and www.example.com now, mail a@b.com"
    assert (
        normalize(text, OPTIONS)
        == f"{MENTION_TOKEN} look {URL_TOKEN} and {URL_TOKEN} now, mail a@b.com"
    )


def test_options_switch_steps_off() -> None:
    options = make(NormalizeOptions, strip_html=False, replace_urls=False, replace_mentions=False)
    assert normalize("@a http://x <br />", options) == "@a http://x <br />"
    assert normalize("ABC", make(NormalizeOptions, lowercase=True)) == "abc"


# Pieces that spell HTML entities (named, numeric, nested), tags, breaks, URLs and mentions.
PIECES = ["&", "amp;", "lt;", "gt;", "#60;", "#x3c;", "#64;", "Amp;", "AMP;", "nbsp;",
          "<", ">", "/", "b", "br", "B", " ", "\n", "@", "x", "http://", "www.", ".", ";",
          "a"]  # fmt: skip


@settings(max_examples=500)
@example("@b@amp;", NormalizeOptions(False, False, True, False))  # one mention exposed the next
@given(
    st.lists(st.sampled_from(PIECES), max_size=25).map("".join),
    st.builds(NormalizeOptions, st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_normalize_is_idempotent(text: str, options: NormalizeOptions) -> None:
    once = normalize(text, options)
    assert normalize(once, options) == once


UNUSUAL = ["WWW.", "Www.", "HTTPS://", "ftp://", "w.", "\u00a0", "\x1c", "\u2028", "\u3000", "\t"]


@settings(max_examples=1000)
@given(
    st.lists(st.sampled_from(PIECES + UNUSUAL), max_size=30).map("".join),
    st.builds(NormalizeOptions, st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_shortcuts_change_no_output(text: str, options: NormalizeOptions) -> None:
    assert normalize(text, options) == normalize(text, options, shortcuts=False)


def test_str_split_whitespace_is_regex_whitespace() -> None:
    import re
    import sys

    space = re.compile(r"\s")
    differ = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if bool(space.match(chr(point))) != chr(point).isspace()
    ]
    assert differ == []


def test_nested_escapes_are_removed_in_one_pass() -> None:
    once = normalize("&amp;amp;lt;b&amp;amp;gt;bold", OPTIONS)
    assert once == "bold"
    assert normalize(once, OPTIONS) == once


def test_as_texts_accepts_what_models_are_given() -> None:
    expected = ["a", "b"]
    assert as_texts(pd.DataFrame({"text": expected, "other": [1, 2]})) == expected
    assert as_texts(pd.DataFrame({"review": expected})) == expected
    assert as_texts(pd.Series(expected)) == expected
    assert as_texts(np.array(expected, dtype=object)) == expected
    assert as_texts(["a", None]) == ["a", ""]
    with pytest.raises(ValueError, match="no 'text' column"):
        as_texts(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with pytest.raises(TypeError):
        as_texts("a single string")


def test_normalizer_transformer_matches_function() -> None:
    texts = ["Hi<br/>@you", "see https://x.org"]
    normalizer = TextNormalizer(OPTIONS).fit(texts)
    assert normalizer.transform(texts) == [normalize(t, OPTIONS) for t in texts]
