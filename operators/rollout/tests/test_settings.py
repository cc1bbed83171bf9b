import pytest
from pydantic import ValidationError

from modelship_operator.settings import OperatorSettings, Target, get_settings


def test_defaults(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("MODELSHIP_"):
            monkeypatch.delenv(key)
    s = get_settings()
    assert s.target is Target.deployment
    assert s.metrics_port == 8081
    assert s.webhook_port == 8082
    assert s.webhook_secret is None
    assert s.resolved_webhook_secret() is None
    assert s.resync_seconds == 30
    assert s.history_limit == 10


def test_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELSHIP_TARGET", "kserve")
    monkeypatch.setenv("MODELSHIP_SERVING_IMAGE", "reg/serving:1")
    monkeypatch.setenv("MODELSHIP_SERVING_ENV", '{"A": "1"}')
    monkeypatch.setenv("MODELSHIP_SERVING_TOLERATIONS", '[{"key": "k", "operator": "Exists"}]')
    monkeypatch.setenv("MODELSHIP_WEBHOOK_SECRET", "abc")
    monkeypatch.setenv("MODELSHIP_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    s = get_settings()
    assert s.target is Target.kserve
    assert s.serving_image == "reg/serving:1"
    assert s.serving_env == {"A": "1"}
    assert s.serving_tolerations == [{"key": "k", "operator": "Exists"}]
    assert s.resolved_webhook_secret() == "abc"
    assert "abc" not in repr(s)  # secrets never printed
    assert s.mlflow_tracking_uri == "http://mlflow:5000"


def test_secret_file(monkeypatch, tmp_path):
    monkeypatch.delenv("MODELSHIP_WEBHOOK_SECRET", raising=False)
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    monkeypatch.setenv("MODELSHIP_WEBHOOK_SECRET_FILE", str(path))
    assert get_settings().resolved_webhook_secret() == "from-file"


@pytest.mark.parametrize(
    ("field", "value"),
    [("target", "helm"), ("serving_image_pull_policy", "Sometimes"), ("metrics_port", 70000), ("resync_seconds", 0)],
)
def test_rejects_bad_values(field, value):
    with pytest.raises(ValidationError):
        OperatorSettings(**{field: value})


@pytest.mark.parametrize(("target", "watched"), [("deployment", "deployments"), ("kserve", "inferenceservices")])
def test_handlers_watch_only_the_targets_children(target, watched):
    """kopf derives its watches (and RBAC needs) from the handlers registered at import."""
    import os
    import subprocess
    import sys

    code = (
        "import kopf, modelship_operator.handlers as h\n"
        "print(sorted({(x.selector.group, x.selector.any_name) for x in kopf.get_default_registry()"
        "._watching.get_all_handlers()}))"
    )
    env = {**os.environ, "MODELSHIP_TARGET": target}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert watched in out
    assert ("deployments" in out) == (target == "deployment")
