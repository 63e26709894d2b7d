#!/bin/sh
# Temporal's schema in PostgreSQL, with the official schema tool of the admin-tools image.
# Idempotent: databases that exist are kept, and update-schema applies only the versions missing,
# so this runs on every `docker compose up` and after an upgrade of the Temporal images.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}"
until nc -z -w 5 "${POSTGRES_SEEDS}" "${PORT}"; do sleep 1; done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -p "${PORT}" -u "${POSTGRES_USER}" --db "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
  database=${pair%%:*}
  schema=${pair#*:}
  # deploy/postgres/init-databases.sh creates both on a new volume; this covers an existing server.
  sql_tool "${database}" create >/dev/null 2>&1 && echo "created database ${database}" || echo "database ${database} exists"
  sql_tool "${database}" setup-schema -v 0.0
  sql_tool "${database}" update-schema -d "${SCHEMA}/${schema}/versioned"
done
echo "Temporal schema is current"
