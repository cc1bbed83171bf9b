"""``modelship``: status, promote, rollback and history of the models' Shadow/Canary rollouts.

    modelship [--target demo|cluster] status [NAME] [--json]
    modelship promote NAME [VERSION] [--reason TEXT] [--json]
    modelship rollback NAME [--reason TEXT] [--json]
    modelship history NAME [--limit N] [--json]

``--target demo`` (the default) reads the rollouts tables (MODELSHIP_DATABASE_URL, default: make demo's SQLite)
and MLflow (MODELSHIP_MLFLOW_TRACKING_URI); ``--target cluster`` (implied by --kubeconfig, --context or
--namespace) reads the InferenceServices and asks the operator to promote or roll back through an annotation.
Errors are one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from modelship_cli import render
from modelship_cli.errors import CliError, first_line
from modelship_cli.settings import get_settings


def _options(suppress: bool) -> argparse.ArgumentParser:
    """The options every subcommand takes, also before it (``modelship --json status``)."""
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="print JSON")
    p.add_argument("--target", choices=("demo", "cluster"), default=default, help="make demo (default) or a cluster")
    p.add_argument("--database-url", default=default, help="demo: rollouts database (MODELSHIP_DATABASE_URL)")
    p.add_argument("--tracking-uri", default=default, help="demo: MLflow (MODELSHIP_MLFLOW_TRACKING_URI)")
    p.add_argument("--kubeconfig", default=default, help="cluster: kubeconfig file (default $KUBECONFIG)")
    p.add_argument("--context", default=default, help="cluster: kubeconfig context")
    p.add_argument("-n", "--namespace", default=default, help="cluster: namespace (default: the context's)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelship",
        description="Status, promote, rollback and history of the models' Shadow/Canary rollouts.",
        parents=[_options(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_options(suppress=True)]
    p = sub.add_parser("status", parents=common, help="models, champion/challenger, the active rollout, its gates")
    p.add_argument("name", nargs="?", help="one model (or InferenceService) only")
    p = sub.add_parser("promote", parents=common, help="promote the candidate now, or move champion to VERSION")
    p.add_argument("name", help="model (or InferenceService) name")
    p.add_argument("version", nargs="?", help="without an active rollout: the version (default: the challenger)")
    p.add_argument("--reason", default="", help="why; recorded with the decision")
    p.add_argument("--wait", type=float, default=0.0, help="cluster: seconds to wait for the operator's answer")
    p = sub.add_parser("rollback", parents=common, help="roll the active rollout back: all traffic to the champion")
    p.add_argument("name", help="model (or InferenceService) name")
    p.add_argument("--reason", default="", help="why; recorded with the decision")
    p.add_argument("--wait", type=float, default=0.0, help="cluster: seconds to wait for the operator's answer")
    p = sub.add_parser("history", parents=common, help="the model's rollouts and their decisions with evidence")
    p.add_argument("name", help="model (or InferenceService) name")
    p.add_argument("--limit", type=int, default=20, help="demo: newest N rollouts (default 20)")
    return parser


def _target(args: argparse.Namespace) -> Any:
    settings = get_settings(database_url=args.database_url, mlflow_tracking_uri=args.tracking_uri)
    cluster_hint = args.kubeconfig or args.context or args.namespace
    target = args.target or ("cluster" if cluster_hint else "demo")
    if target == "cluster":
        from modelship_cli.cluster import ClusterTarget

        return ClusterTarget(settings, kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
    if cluster_hint:
        raise CliError("--kubeconfig, --context and --namespace are for --target cluster")
    from modelship_cli.demo import DemoTarget

    return DemoTarget(settings)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Run one command; its view (the ``--json`` output) and its text."""
    target = _target(args)
    try:
        if args.command == "status":
            view = target.status(args.name)
            return view, render.status(view)
        if args.command == "history":
            view = target.history(args.name, args.limit) if target.name == "demo" else target.history(args.name)
            return view, render.history(view)
        version = getattr(args, "version", None)
        if target.name == "cluster":
            by = _user() + (f": {args.reason}" if args.reason else "")
            view = target.request(args.command, args.name, version, by[:64], args.wait)
        else:
            reason = f"manual: modelship {args.command} by {_user()}" + (f": {args.reason}" if args.reason else "")
            if args.command == "promote":
                view = target.promote(args.name, version, reason)
            else:
                view = target.rollback(args.name, reason)
        return view, render.decision(view)
    finally:
        target.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        view, text = run(args)
    except CliError as exc:
        print(f"modelship: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("modelship: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen server answer: still one line, never a traceback
        print(f"modelship: {type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        return 1
    print(json.dumps(view, indent=2, default=str) if args.json else text)
    return 0
