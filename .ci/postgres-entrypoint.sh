#!/bin/bash
# Entrypoint of the stand-in postgres image (.ci/docker-setup.sh), after the official
# image's: on first start (empty $PGDATA) initdb with POSTGRES_USER (default postgres),
# POSTGRES_PASSWORD (required) and POSTGRES_INITDB_ARGS, then create POSTGRES_DB (default
# $POSTGRES_USER) and the comma-separated POSTGRES_MULTIPLE_DATABASES (an extension of
# ours). Arguments starting with "-" are passed to postgres; anything else is executed.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PATH="$PGBIN:$PATH"
if [[ $# -eq 0 || "${1#-}" != "$1" ]]; then set -- postgres "$@"; fi
if [[ "$1" != postgres ]]; then exec "$@"; fi
shift
PGDATA=${PGDATA:-/var/lib/postgresql/data}
USER_NAME=${POSTGRES_USER:-postgres}
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
        echo "error: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options, as upstream
    as_postgres initdb -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    dbs="${POSTGRES_DB:-$USER_NAME},${POSTGRES_MULTIPLE_DATABASES:-}"
    for db in ${dbs//,/ }; do
        [[ "$db" == postgres ]] && continue
        # single-user mode: no listener while we prepare; fsync off, a throwaway step
        echo "CREATE DATABASE \"$db\" OWNER \"$USER_NAME\"" \
            | as_postgres postgres --single -D "$PGDATA" -j -c fsync=off postgres >/dev/null
    done
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "$PGDATA" "$@"
