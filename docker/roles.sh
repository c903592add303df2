#!/bin/sh
# Create or update trackboard's three database roles (docker/sql/roles.sql) from the
# environment. Run by the postgres image on a new volume (docker/initdb/10-roles.sh)
# and by the one-shot `roles` service at every `docker compose up`, so a failed first
# start is repaired and a password changed in .env takes effect. By hand, against any
# server (as a superuser; PG* variables say where):
#   PGHOST=DBHOST PGUSER=postgres PGDATABASE=trackboard TRACKBOARD_OWNER_PASSWORD=... \
#   TRACKBOARD_WRITER_PASSWORD=... TRACKBOARD_RO_PASSWORD=... sh docker/roles.sh
set -eu

: "${TRACKBOARD_OWNER_PASSWORD:?set TRACKBOARD_OWNER_PASSWORD in .env (see .env.example)}"
: "${TRACKBOARD_WRITER_PASSWORD:?set TRACKBOARD_WRITER_PASSWORD in .env (see .env.example)}"
: "${TRACKBOARD_RO_PASSWORD:?set TRACKBOARD_RO_PASSWORD in .env (see .env.example)}"

here=$(dirname "$0")
sql="${TRACKBOARD_ROLES_SQL:-$here/sql/roles.sql}"
[ -f "$sql" ] || sql=/trackboard/sql/roles.sql

exec psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${PGUSER:-${POSTGRES_USER:-postgres}}" \
    --dbname "${PGDATABASE:-${POSTGRES_DB:-${POSTGRES_USER:-postgres}}}" \
    -v owner_user="${TRACKBOARD_OWNER_USER:-trackboard_owner}" \
    -v owner_password="$TRACKBOARD_OWNER_PASSWORD" \
    -v writer_user="${TRACKBOARD_WRITER_USER:-trackboard_writer}" \
    -v writer_password="$TRACKBOARD_WRITER_PASSWORD" \
    -v ro_user="${TRACKBOARD_RO_USER:-trackboard_ro}" \
    -v ro_password="$TRACKBOARD_RO_PASSWORD" \
    -f "$sql"
