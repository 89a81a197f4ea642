"""What an event of each Clerk entity means: one module per entity, each with the `EVENT_TYPES` of its
event types (merged in domain/event_types.py)."""
