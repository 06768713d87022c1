#!/usr/bin/env bash
# Installs Debian's redis-server and redis-tools (redis-cli, redis-benchmark) if missing,
# and fetches Redis 7.0.15's own Tcl test suite from Debian bookworm's `redis` source
# package into ${REDIS_SRC_DIR:-target/redis-src}. Nothing of it is copied into the
# repository. Prints the suite's directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${REDIS_SRC_DIR:-$PWD/target/redis-src}
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null \
    || ! command -v dpkg-source >/dev/null; then
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools dpkg-dev >&2
fi
suite=$(ls -d "$dest"/redis-7.0.15* 2>/dev/null | head -1 || true)
if [ -z "$suite" ] || [ ! -f "$suite/tests/test_helper.tcl" ]; then
  if ! grep -rqs "^Types: deb deb-src\|^Types: deb-src\|^deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $sudo tee /etc/apt/sources.list.d/shaledb-deb-src.sources >/dev/null
    $sudo apt-get update -qq >&2
  fi
  mkdir -p "$dest"
  (cd "$dest" && DEBIAN_FRONTEND=noninteractive apt-get source -qq redis >&2)
  suite=$(ls -d "$dest"/redis-7.0.15* | head -1)
fi
echo "$suite"
