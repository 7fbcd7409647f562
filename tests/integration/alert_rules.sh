#!/usr/bin/env bash
# example/prometheus's alert rules: promtool accepts them (check rules),
# they fire as privateer-alerts.test.yml says (test rules), and every
# privateer_* metric they use is one plugin/metrics.c exports.
set -euo pipefail
src=${PRIVATEER_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$src/example/prometheus
command -v promtool >/dev/null || { echo "SKIPPED: promtool is not installed (apt-get install prometheus)"; exit 77; }
promtool check rules "$dir/privateer-alerts.yml"
(cd "$dir" && promtool test rules privateer-alerts.test.yml)
for m in $(grep -o 'privateer_[a-z_]*' "$dir/privateer-alerts.yml" | sort -u); do
	grep -q "\"$m" "$src/plugin/metrics.c" || { echo "FAIL: $m is not exported by plugin/metrics.c"; exit 1; }
done
echo PASS
