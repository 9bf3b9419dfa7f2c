#!/bin/bash
# Entrypoint of the stand-in apache/kafka image (.ci/docker-setup.sh builds it from Debian's
# JRE and the broker jars `make install` resolved), after the official image's interface:
#   - every KAFKA_A_B__C=value variable becomes `a.b_c=value` in server.properties ("___" is
#     "-", "__" is "_", "_" is "."), except the JVM's (KAFKA_HEAP_OPTS, KAFKA_OPTS,
#     KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS); with none given, a single-node KRaft
#     broker on :9092 (controller :9093), as upstream's default;
#   - the storage (log.dirs) is formatted with CLUSTER_ID (a random one when unset), unless
#     it already is;
#   - then the broker (kafka.Kafka) replaces this shell.
# Arguments not starting with "-" are executed instead (e.g. `bash`).
set -euo pipefail
if [[ $# -gt 0 && "${1#-}" == "$1" ]]; then exec "$@"; fi
KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
CONFIG="$KAFKA_HOME/config/server.properties"

properties() {  # the KAFKA_* configuration variables as server.properties lines
    local name key
    for name in $(compgen -e); do
        case $name in
            KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS \
                | KAFKA_HOME | KAFKA_VERSION) continue ;;
            KAFKA_?*) ;;
            *) continue ;;
        esac
        key=${name#KAFKA_}
        key=${key,,}
        key=${key//___/-}
        key=${key//__/@}  # no variable name holds "@": a placeholder for "_"
        key=${key//_/.}
        printf '%s=%s\n' "${key//@/_}" "${!name}"
    done
}

lines=$(properties)
if [[ -z "$lines" ]]; then
    lines=$(printf '%s\n' "process.roles=broker,controller" "node.id=1" \
        "controller.quorum.voters=1@localhost:9093" \
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093" \
        "advertised.listeners=PLAINTEXT://localhost:9092" \
        "controller.listener.names=CONTROLLER" \
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" \
        "log.dirs=/tmp/kraft-combined-logs" "offsets.topic.replication.factor=1" \
        "transaction.state.log.replication.factor=1" "transaction.state.log.min.isr=1")
fi
printf '%s\n' "$lines" >"$CONFIG"

if [[ -z "${CLUSTER_ID:-}" ]]; then
    CLUSTER_ID=$(python3 -c 'import base64, uuid
print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
fi
# The JVM as the local backend runs it (harness/backends/_kafka.py KafkaPlan): one small heap,
# serial GC (no parallel GC threads on a shared core); each part overridable as upstream.
# shellcheck disable=SC2206  # the *_OPTS variables are lists of options, as upstream
jvm=(java ${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
    ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:-UsePerfData -Djava.awt.headless=true}
    ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.properties}
    ${KAFKA_OPTS:-} -cp "$KAFKA_HOME/libs/*")
"${jvm[@]}" kafka.tools.StorageTool format --ignore-formatted -t "$CLUSTER_ID" -c "$CONFIG"
exec "${jvm[@]}" kafka.Kafka "$CONFIG"
