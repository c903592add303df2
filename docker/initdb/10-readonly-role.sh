#!/bin/sh
# Run by the postgres image once, when it initialises a new data volume: creates the
# dashboard's read-only role (TRACKBOARD_RO_USER / TRACKBOARD_RO_PASSWORD from .env)
# with docker/sql/readonly-role.sql, which README.team.md also shows how to run by hand.
set -eu

: "${TRACKBOARD_RO_USER:?set TRACKBOARD_RO_USER in .env (see .env.example)}"
: "${TRACKBOARD_RO_PASSWORD:?set TRACKBOARD_RO_PASSWORD in .env (see .env.example)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
     --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
     -v ro_user="$TRACKBOARD_RO_USER" -v ro_password="$TRACKBOARD_RO_PASSWORD" \
     -f "${TRACKBOARD_RO_SQL:-/trackboard/sql/readonly-role.sql}"
