#!/usr/bin/env bash
# Install Debian's PostgreSQL server when it is missing (the catalog tests start a throw-away
# cluster with its initdb/pg_ctl as the `postgres` user; nothing is started here).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | head -1) present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "postgresql is missing and this is not root: apt-get install postgresql (tests will skip)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian's package creates and starts a default cluster; the tests do not use it
if command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_ctlcluster "$(pg_lsclusters -h | awk '{print $1}' | head -1)" main stop 2>/dev/null || true
fi
ls -d /usr/lib/postgresql/*/bin | head -1
