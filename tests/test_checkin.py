"""The process check-in of parallel.initialize_distributed, on loopback sockets in this process:
silent and malformed peers get one sentence within the timeout, and process 0 listens only on
the coordinator's host."""

import socket
import threading
import time

import pytest

from gan_lab import parallel
from gan_lab.core.errors import UserError

TIMEOUT_S = 2


def _coordinator():
  """A coordinator address whose port + 1, the check-in's port, is free."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return f"127.0.0.1:{s.getsockname()[1] - 1}", s.getsockname()[1]


class _Thread(threading.Thread):
  """Runs fn(*args) and keeps its result or exception; daemon, so a hang cannot block exit."""

  def __init__(self, fn, *args):
    super().__init__(daemon=True)
    self.fn, self.args, self.error, self.seconds = fn, args, None, None
    self.start()

  def run(self):
    start = time.monotonic()
    try:
      self.fn(*self.args)
    except BaseException as e:  # pylint: disable=broad-except
      self.error = e
    self.seconds = time.monotonic() - start

  def finish(self, timeout):
    self.join(timeout)
    assert not self.is_alive(), f"still running after {timeout} s"
    return self.error


def _connect(port):
  """A raw peer connected to process 0's check-in, once it listens."""
  until = time.monotonic() + 5
  while True:
    try:
      return socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
      if time.monotonic() > until:
        raise
      time.sleep(0.05)


def _read_all(conn):
  """All that the other side sends before it closes (it must within the socket's timeout)."""
  chunks = []
  while chunk := conn.recv(4096):
    chunks.append(chunk)
  return b"".join(chunks).decode()


def _listening(port) -> bool:
  """Whether a socket listens on 127.0.0.1:port, read from /proc/net/tcp: neither a
  connection (a peer to process 0) nor a probing bind, which could take the port at the very
  moment process 0 binds it."""
  with open("/proc/net/tcp") as f:
    rows = [line.split() for line in f.readlines()[1:]]
  return any(r[1] == f"0100007F:{port:04X}" and r[3] == "0A" for r in rows)  # 0A: LISTEN.


def _wait_listening(port, server):
  """Returns once process 0 (`server`, a _Thread) listens on 127.0.0.1:port. Generous: a
  loaded CI host starts threads late."""
  until = time.monotonic() + 30
  while time.monotonic() < until:
    if _listening(port):
      return
    if server.seconds is not None:
      raise AssertionError(f"process 0 ended before anyone connected: {server.error!r}")
    time.sleep(0.05)
  raise AssertionError(f"nothing listens on port {port}")


def _assert_one_sentence(message):
  assert message.startswith("Processes do not match: ") and message.endswith(".")
  assert "\n" not in message and "Traceback" not in message
  assert message.endswith("; start every process with the same --coordinator_address and "
                          "--num_processes and its own --process_id.")


def test_a_silent_peer_is_one_sentence_within_the_timeout():
  address, port = _coordinator()
  process_0 = _Thread(parallel._check_processes, address, 3, 0, TIMEOUT_S)
  silent = _connect(port)  # Connects first and never sends: it must not block the others.
  try:
    process_1 = _Thread(parallel._check_processes, address, 3, 1, TIMEOUT_S)
    error = process_0.finish(TIMEOUT_S + 4)
    assert isinstance(error, UserError), repr(error)
    assert process_0.seconds < TIMEOUT_S + 3
    message = str(error)
    _assert_one_sentence(message)
    # Process 1 did report; process 2 never came; the silent connection is named as such.
    assert f"only 2 of 3 processes reached {address} within {TIMEOUT_S} s" in message
    assert "process 2 never reported" in message and "process 1 never" not in message
    assert f"1 connection to 127.0.0.1:{port} sent nothing" in message
    # Every connected process gets the same sentence, the silent one too.
    assert str(process_1.finish(5)) == message
    silent.settimeout(5)
    assert _read_all(silent) == message
  finally:
    silent.close()


@pytest.mark.parametrize("data,shown", [
    (b"hello", "b'hello'"),
    (b"1", "b'1'"),
    (b"1 2 3", "b'1 2 3'"),
    (b"\xff\xfe 2", r"b'\xff\xfe 2'"),
    (b"x" * 200, "b'" + "x" * 32 + "'..."),
])
def test_a_malformed_message_is_one_sentence(data, shown):
  address, port = _coordinator()
  process_0 = _Thread(parallel._check_processes, address, 2, 0, TIMEOUT_S)
  with _connect(port) as peer:
    peer.settimeout(5)
    peer.sendall(data)
    reply = _read_all(peer)
  error = process_0.finish(5)
  assert isinstance(error, UserError), repr(error)
  # Answered at once, not at the deadline.
  assert process_0.seconds < TIMEOUT_S
  message = str(error)
  _assert_one_sentence(message)
  assert f"a connection to 127.0.0.1:{port} sent {shown} instead of its process_id" in message
  assert "x" * 33 not in message
  assert reply == message


def test_process_0_listens_on_the_given_host_only():
  with parallel._listen("127.0.0.1", 0) as server:
    assert server.getsockname()[0] == "127.0.0.1"
    with socket.create_connection(server.getsockname(), timeout=5):
      pass  # It does listen.


def test_the_check_in_is_unreachable_from_other_addresses():
  with socket.socket() as s:
    try:
      s.bind(("127.0.0.2", 0))  # All of 127/8 is loopback on Linux, not everywhere.
    except OSError:
      pytest.skip("127.0.0.2 is not an address of this machine")
  address, port = _coordinator()
  process_0 = _Thread(parallel._check_processes, address, 2, 0, 30)
  _wait_listening(port, process_0)
  with pytest.raises(ConnectionRefusedError):
    socket.create_connection(("127.0.0.2", port), timeout=5).close()
  # On the coordinator's host the check-in works: process 1 reports and both get "ok".
  with _connect(port) as peer:
    peer.settimeout(5)
    peer.sendall(b"1 2")
    assert _read_all(peer) == "ok"
  assert process_0.finish(5) is None


def test_a_process_whose_process_0_never_answers_fails_within_the_timeout():
  address, port = _coordinator()
  # Accepts connections into its listen queue (so connect and send succeed), never answers.
  with socket.create_server(("127.0.0.1", port)):
    process_1 = _Thread(parallel._check_processes, address, 2, 1, 1)
    error = process_1.finish(10)
  assert isinstance(error, UserError), repr(error)
  assert str(error) == (
      f"Process 0 at {address} did not answer within 1 s; start every process with the same "
      f"--coordinator_address and --num_processes and its own --process_id.")
  # The deadline, plus a short wait for process 0's own (later) deadline answer.
  assert process_1.seconds < 1 + 3


@pytest.mark.parametrize("answer", [b"\xff\xfe", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_a_foreign_answer_to_a_process_is_one_sentence(answer):
  address, port = _coordinator()
  with socket.create_server(("127.0.0.1", port)) as server:
    process_1 = _Thread(parallel._check_processes, address, 2, 1, TIMEOUT_S)
    server.settimeout(5)
    conn, _ = server.accept()
    with conn:
      conn.settimeout(5)
      conn.recv(64)
      conn.sendall(answer)
    error = process_1.finish(5)
  assert isinstance(error, UserError), repr(error)
  assert str(error) == (
      f"The check-in port 127.0.0.1:{port} answered {answer!r} instead of process 0 of this "
      f"run; keep port {port} free for the check-in or choose another --coordinator_address "
      f"port.")
