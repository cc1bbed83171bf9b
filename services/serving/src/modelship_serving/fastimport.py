"""Import kserve's model server without the parts a model server never uses.

Two costs of a plain ``import kserve`` are cut, together about 40% of the import time of the server:

- ``kserve/__init__.py`` also imports the Kubernetes client and the InferenceService API classes. Seeding
  ``sys.modules`` with a bare package object lets Python import the submodules (``kserve.model``,
  ``kserve.model_server``...) directly, exactly as they are, while ``kserve/__init__.py`` never runs.
- ``kserve.protocol.infer_type`` and ``kserve.utils.utils`` import pandas (and with it pyarrow) only for
  ``InferRequest.as_dataframe`` and a few helpers of other model servers. While kserve is imported, ``pandas``
  is a deferred stand-in: its ``DataFrame`` constructs and ``isinstance``-checks real pandas DataFrames, and any
  other attribute imports real pandas on first use. The stand-in leaves ``sys.modules`` afterwards, so every
  later ``import pandas`` gets the real module.

Only the server process calls this (from ``__main__``), before anything imports kserve; library users and
tests import kserve normally.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

from modelship_serving.kserve_private import FAST_IMPORT_MODULES

#: What the server imports from kserve; imported here while the stand-ins are in place.
KSERVE_MODULES = FAST_IMPORT_MODULES


def _pandas() -> types.ModuleType:
    return importlib.import_module("pandas")


class _DataFrameMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, _pandas().DataFrame)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _pandas().DataFrame)


class DeferredDataFrame(metaclass=_DataFrameMeta):
    """Stands for ``pandas.DataFrame`` in kserve's annotations; calling it builds a real DataFrame."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _pandas().DataFrame(*args, **kwargs)


class DeferredPandas(types.ModuleType):
    """``pandas`` as kserve's modules see it: real pandas is imported on the first attribute they use."""

    def __init__(self) -> None:
        super().__init__("pandas", "pandas, imported on first use")
        self.DataFrame = DeferredDataFrame

    def __getattr__(self, name: str) -> Any:
        return getattr(_pandas(), name)


def _bare_package(name: str) -> types.ModuleType | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        return None
    package = types.ModuleType(name, f"{name} (package __init__ skipped at start-up)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__spec__ = spec
    package.__package__ = name
    return package


def preload_kserve() -> bool:
    """Import the kserve modules the server needs, lean. False (nothing done) when kserve is already imported."""
    if "kserve" in sys.modules:
        return False
    package = _bare_package("kserve")
    if package is None:
        return False
    sys.modules["kserve"] = package
    stand_in = None
    if "pandas" not in sys.modules:
        stand_in = sys.modules["pandas"] = DeferredPandas()
    try:
        for module in KSERVE_MODULES:
            importlib.import_module(module)
    finally:
        if stand_in is not None and sys.modules.get("pandas") is stand_in:
            del sys.modules["pandas"]
    return True
