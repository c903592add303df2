-- The dashboard's PostgreSQL role: it can log in and read every trackboard table,
-- and change nothing. Safe to run again (it then only resets the password and grants).
--
-- psql variables (-v NAME=VALUE); psql quotes them, so any name or password is safe:
--   ro_user      the role to create, e.g. trackboard_ro               (required)
--   ro_password  its password                                           (required)
--   owner        the role that creates trackboard's tables, i.e. the one that runs
--                `trackboard db upgrade` and the training jobs (default: you)
--
-- Run it as the owner (or a superuser) on the trackboard database, e.g. on a server
-- that existed before docker-compose:
--   psql "postgresql://trackboard@DBHOST:5432/trackboard" \
--        -v ro_user=trackboard_ro -v ro_password="$TRACKBOARD_RO_PASSWORD" \
--        -f docker/sql/readonly-role.sql
-- docker-compose runs it once, when the database volume is first created
-- (docker/initdb/10-readonly-role.sh).

\set ON_ERROR_STOP on
\if :{?ro_user}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set the role name: psql -v ro_user=trackboard_ro ...'; END $$;
\endif
\if :{?ro_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set its password: psql -v ro_password=... ...'; END $$;
\endif
\if :{?owner}
\else
  SELECT current_user AS owner \gset
\endif
SELECT current_database() AS dbname,
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'ro_user') AS role_is_new \gset

\if :role_is_new
  CREATE ROLE :"ro_user" LOGIN PASSWORD :'ro_password';
\else
  ALTER ROLE :"ro_user" LOGIN PASSWORD :'ro_password';
\endif

-- Every session of this role is read-only even if a write grant slips in later.
ALTER ROLE :"ro_user" SET default_transaction_read_only = on;

GRANT CONNECT ON DATABASE :"dbname" TO :"ro_user";
GRANT USAGE ON SCHEMA public TO :"ro_user";
-- Tables that exist now ...
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"ro_user";
-- ... and those later migrations create (as the owner).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"ro_user";
