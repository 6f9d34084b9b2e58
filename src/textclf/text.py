"""Text normalisation shared by the prepare stage and the served model, so both see the same text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_SPACE = re.compile(r"\s+")

URL_TOKEN = "xxurl"
MENTION_TOKEN = "xxuser"


@dataclass(frozen=True)
class NormalizeOptions:
    strip_html: bool = True
    replace_urls: bool = True
    replace_mentions: bool = True
    lowercase: bool = False


def normalize(text: str, options: NormalizeOptions = NormalizeOptions()) -> str:
    """Idempotent: normalize(normalize(t)) == normalize(t), so applying it twice is harmless."""
    if options.strip_html:
        text = _HTML_BREAK.sub(" ", text)
        text = html.unescape(html.unescape(text))  # tweets are often escaped twice (&amp;amp;)
        text = _HTML_TAG.sub(" ", text)
    if options.replace_urls:
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if options.replace_mentions:
        text = _MENTION.sub(f" {MENTION_TOKEN} ", text)
    if options.lowercase:
        text = text.lower()
    return _SPACE.sub(" ", text).strip()


def as_texts(data: object, column: str = "text") -> list[str]:
    """Accept what callers hand a model: a DataFrame (its `column`), a Series, an array or a list."""
    if isinstance(data, pd.DataFrame):
        if column in data.columns:
            data = data[column]
        elif data.shape[1] == 1:
            data = data.iloc[:, 0]
        else:
            raise ValueError(f"input has no '{column}' column (columns: {list(data.columns)})")
    if isinstance(data, str):
        raise TypeError("pass a list of texts, not a single string")
    if isinstance(data, pd.Series | np.ndarray):
        data = data.tolist()
    return ["" if item is None else str(item) for item in data]  # type: ignore[union-attr]


class TextNormalizer(TransformerMixin, BaseEstimator):
    """First step of every model pipeline: raw text in, normalised text out."""

    def __init__(
        self,
        strip_html: bool = True,
        replace_urls: bool = True,
        replace_mentions: bool = True,
        lowercase: bool = False,
    ) -> None:
        self.strip_html = strip_html
        self.replace_urls = replace_urls
        self.replace_mentions = replace_mentions
        self.lowercase = lowercase

    def fit(self, X: Iterable[str], y: object = None) -> TextNormalizer:  # noqa: N803
        return self

    def transform(self, X: Iterable[str]) -> list[str]:  # noqa: N803
        options = NormalizeOptions(
            self.strip_html, self.replace_urls, self.replace_mentions, self.lowercase
        )
        return [normalize(text, options) for text in as_texts(X)]
