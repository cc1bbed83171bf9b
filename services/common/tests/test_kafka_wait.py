"""A service started before its broker keeps trying for ``kafka_wait_s`` instead of exiting on the first refusal."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from modelship_common.kafka import KafkaSettings, KafkaUnavailable, TopicSpec, wait_for_topics


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on: the broker that is not there yet."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wait_for_topics_keeps_trying_until_the_wait_is_over(caplog: pytest.LogCaptureFixture) -> None:
    config = KafkaSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}").client_config()
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="modelship_common.kafka"),
        pytest.raises(KafkaUnavailable, match="cannot list topics"),
    ):
        wait_for_topics(config, [TopicSpec("t", 1, 1)], timeout_s=0.5, wait_s=1.5)
    assert time.monotonic() - started >= 1.5
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting for Kafka")]
    assert retries, "a refused first try was not tried again"  # several tries, not one


def test_no_wait_means_one_try() -> None:
    config = KafkaSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}").client_config()
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable):
        wait_for_topics(config, [TopicSpec("t", 1, 1)], timeout_s=0.5, wait_s=0.0)
    assert time.monotonic() - started < 3.0
