"""Backfill and reconcile: copy what Clerk holds into the synced tables through the webhook write path.

Modules, one job each: `clerk_api` (the SDK, error mapping, lenient decoding), `retry` (waits),
`paging` (drift-safe offset walks), `planning` (API object → write → action), `stored` (DynamoDB
reads), `run` (the orchestration), `report` (counts, progress callbacks, summary), `bootstrap` (wiring).
`paging`, `planning`, `retry` and `report` do no I/O. Its settings (CLERK_SECRET_KEY, CLERK_API_URL, …) are
read by clerk_sync.settings. ReconcileFunction's bundle is the only one that carries this package.
"""
