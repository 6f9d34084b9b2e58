from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textclf.model import TextNormalizer
from textclf.text import MENTION_TOKEN, URL_TOKEN, NormalizeOptions, as_texts, normalize


def test_html_breaks_and_entities() -> None:
    assert normalize("Great.<br /><br />Really &amp; truly &amp;amp; more") == (
        "Great. Really & truly & more"
    )


def test_urls_and_mentions_become_tokens() -> None:
    text = "@bob look http://t.co/abc and www.example.com now, mail a@b.com"
    assert normalize(text) == f"{MENTION_TOKEN} look {URL_TOKEN} and {URL_TOKEN} now, mail a@b.com"


def test_options_switch_steps_off() -> None:
    options = NormalizeOptions(strip_html=False, replace_urls=False, replace_mentions=False)
    assert normalize("@a http://x <br />", options) == "@a http://x <br />"
    assert normalize("ABC", NormalizeOptions(lowercase=True)) == "abc"


@given(st.text(alphabet=st.sampled_from(list("ab <>/&;@:.wht\n#x1")), max_size=60))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


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
    assert TextNormalizer().fit(texts).transform(texts) == [normalize(t) for t in texts]
