"""``make demo``: the whole platform on this machine, no Kubernetes.

MLflow (SQLite + local artifacts) on :5000, training when the registry has nothing to serve, one model server
per served model at its ``champion`` alias (pinned to that version), discovery files, the gateway on :8000.
State lives under ``~/.cache/modelship/demo`` (``--state-dir``); a second run reuses the trained models.
Ctrl-C (SIGINT) or SIGTERM stops everything.

    python -m devtools.demo [--port 8000] [--mlflow-port 5000] [--no-train] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from devtools import servers
from devtools.procs import (
    PortInUse,
    Proc,
    ProcGroup,
    ServerError,
    free_port,
    port_is_free,
    require_free_port,
    tail,
)
from modelship_common.schemas import penguins

SAMPLE_PENGUIN = penguins.EXAMPLE_ROW
PENGUINS = "penguins"
DIGITS = ("digits-fast", "digits-balanced", "digits-accurate")
IMAGE_MODEL_FOR_EXAMPLE = "digits-balanced"


class Shutdown(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


#: Seconds between two passes of the demo's rollout controller (devtools.demo_rollouts).
ROLLOUT_PASS_S = 2.0


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--port", type=int, default=8000, help="gateway port (default 8000)")
    p.add_argument("--mlflow-port", type=int, default=5000, help="MLflow port (default 5000)")
    p.add_argument(
        "--serving-port",
        type=int,
        default=8081,
        help="first model-server port; the next ones follow (busy ones are replaced by free ports)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=servers.cache_dir() / "demo",
        help="where MLflow, the predictions DB, discovery files and logs live",
    )
    p.add_argument("--no-train", action="store_true", help="never train; serve what the registry has")
    p.add_argument(
        "--rollout-strategy",
        choices=("Rolling", "Shadow", "Canary"),
        default="Canary",
        help="what a new challenger version goes through (default Canary: 10/50/100%% judged against the champion; "
        "Rolling: nothing, the challenger is not served)",
    )
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ training


def missing_training(client: Any) -> list[str]:
    """Which training jobs (``penguins``, ``digits``) are needed for models that are not registered yet."""
    from modelship_common import registry

    have = set(registry.served_models(client))
    jobs = []
    if PENGUINS not in have:
        jobs.append("penguins")
    if not set(DIGITS) <= have:
        jobs.append("digits")
    return jobs


def train(jobs: list[str], tracking_uri: str, log_dir: Path, database_url: str) -> None:
    """Run ``python -m modelship_training <job>`` with its output shown live (and kept in the log).

    ``database_url`` is where the training data tables (``penguins_raw``, ``penguins_processed``) go.
    """
    job = "all" if len(jobs) > 1 else jobs[0]
    argv = [servers.PYTHON, "-m", "modelship_training", "--tracking-uri", tracking_uri, job]
    say(f"training {job} (this takes a few minutes the first time): {' '.join(argv[1:])}")
    log_path = log_dir / "training.log"
    env = servers.server_env(
        {
            "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MODELSHIP_DATABASE_URL": database_url,
        }
    )
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as log:
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=servers.REPO_ROOT,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        try:
            assert popen.stdout is not None
            for line in popen.stdout:
                log.write(line)
                print(f"  [train] {line.rstrip()}", flush=True)
            code = popen.wait()
        except BaseException:
            os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
            raise
    if code != 0:
        raise ServerError(f"training failed with exit code {code}; log {log_path}")
    say(f"training done in {time.monotonic() - started:.0f}s")


# ------------------------------------------------------------------------------------------------- serving


def pick_port(preferred: int, taken: set[int]) -> int:
    port = preferred
    if port in taken or not port_is_free(port):
        port = free_port()
    taken.add(port)
    return port


def serve_models(
    client: Any, tracking_uri: str, first_port: int, log_dir: Path, group: ProcGroup, taken: set[int]
) -> dict[str, Proc]:
    """One model server per served model, at its champion (latest version when there is no champion)."""
    from modelship_common import registry
    from modelship_common.errors import ModelNotFound

    names = registry.served_models(client)
    if not names:
        raise ServerError("the registry has no served models; run without --no-train to train them")
    starting: dict[str, Proc] = {}
    for i, name in enumerate(names):
        try:
            info = registry.resolve_alias(client, name, registry.CHAMPION)
            version = info.version
        except ModelNotFound:
            versions = client.search_model_versions(f"name='{name}'")
            version = str(max(int(v.version) for v in versions))
            say(f"{name} has no champion alias; serving its latest version {version}")
        port = pick_port(first_port + i, taken)
        uri = registry.model_uri(name, version)
        say(f"starting model server {name} v{version} on :{port}")
        starting[name] = group.add(
            servers.start_model_server(
                uri, tracking_uri=tracking_uri, log_dir=log_dir, model_name=name, port=port, wait=False
            )
        )
        starting[name].meta["version"] = version
    for name, proc in starting.items():
        proc.wait_http(f"/v2/models/{name}/ready", timeout=180)
        say(f"model server {name} ready at {proc.url}")
    return starting


# ------------------------------------------------------------------------------------------------ examples


def write_sample_png(state_dir: Path) -> Path:
    """A handwritten 7 from scikit-learn's digits, upsampled to 28x28, as a PNG file."""
    from sklearn.datasets import load_digits

    from modelship_common.schemas import digits

    data = load_digits()
    index = int(list(data.target).index(7))
    image = digits.upsample_8x8(data.data[index : index + 1])[0]
    path = state_dir / "sample-digit-7.png"
    path.write_bytes(digits.encode_png(image))
    return path


