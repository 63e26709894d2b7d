"""The production deployment, checked statically (no Docker engine runs here): docker-compose.yml,
.env.example, the Dockerfile and deploy/ agree with the code and with the README."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings, env_name
from workflows import journey_metrics
from workflows.search_attributes import ALL_KEYS, dev_server_flags

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

PROJECT_SERVICES = {"migrate", "worker", "api", "messaging-worker"}
ONE_SHOTS = {"temporal-schema", "temporal-setup", "migrate"}
REQUIRED_SERVICES = {
    "postgres",
    "temporal-schema",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "migrate",
    "worker",
    "api",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}, and $$ for a literal $."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        given = env.get(name, "")
        if op in (":-", "-"):
            return given or arg
        if op in (":?", "?") and not given:
            raise AssertionError(f"${{{name}}} is required by docker-compose.yml: {arg}")
        return given

    return _VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def with_secrets() -> dict[str, str]:
    """.env.example as a user fills it in: every empty required value set."""
    filled = {name: value or f"test-{name.lower()}" for name, value in env_example().items()}
    if not env_example().get("RECOVERY_PAYLOAD_KEYS"):
        filled["RECOVERY_PAYLOAD_KEYS"] = f"k1:{'A' * 43}="  # a key has a form: id:base64 of 32 bytes
    return filled


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE_TEXT, with_secrets()))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def table_first_column(section: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_the_compose_file_parses_and_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["recovery", "worker"]
    assert services["api"]["command"][:2] == ["recovery", "api"]
    assert services["migrate"]["command"] == ["recovery", "migrate"]


def test_the_readme_names_every_service_there_is(services: dict[str, dict[str, Any]]) -> None:
    named = table_first_column(readme_section("Production deployment").split("Step by step")[0])
    assert named, "the README's Production deployment section has no table of services"
    assert set(named) == set(services), (
        f"README only: {set(named) - set(services)}; compose only: {set(services) - set(named)}"
    )
    for step in (
        "cp .env.example .env",
        "docker compose build",
        "docker compose up -d",
        "--scale worker=",
        "docker compose run --rm migrate",
    ):
        assert step in README, f"the README does not say `{step}`"


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image (a built one needs a tagged name too)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
    assert {services[name]["image"].split(":")[0] for name in ("temporal-schema", "temporal-setup")} == {
        "temporalio/admin-tools"
    }
    assert services["temporal"]["image"].split(":")[1] == services["temporal-setup"]["image"].split(":")[1], (
        "Temporal's server and admin tools (its schema) move together"
    )
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.search(r":\d+\.\d+\.\d+", base.group(1)) and "latest" not in base.group(1)


def test_long_running_services_have_health_checks_and_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        restart = service.get("restart", "")
        if name in ONE_SHOTS:
            assert restart.startswith("on-failure"), f"one-shot {name} should retry on failure only, not {restart!r}"
            continue
        assert restart in ("unless-stopped", "always"), f"{name}: restart {restart!r}"
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("worker", "api", "messaging-worker"):
        needs = services[name]["depends_on"]
        assert needs["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert services["temporal-setup"]["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_named_volumes_are_declared_and_bind_mounts_exist(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                if source.startswith("./"):
                    assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                used.add(source)
    assert used <= declared, f"volumes used but not declared: {used - declared}"
    assert {"postgres-data", "recovery-data"} <= used
    assert any(v.startswith("postgres-data:/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name in PROJECT_SERVICES:
        assert "recovery-data:/data" in services[name]["volumes"]


def test_every_search_attribute_is_created(services: dict[str, dict[str, Any]]) -> None:
    wanted = dev_server_flags()[1::2]  # Name=Type, as the dev server gets them
    assert len(wanted) == len(ALL_KEYS)
    assert services["temporal-setup"]["environment"]["SEARCH_ATTRIBUTES"].split() == wanted
    script = (ROOT / "deploy/temporal/setup-namespace.sh").read_text()
    assert "temporal operator search-attribute create" in script and "${SEARCH_ATTRIBUTES}" in script
    assert services["temporal-setup"]["command"] == ["/deploy/setup-namespace.sh"]


def test_temporal_schema_is_set_up_by_the_official_tool(services: dict[str, dict[str, Any]]) -> None:
    script = (ROOT / "deploy/temporal/setup-schema.sh").read_text()
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"{database}:{schema}" in script
    assert "temporal-sql-tool --plugin postgres12" in script and "update-schema" in script
    assert services["temporal"]["environment"]["DB"] == services["temporal-schema"]["environment"]["DB"] == "postgres12"


def project_environment(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name in PROJECT_SERVICES:
        merged.update({k: str(v) for k, v in services[name]["environment"].items()})
    return merged


def test_every_setting_is_set_in_compose_and_documented(services: dict[str, dict[str, Any]]) -> None:
    settings = {env_name(field) for field in Settings.model_fields}
    documented = set(table_first_column(readme_section("Settings")))
    assert settings - documented == set(), (
        f"settings missing from the README's Settings table: {sorted(settings - documented)}"
    )
    passed = {k for k in project_environment(services) if k.startswith("RECOVERY_")}
    example = {k for k in env_example() if k.startswith("RECOVERY_")} | set(
        re.findall(r"^# (RECOVERY_\w+)=", ENV_EXAMPLE, re.M)
    )
    missing = settings - passed - example
    assert missing == set(), f"settings neither passed to the containers nor in .env.example: {sorted(missing)}"
    unknown = (passed | example | set(re.findall(r"\bRECOVERY_\w+", COMPOSE_TEXT))) - settings
    assert unknown == set(), f"RECOVERY_* variables that no setting reads (typos?): {sorted(unknown)}"


def test_the_settings_in_compose_are_valid_and_point_at_the_compose_services(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("worker", "api"):
        environment = {k: v for k, v in services[name]["environment"].items() if k.startswith("RECOVERY_")}
        values = {k.removeprefix("RECOVERY_").lower(): str(v) for k, v in environment.items() if v not in (None, "")}
        values.pop("playbook", None), values.pop("store_directory", None)  # paths inside the image
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        assert settings.temporal_address == "temporal:7233"
        assert settings.journal_url and "@postgres:5432/recovery_journal" in settings.journal_url
        assert settings.log_format == "json"
    assert str(services["worker"]["environment"]["RECOVERY_METRICS_PORT"]) == "9464"
    assert (
        "RECOVERY_API_TOKEN" in services["api"]["environment"]
        and "RECOVERY_API_TOKEN" not in services["worker"]["environment"]
    )
    init = (ROOT / "deploy/postgres/init-databases.sh").read_text()
    assert "CREATE DATABASE recovery_journal OWNER recovery" in init and "CREATE DATABASE temporal_visibility" in init
    assert any("init-databases.sh:/docker-entrypoint-initdb.d/" in v for v in services["postgres"]["volumes"])


def test_variables_compose_requires_are_in_the_env_example_and_no_secret_is_committed() -> None:
    example = env_example()
    referenced = {m.group(1) for m in _VARIABLE.finditer(COMPOSE_TEXT.replace("$$", ""))}
    required = {m.group(1) for m in _VARIABLE.finditer(COMPOSE_TEXT) if m.group(2) in (":?", "?")}
    assert required <= set(example), f"required by compose, absent from .env.example: {required - set(example)}"
    commented = set(re.findall(r"^# (\w+)=", ENV_EXAMPLE, re.M))
    assert referenced <= set(example) | commented, (
        f"compose variables .env.example does not mention: {referenced - set(example) - commented}"
    )
    secret = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEY")
    for name, value in example.items():
        if secret.search(name):
            assert value == "", f".env.example must not hold a value for {name}"
    with pytest.raises(AssertionError, match=r"is required by docker-compose\.yml"):
        interpolate(COMPOSE_TEXT, example)  # as copied, compose refuses to start until the secrets are set
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_the_image_runs_as_a_user_and_caches_its_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    copy_pyproject = next(i for i, line in enumerate(lines) if line.startswith("COPY pyproject.toml"))
    install = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    copy_all = next(i for i, line in enumerate(lines) if line.startswith("COPY . "))
    assert copy_pyproject < install < copy_all, (
        "dependencies must be installed from pyproject.toml before the code is copied"
    )
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)


def _known_metric_names() -> set[str]:
    source = Path(journey_metrics.__file__).read_text()
    counters = set(re.findall(r'create_counter\(\s*"(\w+)"', source))
    names = {f"{c}_total" for c in counters}
    names |= {"onboarding_api_requests_total"} | {
        f"onboarding_api_request_duration_seconds_{s}" for s in ("bucket", "sum", "count")
    }
    return names


def test_the_dashboard_and_prometheus_use_metrics_that_exist() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/onboarding-recovery.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bonboarding_\w+", expr)}
    assert used and used <= _known_metric_names(), f"unknown metrics in the dashboard: {used - _known_metric_names()}"
    assert {
        "onboarding_journeys_started_total",
        "onboarding_journeys_ended_total",
        "onboarding_messages_total",
        "onboarding_human_tasks_total",
    } <= used
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["onboarding-worker"]["dns_sd_configs"][0]["names"] == ["worker"]
    assert jobs["onboarding-worker"]["dns_sd_configs"][0]["port"] == 9464
    assert jobs["onboarding-api"]["static_configs"][0]["targets"] == ["api:8000"]


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no `docker compose` on this machine: the file is checked statically above",
)
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in with_secrets().items()))
    result = subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            str(env_file),
            "--profile",
            "monitoring",
            "--profile",
            "messaging",
            "config",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
