"""The journal's tables: what the recovery report reads, kept outside Temporal's retention.

Customer ids only: no names, phone numbers or locations. Times are stored as naive UTC.
"""

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# One row per journey: a customer who comes back after their journey ended gets a new run of the
# same workflow id, so a journey is `<workflow id>:<first run id, 8 characters>` (the prefix of its
# entries, its message ids and its notifications).
journeys = Table(
    "journeys",
    metadata,
    Column("journey_id", String(220), primary_key=True),
    Column("workflow_id", String(200), nullable=False, index=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("playbook_version", String(100), nullable=False, index=True),
    Column("recovery_group", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False, index=True),
    Column("stage", String(40), nullable=False),
    Column("status", String(40), nullable=False),
    Column("furthest_stage", String(40), nullable=False),
    Column("drop_off_stages", Text, nullable=False, default=""),
    Column("messages_sent", Integer, nullable=False, default=0),
    Column("outcome", String(20)),
    Column("outcome_reason", String(100)),
    Column("preceded_by", String(40)),
    Column("assisted", Boolean, nullable=False, default=False),
    Column("ended_at", DateTime),
    # When the journal last heard of the journey, and its nudges (null on rows written before 0009).
    Column("updated_at", DateTime),
    Column("nudges_sent", Integer),
    Index("ix_journeys_status_started_at", "status", "started_at"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("entry_id", String(260), primary_key=True),
    Column("workflow_id", String(200), nullable=False, index=True),
    Column("journey_id", String(220), index=True),
    Column("customer_id", String(128), nullable=False),
    Column("at", DateTime, nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(60), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("reason", String(100), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("playbook_version", String(100), nullable=False),
)

customer_activity = Table(
    "customer_activity",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("occurred_at", DateTime, nullable=False),
)

# The intake ledger: every event id the door took, so a resent event is told apart from a new one
# (`duplicate`: same content, `conflict`: other content) and costs no signal once delivered. A row is
# `pending` from before its signal until the signal-with-start succeeded (`delivered`), or `ignored`
# (older than the customer's ended journey); a pending row is signalled again when the event comes back.
intake_events = Table(
    "intake_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the validated event's canonical JSON
    Column("state", String(10), nullable=False),
    Column("received_at", DateTime, nullable=False, index=True),
)

# When a customer's latest ended journey ended: events that occurred before it stay ignored even once a
# new journey runs for the customer.
ended_journeys = Table(
    "ended_journeys",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("ended_at", DateTime, nullable=False),
)

# The human tasks journeys hold, as their latest journal batch showed them: what the agents' inbox
# lists (`recovery tasks list`, `GET /v1/tasks`), read here instead of querying every journey. A
# customer's second journey numbers its tasks afresh, so a task is keyed by journey too. The rows lag
# the journey by a moment: a claim is written at the journey's next wake-up.
human_tasks = Table(
    "human_tasks",
    metadata,
    Column("journey_id", String(220), primary_key=True),
    Column("task_id", String(200), primary_key=True),
    Column("workflow_id", String(200), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("journey_stage", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("state", String(20), nullable=False, index=True),
    Column("claimed_by", String(64)),
    Column("opened_at", DateTime, nullable=False),
    Column("due_at", DateTime, nullable=False),
    Column("timezone", String(64)),
)

# The agents' console (`console/`): accounts, their sessions, and the audit of what each agent did.

agents = Table(
    "agents",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # sha256 of the id in the cookie, never the id itself
    Column("username", String(64), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

agent_actions = Table(
    "agent_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("agent", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("task_id", String(200), index=True),
    Column("customer_id", String(128)),
    Column("detail", Text, nullable=False, default=""),
)

# Sign-in throttling (`console/throttle.py`), shared by every API process: one row per throttled key
# (an account, a client address), keyed by a sha256 of scope and value so whatever is typed as a
# username is never stored. A row is forgotten once `forget_at` has passed.
sign_in_throttle = Table(
    "sign_in_throttle",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("scope", String(20), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime, nullable=False),
    Column("not_before", DateTime, nullable=False),  # no attempt is checked before this time (a delay or a lockout)
    Column("locked", Boolean, nullable=False, default=False),
    Column("forget_at", DateTime, nullable=False, index=True),
)

# The contact directory (`journal/contacts.py`): how to reach a customer, kept outside Temporal so no
# phone number or push token enters a journey's history. Written through `PUT /v1/customers/{id}/contact`,
# read by the delivery activities at send time; the API never reads a value back.
customer_contacts = Table(
    "customer_contacts",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("phone", String(16), index=True),  # E.164: '+' and up to 15 digits
    Column("push_token", Text),
    Column("updated_at", DateTime, nullable=False),
)

# SMS the vendor took (`journal/sms.py`): our message id and the vendor's (Twilio's MessageSid), so a
# retried activity never sends twice and a status callback finds its message. Ids and statuses only.
sms_messages = Table(
    "sms_messages",
    metadata,
    Column("message_id", String(260), primary_key=True),
    Column("message_sid", String(64), nullable=False, unique=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("provider", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # queued, sent, delivered, undelivered, failed
    Column("error_code", String(10)),
    Column("sent_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Consent: every opt-out and opt-in a customer made outside the app (an SMS STOP, a vendor's
# unsubscribed answer): which channel, when, how, and the words received. The latest row per channel holds.
consent_records = Table(
    "consent_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("channel", String(10), nullable=False),
    Column("opted_out", Boolean, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("how", String(40), nullable=False),  # "inbound_sms", "twilio_21610"
    Column("words", String(160), nullable=False, default=""),
)

# Erasures (`journal/erasure.py`): what remains of a customer erased on request (`DELETE /v1/customers/{id}`,
# `recovery customers erase`): a sha256 of their id, never the id, when, who asked, and how much was erased.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_hash", String(64), nullable=False, index=True),
    Column("erased_at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("counts", Text, nullable=False, default=""),  # JSON: what was erased, by kind
)

# Service health (`journal/services.py`): what every process reads of the services in the onboarding
# flow, set by `PUT /v1/services/{service}` and `recovery service-status`. A service with no row is healthy.
service_health = Table(
    "service_health",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("healthy", Boolean, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# The journeys whose nudge waits for a service: written by the health check that found it down, read
# (and cleared) when the service is reported healthy, so those journeys are signalled at once.
service_waiters = Table(
    "service_waiters",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("workflow_id", String(200), primary_key=True),
    Column("since", DateTime, nullable=False),
)

# The early-life journeys (`workflows/early_life.py`, `journal/early_life.py`): one row per journey
# (`<workflow id>:<run key>`), rewritten at its milestones, what the report's retention, dormancy and
# re-engagement figures read. `dormant_at`: when the customer first went quiet; `re_engaged_at`: their
# first activity after a dormancy message (held back ones too, in the holdout).
early_life_journeys = Table(
    "early_life_journeys",
    metadata,
    Column("journey_id", String(220), primary_key=True),
    Column("workflow_id", String(200), nullable=False),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("playbook_version", String(100), nullable=False),
    Column("recovery_group", String(20), nullable=False),
    Column("status", String(40), nullable=False),
    Column("activated_at", DateTime, nullable=False, index=True),
    Column("last_activity_at", DateTime),
    Column("dormant_at", DateTime),
    Column("nudges", Integer, nullable=False, default=0),
    Column("re_engaged_at", DateTime),
    Column("ended_at", DateTime),
    Column("outcome", String(20)),
)

# Their decisions, for audit (dormant, sent, held back, deferred, task moves, re-engaged, ended): kept
# apart from `journal_entries`, which are the onboarding journeys' and what the recovery report reads.
early_life_entries = Table(
    "early_life_entries",
    metadata,
    Column("entry_id", String(260), primary_key=True),
    Column("journey_id", String(220), nullable=False, index=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("name", String(60), nullable=False),
    Column("reason", String(100), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)
