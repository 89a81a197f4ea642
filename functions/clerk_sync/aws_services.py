"""The AWS services the functions call: the only ones their clients are created for, and the only
ones the build keeps in botocore's endpoint data (functions/trim_endpoints.py). No imports: the build
reads this file on its own."""

SERVICES = ("dynamodb", "sqs", "sesv2", "secretsmanager")
