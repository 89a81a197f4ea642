"""What an event of each Clerk entity means: one module per entity, each with the `PLANNERS` of its
event types (merged in domain/planner.py)."""
