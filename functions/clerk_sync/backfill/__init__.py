"""Backfill and reconcile: copy what Clerk holds into the synced tables through the webhook write path.

Modules, one job each: `clerk_api` (the SDK, error mapping, lenient decoding), `retry` (waits),
`paging` (drift-safe offset walks), `planning` (API object → write → action), `stored` (DynamoDB
reads), `run` (the orchestration), `report` (counts, progress callbacks, summary), `runtime` (wiring).
`paging`, `planning`, `retry` and `report` do no I/O. This package module itself only holds
constants, so that a command line can describe its options without importing the SDK.
"""

SECRET_KEY_ENV = "CLERK_SECRET_KEY"
API_URL_ENV = "CLERK_API_URL"
DEFAULT_API_URL = "https://api.clerk.com/v1"
DEFAULT_WORKERS = 8
