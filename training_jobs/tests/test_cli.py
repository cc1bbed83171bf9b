"""``python -m modelship_training`` as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from training_jobs.tests.mlflow_names import PREFIX, forget_models

#: ``python -m modelship_training`` with the digits variants renamed (the first argument their prefix).
RENAMED_CLI = Path(__file__).with_name("renamed_cli.py")


def run_cli(
    *args: str,
    tmp_path: Path,
    timeout: float = 120,
    program: Sequence[str] = ("-m", "modelship_training"),
    **env: str,
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MODELSHIP_DATABASE_URL": f"sqlite:///{tmp_path / 'training.db'}", **env}
    return subprocess.run(
        [sys.executable, *program, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


def test_unreachable_mlflow_is_one_error_line(tmp_path: Path, unused_port: int) -> None:
    uri = f"http://127.0.0.1:{unused_port}"
    done = run_cli("--tracking-uri", uri, "penguins", tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: cannot reach MLflow at {uri}: [Errno 111] Connection refused"]
    assert not (tmp_path / "training.db").exists()


@pytest.mark.parametrize("job", ["penguins", "digits", "all", "collect"])
def test_connection_options_work_before_and_after_the_job(job: str, tmp_path: Path) -> None:
    from modelship_training.cli import build_parser, settings_from_args

    options = ["--tracking-uri", "http://mlflow.example:5000", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
    parser = build_parser()
    settings = [
        settings_from_args(parser, parser.parse_args(argv))
        for argv in (
            [*options, job],
            [job, *options],
            [options[0], options[1], job, options[2], options[3]],
        )
    ]
    assert {(s.mlflow_tracking_uri, s.database_url) for s in settings} == {
        ("http://mlflow.example:5000", f"sqlite:///{tmp_path / 'x.db'}")
    }
    # Given on neither side, the environment's values stay (no option default overwrites them).
    assert not hasattr(parser.parse_args([job]), "tracking_uri")


def test_unreachable_mlflow_after_the_job_is_one_error_line(tmp_path: Path, unused_port: int) -> None:
    uri = f"http://127.0.0.1:{unused_port}"
    done = run_cli("all", "--tracking-uri", uri, tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: cannot reach MLflow at {uri}: [Errno 111] Connection refused"]
    assert not (tmp_path / "training.db").exists()


def test_unknown_dataset_is_rejected(tmp_path: Path) -> None:
    done = run_cli("digits", "--dataset", "imagenet", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'imagenet'" in done.stderr


def test_invalid_setting_is_rejected(tmp_path: Path) -> None:
    done = run_cli("penguins", tmp_path=tmp_path, MODELSHIP_TEST_SIZE="3")
    assert done.returncode == 2
    assert "invalid setting test_size" in done.stderr.strip().splitlines()[-1]


@pytest.mark.integration
@pytest.mark.slow
def test_digits_fast_trains_and_registers(tracking_uri: str, tmp_path: Path) -> None:
    """The CLI trains and registers digits-fast; registered as ``training-tests-digits-fast`` (RENAMED_CLI), since
    the session's MLflow holds the ``digits-fast`` that ``trained`` registered and other suites serve."""
    name = f"{PREFIX}digits-fast"
    try:
        done = run_cli(
            "--tracking-uri",
            tracking_uri,
            "digits",
            "--variants",
            name,
            tmp_path=tmp_path,
            timeout=300,
            program=(str(RENAMED_CLI), PREFIX),
            MODELSHIP_DIGITS_EPOCHS="2",
            MODELSHIP_DIGITS_EXPERIMENT="cli-test",
        )
    finally:
        forget_models(tracking_uri, name)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(
        rf"^{name} v\d+ {name}: test_accuracy=0\.\d{{4}} test_f1=0\.\d{{4}} -> (champion|challenger); onnx ok",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    assert f"{name} epoch 2/2" in done.stderr
