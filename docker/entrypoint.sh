#!/bin/sh
# Entrypoint of the trackboard image: wait for the store, bring its schema up to
# date, then exec the container's command (the image's CMD: the dashboard on 0.0.0.0).
#
#   TRACKBOARD_STORE          the store the command uses (in docker-compose.yml the
#                             dashboard's read-only role)
#   TRACKBOARD_MIGRATE_STORE  the store's owner, used only by `trackboard db upgrade`
#                             and unset before the command runs (default: TRACKBOARD_STORE)
#   TRACKBOARD_DB_WAIT_S      seconds to wait for the database (default: 60)
#
# URLs travel in the environment only: on a command line `ps` would show the password.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: entrypoint.sh COMMAND [ARG...]  (e.g. trackboard ui --host 0.0.0.0)" >&2
    exit 2
fi

migrate_store="${TRACKBOARD_MIGRATE_STORE:-${TRACKBOARD_STORE:-}}"
TRACKBOARD_STORE="$migrate_store" \
    python -m trackboard.storage.wait_ready --timeout "${TRACKBOARD_DB_WAIT_S:-60}"
TRACKBOARD_STORE="$migrate_store" trackboard db upgrade
# The owner's password stays with the upgrade step; the command never sees it.
unset TRACKBOARD_MIGRATE_STORE migrate_store

exec "$@"
