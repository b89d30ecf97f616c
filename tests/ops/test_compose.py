"""docker-compose.yml against the Compose Specification's JSON schema, and the production layout
the operations doc promises: three KRaft brokers with replication 3 and min ISR 2, TLS and SASL only,
scalable workers, and every file mounted from deploy/ present.

tests/ops/compose-spec.json is schema/compose-spec.json of the compose-spec/compose-spec
repository (Apache-2.0) at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6, unchanged.
"""
from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from streams.settings import ROOT

SCHEMA = json.loads((ROOT / "tests" / "ops" / "compose-spec.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BROKER = (ROOT / "deploy" / "compose" / "broker.sh").read_text()
BROKERS = ["kafka-1", "kafka-2", "kafka-3"]


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith(("#", " ", ":")))


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []


def test_the_schema_rejects_what_compose_would() -> None:
    worker = COMPOSE["services"]["worker"]
    for wrong in ({"depends_on": {"setup": {"condition": "whenever"}}}, {"replica": 2},
                  {"healthcheck": {"interval": 5}}):
        broken = {**COMPOSE, "services": {**COMPOSE["services"], "worker": {**worker, **wrong}}}
        assert not jsonschema.Draft7Validator(SCHEMA).is_valid(broken), wrong


def test_three_kraft_nodes_replicate_three_ways_with_two_in_sync() -> None:
    config = properties(BROKER)
    assert config["process.roles"] == "broker,controller"
    assert config["default.replication.factor"] == "3" and config["min.insync.replicas"] == "2"
    assert config["offsets.topic.replication.factor"] == "3" and config["transaction.state.log.min.isr"] == "2"
    assert config["unclean.leader.election.enable"] == "false"
    voters = COMPOSE["x-kafka-env"]["KAFKA_VOTERS"].split(",")
    assert [v.split("@")[1] for v in voters] == [f"{b}:9093" for b in BROKERS]
    services = COMPOSE["services"]
    assert [services[b]["environment"]["KAFKA_NODE_ID"] for b in BROKERS] == ["1", "2", "3"]
    assert {services[b]["image"] for b in BROKERS} == {"apache/kafka:4.1.2"}


def test_every_listener_is_tls_and_authenticated() -> None:
    config = properties(BROKER)
    protocols = dict(pair.split(":") for pair in config["listener.security.protocol.map"].split(","))
    assert protocols == {"CLIENT": "SASL_SSL", "CERT": "SSL", "CONTROLLER": "SASL_SSL"}
    assert config["listener.name.cert.ssl.client.auth"] == "required"  # no certificate, no connection
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert "ANONYMOUS" not in config["super.users"]
    assert COMPOSE["x-kizuna-env"]["KIZUNA_KAFKA_SECURITY"] == "sasl_ssl"
    # The same principal mapping as the local broker's, so a member's certificate gets its ACLs there too.
    local = properties((ROOT / "deploy" / "kafka" / "server.properties.in").read_text())
    assert config["ssl.principal.mapping.rules"] == local["ssl.principal.mapping.rules"]


def test_certificates_are_mounted_as_secrets_where_they_are_used() -> None:
    services, secrets = COMPOSE["services"], COMPOSE["secrets"]
    mounted = {name: {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
               for name, service in services.items()}
    assert all({"kafka-keystore", "kafka-ca"} <= mounted[b] for b in BROKERS)
    assert mounted["setup"] == {"kafka-ca", "kafka-ca-key"}  # only setup issues members' certificates
    assert {"kafka-ca", "taxii-cert", "taxii-key"} <= mounted["taxii"] and "kafka-ca-key" not in mounted["worker"]
    assert all(secrets[name]["file"].startswith("${KIZUNA_TLS_DIR:-./var/secrets/tls}/")
               for name in ("kafka-ca", "kafka-ca-key", "kafka-keystore", "taxii-cert", "taxii-key"))
    make = (ROOT / "Makefile").read_text()
    assert "compose-broker kafka-1,kafka-2,kafka-3" in make and "compose-taxii" in make


def test_workers_scale_and_run_as_the_hub_principal() -> None:
    worker = COMPOSE["services"]["worker"]
    assert "replicas" in worker["deploy"] and "ports" not in worker  # replicas share no host port
    assert worker["environment"]["KIZUNA_KAFKA_USER"].endswith("-hub")
    assert worker["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert COMPOSE["services"]["setup"]["command"] == ["setup"]
    assert COMPOSE["services"]["taxii"]["command"] == ["taxii", "serve"]


@pytest.mark.parametrize("service", sorted(COMPOSE["services"]))
def test_every_mounted_file_exists(service: str) -> None:
    for volume in COMPOSE["services"][service].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"{service} mounts {source}, which is not in the repository"


def test_prometheus_and_grafana_are_configured_from_deploy() -> None:
    services = COMPOSE["services"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in services["prometheus"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/kizuna.yml").read_text())["providers"][0]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in services["grafana"]["volumes"]
