"""The Python images are the targets of one Dockerfile at the repository root. Its build copies what uv needs (the
lock, every workspace member's pyproject.toml, then every member's src/), and each target is built with the workspace
package it is named after, the same way by scripts/images/build.sh and skaffold.yaml. Offline: no docker, no server."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
MEMBERS: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["workspace"][
    "members"
]
PACKAGES = {
    tomllib.loads((REPO / member / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    for member in MEMBERS
}
IMAGES = {"serving", "gateway", "training", "operator", "streaming"}


def stages(text: str = DOCKERFILE) -> dict[str, str]:
    """Each stage's name and its instructions (continuation lines joined), comments left out."""
    out: dict[str, str] = {}
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#")))
    for block in re.split(r"^(?=FROM )", joined, flags=re.MULTILINE)[1:]:
        head = block.splitlines()[0].split()
        assert len(head) == 4 and head[2] == "AS", f"every stage is named: {head}"
        out[head[3]] = block
    return out


def copied(stage: str) -> list[str]:
    """The sources of a stage's ``COPY`` instructions from the build context (not ``COPY --from``), in order."""
    sources = []
    for line in stage.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--"):
            sources += words[1:-1]
    return sources


def build_sh_images() -> dict[str, str]:
    text = (REPO / "scripts" / "images" / "build.sh").read_text(encoding="utf-8")
    listing = re.search(r"^PYTHON_IMAGES=\(([^)]*)\)", text, re.MULTILINE)
    assert listing is not None, "build.sh lists PYTHON_IMAGES=(target:package ...)"
    return dict(entry.split(":", 1) for entry in listing.group(1).split())


def test_one_target_per_python_image_each_on_the_shared_runtime() -> None:
    found = stages()
    assert list(found)[:4] == ["workspace", "sources", "build", "runtime"]
    assert set(found) - {"workspace", "sources", "build", "runtime"} == IMAGES
    for name in IMAGES:
        assert found[name].startswith("FROM runtime AS "), name
        assert re.search(r"^ENTRYPOINT \[", found[name], re.MULTILINE), f"{name} has no ENTRYPOINT"
    assert "COPY --from=build /app/.venv /app/.venv" in found["runtime"]
    assert "USER 10001:10001" in found["runtime"]


def test_the_workspace_stage_copies_the_lock_and_every_members_pyproject_and_nothing_else() -> None:
    """uv needs the whole workspace to read the lock; the dependencies layer is cached on these files alone."""
    assert copied(stages()["workspace"]) == ["pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in MEMBERS)]


def test_the_build_installs_the_dependencies_before_it_copies_any_source() -> None:
    build = stages()["build"]
    syncs = re.findall(r'uv sync --frozen --no-dev --package "\$PACKAGE" (--\S+)', build)
    assert syncs == ["--no-install-workspace", "--no-editable"], syncs
    assert copied(build) == [], "the build stage copies sources only from the sources stage"
    assert (
        build.index("--no-install-workspace")
        < build.index("COPY --from=sources /src /src")
        < build.index("--no-editable")
    )


def test_the_sources_stage_copies_every_member_and_keeps_the_packages_closure() -> None:
    sources = stages()["sources"]
    assert copied(sources) == [f"{m}/src" for m in MEMBERS]
    assert 'uv export --frozen --no-dev --package "$PACKAGE"' in sources
    assert re.search(r'test -n "\$PACKAGE" \|\|', sources), "a build without PACKAGE fails with a message"


def test_build_sh_and_skaffold_build_each_target_with_its_own_package() -> None:
    listed = build_sh_images()
    assert listed == {name: f"modelship-{name}" for name in IMAGES}
    assert set(listed.values()) <= PACKAGES
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text(encoding="utf-8"))
    artifacts = {a["image"]: a["docker"] for a in skaffold["build"]["artifacts"]}
    for name, package in listed.items():
        docker = artifacts[f"modelship/{name}"]
        assert docker == {"dockerfile": "Dockerfile", "target": name, "buildArgs": {"PACKAGE": package}}, name


def test_no_other_dockerfile_installs_from_the_workspace() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "*Dockerfile"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {path for path in listed if "uv sync" in (REPO / path).read_text(encoding="utf-8")} == {"Dockerfile"}
