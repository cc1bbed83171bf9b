#!/bin/bash
# kafka-run-class.sh CLASS ARGS...: run one Kafka class on the image's jars (the official image's scripts take
# the same KAFKA_HEAP_OPTS, KAFKA_OPTS and LOG_DIR).
set -euo pipefail
log_dir=${LOG_DIR:-/opt/kafka/logs}
mkdir -p "$log_dir" 2>/dev/null || true
log4j=${KAFKA_LOG4J_OPTS:-}
if [ -z "$log4j" ]; then
  props=$(mktemp "${TMPDIR:-/tmp}/tools-log4j.XXXXXX")
  printf 'log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n' >"$props"
  log4j="-Dlog4j.configuration=file:$props"
fi
# shellcheck disable=SC2086  # the *_OPTS variables hold several words
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  $log4j ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
