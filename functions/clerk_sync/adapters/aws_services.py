"""The AWS services the functions call: the only ones their clients are created for, and the ones whose
botocore data the build trims (functions/trim_botocore.py). No imports: the build reads this file."""

SERVICES = ("dynamodb", "sqs", "sesv2", "sns", "secretsmanager", "lambda", "events")
