#!/bin/bash
# kafka-storage.sh: kafka.tools.StorageTool on the image's jars.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
