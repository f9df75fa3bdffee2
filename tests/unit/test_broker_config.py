"""Unit tests of the local broker's pure parts: generated configuration, port
and home resolution, tool checks, the jar-cache stamp, the ApiVersions probe
(against a fake server) and the CLI's error output. No JVM is started."""

import socket
import struct
import threading

import pytest

from broker import kafka


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMATIONS_KAFKA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AUTOMATIONS_BROKER_PORT", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)


def parse(text):
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_properties_single_node_kraft_on_loopback(tmp_path):
    props = parse(kafka.server_properties(19092, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == (tmp_path / "data").as_posix()


def test_properties_fit_one_broker():
    props = parse(kafka.server_properties(9092, kafka.home() / "data"))
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "default.replication.factor", "min.insync.replicas"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_port_default_env_and_argument(monkeypatch):
    assert kafka.resolve_port() == 9092
    monkeypatch.setenv("AUTOMATIONS_BROKER_PORT", "19092")
    assert kafka.resolve_port() == 19092
    assert kafka.resolve_port(29092) == 29092


@pytest.mark.parametrize("bad", ["abc", "0", "65535"])
def test_bad_port_is_a_broker_error(monkeypatch, bad):
    monkeypatch.setenv("AUTOMATIONS_BROKER_PORT", bad)
    with pytest.raises(kafka.BrokerError, match="port"):
        kafka.resolve_port()


def test_home_defaults_to_repo_dot_kafka(monkeypatch):
    monkeypatch.delenv("AUTOMATIONS_KAFKA_HOME")
    assert kafka.home() == kafka.POM.parent.parent / ".kafka"


def test_configured_port_reads_generated_file():
    h = kafka.home()
    h.mkdir(parents=True)
    assert kafka.configured_port(h) is None
    (h / "server.properties").write_text(kafka.server_properties(23456, h / "data"))
    assert kafka.configured_port(h) == 23456


def test_missing_java_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kafka.BrokerError, match="Java 17\\+ is required: install openjdk-17-jre-headless"):
        kafka.find_java()


def test_old_java_is_rejected(tmp_path, monkeypatch):
    fake = tmp_path / "java"
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.22" 2024-01-16\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kafka.BrokerError, match="found Java 11"):
        kafka.find_java()


def test_missing_maven_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kafka.BrokerError, match="Maven is required to fetch the Kafka jars: install maven"):
        kafka.ensure_jars(kafka.home())


def test_jar_cache_is_reused_while_the_pom_is_unchanged(tmp_path, monkeypatch):
    libs = kafka.home() / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-9.9.9.jar").write_bytes(b"")
    (libs / "pom.sha256").write_text(kafka.pom_digest() + "\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # Maven would fail if it were asked
    assert kafka.ensure_jars(kafka.home()) == libs
    assert kafka.kafka_version(libs) == "9.9.9"
    (libs / "pom.sha256").write_text("stale\n")
    assert not kafka.jars_current(libs)


def test_status_when_nothing_runs_and_pid_file_is_stale(monkeypatch):
    h = kafka.home()
    h.mkdir(parents=True)
    (h / "broker.pid").write_text("1\n")  # alive, but not our broker
    current = kafka.status()
    assert not current.running and current.pid is None
    assert current.address == "127.0.0.1:9092"
    assert "not running" in str(current)


def test_stop_when_nothing_runs_is_a_no_op():
    assert kafka.stop() is False
    assert kafka.stop() is False


def fake_broker(reply):
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            size = struct.unpack(">i", conn.recv(4))[0]
            request = conn.recv(size)
            conn.sendall(reply(request))
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_api_versions_speaks_the_wire_protocol():
    def reply(request):
        key, version, correlation = struct.unpack_from(">hhi", request)
        assert (key, version) == (18, 0)
        body = struct.pack(">ihi", correlation, 0, 2) + struct.pack(">hhh", 0, 0, 11) + struct.pack(">hhh", 18, 0, 4)
        return struct.pack(">i", len(body)) + body

    assert kafka.api_versions(port=fake_broker(reply)) == {0: (0, 11), 18: (0, 4)}


def test_api_versions_rejects_an_error_answer():
    def reply(request):
        correlation = struct.unpack_from(">hhi", request)[2]
        body = struct.pack(">ihi", correlation, 35, 0)
        return struct.pack(">i", len(body)) + body

    with pytest.raises(kafka.BrokerError, match="error code 35"):
        kafka.api_versions(port=fake_broker(reply))


def test_cli_prints_one_error_line_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert kafka.main(["start"]) == 1
    err = capsys.readouterr().err
    assert err == "error: Java 17+ is required: install openjdk-17-jre-headless\n"


def test_cli_status_exit_code_when_stopped(capsys):
    assert kafka.main(["status"]) == 3
    assert "not running" in capsys.readouterr().out


def test_a_cluster_id_never_starts_with_a_dash_the_storage_tool_would_take_for_an_option():
    # 0xf8 makes the first base64 character "-" (62 in the URL-safe alphabet).
    draws = iter([bytes([0xF8]) + bytes(15), bytes([0xF8, 1]) + bytes(14), bytes([0x10]) + bytes(15)])

    cluster_id = kafka.new_cluster_id(lambda: next(draws))

    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA" and len(cluster_id) == 22
    assert not any(kafka.new_cluster_id().startswith("-") for _ in range(2000))


def test_a_kafka_tool_runs_its_class_on_the_local_broker_unless_told_otherwise(tmp_path, monkeypatch):
    from broker import tools

    monkeypatch.setenv("AUTOMATIONS_BROKER_PORT", "19092")
    monkeypatch.delenv("AUTOMATIONS_KAFKA_BOOTSTRAP", raising=False)
    command = tools.command("kafka-consumer-groups.sh", ["--describe", "--group", "g"], "java", tmp_path)
    assert command[command.index("-cp") + 2:] == [
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--describe", "--group", "g",
        "--bootstrap-server", "127.0.0.1:19092"]
    # an address given, a help asked for, or a tool without one: nothing added
    assert "127.0.0.1:19092" not in tools.command("kafka-configs", ["--bootstrap-server=b:1"], "java", tmp_path)
    assert "127.0.0.1:19092" not in tools.command("kafka-configs", ["--help"], "java", tmp_path)
    assert "127.0.0.1:19092" not in tools.command("kafka-dump-log", ["--files", "x.log"], "java", tmp_path)


def test_an_unknown_kafka_tool_is_one_line_naming_the_tools(capsys):
    assert kafka.main(["tool", "kafka-nope", "--list"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: no Kafka tool 'kafka-nope'; the tools are: kafka-broker-api-versions, kafka-configs,")
