"""`broker start` and the ports it may not take: one inside Linux's ephemeral range
(a reconnecting client can connect to itself there and hold it), and a port that is
taken, named by who holds it. No JVM is started: the refusals come first."""

import socket

import pytest

from broker import kafka


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMATIONS_KAFKA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AUTOMATIONS_BROKER_PORT", raising=False)


def free_port_below_the_ephemeral_range() -> int:
    low = (kafka.ephemeral_range() or (32768, 60999))[0]
    for port in range(low - 2000, low - 2):  # bounded: 2,000 tries
        if kafka._port_free(port) and kafka._port_free(port + 1):
            return port
    raise RuntimeError("no free port pair below the ephemeral range")


def test_a_port_inside_the_ephemeral_range_is_refused_with_one_line_before_anything_starts(tmp_path, capsys):
    low, high = kafka.ephemeral_range()
    assert kafka.main(["start", "--port", str(low + 10)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: port {low + 10} is inside Linux's ephemeral port range {low}-{high}")
    assert f"pick a port below {low}" in err[0]
    assert not (tmp_path / "home").exists(), "refused before the home was touched"


def test_a_port_whose_controller_port_is_inside_the_range_is_refused_too():
    refusal = kafka.ephemeral_refusal(32767, (32768, 60999))
    assert refusal.startswith("port 32768 (its controller's, port + 1, for port 32767) is inside")
    assert kafka.ephemeral_refusal(32766, (32768, 60999)) is None
    assert kafka.ephemeral_refusal(61000, (32768, 60999)) is None


def test_the_range_is_read_from_procfs_and_missing_means_no_refusal(tmp_path):
    span = tmp_path / "range"
    span.write_text("1024\t4999\n")
    assert kafka.ephemeral_range(span) == (1024, 4999)
    assert kafka.ephemeral_range(tmp_path / "none") is None


def test_a_port_held_by_a_client_connected_to_itself_is_named_so(capsys):
    # given what a reconnecting client does when nothing listens and Linux gives it that port
    port = free_port_below_the_ephemeral_range()
    client = socket.socket()
    try:
        client.bind((kafka.HOST, port))
        client.connect((kafka.HOST, port))
        assert client.getpeername() == client.getsockname()

        # when the broker is started on it
        assert kafka.main(["start", "--port", str(port)]) == 1

        # then the error says who holds it and why, not "another process"
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith(f"error: 127.0.0.1:{port} is already in use by a client that connected to itself "
                                 f"on that port, pid {__import__('os').getpid()} ")
    finally:
        client.close()
