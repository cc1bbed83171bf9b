"""Scores and reports of a fitted classifier: weighted metrics, classification report, confusion-matrix PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)

#: Resolution of the confusion-matrix PNG: a figure of ``2.5 + 0.45 * n_classes`` inches a side.
DPI = 100


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
    """Draw the confusion matrix (counts) with sklearn's ``ConfusionMatrixDisplay`` on an Agg canvas and save it
    as a PNG at ``path``: one cell per class pair (every class, also one never predicted), true classes as rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = 2.5 + 0.45 * len(classes)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)  # no pyplot figure manager: nothing to close, no display needed
    ax = fig.add_subplot()
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(range(len(classes))),
        display_labels=list(classes),
        ax=ax,
        cmap="Blues",
        colorbar=False,
        xticks_rotation=45,
    )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    return path
