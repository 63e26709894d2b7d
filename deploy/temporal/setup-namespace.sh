#!/bin/sh
# The namespace and the journeys' custom search attributes, once Temporal answers. Idempotent.
# SEARCH_ATTRIBUTES: "Name=Type ..." pairs (docker-compose.yml keeps them equal to
# workflows/search_attributes.py ALL_KEYS; tests/deploy/test_compose.py checks it).
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
RETENTION=${NAMESPACE_RETENTION:-168h}

echo "waiting for Temporal at ${TEMPORAL_ADDRESS}"
attempt=0
until temporal operator cluster health --address "${TEMPORAL_ADDRESS}" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  [ "${attempt}" -lt 60 ] || { echo "Temporal did not become healthy"; exit 1; }
  sleep 2
done

if temporal operator namespace describe --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" >/dev/null 2>&1; then
  echo "namespace ${NAMESPACE} exists"
else
  temporal operator namespace create --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" --retention "${RETENTION}"
  echo "namespace ${NAMESPACE} created (retention ${RETENTION})"
fi

# A new namespace takes a few seconds to reach every service.
attempt=0
until temporal operator search-attribute list --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" >/tmp/existing 2>/dev/null; do
  attempt=$((attempt + 1))
  [ "${attempt}" -lt 30 ] || { echo "namespace ${NAMESPACE} is not usable"; exit 1; }
  sleep 2
done

for pair in ${SEARCH_ATTRIBUTES}; do
  name=${pair%%=*}
  type=${pair#*=}
  if grep -qw "${name}" /tmp/existing; then
    echo "search attribute ${name} exists"
  else
    temporal operator search-attribute create --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" --name "${name}" --type "${type}"
    echo "search attribute ${name} (${type}) created"
  fi
done

# Ready when a visibility query over the new attributes is accepted (caches refresh within a minute).
attempt=0
until temporal workflow list --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" --limit 1 \
    --query "JourneyStatus = 'active' AND NudgeCount >= 0" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  [ "${attempt}" -lt 45 ] || { echo "search attributes are not queryable yet"; exit 1; }
  sleep 2
done
echo "namespace ${NAMESPACE} is ready for journeys"
