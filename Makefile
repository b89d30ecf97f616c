# kizuna: `make run` starts everything in the foreground; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help venv native kafka cluster cluster-down compose-tls setup fuzz run up down status lint test test-faults test-unit bench eval-scoring eval-intake clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create the virtualenv with every dependency

native: venv  ## compile the hot modules of streams/core with mypyc into build/native/ (a no-op when current)
	$(BIN)/python -m streams.native build

kafka: native  ## fetch (once) and start the local single-node Kafka broker under var/
	deploy/kafka/kafka.sh start

cluster: venv  ## start the local 3-broker KRaft cluster (replication 3, min ISR 2); KIZUNA_CLUSTER=1 uses it
	deploy/kafka/cluster.sh start

cluster-down:  ## stop the local 3-broker cluster
	deploy/kafka/cluster.sh stop

compose-tls: venv  ## CA and certificates for docker-compose.yml under var/secrets/tls (KIZUNA_PUBLIC_HOST: members' name for it)
	$(BIN)/python -m streams.pki server var/secrets/tls compose-broker kafka-1,kafka-2,kafka-3,$${KIZUNA_PUBLIC_HOST:-localhost}
	$(BIN)/python -m streams.pki server var/secrets/tls compose-taxii $${KIZUNA_PUBLIC_HOST:-localhost},taxii

setup: kafka  ## topics, the workers' login, members' credentials and ACLs (idempotent)
	$(BIN)/kizuna setup

run: setup  ## start the whole pipeline in the foreground; Ctrl-C stops everything
	deploy/run.sh foreground

up: setup  ## start the whole pipeline in the background
	deploy/run.sh background

down:  ## stop what `make up` started, and the broker
	deploy/run.sh stop

status:  ## is the broker / worker running? which core (compiled or reference) would a worker run?
	-deploy/kafka/kafka.sh status
	-deploy/run.sh status
	-$(BIN)/python -m streams.native status
	-deploy/prometheus/local.sh status

lint: venv  ## ruff (pyflakes, import order, line length), mypy (strict on streams/core/), no import cycles
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_structure.py

test: native  ## the whole suite against the real broker (started and stopped if not running)
	deploy/with-kafka.sh $(BIN)/pytest

test-faults: native  ## the fault suite: workers killed mid-stream (longer than `make test`)
	deploy/with-kafka.sh $(BIN)/pytest tests/fault -s

FUZZ_SECONDS ?= 120
fuzz: venv  ## coverage-guided fuzzing (atheris, of the reference Python) of every intake format and feedback; FUZZ_SECONDS=120
	mkdir -p var/fuzz/corpus && cp tests/fixtures/*.json tests/fixtures/*.csv var/fuzz/corpus/
	KIZUNA_NATIVE=0 $(BIN)/python -m tests.fuzz.fuzz_intake var/fuzz/corpus -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=var/fuzz/ -print_final_stats=1

test-unit: native  ## unit tests only, no broker
	$(BIN)/pytest tests/unit

bench: native  ## benchmarks against the real broker; prints a table, writes var/bench/results.json
	deploy/with-kafka.sh $(BIN)/python -m tests.bench

eval-scoring: native  ## confidence against baselines on friendly and adversarial communities (no broker; exit 1 if a target is missed)
	$(BIN)/python -m tests.eval.scoring

eval-intake: native  ## the public corpus (tests/corpus/) through kizuna's intake: carried / skipped / rejected per file
	$(BIN)/python -m tests.eval.intake $(if $(JSON),--json)

clean:  ## remove local state (broker and cluster data, merge state); keeps the fetched broker and var/secrets
	deploy/run.sh stop || true
	deploy/kafka/cluster.sh stop >/dev/null 2>&1 || true
	rm -rf var/kafka/data var/cluster var/state var/*.log
