"""The private kserve names the model server relies on are all still there (modelship_serving.kserve_private).

A kserve upgrade that drops one fails here, saying which name and what relies on it. The module is the only
place in the serving package that reads or writes a private kserve name; the second test keeps it so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelship_serving import kserve_private

PACKAGE = Path(kserve_private.__file__).parent


def test_every_private_kserve_name_is_there() -> None:
    import kserve.model_server  # noqa: F401  (installed; the names below are looked up in it)

    problems = kserve_private.missing()
    assert not problems, "the installed kserve lacks:\n  " + "\n  ".join(problems)


def test_missing_names_a_name_that_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a kserve release that renamed one would give: the check names it and its user."""
    from kserve.model_server import ModelServer

    monkeypatch.delattr(ModelServer, "_serve")
    assert kserve_private.missing() == ["kserve.model_server.ModelServer._serve (used by the fast path)"]


#: The private attributes kserve_private owns, read or written as ``anything._name`` (``self`` included: a
#: subclass of a kserve class reaches kserve's attributes that way).
PRIVATE_NAMES = ("raw_data", "requested_outputs", "use_binary_outputs", "rest_server", "data_plane", "model_registry")
PRIVATE_ACCESS = re.compile(rf"\._({'|'.join(PRIVATE_NAMES)})\b")


def test_no_other_module_touches_them() -> None:
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "kserve_private.py":
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {m.group(0)}" for m in PRIVATE_ACCESS.finditer(text)]
        if re.search(r"kserve_grpc_server\.InferenceServicer|\"_rest_server\"|'_raw_data'", text):
            offenders.append(f"{path.name}: a private kserve name by string or module global")
    assert not offenders, offenders
