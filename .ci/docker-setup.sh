#!/usr/bin/env bash
# Docker engine + stand-in images for CI on a machine without an image registry.
#
# Idempotent; run by .ci/run before the tests:
#   1. no engine answers -> install Debian's docker.io (and debootstrap), start
#      `dockerd --bridge=none --iptables=false --ip-masq=false`, wait for `docker info`;
#   2. build stand-ins for the images bench.toml's [docker] section names (python,
#      postgres, nats, redis) from Debian packages: ONE debootstrap (minbase) rootfs holding
#      python3+pip, postgresql, nats-server and redis-server, imported once, then committed
#      once per image with a different entrypoint (the images share that one layer);
#   3. apache/kafka:<pom version>: a layer on that base with Debian's JRE (its .debs cached)
#      and the broker jars `make install` resolved into .cache/kafka-<version>/jars (so
#      .ci/run runs `make install` first); skipped with a note when the jars are missing.
#
# Cache (ARCHBENCH_CACHE, default /var/cache/archbench): the rootfs tarball, keyed by
# the recipe hash. An image that exists is kept, unless it is one of our stand-ins
# built from an older recipe (label archbench.standin). A real upstream image under
# the same tag is never replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

CACHE=${ARCHBENCH_CACHE:-/var/cache/archbench}
mkdir -p "$CACHE"
started=$(date +%s)
say() { echo "[docker-setup +$(( $(date +%s) - started ))s] $*"; }

# -- 1. engine ------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        say "installing docker.io"
        apt-get update -q
        apt-get install -y -q docker.io >/dev/null
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        say "starting dockerd (log: $CACHE/dockerd.log)"
        nohup dockerd --bridge=none --iptables=false --ip-masq=false \
            >"$CACHE/dockerd.log" 2>&1 </dev/null &
        echo $! >"$CACHE/dockerd.pid"
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker-setup: dockerd did not answer within 60 s; last log lines:" >&2
        tail -n 20 "$CACHE/dockerd.log" >&2 || true
        exit 1
    fi
fi
say "engine answers: $(docker version --format '{{.Server.Version}}')"

# -- 2. which tags ----------------------------------------------------------------------------
read -r PY_TAG PG_TAG NATS_TAG REDIS_TAG < <(python3 - <<'EOF'
import tomllib
try:
    with open("bench.toml", "rb") as f:
        docker = tomllib.load(f).get("docker", {})
except FileNotFoundError:
    docker = {}
print(docker.get("python_image", "python:3.11-slim"),
      docker.get("postgres_image", "postgres:16"),
      docker.get("nats_image", "nats:2.10"),
      docker.get("redis_image", "redis:7"))
EOF
) || true
# (no python3 with tomllib: the defaults of harness/config.py)
PY_TAG=${PY_TAG:-python:3.11-slim}
PG_TAG=${PG_TAG:-postgres:16}
NATS_TAG=${NATS_TAG:-nats:2.10}
REDIS_TAG=${REDIS_TAG:-redis:7}

SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
MIRROR=${ARCHBENCH_DEBIAN_MIRROR:-$(
    grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true
)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES="ca-certificates,python3,python3-pip,python3-venv,python-is-python3,postgresql,nats-server,redis-server"
CA_BUNDLE=$(pip config get global.cert 2>/dev/null || true)
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# ROOTFS_KEY: what shapes the shared rootfs (cached tarball, base image). Each stand-in's
# label (recipe_of) adds what that image adds (a file, its config): changing either rebuilds
# only the images concerned.
ROOTFS_KEY=$(
    {
        echo "rootfs-v1 $SUITE $MIRROR $PACKAGES"
        sha256sum "$CA_BUNDLE" 2>/dev/null || true
    } | sha256sum | cut -c1-16
)
BASE_TAG="archbench/standin-base:$ROOTFS_KEY"

recipe_of() {  # file ("" for none), --change instructions -> the stand-in's label value
    { echo "$ROOTFS_KEY"; [[ -z "$1" ]] || cat "$1"; shift; printf '%s\n' "$@"; } \
        | sha256sum | cut -c1-16
}
needs_build() {  # tag, wanted recipe -> 0 when it must be (re)built
    local label
    if ! label=$(docker image inspect --format '{{index .Config.Labels "archbench.standin"}}' "$1" 2>/dev/null); then
        return 0  # missing
    fi
    [[ -n "$label" && "$label" != "<no value>" && "$label" != "$2" ]]
}
PY_CHANGES=(--change 'ENTRYPOINT []' --change 'CMD ["python3"]')
PG_FILE=.ci/postgres-entrypoint.sh
PG_CHANGES=(--change 'ENV PGDATA=/var/lib/postgresql/data'
    --change 'ENTRYPOINT ["postgres-entrypoint.sh"]' --change 'CMD ["postgres"]')
NATS_CHANGES=(--change 'ENTRYPOINT ["nats-server"]' --change 'CMD []')
REDIS_CHANGES=(--change 'ENTRYPOINT ["redis-server"]' --change 'CMD []')
PY_RECIPE=$(recipe_of "" "${PY_CHANGES[@]}")
PG_RECIPE=$(recipe_of "$PG_FILE" "${PG_CHANGES[@]}")
NATS_RECIPE=$(recipe_of "" "${NATS_CHANGES[@]}")
REDIS_RECIPE=$(recipe_of "" "${REDIS_CHANGES[@]}")

# The kafka stand-in: Debian's JRE, the jars, the entrypoint turning KAFKA_* into
# server.properties (docker/kafka-entrypoint.sh), the broker's log4j2 configuration.
KAFKA_POM=targets/event_driven/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
KAFKA_TAG="apache/kafka:$KAFKA_VERSION"
KAFKA_JARS=${ARCHBENCH_KAFKA_JARS:-.cache/kafka-$KAFKA_VERSION/jars}
KAFKA_FILE=docker/kafka-entrypoint.sh
KAFKA_LOG4J=targets/event_driven/kafka/log4j2.properties
JRE_PACKAGE=openjdk-17-jre-headless
KAFKA_CHANGES=(--change 'ENV KAFKA_HOME=/opt/kafka' --change 'WORKDIR /opt/kafka'
    --change 'ENTRYPOINT ["kafka-entrypoint.sh"]' --change 'CMD []')
KAFKA_RECIPE=""
if [[ -s "$KAFKA_JARS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    KAFKA_RECIPE=$(recipe_of <(cat "$KAFKA_FILE" "$KAFKA_LOG4J"; echo "$JRE_PACKAGE"
        (cd "$KAFKA_JARS" && sha256sum ./*.jar)) "${KAFKA_CHANGES[@]}")
else
    say "no Apache Kafka $KAFKA_VERSION jars in $KAFKA_JARS (make install resolves them):" \
        "$KAFKA_TAG not built, event-driven-kafka cannot run on docker"
fi
kafka_wanted() { [[ -n "$KAFKA_RECIPE" ]] && needs_build "$KAFKA_TAG" "$KAFKA_RECIPE"; }

if ! needs_build "$PY_TAG" "$PY_RECIPE" && ! needs_build "$PG_TAG" "$PG_RECIPE" \
    && ! needs_build "$NATS_TAG" "$NATS_RECIPE" && ! needs_build "$REDIS_TAG" "$REDIS_RECIPE" \
    && ! kafka_wanted; then
    say "images present: $PY_TAG $PG_TAG $NATS_TAG $REDIS_TAG${KAFKA_RECIPE:+ $KAFKA_TAG} (nothing to do)"
    exit 0
fi

# -- 3. the shared rootfs (cached tarball) ----------------------------------------------------
TARBALL="$CACHE/rootfs-$SUITE-$ROOTFS_KEY.tar"
if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    if [[ ! -s "$TARBALL" ]]; then
        command -v debootstrap >/dev/null 2>&1 || {
            say "installing debootstrap"
            apt-get update -q
            apt-get install -y -q debootstrap >/dev/null
        }
        ROOT=$(mktemp -d "$CACHE/rootfs.XXXXXX")
        trap 'rm -rf "$ROOT"' EXIT
        say "debootstrap $SUITE (minbase) from $MIRROR into $ROOT"
        debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" \
            >"$CACHE/debootstrap.log" 2>&1 || {
            echo "docker-setup: debootstrap failed; see $CACHE/debootstrap.log" >&2
            tail -n 20 "$CACHE/debootstrap.log" >&2
            exit 1
        }
        # The machine's CA bundle (it may hold a proxy's CA) so pip inside a build reaches
        # the registry; pip configured with it and nothing machine-local (no find-links).
        cp "$CA_BUNDLE" "$ROOT/etc/ssl/certs/ca-certificates.crt"
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndisable-pip-version-check = true\ndefault-timeout = 180\nroot-user-action = ignore\n' \
            >"$ROOT/etc/pip.conf"
        # Like python:*-slim, `pip install` works system-wide (no PEP 668 refusal).
        rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
        # postgres: the package's default cluster is dead weight; our entrypoint makes its own.
        rm -rf "$ROOT/var/lib/postgresql/"* "$ROOT/etc/postgresql/"*
        rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \
            "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/*
        say "packing rootfs -> $TARBALL"
        tar --numeric-owner -C "$ROOT" -cf "$TARBALL.tmp" .
        mv "$TARBALL.tmp" "$TARBALL"
        rm -rf "$ROOT"
        trap - EXIT
    else
        say "rootfs cached: $TARBALL"
    fi
    say "docker import -> $BASE_TAG"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL archbench.standin=$ROOTFS_KEY" \
        "$TARBALL" "$BASE_TAG" >/dev/null
fi

# -- 4. three tags from the one base layer ---------------------------------------------------
commit_standin() {  # tag, recipe, file to add at /usr/local/bin/ ("" for none), --change ...
    local tag=$1 recipe=$2 file=$3 container
    shift 3
    if ! needs_build "$tag" "$recipe"; then
        say "$tag present"
        return
    fi
    container=$(docker create "$BASE_TAG" true)
    if [[ -n "$file" ]]; then
        docker cp "$file" "$container:/usr/local/bin/$(basename "$file")"
    fi
    docker commit "$@" --change "LABEL archbench.standin=$recipe" "$container" "$tag" >/dev/null
    docker rm "$container" >/dev/null
    say "built stand-in $tag"
}
commit_standin "$PY_TAG" "$PY_RECIPE" "" "${PY_CHANGES[@]}"
commit_standin "$PG_TAG" "$PG_RECIPE" "$PG_FILE" "${PG_CHANGES[@]}"
commit_standin "$NATS_TAG" "$NATS_RECIPE" "" "${NATS_CHANGES[@]}"
commit_standin "$REDIS_TAG" "$REDIS_RECIPE" "" "${REDIS_CHANGES[@]}"

# -- 5. the kafka stand-in: a layer on the base (Java only here, not in the shared rootfs) ---
# apt inside a container on the base, its .debs and lists in the cache (a rebuild downloads
# nothing), then the jars, the entrypoint and the log4j2 configuration copied in.
build_kafka_standin() {
    local container debs="$CACHE/apt-archives-$SUITE" lists="$CACHE/apt-lists-$SUITE"
    mkdir -p "$debs/partial" "$lists/partial"
    local install="apt-get install -y -q --no-install-recommends $JRE_PACKAGE"
    # (man1: the rootfs has no /usr/share/man, where the JRE's postinst links java.1)
    container=$(docker create --network host -e DEBIAN_FRONTEND=noninteractive \
        -v "$debs:/var/cache/apt/archives" -v "$lists:/var/lib/apt/lists" "$BASE_TAG" sh -c \
        "mkdir -p /usr/share/man/man1 && { ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 && $install; } \
         || { apt-get update -q && $install; } && mkdir -p /opt/kafka/libs /opt/kafka/config \
         && rm -rf /usr/share/doc/* /usr/share/man/*")
    say "installing $JRE_PACKAGE for $KAFKA_TAG (log: $CACHE/kafka-jre.log)"
    if ! docker start -a "$container" >"$CACHE/kafka-jre.log" 2>&1; then
        docker rm "$container" >/dev/null
        echo "docker-setup: installing $JRE_PACKAGE failed; see $CACHE/kafka-jre.log" >&2
        tail -n 20 "$CACHE/kafka-jre.log" >&2
        exit 1
    fi
    docker cp "$KAFKA_JARS/." "$container:/opt/kafka/libs"
    docker cp "$KAFKA_LOG4J" "$container:/opt/kafka/config/log4j2.properties"
    docker cp "$KAFKA_FILE" "$container:/usr/local/bin/kafka-entrypoint.sh"
    docker commit "${KAFKA_CHANGES[@]}" --change "LABEL archbench.standin=$KAFKA_RECIPE" \
        "$container" "$KAFKA_TAG" >/dev/null
    docker rm "$container" >/dev/null
    say "built stand-in $KAFKA_TAG"
}
if kafka_wanted; then
    build_kafka_standin
elif [[ -n "$KAFKA_RECIPE" ]]; then
    say "$KAFKA_TAG present"
fi
# Drop older stand-in bases and rootfs tarballs (the tags above moved to the new ones).
docker image ls --format '{{.Repository}}:{{.Tag}}' archbench/standin-base \
    | grep -vx "$BASE_TAG" | xargs -r docker rmi >/dev/null 2>&1 || true
find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$(basename "$TARBALL")" -delete
say "done"
