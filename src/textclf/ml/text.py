"""Text normalisation, shared by the prepare stage and the served model so both see one text."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from textclf.core.params import NormalizeOptions

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")

URL_TOKEN = "xxurl"
MENTION_TOKEN = "xxuser"

__all__ = ["MENTION_TOKEN", "URL_TOKEN", "NormalizeOptions", "as_texts", "normalize"]


def normalize(text: str, options: NormalizeOptions, shortcuts: bool = True) -> str:
    """Idempotent: normalize(normalize(t)) == normalize(t), so applying it twice is harmless.

    Markup is removed until none is left (tweets are often escaped twice, `&amp;lt;b&amp;gt;`,
    and removing one layer can reveal another), then URLs and mentions become tokens.
    `shortcuts=False` applies every step as defined, even where it cannot change the text:
    the tests check that the shortcuts change no output, and the benchmarks time both.
    """
    text = _until_stable(text, options, shortcuts)
    # The substring checks skip a regex that cannot match; they cost a fraction of a scan by
    # these patterns, and most texts have no URL or mention.
    if options.replace_urls and (not shortcuts or _may_hold_url(text)):
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if options.replace_mentions and (not shortcuts or "@" in text):
        # Replacing one mention can expose the next ("@a@b": "@b" follows a letter, then a
        # space); each pass removes at least one "@", so this ends.
        while (replaced := _MENTION.sub(f" {MENTION_TOKEN} ", text)) != text:
            text = replaced
    if not shortcuts:
        return _SPACE.sub(" ", text).strip()
    # The same result: str.split's whitespace is exactly re's `\s` (checked over every code
    # point in the tests), and it is 5x faster.
    return " ".join(text.split())


def _may_hold_url(text: str) -> bool:
    # Every match of _URL holds "://" or, ignoring case, "w.".
    return "://" in text or "w." in text or "W." in text


def _until_stable(text: str, options: NormalizeOptions, shortcuts: bool) -> str:
    # Each pass that changes the text makes it shorter (or lower-case), so this ends.
    while True:
        before = text
        if options.lowercase:
            text = text.lower()
        if options.strip_html:
            text = html.unescape(text)
            if not shortcuts or "<" in text:
                text = _HTML_TAG.sub(" ", _HTML_BREAK.sub(" ", text))
        if text == before:
            return text


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
