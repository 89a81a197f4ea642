"""The exit codes of every `clerk-sync` sub-command (the table in docs/local-development.md)."""

OK = 0
FAILED = 1  # the remote refused, something could not be done, or only part of it was done
USAGE = 2  # the command line or its input is wrong
INCOMPLETE = 3  # backfill only: done, but a list could not be read completely
NOT_RUNNING = 4  # no running `clerk-sync dev` found, and nothing else was given to reach
