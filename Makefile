# Javari — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TEST_PG_DIR  := .javari/test-pg
# A port per checkout, so two clones can run `make test` side by side.
TEST_PG_PORT := $(shell echo $$((55000 + $$(pwd | cksum | cut -d' ' -f1) % 400)))
TEST_DATABASE_URL := postgres://postgres@127.0.0.1:$(TEST_PG_PORT)/postgres
TESTENV := cargo run -q -p javari-testenv --

.PHONY: help run test bench deps bins test-pg lint fmt clippy squawk crds stop

help:
	@echo "make run    start PostgreSQL, a local control plane (if no cluster), the operator and the console"
	@echo "make test   everything CI checks: fmt, clippy, all tests on real PostgreSQL and kube-apiserver"
	@echo "make bench  print performance figures (vault, rotations, Projects, Monitors, hanging targets, console chat overhead, streams, hostile uploads, sign-in floods, backup and restore against pg_dump/pg_restore on ~1 GiB)"
	@echo "make crds   regenerate charts/javari/crds/ from the Rust types"
	@echo "make stop   stop the local PostgreSQL clusters"

run: deps bins
	@bash testenv/run-local.sh

test: deps bins lint test-pg
	DATABASE_URL=$(TEST_DATABASE_URL) cargo test --workspace --lib --bins --tests --no-fail-fast
	DATABASE_URL=$(TEST_DATABASE_URL) cargo test --workspace --doc

bench: deps bins test-pg
	DATABASE_URL=$(TEST_DATABASE_URL) cargo bench -p javari-core --bench backup
	DATABASE_URL=$(TEST_DATABASE_URL) cargo bench -p javari-operator --bench credentials --bench platform --bench hanging
	DATABASE_URL=$(TEST_DATABASE_URL) cargo bench -p javari-console --bench chat --bench signin --bench hostile --bench oncall --bench schema

deps:
	@bash testenv/install-deps.sh

# kube-apiserver, etcd, kubectl and helm from Go modules into .bin/ (built once, cached).
bins:
	@bash testenv/build-bins.sh

test-pg:
	@$(TESTENV) pg-up $(TEST_PG_DIR) $(TEST_PG_PORT) >/dev/null

lint: fmt clippy squawk

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# Migration lint: rules and the reason for each waiver are in .squawk.toml.
squawk: deps
	.javari/squawk/bin/squawk --config .squawk.toml migrations/*.up.sql

crds:
	cargo run -q -p javari-crds --bin crdgen

stop:
	-@$(TESTENV) pg-down $(TEST_PG_DIR) $(TEST_PG_PORT)
	-@$(TESTENV) pg-down .javari/pg 55433
