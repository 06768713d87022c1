#!/usr/bin/env bash
# Runs Redis 7.0.15's own Tcl test suite (unit/type/string, unit/type/incr, unit/keyspace,
# unit/expire) against `shale serve` on a fresh database. The suite comes from Debian's
# `redis` source package (.ci/fetch-redis.sh); tests/redis/skiplist.txt names the tests
# that use commands shale serve does not offer (lists, sets, hashes, bit operations, LCS,
# COPY, MOVE, DEBUG, ...). Usage: .ci/redis-suite.sh [path/to/shale] [extra runtest args];
# REDIS_UNITS="unit/keyspace" runs only the units named (space-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
shale=${1:-target/debug/shale}
shift || true
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
skip="$PWD/tests/redis/skiplist.txt"
status=0
for unit in ${REDIS_UNITS:-unit/type/string unit/type/incr unit/keyspace unit/expire}; do
  (cd "$suite" && ./runtest --host 127.0.0.1 --port "$port" --single "$unit" --ignore-encoding \
      --tags -needs:debug --tags -needs:repl --tags -needs:config-maxmemory --tags -needs:save \
      --clients 1 --skipfile "$skip" "$@") || status=1
done
kill -TERM $pid
wait $pid || true
cat "$tmp/serve.log"
exit $status
