"""The worker's Prometheus endpoint: the Temporal SDK's runtime metrics and the product's own counters.

The product counters (`workflows/journey_metrics.py`) are emitted by the workflow through
`workflow.metric_meter()`; they leave the process only through the Runtime the worker's client uses,
so that Runtime gets a Prometheus exporter here. One Runtime per process and per port: the exporter
binds its port when the Runtime is created.

Exported names (counters get `_total`):
- onboarding_journeys_started_total{group}
- onboarding_journeys_ended_total{outcome, stage, group}
- onboarding_messages_total{action=sent|deferred|suppressed|failed, reason, stage, group}
  (reason is the channel for sent: push, sms, fallback_to_sms, ...;
  else quiet_hours, frequency_cap, opted_out, holdout, ...)
- onboarding_human_tasks_total{event=opened|claimed|released|completed|closed|overdue, stage}
- onboarding_escalations_total{to, stage}
- temporal_*: the SDK's own, e.g. temporal_worker_task_slots_available, temporal_num_pollers,
  temporal_workflow_task_schedule_to_start_latency (ms), temporal_activity_schedule_to_start_latency (ms),
  temporal_activity_execution_failed_total, temporal_workflow_completed_total, temporal_request_total
The product counters also carry namespace, task_queue and workflow_type from the SDK. Never a customer id.
"""

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


class MetricsPortError(RuntimeError):
    """The metrics port cannot be bound, said plainly."""


def prometheus_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    """A Temporal Runtime serving GET http://host:port/metrics; loopback unless told otherwise (they are not public)."""
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=f"{host}:{port}", counters_total_suffix=True),
            )
        )
    except ValueError as err:  # "Failed starting Prometheus exporter: Address already in use"
        raise MetricsPortError(f"RECOVERY_METRICS_PORT: cannot serve metrics on {host}:{port}: {err}") from None
