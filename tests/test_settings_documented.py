"""Every setting is documented once: by its attribute docstring, which pydantic turns into the field's description
(``use_attribute_docstrings``), never also by ``Field(description=...)``."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

from pydantic_settings import BaseSettings

PACKAGES = (
    "modelship_common",
    "modelship_scoring",
    "modelship_gateway",
    "modelship_streaming",
    "modelship_serving",
    "modelship_training",
    "modelship_operator",
    "modelship_cli",
)


def settings_classes() -> list[type[BaseSettings]]:
    found: dict[str, type[BaseSettings]] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseSettings) and cls.__module__ == info.name:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_setting_has_a_description() -> None:
    classes = settings_classes()
    assert len(classes) >= 10, [c.__name__ for c in classes]
    undocumented = [f"{c.__name__}.{n}" for c in classes for n, f in c.model_fields.items() if not f.description]
    assert not undocumented


def test_no_setting_is_documented_twice() -> None:
    twice = []
    for cls in settings_classes():
        tree = ast.parse(Path(inspect.getfile(cls)).read_text())
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        for stmt in node.body:
            call = stmt.value if isinstance(stmt, ast.AnnAssign) else None
            if isinstance(call, ast.Call) and any(k.arg == "description" for k in call.keywords):
                twice.append(f"{cls.__name__}.{ast.unparse(stmt.target)}")
    assert not twice, f"Field(description=...) beside the docstring: {twice}"
