"""Start the real modelship servers locally: MLflow, PostgreSQL, model servers, the gateway, ``mlflow models serve``.

Each ``start_*`` returns a ready :class:`devtools.procs.Proc` (or raises :class:`devtools.procs.ServerError`
with the log tail). Ports default to free ones on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.procs import LOCALHOST, Proc, ServerError, free_port, http_ok, start

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The venv's bin directory (not resolved: .venv/bin/python is a symlink to the system interpreter).
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
INSTALL_HINT = "run `make services` (devtools/install_services.sh: apt-get install -y postgresql wrk)"


def cache_dir() -> Path:
    """``$MODELSHIP_CACHE`` or ``~/.cache/modelship``."""
    return Path(os.environ.get("MODELSHIP_CACHE") or Path.home() / ".cache" / "modelship")


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with the venv's bin first on PATH, unbuffered Python, quiet TensorFlow, text logs."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # Their logs go to files and the demo's terminal, read by people (the images log JSON).
    env.setdefault("MODELSHIP_LOG_FORMAT", "text")
    # Servers must not inherit a pytest "warnings are errors" setting or a test's tracking URI by accident.
    env.pop("PYTHONWARNINGS", None)
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------------------------------- MLflow


def start_mlflow(state_dir: Path, *, port: int | None = None, timeout: float = 120.0) -> Proc:
    """``mlflow server`` with a SQLite backend and served local artifacts under ``state_dir``."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    artifacts = state_dir / "mlartifacts"
    artifacts.mkdir(exist_ok=True)
    mlflow = VENV_BIN / "mlflow"
    if not mlflow.exists():
        raise ServerError(f"mlflow is not installed in {VENV_BIN}; run `make sync`")
    argv = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        f"sqlite:///{state_dir / 'mlflow.db'}",
        "--artifacts-destination",
        str(artifacts),
        "--serve-artifacts",
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://{LOCALHOST}:{port}"
    # No background job runner: MLflow would start seven huey consumer processes that nothing here uses.
    env = server_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    proc = start("mlflow", argv, log_path=state_dir / "logs" / "mlflow.log", env=env, url=url, port=port)
    return proc.wait_http("/health", timeout=timeout)


# ----------------------------------------------------------------------------------------------- PostgreSQL


def find_pg_bin() -> Path:
    """Directory holding Debian's PostgreSQL server binaries (initdb, postgres)."""
    candidates = [Path(os.environ["MODELSHIP_PG_BIN"])] if os.environ.get("MODELSHIP_PG_BIN") else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "postgres").exists():
            return cand
    which = shutil.which("postgres")
    if which and shutil.which("initdb"):
        return Path(which).parent
    raise ServerError(
        f"PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
    )


def _run_as() -> tuple[str | None, str | None]:
    """PostgreSQL refuses to run as root: when we are root, run it as ``nobody``."""
    if os.geteuid() != 0:
        return None, None
    return "nobody", "nogroup"


