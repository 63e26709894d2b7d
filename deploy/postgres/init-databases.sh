#!/bin/sh
# Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d), as POSTGRES_USER:
# Temporal's two databases, and the journal's own role and database (RECOVERY_JOURNAL_URL).
set -eu

: "${JOURNAL_DB_PASSWORD:?set JOURNAL_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
  -v journal_password="${JOURNAL_DB_PASSWORD}" <<'SQL'
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE ROLE recovery LOGIN PASSWORD :'journal_password';
CREATE DATABASE recovery_journal OWNER recovery;
REVOKE ALL ON DATABASE recovery_journal FROM PUBLIC;
SQL
echo "databases temporal, temporal_visibility and recovery_journal created"
