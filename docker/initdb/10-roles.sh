#!/bin/sh
# Run by the postgres image once, when it initialises a new data volume. Any failure
# stops the container (set -e, ON_ERROR_STOP in roles.sh); the `roles` service then
# repeats the setup at every `docker compose up`, so a half-initialised volume is
# repaired rather than skipped.
set -eu
sh /trackboard/roles.sh
