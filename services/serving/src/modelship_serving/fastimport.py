"""Import kserve's model server without ``kserve/__init__.py``.

``import kserve`` also imports the Kubernetes client, the InferenceService API classes and their OpenAPI
models, none of which a model server uses: about 0.7 s of a 2.5 s cold-start budget on a small box. Seeding
``sys.modules`` with a bare package object lets Python import the submodules (``kserve.model``,
``kserve.model_server``...) directly, exactly as they are, while ``kserve/__init__.py`` never runs.

Only the server process calls this (from ``__main__``), before anything imports kserve; library users and
tests import kserve normally.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def preload_kserve_package() -> bool:
    """Register an empty ``kserve`` package; False (and nothing done) when kserve is already imported."""
    if "kserve" in sys.modules:
        return False
    spec = importlib.util.find_spec("kserve")
    if spec is None or spec.submodule_search_locations is None:
        return False
    package = types.ModuleType("kserve", "kserve model server SDK (package __init__ skipped at start-up)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__spec__ = spec
    package.__package__ = "kserve"
    sys.modules["kserve"] = package
    return True
