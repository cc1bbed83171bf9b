"""modelship model server: one KServe ``Model`` serving one pinned MLflow model version over V1 and V2.

Start it with ``python -m modelship_serving --model-uri models:/penguins/3``. Nothing is built at import time.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
