"""Text normalisation, shared by the prepare stage and the served model so both see one text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    """What callers hand a model, as a list: a DataFrame's `column`, a Series, array or list."""
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
