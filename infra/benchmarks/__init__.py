"""`make bench`: measurements behind docs/performance.md (never timed tests)."""
