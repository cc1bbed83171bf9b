#!/bin/bash
# kafka-topics.sh: org.apache.kafka.tools.TopicCommand on the image's jars.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
