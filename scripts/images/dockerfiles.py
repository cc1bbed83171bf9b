#!/usr/bin/env python3
"""Write the Python images' Dockerfiles from one template, so that their shape and COPY lists cannot drift apart.

Usage: scripts/images/dockerfiles.py [--check]
  (no flag)  rewrite every Dockerfile in IMAGES that differs from its rendering
  --check    change nothing; exit 1 naming each Dockerfile that differs (scripts/images/build.sh runs this)

Every image has the same two stages. The build stage copies the root pyproject.toml, uv.lock and the
pyproject.toml of every workspace member ([tool.uv.workspace] members of the root pyproject.toml: uv needs the
whole workspace to read the lock), installs the image's package's locked dependencies in a layer of their own,
then copies the src/ of the package and of the workspace members it depends on (read from the members'
pyproject.toml) and installs them, not editable. The runtime stage copies only the virtual environment and runs
as uid 10001. What differs per image (its header, extra environment, ports, entrypoint) is in IMAGES below.
tests/test_dockerfiles.py fails when a Dockerfile is not this rendering, or when what a build copies misses a
workspace member. Standard library only (tomllib): runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"
UV_VERSION = "0.13.9"
UID = 10001
WIDTH = 120  # the repository's line length (ruff)


@dataclass(frozen=True)
class Image:
    """What one Python image has of its own; everything else is the template's."""

    name: str
    """The image's name (modelship/<name>, as scripts/images/build.sh and skaffold.yaml tag it)."""
    member: str
    """The workspace member (a directory) the image installs; the Dockerfile is <member>/Dockerfile."""
    title: str
    """What the image is: the first line of its header."""
    usage: tuple[str, ...] = ()
    """Example commands after the ``docker build`` one (``docker run ...``)."""
    notes: str = ""
    """What else the header says about the image (wrapped)."""
    build_args: tuple[str, ...] = ()
    """``ARG`` lines of the runtime stage (``NAME=default``)."""
    build_flags: str = ""
    """Flags of the ``docker build`` example in the header (how to set the build arguments)."""
    env: tuple[str, ...] = ()
    """Environment of the runtime stage beyond the common one (``NAME=value``)."""
    home: str = "/tmp"
    """HOME of uid 10001; a directory other than /tmp is created in the image (and is the working directory)."""
    expose: tuple[int, ...] = ()
    """Ports the image listens on."""
    expose_comment: str = ""
    """A comment above EXPOSE saying what each port is."""
    entrypoint: tuple[str, ...] = ()
    """The ENTRYPOINT (exec form)."""
    cmd: tuple[str, ...] = ()
    """The CMD (exec form), if any."""

    @property
    def dockerfile(self) -> Path:
        return ROOT / self.member / "Dockerfile"


IMAGES = (
    Image(
        name="serving",
        member="services/serving",
        title="modelship model server (KServe V1 + V2 on :8080, gRPC on :8081).",
        usage=(
            "docker run -e MODELSHIP_MLFLOW_TRACKING_URI=http://mlflow:5000 modelship/serving:0.1.0 "
            "--model-uri models:/penguins/3",
        ),
        notes="Bytecode is compiled at build time (cold start). The root filesystem can be read-only: downloaded "
        "models go to MODELSHIP_MODEL_CACHE_DIR (mount an emptyDir there).",
        env=("MODELSHIP_MODEL_CACHE_DIR=/tmp/modelship-models",),
        expose=(8080, 8081),
        entrypoint=("python", "-m", "modelship_serving"),
    ),
    Image(
        name="gateway",
        member="services/gateway",
        title="modelship gateway (REST API on :8000).",
        notes="The root filesystem can be read-only (point MODELSHIP_DATABASE_URL at PostgreSQL or a writable volume).",
        env=("MODELSHIP_DATABASE_URL=sqlite:////tmp/modelship/predictions.db",),
        expose=(8000,),
        entrypoint=("python", "-m", "modelship_gateway"),
    ),
    Image(
        name="training",
        member="training_jobs",
        title="modelship training jobs (penguins + digits), run as Kubernetes Jobs / CronJobs.",
        usage=("docker run -e MODELSHIP_MLFLOW_TRACKING_URI=http://mlflow:5000 modelship/training:0.1.0 all",),
        build_args=("GIT_REVISION=unknown",),
        build_flags="--build-arg GIT_REVISION=$(git rev-parse HEAD) ",
        env=("MPLCONFIGDIR=/tmp/matplotlib", "TF_CPP_MIN_LOG_LEVEL=2", "MODELSHIP_GIT_REVISION=${GIT_REVISION}"),
        home="/home/modelship",
        entrypoint=("python", "-m", "modelship_training"),
        cmd=("all",),
    ),
    Image(
        name="operator",
        member="operators/rollout",
        title="modelship rollout operator (kopf).",
        notes="The root filesystem can be read-only.",
        expose=(8080, 8081, 8082),
        expose_comment="8080 kopf liveness (/healthz), 8081 Prometheus /metrics, 8082 MLflow webhooks.",
        entrypoint=(
            "kopf",
            "run",
            "-m",
            "modelship_operator.handlers",
            "--all-namespaces",
            "--liveness=http://0.0.0.0:8080/healthz",
        ),
    ),
    Image(
        name="streaming",
        member="services/streaming",
        title="modelship streaming worker (Kafka consumer; metrics and probes on :9108).",
        notes="It runs modelship-scoring's image fan-out core and model-server clients (no FastAPI, Jinja2 or "
        "Plotly). The root filesystem can be read-only.",
        expose=(9108,),
        entrypoint=("python", "-m", "modelship_streaming"),
    ),
)


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def workspace_members(root: Path = ROOT) -> list[str]:
    """The member directories of the uv workspace, in the root pyproject.toml's order."""
    return list(_toml(root / "pyproject.toml")["tool"]["uv"]["workspace"]["members"])


