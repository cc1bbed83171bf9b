"""Command line: ``python -m modelship_training [OPTIONS] penguins|digits|all|collect [OPTIONS]``.

``--tracking-uri`` and ``--database-url`` may come before or after the job name.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from modelship_common.logs import configure_logging
from modelship_training.digits_data import DATASETS
from modelship_training.settings import TrainingSettings, get_settings
from modelship_training.tracking import TrackingUnavailable, check_reachable

#: Digits variants the CLI accepts (mirrors digits_models.VARIANTS without importing Keras-facing code).
DIGITS_VARIANTS: tuple[str, ...] = ("digits-fast", "digits-balanced", "digits-accurate")


def _common_options() -> argparse.ArgumentParser:
    """Options accepted both before and after the job name.

    ``default=SUPPRESS`` keeps a subcommand's unset option from overwriting the value given before the job name
    (argparse copies every sub-parser default into the namespace); :func:`settings_from_args` reads them with
    ``getattr(..., None)``.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--tracking-uri",
        default=argparse.SUPPRESS,
        help="MLflow tracking server (overrides MODELSHIP_MLFLOW_TRACKING_URI).",
    )
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="Training-data database (overrides MODELSHIP_DATABASE_URL).",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="python -m modelship_training",
        description="Train modelship's models, track them in MLflow, register and promote them.",
        parents=[common],
    )
    jobs = parser.add_subparsers(dest="job", required=True, metavar="{penguins,digits,all,collect}")
    jobs.add_parser(
        "penguins", parents=[common], help="penguins classifiers (5 estimators + random-forest grid search)"
    )
    digits = jobs.add_parser("digits", parents=[common], help="digits CNNs (TensorFlow/Keras)")
    everything = jobs.add_parser("all", parents=[common], help="penguins, then digits")
    for sub in (digits, everything):
        sub.add_argument(
            "--dataset",
            choices=DATASETS,
            default="sklearn",
            help="sklearn: shipped 8x8 digits upsampled to 28x28 (offline); mnist: downloads MNIST.",
        )
    digits.add_argument(
        "--variants", nargs="+", choices=DIGITS_VARIANTS, help="Variants to train (default: all three)."
    )
    collect = jobs.add_parser(
        "collect",
        parents=[common],
        help="fetch a batch of raw penguins rows, store the new ones, retrain at the threshold",
    )
    collect.add_argument("--url", help="Data API batch URL (overrides MODELSHIP_COLLECTOR_URL).")
    return parser


def settings_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainingSettings:
    """Settings from the environment with the command-line overrides; bad values end in ``parser.error``."""
    overrides = {}
    if getattr(args, "tracking_uri", None):
        overrides["mlflow_tracking_uri"] = args.tracking_uri
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "url", None):
        overrides["collector_url"] = args.url
    try:
        return get_settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        parser.error(f"invalid setting {field}: {first['msg']} ({exc.error_count()} error(s))")


def run(args: argparse.Namespace, settings: TrainingSettings) -> int:
    """Run the chosen job; returns the exit code (1 with one ``error: ...`` line on an expected failure)."""
    configure_logging(settings.log_level, settings.log_format)
    if args.job == "collect":
        return run_collect(settings)
    try:  # before the heavy imports, so an unreachable server is reported within seconds
        check_reachable(settings.mlflow_tracking_uri)
    except TrackingUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from modelship_training import jobs

    try:
        if args.job == "penguins":
            report = jobs.train_penguins(settings)
        elif args.job == "digits":
            report = jobs.train_digits(settings, dataset=args.dataset, variants=args.variants)
        else:
            report = jobs.train_all(settings, dataset=args.dataset)
    except (TrackingUnavailable, MlflowException, SQLAlchemyError, ValueError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
    for result in report.results:
        print(result.summary())
    return 0


def run_collect(settings: TrainingSettings) -> int:
    """``collect``: one collector run; 1 with one ``error: ...`` line when the fetch, the store or training fails."""
    from sqlalchemy.exc import SQLAlchemyError

    from modelship_training.collector import CollectError, collect

    try:
        result = collect(settings)
    except (CollectError, SQLAlchemyError, ValueError, OSError) as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(result.summary())
    for trained in result.report.results if result.report else []:
        print(trained.summary())
    return 0
