"""DynamoDB's limits on key values, stated once: the write side's schema check refuses a record whose
key is over them, and the read library refuses such a key as an argument before any request (measured
on moto and DynamoDB Local, see docs/deployment.md)."""

MAX_PARTITION_KEY_BYTES = 2048  # table and index partition keys, in UTF-8 bytes
MAX_SORT_KEY_BYTES = 1024  # table and index sort keys, in UTF-8 bytes
