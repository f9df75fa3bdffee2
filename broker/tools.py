"""Kafka's own command-line tools, run from the local broker's jar cache.

Owns the names the README shows (`kafka-consumer-groups`, `kafka-configs`,
`kafka-console-producer`, `kafka-console-consumer`, ...: Kafka's shell
scripts without `.sh`), the Java class behind each in the Kafka version of
broker/pom.xml, and running one in the foreground with its arguments, its
stdin and its exit code. Kafka's `bin/` scripts are no Maven artifact; the
classes they start are (kafka_2.13 and kafka-tools), so the tools come with
the broker's jars and nothing else is installed.

Stdlib only, like broker.kafka.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from broker import kafka

# name -> (main class, takes --bootstrap-server). Classes as Kafka 3.9's bin/*.sh start them.
TOOLS: dict[str, tuple[str, bool]] = {
    "kafka-broker-api-versions": ("kafka.admin.BrokerApiVersionsCommand", True),
    "kafka-configs": ("kafka.admin.ConfigCommand", True),
    "kafka-console-consumer": ("org.apache.kafka.tools.consumer.ConsoleConsumer", True),
    "kafka-console-producer": ("kafka.tools.ConsoleProducer", True),
    "kafka-consumer-groups": ("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", True),
    "kafka-delete-records": ("org.apache.kafka.tools.DeleteRecordsCommand", True),
    "kafka-dump-log": ("kafka.tools.DumpLogSegments", False),
    "kafka-get-offsets": ("org.apache.kafka.tools.GetOffsetShell", True),
    "kafka-leader-election": ("org.apache.kafka.tools.LeaderElectionCommand", True),
    "kafka-log-dirs": ("org.apache.kafka.tools.LogDirsCommand", True),
    "kafka-metadata-quorum": ("org.apache.kafka.tools.MetadataQuorumCommand", True),
    "kafka-topics": ("org.apache.kafka.tools.TopicCommand", True),
    "kafka-transactions": ("org.apache.kafka.tools.TransactionsCommand", True),
}
# A short-lived client, not a server: small heap, quick start (Kafka's own scripts give tools 256 MB).
JVM_OPTS = ("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
LOG4J = Path(__file__).resolve().parent / "tools-log4j.properties"
ADDRESS_OPTIONS = ("--bootstrap-server", "--bootstrap-controller", "--broker-list")


def bootstrap() -> str:
    """Where the tools connect unless told: the workers' setting, else the local broker."""
    return os.environ.get("AUTOMATIONS_KAFKA_BOOTSTRAP") or f"{kafka.HOST}:{kafka.resolve_port()}"


def listing() -> str:
    return ", ".join(TOOLS)


def resolve(name: str) -> tuple[str, bool]:
    """The tool's class; `kafka-configs.sh` is `kafka-configs`, as the README of Kafka writes them."""
    tool = TOOLS.get(name.removesuffix(".sh"))
    if tool is None:
        raise kafka.BrokerError(f"no Kafka tool {name!r}; the tools are: {listing()}")
    return tool


def command(name: str, args: list[str], java: str, libs: Path) -> list[str]:
    main_class, takes_bootstrap = resolve(name)
    given = any(arg.split("=", 1)[0] in ADDRESS_OPTIONS for arg in args)
    asks_help = any(arg in ("--help", "-h", "--version") for arg in args)
    extra = ["--bootstrap-server", bootstrap()] if takes_bootstrap and not given and not asks_help else []
    classpath = os.pathsep.join(sorted(str(jar) for jar in libs.glob("*.jar")))
    return [java, *JVM_OPTS, f"-Dlog4j.configuration={LOG4J.as_uri()}", "-cp", classpath, main_class, *args, *extra]


def run(name: str, args: list[str]) -> int:
    """Run the tool in the foreground (stdin, stdout and stderr are the caller's); its exit code."""
    resolve(name)  # an unknown name fails before Java and Maven are asked anything
    java = kafka.find_java()
    libs = kafka.ensure_jars(kafka.home())
    try:
        return subprocess.run(command(name, args, java, libs)).returncode
    except KeyboardInterrupt:  # Ctrl-C ends a console consumer: its normal way out
        return 130
