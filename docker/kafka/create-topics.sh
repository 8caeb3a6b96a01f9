#!/bin/sh
# Pulse's topics on Apache Kafka (run by compose.yaml's `topics` service): the inputs and
# outputs with $PARTITIONS partitions, the feedback log with one (it is a total order).
# Idempotent: existing topics are left as they are.
set -eu
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PREFIX=${PREFIX:-}
PARTITIONS=${PARTITIONS:-8}
create() {
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$PREFIX$1" --partitions "$2" --replication-factor 1
}
for topic in reviews clicks sales products decisions reviews.scored deadletter; do
  create "$topic" "$PARTITIONS"
done
create feedback 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
