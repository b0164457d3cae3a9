#!/usr/bin/env bash
# Prints the URL of a fresh, throw-away PostgreSQL database for the tests, starting the local
# server when it is down. Prints nothing (and exits 0) when no local PostgreSQL is installed.
set -uo pipefail
command -v pg_lsclusters >/dev/null 2>&1 || exit 0
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
[ -n "$version" ] || exit 0
if ! pg_lsclusters -h | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || exit 0
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
fi
# named after the run (test.sh passes its own pid: its $(...) subshell is gone at once), which
# lives as long as the run
db="sharehub_test_${SHAREHUB_TEST_PG_OWNER:-$PPID}_$(date +%s)"
as_pg=(psql -h 127.0.0.1 -U postgres -qAt)
"${as_pg[@]}" -c "SELECT 1" >/dev/null 2>&1 || as_pg=(su postgres -c)
if [ "${as_pg[0]}" = psql ]; then
    # drop throw-away databases left by earlier runs whose process is gone (sharehub_test_<pid>_<time>,
    # and its _cluster twin): a run beside this one on the same server keeps its own
    for old in $("${as_pg[@]}" -c "SELECT datname FROM pg_database WHERE datname LIKE 'sharehub_test_%'"); do
        owner=$(echo "$old" | cut -d_ -f3)
        if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
            continue
        fi
        "${as_pg[@]}" -c "DROP DATABASE IF EXISTS \"$old\"" >/dev/null 2>&1 || true
    done
    "${as_pg[@]}" -c "CREATE DATABASE \"$db\"" >/dev/null || exit 0
else
    su postgres -c "createdb $db" || exit 0
fi
echo "postgresql://postgres@127.0.0.1:5432/$db"
