#!/bin/sh
# Entrypoint of the trackboard image: wait until the store accepts connections, then
# exec the container's command (the dashboard, `trackboard db upgrade` in the one-shot
# `migrate` service, an export...).
#
#   TRACKBOARD_STORE       the store the command uses; each compose service gets only
#                          its own role's URL (the dashboard never sees the owner's)
#   TRACKBOARD_DB_WAIT_S   seconds to wait for the database (default: 60)
#
# URLs travel in the environment only: on a command line `ps` would show the password.
# Schema upgrades are not done here: the dashboard's read-only role could not run them,
# and the owner's password must not live in a long-running container.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: entrypoint.sh COMMAND [ARG...]  (e.g. trackboard ui --host 0.0.0.0)" >&2
    exit 2
fi

python "$(dirname "$0")/wait_ready.py" --timeout "${TRACKBOARD_DB_WAIT_S:-60}"

exec "$@"
