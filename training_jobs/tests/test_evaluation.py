"""The confusion-matrix PNG a training run logs: a real image of the expected size with the matrix drawn in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from modelship_training import evaluation

CLASSES = ("Adelie", "Chinstrap", "Gentoo")


def _rgb(value: float) -> tuple[int, int, int]:
    r, g, b, _ = colormaps["Blues"](value)
    return round(r * 255), round(g * 255), round(b * 255)


def _draw(tmp_path: Path, y_true: list[int], y_pred: list[int], classes=CLASSES) -> Image.Image:
    path = evaluation.confusion_matrix_png(np.array(y_true), np.array(y_pred), classes, tmp_path / "cm.png", "t")
    assert path == tmp_path / "cm.png"
    image = Image.open(path)
    assert image.format == "PNG"
    return image.convert("RGB")


def test_png_has_the_documented_size_and_draws_the_cells(tmp_path: Path) -> None:
    image = _draw(tmp_path, [0, 0, 0, 0, 1, 1, 2], [0, 0, 0, 0, 1, 2, 2])
    side = round((2.5 + 0.45 * len(CLASSES)) * evaluation.DPI)
    assert image.size == (side, side)
    colours = {colour for _, colour in image.getcolors(maxcolors=side * side)}
    assert _rgb(1.0) in colours  # the fullest cell (4 Adelie right) in the darkest blue
    assert _rgb(0.0) in colours  # the empty cells in the lightest
    assert len(colours) > 20  # labels, counts and the title anti-aliased: not a blank canvas


def test_different_predictions_draw_different_images(tmp_path: Path) -> None:
    right = np.asarray(_draw(tmp_path, [0, 1, 2, 2], [0, 1, 2, 2]))
    wrong = np.asarray(_draw(tmp_path, [0, 1, 2, 2], [1, 2, 0, 0]))
    assert right.shape == wrong.shape
    assert (right != wrong).any(axis=2).sum() > 1000


def test_ten_classes_get_a_bigger_figure(tmp_path: Path) -> None:
    digits = tuple(str(d) for d in range(10))
    image = _draw(tmp_path, list(range(10)), list(range(10)), digits)
    assert image.size == (700, 700)
