"""The Clerk Backend API (`clerk-backend-api`, the `reconcile` extra), for backfill and first-use sync.

`api` (the SDK, error mapping, lenient decoding), `errors`, `features` (403s that mean a feature is off),
`retry` (waits), `paging` (drift-safe offset walks), `listings` (each kind's list call, look-up and
write), `stats` (requests and waits). Only `api` imports the SDK: the read library imports it at the
first `ensure_*` miss only. Shipped in ReconcileFunction's bundle only (functions/Makefile), like
clerk_sync.backfill.
"""
