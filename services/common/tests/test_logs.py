"""modelship_common.logs: one JSON object per line (or text), the context fields, the format switch."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from modelship_common.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    log_context,
    resolve_format,
    set_process_fields,
)


def record(msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("modelship_test", logging.WARNING, __file__, 10, msg, args, None)
    rec.created = 1_700_000_000.25
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_record_is_one_line_with_the_fields() -> None:
    line = JsonFormatter().format(record(request_id="r-1", model="digits-fast", version="3", trace_id="abc"))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "WARNING",
        "logger": "modelship_test",
        "message": "hello world",
        "request_id": "r-1",
        "model": "digits-fast",
        "version": "3",
        "trace_id": "abc",
    }


def test_json_leaves_out_absent_fields_and_keeps_non_ascii() -> None:
    out = json.loads(JsonFormatter().format(record("caf\u00e9 %d", (1,), model=None)))
    assert set(out) == {"time", "level", "logger", "message"}
    assert out["message"] == "caf\u00e9 1"


def test_json_includes_the_exception_on_the_same_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "failed" and out["level"] == "ERROR"
    assert out["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom\nsecond line" in out["exception"]


def test_json_stack_info_and_unserialisable_values() -> None:
    out = json.loads(JsonFormatter().format(record(stack_info="Stack (most recent call last):\n  here", model=object)))
    assert out["stack"].endswith("here") and out["model"] == str(object)


def test_log_context_fields_apply_inside_the_block_only() -> None:
    with log_context(request_id="r-9", model="penguins"):
        with log_context(version="2", trace_id=None):
            inside = json.loads(JsonFormatter().format(record()))
        # a record's own attribute wins over the context
        own = json.loads(JsonFormatter().format(record(model="other")))
    after = json.loads(JsonFormatter().format(record()))
    assert (inside["request_id"], inside["model"], inside["version"]) == ("r-9", "penguins", "2")
    assert "trace_id" not in inside
    assert own["model"] == "other"
    assert "request_id" not in after


def test_process_fields_are_the_lowest_priority() -> None:
    set_process_fields(model="digits-fast", version="3")
    try:
        plain = json.loads(JsonFormatter().format(record()))
        with log_context(version="4"):
            bound = json.loads(JsonFormatter().format(record(model="own")))
    finally:
        set_process_fields(model=None, version=None)
    assert (plain["model"], plain["version"]) == ("digits-fast", "3")
    assert (bound["model"], bound["version"]) == ("own", "4")
    assert "model" not in json.loads(JsonFormatter().format(record()))


def test_kopf_object_reference_becomes_object() -> None:
    out = json.loads(JsonFormatter().format(record(k8s_ref={"namespace": "ml", "name": "digits", "kind": "X"})))
    assert out["object"] == "ml/digits"


def test_text_format_for_people() -> None:
    line = TextFormatter().format(record(request_id="r-1", model="m"))
    assert line.endswith(" WARNING modelship_test: hello world [request_id=r-1 model=m]")
    assert TextFormatter().format(record()).endswith("modelship_test: hello world")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("value", "tty", "expect"),
    [("json", True, "json"), ("text", False, "text"), ("auto", True, "text"), ("auto", False, "json"),
     ("", False, "json"), (" JSON ", True, "json")],
)  # fmt: skip
def test_resolve_format(value: str, tty: bool, expect: str) -> None:
    assert resolve_format(value, _Tty() if tty else io.StringIO()) == expect


def test_resolve_format_reads_the_environment_and_rejects_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_LOG_FORMAT", "text")
    assert resolve_format(None, io.StringIO()) == "text"
    monkeypatch.setenv("MODELSHIP_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="MODELSHIP_LOG_FORMAT"):
        resolve_format(None, io.StringIO())


@pytest.fixture
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    lib = logging.getLogger("somelib")
    lib_handlers, lib_propagate = list(lib.handlers), lib.propagate
    yield
    root.handlers, root.level = handlers, level
    lib.handlers, lib.propagate = lib_handlers, lib_propagate


def test_configure_logging_replaces_console_handlers_and_takes_over(clean_logging: None) -> None:
    root = logging.getLogger()
    keep = logging.StreamHandler(io.StringIO())  # like pytest's capture: not a console, kept
    console = logging.StreamHandler(sys.stderr)
    root.addHandler(keep)
    root.addHandler(console)
    lib = logging.getLogger("somelib")
    lib.addHandler(logging.StreamHandler(sys.stderr))
    lib.propagate = False
    out = io.StringIO()
    first = configure_logging("info", "json", stream=out, take_over=("somelib",), capture_warnings=False)
    second = configure_logging(
        "DEBUG", "json", stream=out, take_over=("somelib",), capture_warnings=False
    )  # idempotent
    assert keep in root.handlers and console not in root.handlers and first not in root.handlers
    assert second in root.handlers and root.level == logging.DEBUG
    assert lib.handlers == [second] and lib.propagate is False
    logging.getLogger("modelship_x").info("one %s", "line", extra={"request_id": "r"})
    lib.warning("from a library")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["logger"], d["message"]) for d in lines] == [("modelship_x", "one line"), ("somelib", "from a library")]
    assert lines[0]["request_id"] == "r"
    configure_logging(None, "text", stream=out, capture_warnings=False)
    assert root.level == logging.DEBUG  # None keeps the level


@pytest.mark.parametrize(("env", "expect_json"), [(None, True), ("text", False), ("json", True)])
def test_a_process_logs_json_to_a_pipe_by_default(env: str | None, expect_json: bool) -> None:
    code = (
        "import logging; from modelship_common.logs import configure_logging; configure_logging();"
        "logging.getLogger('app').error('bad %s', 'thing', extra={'model': 'm'});"
        "import warnings; warnings.warn('careful', UserWarning)"
    )
    environ = {k: v for k, v in os.environ.items() if k != "MODELSHIP_LOG_FORMAT"}
    if env is not None:
        environ["MODELSHIP_LOG_FORMAT"] = env
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60, check=True
    )
    lines = done.stderr.splitlines()
    if expect_json:
        first, warning = (json.loads(line) for line in lines)  # the warning is a JSON line too
        assert first["message"] == "bad thing" and first["model"] == "m"
        assert warning["logger"] == "py.warnings" and "UserWarning: careful" in warning["message"]
    else:
        assert lines[0].endswith(" ERROR app: bad thing [model=m]")
        assert " WARNING py.warnings: " in lines[1]
