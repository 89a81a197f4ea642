"""Local tooling: the `clerk-sync` command, engines, provisioning from template.yaml."""
