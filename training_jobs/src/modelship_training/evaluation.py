"""Scores and reports of a fitted classifier: weighted metrics, classification report, confusion-matrix PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)


def score_predictions(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``test_accuracy`` and weighted ``test_precision``, ``test_recall``, ``test_f1``."""
    return {
        "test_accuracy": float(accuracy_score(y_true, y_pred)),
        "test_precision": float(precision_score(y_true, y_pred, average="weighted", zero_division=0)),
        "test_recall": float(recall_score(y_true, y_pred, average="weighted", zero_division=0)),
        "test_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }


def report_text(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> str:
    """sklearn's classification report with class names."""
    return str(
        classification_report(
            y_true,
            y_pred,
            labels=list(range(len(classes))),
            target_names=list(classes),
            digits=4,
            zero_division=0,
        )
    )


def confusion_matrix_png(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], path: Path, title: str
) -> Path:
    """Draw the confusion matrix (counts) with matplotlib's Agg backend and save it as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    size = 2.5 + 0.45 * len(classes)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path
