"""The Python images' Dockerfiles have one shape (scripts/images/dockerfiles.py renders them all from one template)
and each build copies what uv needs: the lock, every workspace member's pyproject.toml, and the src/ of the
image's package and of the workspace members it depends on. Offline: no docker, no server."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "images" / "dockerfiles.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("modelship_dockerfiles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


dockerfiles = _load()
IMAGES = {image.name: image for image in dockerfiles.IMAGES}
ROOT_PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
MEMBERS: list[str] = ROOT_PYPROJECT["tool"]["uv"]["workspace"]["members"]


def build_stage(text: str) -> str:
    """The Dockerfile's first stage (up to the second FROM)."""
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    assert len(stages) >= 3, "expected a build stage and a runtime stage"
    return stages[1]


def copied(text: str) -> list[str]:
    """The sources of the build stage's ``COPY`` instructions (not ``COPY --from``), in order."""
    sources = []
    for line in build_stage(text).splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--"):
            sources += words[1:-1]
    return sources


def python_dockerfiles() -> set[str]:
    """Every tracked Dockerfile that installs from the uv workspace."""
    listed = subprocess.run(
        ["git", "ls-files", "*Dockerfile"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return {path for path in listed if "uv sync" in (REPO / path).read_text(encoding="utf-8")}


def test_every_python_dockerfile_comes_from_the_template() -> None:
    assert python_dockerfiles() == {f"{image.member}/Dockerfile" for image in IMAGES.values()}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_dockerfile_is_the_templates_rendering(name: str) -> None:
    image = IMAGES[name]
    assert image.dockerfile.read_text(encoding="utf-8") == dockerfiles.render(image), (
        f"{image.member}/Dockerfile is not what scripts/images/dockerfiles.py renders (edited by hand, or the "
        "workspace changed): run scripts/images/dockerfiles.py"
    )


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_build_copies_the_lock_and_every_members_pyproject(name: str) -> None:
    text = IMAGES[name].dockerfile.read_text(encoding="utf-8")
    sources = copied(text)
    missing = [p for p in ["pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in MEMBERS)] if p not in sources]
    assert not missing, f"{IMAGES[name].member}/Dockerfile does not copy {missing} (uv needs the whole workspace)"
    # ...and before the dependencies layer, so that layer is cached on the lock and the pyprojects alone.
    first_sync = build_stage(text).index("RUN uv sync")
    for path in [f"{m}/pyproject.toml" for m in MEMBERS]:
        assert build_stage(text).index(f"COPY {path} ") < first_sync, path


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_build_copies_the_sources_of_its_package_and_workspace_dependencies(name: str) -> None:
    image = IMAGES[name]
    text = image.dockerfile.read_text(encoding="utf-8")
    package = tomllib.loads((REPO / image.member / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    syncs = re.findall(r"^RUN uv sync --frozen --no-dev --package (\S+) ", build_stage(text), re.MULTILINE)
    assert syncs == [package, package], syncs
    sources = {s for s in copied(text) if s.endswith("/src")}
    closure = dockerfiles.workspace_closure(image.member)
    assert image.member in closure and "services/common" in closure
    assert sources == {f"{m}/src" for m in closure}


def test_the_closure_follows_the_members_dependencies() -> None:
    assert dockerfiles.workspace_closure("services/gateway") == [
        "services/common",
        "services/scoring",
        "services/gateway",
    ]
    assert dockerfiles.workspace_closure("services/common") == ["services/common"]


def test_a_new_workspace_member_makes_every_dockerfile_stale(tmp_path: Path) -> None:
    """What the test above guards against: a member added to the workspace and not to the images' COPY lists."""
    for member in ["", *MEMBERS]:
        (tmp_path / member).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / member / "pyproject.toml", tmp_path / member / "pyproject.toml")
    for image in IMAGES.values():
        shutil.copy(image.dockerfile, tmp_path / image.member / "Dockerfile")
    assert dockerfiles.stale(tmp_path) == []
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "pyproject.toml").write_text('[project]\nname = "modelship-plugins"\n', encoding="utf-8")
    root = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(root.replace('    "cli",\n]', '    "cli",\n    "plugins",\n]'))
    assert dockerfiles.workspace_members(tmp_path)[-1] == "plugins"
    assert {image.name for image in dockerfiles.stale(tmp_path)} == set(IMAGES)
    assert "COPY plugins/pyproject.toml plugins/pyproject.toml" in dockerfiles.render(IMAGES["gateway"], tmp_path)


def test_build_sh_and_skaffold_build_these_dockerfiles() -> None:
    build_sh = (REPO / "scripts" / "images" / "build.sh").read_text(encoding="utf-8")
    assert re.search(r'dockerfiles\.py"? --check', build_sh), "build.sh checks the Dockerfiles before building"
    listing = re.search(r"^MODELSHIP_IMAGES=\(([^)]*)\)", build_sh, re.MULTILINE)
    assert listing is not None
    listed = dict(entry.split(":", 1) for entry in listing.group(1).split())
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text(encoding="utf-8"))
    artifacts = {a["image"]: a["docker"]["dockerfile"] for a in skaffold["build"]["artifacts"]}
    for name, image in IMAGES.items():
        assert listed.get(name) == image.member, name
        assert artifacts.get(f"modelship/{name}") == f"{image.member}/Dockerfile", name


def test_check_mode_exits_0_on_the_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
