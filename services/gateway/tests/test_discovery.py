"""Discovery sources read real files on every call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from modelship_gateway.discovery import DirectoryDiscovery, Endpoint, build_discovery


def test_directory_discovery_rereads_and_skips_bad_files(tmp_path: Path) -> None:
    discovery = DirectoryDiscovery(tmp_path / "endpoints")
    assert asyncio.run(discovery.endpoints()) == []  # missing directory: nothing served yet
    (tmp_path / "endpoints").mkdir()
    (tmp_path / "endpoints" / "a.json").write_text(json.dumps({"name": "a", "url": "http://a:8080/"}))
    (tmp_path / "endpoints" / "b.json").write_text(json.dumps({"url": "http://b:8080"}))  # name from the file
    (tmp_path / "endpoints" / "bad.json").write_text("{not json")
    (tmp_path / "endpoints" / "nourl.json").write_text(json.dumps({"name": "x"}))
    (tmp_path / "endpoints" / "notes.txt").write_text("ignored")
    assert asyncio.run(discovery.endpoints()) == [Endpoint("a", "http://a:8080"), Endpoint("b", "http://b:8080")]


def test_files_override_the_static_map(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"name": "a", "url": "http://new-a:8080"}))
    discovery = build_discovery({"a": "http://old-a:8080", "z": "http://z:8080"}, tmp_path)
    assert asyncio.run(discovery.endpoints()) == [Endpoint("a", "http://new-a:8080"), Endpoint("z", "http://z:8080")]
