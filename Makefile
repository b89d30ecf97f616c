# kizuna: `make run` starts everything in the foreground; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help venv kafka setup fuzz run up down status test test-faults test-unit bench eval-scoring eval-intake clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create the virtualenv with every dependency

kafka: venv  ## fetch (once) and start the local single-node Kafka broker under var/
	deploy/kafka/kafka.sh start

setup: kafka  ## topics, the workers' login, members' credentials and ACLs (idempotent)
	$(BIN)/kizuna setup

run: setup  ## start the whole pipeline in the foreground; Ctrl-C stops everything
	deploy/run.sh foreground

up: setup  ## start the whole pipeline in the background
	deploy/run.sh background

down:  ## stop what `make up` started, and the broker
	deploy/run.sh stop

status:  ## is the broker / worker running?
	-deploy/kafka/kafka.sh status
	-deploy/run.sh status
	-deploy/prometheus/local.sh status

test: venv  ## the whole suite against the real broker (started and stopped if not running)
	deploy/with-kafka.sh $(BIN)/pytest

test-faults: venv  ## the fault suite: workers killed mid-stream (longer than `make test`)
	deploy/with-kafka.sh $(BIN)/pytest tests/fault -s

FUZZ_SECONDS ?= 120
fuzz: venv  ## coverage-guided fuzzing (atheris) of every intake format and feedback; FUZZ_SECONDS=120
	mkdir -p var/fuzz/corpus && cp tests/fixtures/*.json tests/fixtures/*.csv var/fuzz/corpus/
	$(BIN)/python -m tests.fuzz.fuzz_intake var/fuzz/corpus -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=var/fuzz/ -print_final_stats=1

test-unit: venv  ## unit tests only, no broker
	$(BIN)/pytest tests/unit

bench: venv  ## benchmarks against the real broker; prints a table, writes var/bench/results.json
	deploy/with-kafka.sh $(BIN)/python -m tests.bench

eval-scoring: venv  ## kizuna's confidence against two baselines on a simulated community (no broker)
	$(BIN)/python -m tests.eval.scoring

eval-intake: venv  ## the public corpus (tests/corpus/) through kizuna's intake: carried / skipped / rejected per file
	$(BIN)/python -m tests.eval.intake $(if $(JSON),--json)

clean:  ## remove local state (broker data, merge state); keeps the fetched broker
	deploy/run.sh stop || true
	rm -rf var/kafka/data var/state var/*.log
