#!/usr/bin/env bash
# Vendor the modelship-lib library chart into every subchart that depends on it: charts/<sub>/charts/modelship-lib-<version>.tgz.
# Helm reads a chart's dependencies from that chart's own charts/ directory, so each subchart carries a packed copy
# (what `helm dependency build` would put there) and lints and renders on its own; the umbrella chart reads the
# library directory itself. Run after changing charts/modelship/charts/modelship-lib; charts/tests checks the copies.
# Needs helm on PATH (source scripts/env.sh). No network: the library is a directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/modelship/charts"
lib="$root/modelship-lib"
version="$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$lib/Chart.yaml")"
for chart in "$root"/*/; do
  chart="${chart%/}"
  [ "$chart" = "$lib" ] && continue
  grep -q '^  - name: modelship-lib$' "$chart/Chart.yaml" || continue
  mkdir -p "$chart/charts"
  rm -f "$chart"/charts/modelship-lib-*.tgz
  helm package "$lib" --destination "$chart/charts" >/dev/null
  echo "vendored modelship-lib $version into ${chart#"$root"/}/charts/"
done
