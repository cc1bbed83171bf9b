"""``--target cluster`` errors that need no server: an API server nobody listens on, a missing kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devtools.procs import free_port
from modelship_cli.app import main


def test_an_unreachable_api_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ml"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    for argv in (["status"], ["rollback", "penguins"], ["history", "penguins", "--json"]):
        assert main(["--kubeconfig", str(path), *argv]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1, err
        assert err.startswith(f"modelship: cannot reach the Kubernetes API server at {server}: "), err


def test_a_missing_kubeconfig_and_mixed_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target", "cluster", "--kubeconfig", str(tmp_path / "nope"), "status"]) == 1
    assert "no usable kubeconfig" in capsys.readouterr().err
    assert main(["--target", "demo", "--namespace", "ml", "status"]) == 1
    assert "are for --target cluster" in capsys.readouterr().err