def package_of(member: str, root: Path = ROOT) -> str:
    """The distribution name of a workspace member (its pyproject's [project] name)."""
    return str(_toml(root / member / "pyproject.toml")["project"]["name"])


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def workspace_closure(member: str, root: Path = ROOT) -> list[str]:
    """``member`` and every workspace member it depends on, directly or not, in the workspace's order."""
    members = workspace_members(root)
    by_package = {package_of(m, root).lower(): m for m in members}
    needed: set[str] = set()
    todo = [member]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        for requirement in _toml(root / current / "pyproject.toml")["project"].get("dependencies", []):
            dependency = by_package.get(_requirement_name(requirement))
            if dependency is not None:
                todo.append(dependency)
    return [m for m in members if m in needed]


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text.strip(), width=WIDTH - 2, break_on_hyphens=False)]


def _exec_form(words: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def _env_block(lines: list[str]) -> str:
    return "ENV " + " \\\n    ".join(lines)


def render(image: Image, root: Path = ROOT) -> str:
    """The Dockerfile of ``image``."""
    package = package_of(image.member, root)
    closure = workspace_closure(image.member, root)
    with_members = [package_of(m, root) for m in closure if m != image.member]
    installs = f"the {package} workspace member" + (f" (with {', '.join(with_members)})" if with_members else "")
    pyprojects = "\n".join(f"COPY {m}/pyproject.toml {m}/pyproject.toml" for m in workspace_members(root))
    sources = "\n".join(f"COPY {m}/src {m}/src" for m in closure)
    sync = f"uv sync --frozen --no-dev --package {package}"

    account = "--no-create-home" if image.home == "/tmp" else f"--create-home --home-dir {image.home}"
    runtime_env = _env_block(
        [
            "PATH=/app/.venv/bin:$PATH",
            "PYTHONUNBUFFERED=1",
            "PYTHONDONTWRITEBYTECODE=1",
            "MODELSHIP_LOG_FORMAT=json",
            f"HOME={image.home}",
            *image.env,
        ]
    )
    tail = [f"USER {UID}:{UID}"]
    if image.home != "/tmp":
        tail.append(f"WORKDIR {image.home}")
    if image.expose:
        if image.expose_comment:
            tail.extend(_comment(image.expose_comment))
        tail.append("EXPOSE " + " ".join(str(p) for p in image.expose))
    tail.append(f"ENTRYPOINT {_exec_form(image.entrypoint)}")
    if image.cmd:
        tail.append(f"CMD {_exec_form(image.cmd)}")
    args = "".join(f"ARG {arg}\n" for arg in image.build_args)
    header = [
        *_comment(image.title),
        "# Build context: the repository root.",
        f"#   docker build -f {image.member}/Dockerfile {image.build_flags}-t modelship/{image.name}:0.1.0 .",
        *(f"#   {line}" for line in image.usage),
        *_comment(f"Installs exactly what uv.lock pins for {installs}, no dev tools. Runs as uid {UID}. {image.notes}"),
    ]

    return f"""\
# Generated by scripts/images/dockerfiles.py (one template for every Python image): edit that, then run it.
{chr(10).join(header)}
FROM {BASE_IMAGE} AS build

ENV UV_LINK_MODE=copy \\
    UV_COMPILE_BYTECODE=1 \\
    UV_PYTHON_DOWNLOADS=never \\
    UV_PYTHON=/usr/local/bin/python3.11 \\
    UV_PROJECT_ENVIRONMENT=/app/.venv \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir "uv=={UV_VERSION}"

WORKDIR /src
# The lock and every workspace member's pyproject.toml (uv reads the whole workspace to use the lock), then the
# dependencies only: this layer is reused until uv.lock or a pyproject.toml changes.
COPY pyproject.toml uv.lock ./
{pyprojects}
RUN {sync} --no-install-workspace

# The sources of the package and of the workspace members it depends on, installed not editable.
{sources}
RUN {sync} --no-editable

FROM {BASE_IMAGE}

{args}RUN groupadd --gid {UID} modelship \\
    && useradd --uid {UID} --gid {UID} {account} --shell /usr/sbin/nologin modelship
COPY --from=build /app/.venv /app/.venv
{runtime_env}

{chr(10).join(tail)}
"""


def stale(root: Path = ROOT) -> list[Image]:
    """The images whose Dockerfile is not what :func:`render` writes."""
    out = []
    for image in IMAGES:
        path = root / image.member / "Dockerfile"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(image, root):
            out.append(image)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a Dockerfile differs")
    args = parser.parse_args(argv)
    differ = stale()
    if args.check:
        for image in differ:
            print(
                f"{image.member}/Dockerfile is not what scripts/images/dockerfiles.py renders: run that script",
                file=sys.stderr,
            )
        return 1 if differ else 0
    for image in differ:
        image.dockerfile.write_text(render(image), encoding="utf-8")
        print(f"wrote {image.member}/Dockerfile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
