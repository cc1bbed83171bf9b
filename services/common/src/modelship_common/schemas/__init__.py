"""Dataset schemas: what a row or an image must look like, and how it becomes a model input."""

from modelship_common.schemas import digits, penguins

TASK_TABULAR = "tabular"
TASK_IMAGE = "image"

__all__ = ["TASK_IMAGE", "TASK_TABULAR", "digits", "penguins"]