def curl_examples(gateway_url: str, png: Path) -> list[str]:
    body = json.dumps({"instances": [SAMPLE_PENGUIN]})
    return [
        f"curl -s -X POST {gateway_url}/api/models/{PENGUINS}/predict -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}",
        f"curl -s -X POST {gateway_url}/api/models/{IMAGE_MODEL_FOR_EXAMPLE}/predict-image "
        f"-F file=@{shlex.quote(str(png))}",
    ]


# ---------------------------------------------------------------------------------------------------- main


@contextmanager
def signals_raise() -> Iterator[None]:
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    state: Path = args.state_dir.expanduser().resolve()
    logs = state / "logs"
    discovery = state / "discovery"
    logs.mkdir(parents=True, exist_ok=True)
    # Old endpoint files point at servers that are gone; this run writes fresh ones.
    discovery.mkdir(parents=True, exist_ok=True)
    for old in discovery.glob("*.json"):
        old.unlink()

    require_free_port(args.port, "gateway", "--port")
    require_free_port(args.mlflow_port, "MLflow", "--mlflow-port")
    taken = {args.port, args.mlflow_port}

    group = ProcGroup()
    try:
        say(f"state: {state}")
        mlflow = group.add(servers.start_mlflow(state / "mlflow", port=args.mlflow_port))
        tracking_uri = str(mlflow.url)
        say(f"MLflow ready at {tracking_uri}")

        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        jobs = missing_training(client)
        if jobs and not args.no_train:
            train(jobs, tracking_uri, logs, f"sqlite:///{state / 'training.db'}")
        elif jobs:
            say(f"--no-train: not training {', '.join(jobs)}; serving what is registered")
        else:
            say("registry already has every model; not training (delete the state dir to retrain)")

        model_servers = serve_models(client, tracking_uri, args.serving_port, logs, group, taken)
        for name, proc in model_servers.items():
            servers.write_discovery(discovery, name, str(proc.url))

        db_url = f"sqlite:///{state / 'predictions.db'}"
        gateway = group.add(
            servers.start_gateway(
                tracking_uri=tracking_uri, database_url=db_url, log_dir=logs, port=args.port, discovery_dir=discovery
            )
        )
        png = write_sample_png(state)
        from devtools.demo_rollouts import DemoRollouts, Serving

        rollouts = DemoRollouts(
            tracking_uri=tracking_uri,
            database_url=db_url,
            discovery_dir=discovery,
            log_dir=logs,
            group=group,
            serving={name: Serving(proc, str(proc.meta["version"])) for name, proc in model_servers.items()},
            strategy=args.rollout_strategy,
            say=say,
        )

        lines = [
            "",
            "modelship demo is up",
            f"  gateway + dashboard  {gateway.url}/",
            f"  models API           {gateway.url}/api/models",
            f"  MLflow               {tracking_uri}",
            *(f"  model server         {p.url}  ({n})" for n, p in model_servers.items()),
            f"  logs                 {logs}",
            "",
            "Try:",
            *(f"  {c}" for c in curl_examples(str(gateway.url), png)),
            "",
            "Press Ctrl-C to stop.",
        ]
        print("\n".join(lines), flush=True)
        next_pass = 0.0
        while True:
            if time.monotonic() >= next_pass:
                next_pass = time.monotonic() + ROLLOUT_PASS_S
                try:
                    rollouts.step()
                except Exception as exc:  # the demo keeps serving; the next pass tries again
                    say(f"rollout pass failed: {type(exc).__name__}: {exc}")
            for proc in list(group.procs):
                # A candidate's server that dies is the rollout's business (its errors fail the analysis).
                if not proc.running() and proc not in rollouts.candidates.values():
                    say(
                        f"{proc.name} exited with code {proc.popen.returncode}; stopping. Log tail:\n"
                        f"{tail(proc.log_path)}"
                    )
                    return 1
            time.sleep(0.5)
    except Shutdown as sig:
        say(f"{sig}: stopping")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        group.stop_all()
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with signals_raise():
        try:
            return run(args)
        except PortInUse as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        except (ServerError, TimeoutError) as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        except Shutdown:
            return 0


if __name__ == "__main__":
    sys.exit(main())
