#!/usr/bin/env bash
# Side by side: redis-server (appendonly yes, the same appendfsync) and `shale serve`, one
# after the other, with redis-benchmark. Prints CSV lines: policy,pipeline,server,test,rps.
#
# usage: benches/redis/compare.sh <always|everysec|no> <pipeline> [shale binary]
# SERVERS="shale" (or "redis") runs one side only; TESTS overrides -t (set,get,incr,mset).
# Needs redis-server and redis-benchmark (Debian's redis-server and redis-tools).
set -euo pipefail
policy=$1
pipeline=$2
shale=${3:-target/release/shale}
work=$(mktemp -d)
trap 'redis-cli -p 6400 shutdown nosave >/dev/null 2>&1 || true; redis-cli -p 6401 shutdown >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/redis"
redis-server --port 6400 --appendonly yes --appendfsync "$policy" --save "" --dir "$work/redis" \
    --daemonize yes --logfile "$work/redis.log"
"$shale" --db "$work/shale" serve --port 6401 --appendfsync "$policy" >"$work/shale.log" 2>&1 &
for port in 6400 6401; do
    until redis-cli -p $port ping >/dev/null 2>&1; do sleep 0.1; done
done
for name in ${SERVERS:-redis shale}; do
    port=$([ "$name" = redis ] && echo 6400 || echo 6401)
    redis-benchmark -p $port -t "${TESTS:-set,get,incr,mset}" -n 200000 -c 50 -r 1000000 -P "$pipeline" --csv 2>/dev/null |
        tail -n +2 | while IFS=, read -r t rps _; do
            echo "$policy,P$pipeline,$name,${t//\"/},${rps//\"/}"
        done
done
