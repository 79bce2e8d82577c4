# The two commands a new machine needs (see README):
#   make deploy   set up, start the embedded cluster, deploy everything (demo mode), print the endpoint
#   make test     set up, then lint and run every test (unit, integration, e2e)
#   make down     undo make deploy (stops the embedded cluster)
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/.node/node_modules/.bin:$(PATH)
export AIRS_MCP_CACHE ?= $(HOME)/.cache/airs-mcp-k8s

.PHONY: setup deploy down test lint unit integration e2e

setup:
	@bash scripts/setup.sh

deploy: setup
	@bash scripts/deploy.sh

down: setup
	@bash scripts/down.sh

test: setup
	@bash scripts/test.sh

lint: setup
	@bash scripts/test.sh lint

unit integration e2e: setup
	@bash scripts/test.sh $@
