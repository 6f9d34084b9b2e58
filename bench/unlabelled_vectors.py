"""Choose the scale of the word vectors (train.word_vectors) on movie-grouped folds of train.

IMDB's test split holds other movies than its train split, so a validation split drawn at
random from train (prepare.validation_size) flatters whatever memorises movie-specific n-grams
(titles, cast) and under-rates what generalises. This bench learns the word vectors as the
train stage does (train + the 50,000 unlabelled reviews, params.yaml's words, window, dims),
then for each scale s fits the pipeline's own vectorise and classify steps on folds of train
grouped by movie (the archive's url lists) and prints their accuracy; the test split's accuracy
is printed last, as a check, not to choose by. s = 0 is the n-gram model alone.

    uv run python bench/unlabelled_vectors.py [--archive ...aclImdb_v1.tar.gz] [--folds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from results import recorded  # bench/results.py, beside this script
from textclf.core.params import Params
from textclf.ml.model import build_pipeline, word_vectors_for
from textclf.ml.params import load_params
from textclf.ml.text import normalize
from textclf.ml.word_vectors import WordVectors
from textclf.pipeline.ingest import read_aclimdb
from textclf.pipeline.prepare import prepare

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
SCALES = (0.0, 2.0, 4.0, 8.0, 16.0)


def accuracies(
    fit_part: tuple, held: tuple, vectors: WordVectors, params: Params
) -> dict[float, float]:
    """Accuracy on `held` of the pipeline fitted on `fit_part`, for each scale."""
    (fit_texts, fit_labels), (held_texts, held_labels) = fit_part, held
    options = dataclasses.replace(params.train.word_vectors, scale=1.0)
    train = dataclasses.replace(params.train, word_vectors=options)
    model = build_pipeline(train, params.prepare, vectors)
    features = model[:-1]  # vectorised once; the scale only multiplies the appended columns
    fitted, scored = features.fit_transform(fit_texts), features.transform(held_texts)
    found = {}
    for scale in SCALES:
        scaling = np.ones(fitted.shape[1])
        scaling[-vectors.dims :] = scale
        classifier = clone(model[-1]).fit(fitted @ sp.diags(scaling), fit_labels)
        predicted = classifier.predict(scored @ sp.diags(scaling))
        found[scale] = round(float((predicted == held_labels).mean()), 5)
    return found


def movies(archive: Path) -> dict[str, str]:
    """Review id (as ingest names it, `train/pos/12`) -> the IMDB title it reviews."""
    found = {}
    with tarfile.open(archive) as tar:
        for label in ("pos", "neg"):
            lines = tar.extractfile(f"aclImdb/train/urls_{label}.txt").read().decode().split()  # type: ignore[union-attr]
            found.update({f"train/{label}/{i}": url.split("/")[4] for i, url in enumerate(lines)})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--folds", type=int, default=2, help="of 5 movie-grouped folds")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    data = read_aclimdb(args.archive)
    splits = prepare(data.labelled, params.prepare)
    train = pd.concat([splits.train, splits.validation], ignore_index=True)
    unlabelled = [normalize(text, params.prepare.normalize) for text in data.unlabelled["text"]]
    texts, labels = train["text"].tolist(), train["label"].to_numpy()

    started = time.perf_counter()
    vectors = word_vectors_for(params.train, texts + unlabelled)
    assert vectors is not None, "train.word_vectors is null in params.yaml"
    seconds = time.perf_counter() - started
    print(f"word vectors: {len(vectors.words):,} words x {vectors.dims}, {seconds:.1f} s")
    groups = train["id"].map(movies(args.archive)).to_numpy()
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=42).split(texts, labels, groups)
    for fold, (fit_rows, held_rows) in zip(range(args.folds), folds, strict=False):
        fit_part = ([texts[i] for i in fit_rows], labels[fit_rows])
        held = ([texts[i] for i in held_rows], labels[held_rows])
        found = accuracies(fit_part, held, vectors, params)
        print(f"movie-grouped fold {fold}, accuracy by scale: {found}", flush=True)
    test = (splits.test["text"].tolist(), splits.test["label"].to_numpy())
    found = accuracies((texts, labels), test, vectors, params)
    print(f"test split (a check), accuracy by scale: {found}")


if __name__ == "__main__":
    with recorded("unlabelled_vectors"):
        main()
