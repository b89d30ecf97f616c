#!/bin/bash
# One node of the docker-compose Kafka cluster (apache/kafka image): broker and KRaft controller.
# Renders server.properties from the environment, formats the data directory once (with the
# admin's SCRAM credential, which must exist before any client can log in), then runs Kafka.
# Every listener is TLS, with the certificates `make compose-tls` made (docker secrets: the CA and a
# keystore valid for kafka-1..3): clients and brokers use SASL/SCRAM-SHA-512 over TLS on :9092, members'
# stock tools TLS client certificates on :9094 (as deploy/kafka/server.properties.in explains), and the
# controllers SASL/PLAIN over TLS on :9093 (KRaft controllers cannot use SCRAM: its credentials live in
# the metadata they serve).
set -euo pipefail
: "${KAFKA_NODE_ID:?}" "${KAFKA_CLUSTER_ID:?}" "${KAFKA_VOTERS:?}"
admin_password=$(cat /run/secrets/kafka-admin-password)
controller_password=$(cat /run/secrets/kafka-controller-password)
config=/tmp/server.properties
umask 077
cat >"$config" <<PROPERTIES
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_VOTERS}
listeners=CLIENT://:9092,CERT://:9094,CONTROLLER://:9093
advertised.listeners=CLIENT://kafka-${KAFKA_NODE_ID}:9092,CERT://kafka-${KAFKA_NODE_ID}:9094
listener.security.protocol.map=CLIENT:SASL_SSL,CERT:SSL,CONTROLLER:SASL_SSL
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin_password}";
ssl.keystore.type=PEM
ssl.keystore.location=/run/secrets/kafka-keystore
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/ca.crt
ssl.endpoint.identification.algorithm=https
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.cert.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([a-z0-9][a-z0-9.-]*),OU=(cert[0-9]+)$/$1.$2/,DEFAULT
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${controller_password}" user_controller="${controller_password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
# Frequent metadata snapshots: replaying a long metadata log loses SCRAM logins (see
# deploy/kafka/server.properties.in and docs/reliability.md).
metadata.log.max.record.bytes.between.snapshots=65536
log.dirs=/var/lib/kafka/data
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
message.max.bytes=33554432
replica.fetch.max.bytes=33554432
log.retention.hours=168
group.initial.rebalance.delay.ms=3000
PROPERTIES
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$config" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${admin_password}]"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
