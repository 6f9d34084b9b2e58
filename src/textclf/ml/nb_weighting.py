"""Naive-Bayes feature weighting (NBSVM, Wang & Manning 2012) as a scikit-learn meta-classifier."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted


def log_count_ratio(X: sp.spmatrix, positive: np.ndarray, alpha: float) -> np.ndarray:
    """r = log((p / |p|_1) / (q / |q|_1)) with p, q the smoothed feature sums of each side."""
    p = alpha + np.asarray(X[positive].sum(axis=0)).ravel()
    q = alpha + np.asarray(X[~positive].sum(axis=0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def interpolate(model: BaseEstimator, beta: float) -> None:
    """NBSVM's interpolation of a fitted linear model's weights, in place."""
    if not hasattr(model, "coef_"):
        raise ValueError(
            f"nb_interpolation needs a linear classifier with coef_, not {type(model).__name__}"
        )
    mean_magnitude = np.abs(model.coef_).mean(axis=1, keepdims=True)
    model.coef_ = (1 - beta) * mean_magnitude + beta * model.coef_
    model.intercept_ = beta * model.intercept_


class NBWeightedClassifier(ClassifierMixin, BaseEstimator):
    """Scale each feature by its NB log-count ratio, then fit `estimator` on the scaled features.

    Binary problems fit one model; multi-class problems fit one weighted model per class
    (one-vs-rest) and normalise their probabilities.

    `interpolation` (beta, 0-1] is NBSVM's: a fitted linear model's weights w become
    (1 - beta) * mean(|w|) + beta * w, and its intercept beta * b; None or 1 leaves them.

    The last `unweighted_columns` features are not counts (e.g. word vectors, which can be
    negative): they keep weight 1 and stay out of the ratios' sums.
    """

    # The defaults of models pickled before these existed.
    interpolation: float | None = None
    unweighted_columns: int = 0

    def __init__(
        self,
        estimator: BaseEstimator,
        alpha: float = 1.0,
        interpolation: float | None = None,
        unweighted_columns: int = 0,
    ) -> None:
        self.estimator = estimator
        self.alpha = alpha
        self.interpolation = interpolation
        self.unweighted_columns = unweighted_columns

    def fit(self, X: sp.spmatrix, y: np.ndarray) -> NBWeightedClassifier:
        X = sp.csr_matrix(X)
        y = np.asarray(y)
        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise ValueError("NBWeightedClassifier needs at least two classes")
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        self.ratios_ = []
        self.estimators_ = []
        counted = X.shape[1] - self.unweighted_columns
        if counted < 0:
            raise ValueError(
                f"{X.shape[1]} features, fewer than the {self.unweighted_columns} unweighted ones"
            )
        counts = X[:, :counted] if self.unweighted_columns else X
        for target in targets:
            positive = y == target
            ratio = log_count_ratio(counts, positive, self.alpha)
            ratio = np.concatenate([ratio, np.ones(self.unweighted_columns)])
            model = clone(self.estimator).fit(X.multiply(ratio).tocsr(), positive.astype(int))
            if self.interpolation is not None:
                interpolate(model, self.interpolation)
            self.ratios_.append(ratio)
            self.estimators_.append(model)
        return self

    def _positive_scores(self, X: sp.spmatrix) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = sp.csr_matrix(X)
        columns = []
        for ratio, model in zip(self.ratios_, self.estimators_, strict=True):
            weighted = X.multiply(ratio).tocsr()
            if hasattr(model, "predict_proba"):
                columns.append(model.predict_proba(weighted)[:, 1])
            else:
                columns.append(1.0 / (1.0 + np.exp(-model.decision_function(weighted))))
        return np.column_stack(columns)

    def predict_proba(self, X: sp.spmatrix) -> np.ndarray:
        scores = self._positive_scores(X)
        if len(self.classes_) == 2:
            return np.column_stack([1.0 - scores[:, 0], scores[:, 0]])
        totals = scores.sum(axis=1, keepdims=True)
        totals[totals == 0] = 1.0
        return scores / totals

    def predict(self, X: sp.spmatrix) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
