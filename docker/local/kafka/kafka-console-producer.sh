#!/bin/bash
# kafka-console-producer.sh: org.apache.kafka.tools.ConsoleProducer on the image's jars.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConsoleProducer "$@"
