#!/usr/bin/env bash
# Runs before `npm test`: the tests drive Debian's Chromium and need a Redis. On a Debian
# machine where we are root, what is missing is installed and Redis started; elsewhere this
# says what is missing, and the tests that need it fail saying so too.
set -uo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ -z "${REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null || missing+=(redis-server)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test prerequisites: installing ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null || exit 1
  else
    echo "test prerequisites: missing ${missing[*]} (Debian: apt-get install -y ${missing[*]})" >&2
  fi
fi

if [ -z "${REDIS_URL:-}" ] && command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test prerequisites: starting Redis on 127.0.0.1:6379 (no persistence)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
# PostgreSQL for the effects tests (test/effects.pg.test.ts, examples/effects), at PGHOST:PGPORT.
if [ -z "${PGHOST:-}" ] && command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "test prerequisites: starting PostgreSQL on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
fi
exit 0
