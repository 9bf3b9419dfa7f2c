"""Apache Kafka for the local backend: Java, the broker's jars, its KRaft configuration.

The jars are never downloaded at run time: ``make install`` resolves the committed build
file ``targets/event_driven/kafka/pom.xml`` with ``mvn dependency:copy-dependencies`` into
``.cache/kafka-<version>/jars`` (git-ignored), and this module only finds them. A
single-node broker runs in KRaft mode (``process.roles=broker,controller``) with both
listeners on loopback; its storage is formatted once (``kafka.tools.StorageTool``)
before the first start, in the deployment's directory.

Public API: ``kafka_version``, ``jars_dir``, ``find_java``, ``find_kafka_jars``,
``INSTALL_HINT``, ``server_properties``, ``KafkaPlan``, ``format_storage``,
``container_environment`` (the same configuration for the docker backend).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import LOOPBACK
from harness.errors import BenchError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KAFKA_DIR = PROJECT_ROOT / "targets" / "event_driven" / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
JARS_ENV = "ARCHBENCH_KAFKA_JARS"  # overrides where the jars are looked for
INSTALL_HINT = (
    "run `make install` (it needs Maven: `apt-get install maven`), or by hand: "
    "`mvn -q -f targets/event_driven/kafka/pom.xml dependency:copy-dependencies "
    "-DincludeScope=runtime -DoutputDirectory=$PWD/.cache/kafka-VERSION/jars`"
)
MAX_HEAP_MB = 512  # the broker's heap at most (MiB): a single node with a few topics
FORMAT_TIMEOUT_S = 120.0  # seconds the storage format may take (a JVM start on a busy host)


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version the build file pins (``<kafka.version>``)."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text("utf-8"))
    if match is None:
        raise BenchError(f"{pom}: no <kafka.version> property")
    return match.group(1)


def kafka_image(version: str | None = None) -> str:
    """The docker backend's broker image: the official tag of the pom's version
    (``.ci/docker-setup.sh`` may build a stand-in from the same jars under that tag)."""
    return f"apache/kafka:{version or kafka_version()}"


def jars_dir(version: str | None = None) -> Path:
    """Where ``make install`` puts the broker's jars (``$ARCHBENCH_KAFKA_JARS`` if set)."""
    override = os.environ.get(JARS_ENV, "").strip()
    if override:
        return Path(override)
    return PROJECT_ROOT / ".cache" / f"kafka-{version or kafka_version()}" / "jars"


def find_java() -> Path:
    """The ``java`` to run the broker with ($JAVA_HOME/bin/java, then PATH), or a BenchError."""
    home = os.environ.get("JAVA_HOME", "").strip()
    candidates = [Path(home) / "bin" / "java"] if home else []
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise BenchError(
        "java not found ($JAVA_HOME/bin/java or on PATH): the event-driven-kafka target runs "
        "an Apache Kafka broker, which needs Java 17 or newer; install it "
        "(`apt-get install openjdk-17-jre-headless`), then `make install`"
    )


def find_kafka_jars(version: str | None = None) -> Path:
    """The directory holding the broker's jars, or a BenchError naming the fix."""
    version = version or kafka_version()
    directory = jars_dir(version)
    if not (directory / f"kafka_2.13-{version}.jar").is_file():
        raise BenchError(
            f"Apache Kafka {version} jars not found in {directory} (the event-driven-kafka "
            f"target needs them); {INSTALL_HINT.replace('VERSION', version)}"
        )
    return directory


def accessible_jars(jars: Path, user: tuple[int, int] | None) -> Path:
    """``jars``, or a world-readable copy under /var/tmp when ``user`` cannot reach them."""
    from harness.backends._local_infra import traversable

    if user is None or traversable(jars, *user):
        return jars
    digest = hashlib.sha256(str(jars.resolve()).encode()).hexdigest()[:12]
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path(tempfile.gettempdir())
    copy = base / f"archbench-kafka-jars-{digest}"
    if not (copy / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix=copy.name + ".", dir=base))
        for jar in jars.glob("*.jar"):
            shutil.copy2(jar, staging / jar.name)
            os.chmod(staging / jar.name, 0o644)
        os.chmod(staging, 0o755)
        (staging / ".complete").touch()
        shutil.rmtree(copy, ignore_errors=True)
        os.rename(staging, copy)
    return copy