def start_postgres(
    data_dir: Path | None = None, *, port: int | None = None, timeout: float = 60.0, durable: bool = False
) -> Proc:
    """A throwaway PostgreSQL cluster (trust auth, superuser ``postgres``) on 127.0.0.1.

    Tests run it without fsync and synchronous commit (nothing they store must survive a crash of the machine);
    ``durable=True`` keeps PostgreSQL's defaults (a commit is flushed to disk before it returns), as a benchmark
    of a store's durable writes needs.

    ``proc.meta["url"]`` is the SQLAlchemy URL of the ``postgres`` database; ``proc.meta["data_dir"]`` the cluster.
    Stopped with SIGINT (PostgreSQL's fast shutdown).
    """
    import subprocess

    pg_bin = find_pg_bin()
    user, group = _run_as()
    if data_dir is None:
        # Under /tmp so that the unprivileged server user can reach it (root's home is mode 700).
        data_dir = Path(tempfile.mkdtemp(prefix="modelship-pg-"))
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "postgres.log"
    if user is not None:
        shutil.chown(data_dir, user, group)
    port = port or free_port()
    pgdata = data_dir / "pgdata"
    env = {"PATH": f"{pg_bin}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(data_dir), "LC_ALL": "C.UTF-8"}
    if not (pgdata / "PG_VERSION").exists():
        res = subprocess.run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            user=user,
            group=group,
            extra_groups=[] if user else None,
        )
        if res.returncode != 0:
            raise ServerError(f"initdb failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    argv = [
        str(pg_bin / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-k",
        str(data_dir),
        "-c",
        f"listen_addresses={LOCALHOST}",
        "-c",
        "max_connections=200",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    url = f"postgresql+psycopg://postgres@{LOCALHOST}:{port}/postgres"
    proc = start(
        "postgres", argv, log_path=log_path, env=env, port=port, stop_signal=signal.SIGINT, user=user, group=group
    )
    proc.url = url
    proc.meta.update(url=url, data_dir=data_dir, dsn=f"host={LOCALHOST} port={port} user=postgres dbname=postgres")

    def ready() -> bool:
        import psycopg

        with psycopg.connect(proc.meta["dsn"], connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    return proc.wait_ready(ready, timeout=timeout)


def create_database(pg: Proc, name: str) -> str:
    """Create database ``name`` on the cluster ``pg`` (dropping an old one); returns its SQLAlchemy URL."""
    import psycopg

    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad database name {name!r}")
    with psycopg.connect(pg.meta["dsn"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(pg.meta["url"]).rsplit("/", 1)[0] + f"/{name}"


def stop_postgres(pg: Proc, *, remove: bool = True) -> None:
    pg.stop()
    if remove:
        shutil.rmtree(pg.meta["data_dir"], ignore_errors=True)


# ---------------------------------------------------------------------------------------------- modelship


def start_model_server(
    model_uri: str,
    *,
    tracking_uri: str,
    log_dir: Path,
    model_name: str | None = None,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    wait: bool = True,
    model_cache_dir: Path | None = None,
) -> Proc:
    """``python -m modelship_serving --model-uri ...`` on a free port; ready when V2 says the model is ready.

    The server's model cache goes to ``model_cache_dir`` (default ``<log_dir>/../model-cache``): a cache shared
    between different MLflow servers would mix up their ``models:/<name>/<version>``.
    """
    port = port or free_port()
    name = model_name or model_uri[len("models:/") :].split("/")[0].split("@")[0]
    argv = [
        PYTHON,
        "-m",
        "modelship_serving",
        "--model-uri",
        model_uri,
        "--http_port",
        str(port),
        "--grpc_port",
        str(free_port()),
        "--enable_grpc",
        "false",
        "--model_name",
        name,
        *extra_args,
    ]
    cache = model_cache_dir or Path(log_dir).resolve().parent / "model-cache"
    proc_env = server_env(
        {
            "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MODELSHIP_MODEL_CACHE_DIR": str(cache),
            **(env or {}),
        }
    )
    url = f"http://{LOCALHOST}:{port}"
    proc = start(
        f"model server {name} ({model_uri})",
        argv,
        log_path=Path(log_dir) / f"serving-{name}-{port}.log",
        env=proc_env,
        url=url,
        port=port,
        cwd=REPO_ROOT,
    )
    proc.meta["model_name"] = name
    if wait:
        proc.wait_http(f"/v2/models/{name}/ready", timeout=timeout)
    return proc


def write_discovery(discovery_dir: Path, name: str, url: str) -> Path:
    """Write ``<discovery_dir>/<name>.json`` = ``{"name", "url"}`` (atomically) for the gateway to find."""
    discovery_dir = Path(discovery_dir)
    discovery_dir.mkdir(parents=True, exist_ok=True)
    path = discovery_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"name": name, "url": url}))
    os.replace(tmp, path)
    return path


def start_gateway(
    *,
    tracking_uri: str,
    database_url: str,
    log_dir: Path,
    port: int | None = None,
    model_servers: Mapping[str, str] | None = None,
    discovery_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Proc:
    """``python -m modelship_gateway`` on 127.0.0.1; ready when ``GET /readyz`` answers (its database is reachable)."""
    port = port or free_port()
    settings = {
        "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODELSHIP_DATABASE_URL": database_url,
        "MODELSHIP_MODEL_SERVERS": json.dumps(dict(model_servers or {})),
        "MODELSHIP_HOST": LOCALHOST,
        "MODELSHIP_PORT": str(port),
    }
    if discovery_dir is not None:
        settings["MODELSHIP_DISCOVERY_DIR"] = str(discovery_dir)
    argv = [PYTHON, "-m", "modelship_gateway"]
    url = f"http://{LOCALHOST}:{port}"
    proc = start(
        "gateway",
        argv,
        log_path=Path(log_dir) / f"gateway-{port}.log",
        env=server_env({**settings, **(env or {})}),
        url=url,
        port=port,
        cwd=REPO_ROOT,
    )
    return proc.wait_http("/readyz", timeout=timeout)


def start_mlflow_models_serve(
    model_uri: str,
    *,
    tracking_uri: str,
    log_dir: Path,
    port: int | None = None,
    timeout: float = 180.0,
    wait: bool = True,
) -> Proc:
    """``mlflow models serve -m <uri> --env-manager local`` (the baseline the benchmark compares against)."""
    port = port or free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        LOCALHOST,
        "-p",
        str(port),
        "-w",
        "1",
    ]
    url = f"http://{LOCALHOST}:{port}"
    proc = start(
        f"mlflow models serve {model_uri}",
        argv,
        log_path=Path(log_dir) / f"mlflow-serve-{port}.log",
        env=server_env({"MLFLOW_TRACKING_URI": tracking_uri}),
        url=url,
        port=port,
    )
    if wait:
        proc.wait_http("/ping", timeout=timeout)
    return proc


__all__ = [
    "INSTALL_HINT",
    "PYTHON",
    "REPO_ROOT",
    "VENV_BIN",
    "cache_dir",
    "create_database",
    "find_pg_bin",
    "http_ok",
    "server_env",
    "start_gateway",
    "start_mlflow",
    "start_mlflow_models_serve",
    "start_model_server",
    "start_postgres",
    "stop_postgres",
    "write_discovery",
]
