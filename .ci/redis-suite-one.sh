#!/usr/bin/env bash
# One unit of Redis's suite against a fresh `shale serve` (see .ci/redis-suite.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
unit=$1
shale=${SHALE:-target/debug/shale}
if ! suite=$(bash .ci/fetch-redis.sh); then
  # No package mirror reachable: say so loudly, but a network outage is not a test failure.
  echo "SKIPPED: Redis's test suite could not be fetched (apt-get source redis failed)" >&2
  exit 0
fi
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$shale" --db "$tmp/db" serve --port "$port" > "$tmp/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done
cd "$suite"
./runtest --host 127.0.0.1 --port "$port" --single "$unit" --ignore-encoding \
  --tags -needs:debug --tags -needs:repl --tags -needs:config-maxmemory --tags -needs:save \
  --clients 1 --skipfile "$OLDPWD/tests/redis/skiplist.txt"
