"""Backfill and reconcile: copy what Clerk holds into the synced tables through the webhook write path.

Modules, one job each: `actions` (API object → write → action), `stored` (DynamoDB reads), `failures`
(DynamoDB's reason a run stops), `run` (the orchestration), `report` (counts, progress callbacks,
summary), `runs` (a run's record: per-kind position and counts), `journal` (run records in DynamoDB),
`build` (a Backfill from its settings: the SDK and DynamoDB clients, the store). Clerk is read through
clerk_sync.adapters.clerk (the SDK client, its errors, features that are off, retries, paging,
listings). `actions`, `report` and `runs` do no I/O. Its settings (CLERK_SECRET_KEY, CLERK_API_URL, …)
are read by clerk_sync.settings. ReconcileFunction's bundle is the only one that carries this package
(and adapters/clerk).
"""
