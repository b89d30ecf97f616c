"""Facts more than one module needs, each stated once."""
from __future__ import annotations

DAY_MS = 86_400_000  # a day in milliseconds: record times, windows and retention are in ms

# The largest Kafka message kizuna writes or accepts: topics' max.message.bytes, the producer's
# message.max.bytes and the ceiling of KIZUNA_MAX_SUBMISSION_BYTES (a submission is one message).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

REQUEST_TIMEOUT_S = 30  # admin requests (topics, ACLs, SCRAM logins): a broker slower than this is down
