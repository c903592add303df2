-- trackboard's three PostgreSQL roles, least privilege each. Safe to run again: it
-- then resets passwords and grants (password rotation), and repairs a half-done setup.
--
--   owner_user   owns the schema and runs `trackboard db upgrade` (migrations); not a
--                superuser, cannot create roles or databases
--   writer_user  what training machines log in as: reads and writes trackboard's rows,
--                cannot create or alter tables, change the schema version, read
--                server files or run programs
--   ro_user      the dashboard: reads every table, changes nothing
--
-- None of them may connect to any other database of the server (the maintenance
-- databases postgres and template1 included, which PUBLIC may connect to by default).
--
-- psql variables (-v NAME=VALUE; psql quotes them, so any name or password is safe):
--   owner_user owner_password writer_user writer_password ro_user ro_password (all required)
--
-- Run it as a superuser (the postgres image's POSTGRES_USER) on the trackboard database:
--   psql "postgresql://postgres@DBHOST:5432/trackboard" -v ON_ERROR_STOP=1 \
--        -v owner_user=trackboard_owner -v owner_password="$TRACKBOARD_OWNER_PASSWORD" \
--        -v writer_user=trackboard_writer -v writer_password="$TRACKBOARD_WRITER_PASSWORD" \
--        -v ro_user=trackboard_ro -v ro_password="$TRACKBOARD_RO_PASSWORD" \
--        -f docker/sql/roles.sql
-- docker compose runs it through docker/roles.sh at the first start of a new volume and
-- again at every `docker compose up` (the one-shot `roles` service).

\set ON_ERROR_STOP on
-- Every variable is required: one check names all the missing ones at once.
-- (psql expands :{?name} to TRUE or FALSE, so SQL can test it.)
SELECT concat_ws(', ',
         CASE WHEN NOT :{?owner_user} THEN 'owner_user' END,
         CASE WHEN NOT :{?owner_password} THEN 'owner_password' END,
         CASE WHEN NOT :{?writer_user} THEN 'writer_user' END,
         CASE WHEN NOT :{?writer_password} THEN 'writer_password' END,
         CASE WHEN NOT :{?ro_user} THEN 'ro_user' END,
         CASE WHEN NOT :{?ro_password} THEN 'ro_password' END) AS missing_vars,
       :{?owner_user} AND :{?owner_password} AND :{?writer_user}
         AND :{?writer_password} AND :{?ro_user} AND :{?ro_password} AS all_vars_set \gset
\if :all_vars_set \else
  \warn 'roles.sql: set -v NAME=... for each missing variable:' :missing_vars
  SELECT 1/0 AS missing_variables;
\endif

SELECT current_database() AS dbname,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS am_superuser,
       cardinality(ARRAY(SELECT DISTINCT unnest(ARRAY[:'owner_user', :'writer_user',
                                                      :'ro_user', current_user::text])))
           = 4 AS names_distinct \gset
\if :am_superuser \else
  \warn 'roles.sql: run it as a superuser (e.g. POSTGRES_USER of the postgres image)'
  SELECT 1/0 AS not_a_superuser;
\endif
\if :names_distinct \else
  -- Never demote the role running this, nor give one login two jobs.
  \warn 'roles.sql: owner_user, writer_user and ro_user must be three different roles, none of them the superuser running this script'
  SELECT 1/0 AS role_names_not_distinct;
\endif

BEGIN;

-- The roles: created when missing, and every run resets what they may do and their
-- password (so changing a password in .env and re-running rotates it).
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY[:'owner_user', :'writer_user', :'ro_user']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE :"owner_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
ALTER ROLE :"writer_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'writer_password';
ALTER ROLE :"ro_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'ro_password';
-- Every dashboard session is read-only even if a write grant slips in later.
ALTER ROLE :"ro_user" SET default_transaction_read_only = on;
-- Server-side file and program access is for superusers and these roles only: make sure
-- no trackboard login was ever given one of them.
SELECT format('REVOKE %I FROM %I', g, r)
  FROM unnest(ARRAY['pg_read_server_files', 'pg_write_server_files',
                    'pg_execute_server_program']) AS g,
       unnest(ARRAY[:'owner_user', :'writer_user', :'ro_user']) AS r
 WHERE pg_has_role(r, g, 'MEMBER') \gexec

-- The owner owns the database, and so (PostgreSQL 15+) its public schema: it creates
-- and alters trackboard's tables; nobody else may create anything there.
ALTER DATABASE :"dbname" OWNER TO :"owner_user";
GRANT USAGE, CREATE ON SCHEMA public TO :"owner_user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
-- Every role may connect to the maintenance databases through PUBLIC unless told
-- otherwise: trackboard's logins stay in trackboard's database (superusers still
-- connect; grant CONNECT to any other role of yours that needs them).
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', datname)
  FROM pg_database WHERE datname IN ('postgres', 'template1') AND datname <> :'dbname' \gexec
-- CONNECT only: the writer rewrites stored points in place (no temporary tables since
-- chunked points), and a login that cannot create temporary tables has less to misuse.
REVOKE TEMPORARY ON DATABASE :"dbname" FROM :"writer_user";
GRANT CONNECT ON DATABASE :"dbname" TO :"writer_user";
GRANT CONNECT ON DATABASE :"dbname" TO :"ro_user";
GRANT USAGE ON SCHEMA public TO :"writer_user", :"ro_user";

-- The schema version (Alembic's table): every client refuses a store whose version it
-- does not know, so only the owner, who migrates, may change it. Made here when
-- missing, as Alembic makes it, so that it exists before the first migration and the
-- default privileges below (for tables made later) never give the writer a write on it.
CREATE TABLE IF NOT EXISTS public.alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));

-- Tables made before this setup (e.g. by a superuser in an older deployment) move to
-- the owner, so later migrations (run as the owner) can alter them.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner_user')
  FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'owner_user' \gexec
SELECT format('ALTER VIEW public.%I OWNER TO %I', viewname, :'owner_user')
  FROM pg_views WHERE schemaname = 'public' AND viewowner <> :'owner_user' \gexec

-- Grants on what exists now ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"writer_user";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"writer_user";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"ro_user";
-- ... but the schema version is read-only to both (the writer checks it, never sets it).
REVOKE ALL ON public.alembic_version FROM PUBLIC, :"writer_user", :"ro_user";
GRANT SELECT ON public.alembic_version TO :"writer_user", :"ro_user";
-- ... and on what later migrations create (as the owner).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_user" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"writer_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_user" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"writer_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_user" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"ro_user";

COMMIT;
\echo 'roles.sql: owner, writer and read-only roles are set up'
