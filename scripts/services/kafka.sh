#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft: broker and controller in one JVM) from Maven Central jars,
# for `make demo`, the streaming tests and the benchmark. No containers, no release tarballs.
#
# Usage: scripts/services/kafka.sh install|start|stop|run|status|env
#   install  resolve kafka_2.13 and its runtime dependencies with Maven into
#            $MODELSHIP_CACHE/kafka/<version>/libs (idempotent: a finished install is only checked)
#   start    install if needed, then run the broker in the background and wait until it answers;
#            prints `export MODELSHIP_KAFKA_BOOTSTRAP_SERVERS=...` (idempotent: a running broker is kept)
#   stop     stop the broker started by `start` (SIGTERM, SIGKILL after 30 s); data stays
#   run      format the storage if needed and run the broker in the foreground (tests use this)
#   status   exit 0 when the broker's port answers
#   env      print the export line
#
# Environment (all optional):
#   MODELSHIP_KAFKA_VERSION     broker version (default 3.9.1; 4.x would need a log4j2 binding)
#   MODELSHIP_KAFKA_PORT        client port on 127.0.0.1 (default 9092); the controller uses PORT+1 unless
#   MODELSHIP_KAFKA_CONTROLLER_PORT is set
#   MODELSHIP_KAFKA_DIR         state dir: server.properties, data/, kafka.log, kafka.pid
#                               (default $MODELSHIP_CACHE/services/kafka)
#   MODELSHIP_KAFKA_HEAP        JVM heap (default 512m)
#   MODELSHIP_KAFKA_TIMEOUT     seconds `start` waits for the broker (default 90)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

VERSION=${MODELSHIP_KAFKA_VERSION:-3.9.1}
SLF4J_VERSION=1.7.36
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
# What the install holds; a change re-resolves it. r2: kafka-tools too (kafka-topics.sh & co. in the image).
INSTALL_REV="kafka_2.13 kafka-tools slf4j-reload4j r2"
HOME_DIR="$MODELSHIP_CACHE/kafka/$VERSION"
LIBS="$HOME_DIR/libs"
PORT=${MODELSHIP_KAFKA_PORT:-9092}
CONTROLLER_PORT=${MODELSHIP_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
STATE=${MODELSHIP_KAFKA_DIR:-$MODELSHIP_CACHE/services/kafka}
HEAP=${MODELSHIP_KAFKA_HEAP:-512m}
TIMEOUT=${MODELSHIP_KAFKA_TIMEOUT:-90}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

need_java() {
  command -v java >/dev/null || die "java (>= 11) is required: apt-get install openjdk-17-jre-headless (see \`make services\`)"
}

install() {
  if [ "$(cat "$HOME_DIR/.complete" 2>/dev/null)" = "$INSTALL_REV" ]; then
    log "kafka $VERSION is installed in $LIBS"
    return 0
  fi
  need_java
  command -v mvn >/dev/null || die "mvn is required to fetch the Kafka jars: apt-get install maven (see \`make services\`)"
  local t0 tmp
  t0=$(now_s)
  tmp=$(mktemp -d "$MODELSHIP_CACHE/kafka/.install.XXXXXX" 2>/dev/null || { mkdir -p "$MODELSHIP_CACHE/kafka"; mktemp -d "$MODELSHIP_CACHE/kafka/.install.XXXXXX"; })
  cat > "$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.modelship</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  log "resolving kafka_2.13:$VERSION with Maven (cold: a minute or two)"
  mvn -B -q -Dstyle.color=never -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
    -DoutputDirectory="$tmp/libs" -DincludeScope=runtime
  ls "$tmp/libs"/kafka_2.13-"$VERSION".jar >/dev/null || die "Maven did not produce kafka_2.13-$VERSION.jar"
  echo "$INSTALL_REV" >"$tmp/.complete"
  rm -rf "$HOME_DIR"
  mv "$tmp" "$HOME_DIR"
  log "kafka $VERSION installed in $LIBS ($(ls "$LIBS" | wc -l) jars) in $(( $(now_s) - t0 ))s"
}

write_config() {
  mkdir -p "$STATE/data"
  cat > "$STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
PROPS
  cat > "$STATE/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
L4J
}

# JAVA: the JVM command line shared by the storage tool and the broker (the classpath glob is Java's, not bash's).
JAVA=(java -Xms128m "-Xmx$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
  "-Dlog4j.configuration=file:$STATE/log4j.properties" -cp "$LIBS/*")

run() {
  [ -f "$HOME_DIR/.complete" ] || die "kafka $VERSION is not installed: run \`make services\` (or $0 install)"
  need_java
  write_config
  # Keep the cluster id: formatting again would make the broker refuse its own data.
  if [ ! -f "$STATE/data/meta.properties" ]; then
    local id
    id=$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$id" -c "$STATE/server.properties" >/dev/null
  fi
  exec "${JAVA[@]}" kafka.Kafka "$STATE/server.properties"
}

start() {
  install
  start_server kafka "$PORT" MODELSHIP_KAFKA_PORT broker_ready
  env_lines
}

broker_ready() {
  pid_alive "$STATE/kafka.pid" || return 1
  tcp_open 127.0.0.1 "$PORT" && grep -q "Kafka Server started" "$STATE/kafka.log"
}

env_lines() { echo "export MODELSHIP_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$PORT"; }

cmd=${1:-}
case $cmd in
  install) timed "kafka install" install ;;
  start) start ;;
  stop) stop_pidfile kafka "$STATE/kafka.pid" ;;
  run) run ;;
  status) tcp_open 127.0.0.1 "$PORT" ;;
  env) env_lines ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