def server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """``server.properties`` of a single-node KRaft broker on loopback (ports are TCP ports).

    Replication factors are 1 (one node); topics are created by the services
    (``targets.event_driven.kafka_broker``), auto-creation stays as a fallback with the
    same partition count; the group coordinator starts a group at once (no 3 s delay)
    and accepts session timeouts from 1 s (the consumers' redelivery time).
    """
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{LOOPBACK}:{controller_port}",
        f"listeners=PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=8",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=1000",
        "num.network.threads=2",
        "num.io.threads=4",
        "log.retention.hours=24",
    ]
    return "\n".join(lines) + "\n"


def heap_mb(memory_mb: int) -> int:
    """The broker's heap (MiB) for an instance of ``memory_mb`` MiB: half of it, 128..512."""
    return max(128, min(MAX_HEAP_MB, memory_mb // 2))


@dataclass(frozen=True)
class KafkaPlan:
    """Files and command lines of one local broker."""

    java: Path
    jars: Path
    root: Path  # owned by the broker's user: server.properties, log4j2.properties, data/
    port: int
    controller_port: int
    heap_mb: int
    user: tuple[int, int] | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _jvm(self) -> list[str]:
        return [
            str(self.java), f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 128)}m",
            "-XX:+UseSerialGC",  # one small heap on a shared core: no parallel GC threads
            "-XX:-UsePerfData", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp", f"{self.jars}/*",
        ]  # fmt: skip

    def format_argv(self, cluster_id: str) -> list[str]:
        return [*self._jvm(), "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "-t", cluster_id, "-c", str(self.root / "server.properties")]  # fmt: skip

    def server_argv(self) -> list[str]:
        return [*self._jvm(), "kafka.Kafka", str(self.root / "server.properties")]


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def format_storage(plan: KafkaPlan, env: dict[str, str], log_path: Path) -> None:
    """Write the configuration and format the data directory (as ``plan.user``)."""
    plan.root.mkdir(parents=True, exist_ok=True)
    (plan.root / "server.properties").write_text(
        server_properties(plan.port, plan.controller_port, plan.data), encoding="utf-8"
    )
    shutil.copyfile(LOG4J_CONFIG, plan.root / "log4j2.properties")
    if plan.user is not None:
        for path in (plan.root, plan.root / "server.properties", plan.root / "log4j2.properties"):
            os.chown(path, *plan.user)
    uid, gid = plan.user if plan.user is not None else (None, None)
    with log_path.open("ab") as log:
        result = subprocess.run(
            plan.format_argv(new_cluster_id()), env=env, cwd=plan.root, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, timeout=FORMAT_TIMEOUT_S, check=False,
            user=uid, group=gid, extra_groups=[] if uid is not None else None,
        )  # fmt: skip
    if result.returncode != 0:
        from harness.backends._process import tail

        raise BenchError(
            f"kafka: formatting the storage failed (exit {result.returncode}); last lines of "
            f"{log_path}:\n" + tail(log_path, 20)
        )


CONTAINER_LOG_DIR = "/tmp/kraft-combined-logs"  # the official image's default data directory


def container_environment(port: int, controller_port: int, heap: int) -> dict[str, str]:
    """``server_properties`` as the official ``apache/kafka`` image takes it: each ``a.b_c``
    key as ``KAFKA_A_B__C`` (dots to ``_``, ``_`` to ``__``, ``-`` to ``___``), a cluster id,
    and the heap (MiB) in ``KAFKA_HEAP_OPTS``."""
    environment = {"CLUSTER_ID": new_cluster_id(),
                   "KAFKA_HEAP_OPTS": f"-Xmx{heap}m -Xms{min(heap, 128)}m"}  # fmt: skip
    for line in server_properties(port, controller_port, Path(CONTAINER_LOG_DIR)).splitlines():
        key, _, value = line.partition("=")
        name = key.replace("-", "___").replace("_", "__").replace(".", "_").upper()
        environment[f"KAFKA_{name}"] = value
    return environment
