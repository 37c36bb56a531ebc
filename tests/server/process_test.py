#!/usr/bin/env python3
"""`refusal serve` stopping, as a real process gets SIGTERM (docs/server.md#stopping).

    REFUSAL_BINARY=build/release/refusal python3 tests/server/process_test.py

Run by ctest from the repository root (tests/server/CMakeLists.txt). Python standard library
only; loopback only; every wait is bounded.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

BINARY = os.environ.get("REFUSAL_BINARY", "build/release/refusal")
MODEL = "tests/data/models/random-roberta-tok"
HOST = "127.0.0.1"


class Serve:
    """A `refusal serve` process on a free port; stderr collected."""

    def __init__(self, *flags):
        cmd = [BINARY, "serve", "--model", MODEL, "--port", "0", "--access-log", "false",
               "--threads", "1", *flags]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise AssertionError("server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.rsplit(":", 1)[1])
        self.stderr = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def request(self, method, path, body=None, timeout=10):
        """One request on a new connection: (status, body, Connection header)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode(), r.getheader("Connection", "")
        finally:
            conn.close()

    def scan(self, text, timeout=10):
        return self.request("POST", "/scan/output",
                            json.dumps({"prompt": "", "output": text}), timeout)

    def wait(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._reader.join(timeout=5)
        self.proc.stderr.close()


class StopTest(unittest.TestCase):
    def start(self, *flags):
        s = Serve(*flags)
        self.addCleanup(s.close)
        return s

    def test_not_ready_at_once_serves_for_the_delay_then_drains_and_exits_0(self):
        # batch_wait_ms: a request lingers 1 s in the queue, so one is in flight at the stop.
        s = self.start("--shutdown-delay", "1.5", "--batch-wait-ms", "1000")
        self.assertEqual(s.request("GET", "/readyz")[0], 200)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        status, body, _ = s.request("GET", "/readyz")
        self.assertEqual((status, body), (503, '{"status":"shutting down"}'))
        self.assertEqual(s.request("GET", "/healthz")[0], 200)
        # New connections are accepted and answered through the delay, asked to close.
        answered = 0
        while time.monotonic() - t0 < 1.0:
            status, _, connection = s.scan("still here %d" % answered)
            self.assertEqual((status, connection), (200, "close"))
            answered += 1
        self.assertGreater(answered, 0)
        # This one is accepted just before the delay ends and answered during the drain.
        late = {}

        def in_flight():
            late["answer"] = s.scan("accepted before the end of the delay")

        t = threading.Thread(target=in_flight)
        time.sleep(max(0.0, 1.3 - (time.monotonic() - t0)))
        t.start()
        code = s.wait(timeout=20)
        t.join(timeout=10)
        took = time.monotonic() - t0
        self.assertEqual(code, 0, "".join(s.stderr))
        self.assertEqual(late["answer"][0], 200)
        self.assertGreaterEqual(took, 1.5)
        self.assertLess(took, 10)
        log = "".join(s.stderr)
        self.assertIn("SIGTERM: shutting down", log)
        self.assertIn("serving 1.5 s more before draining", log)
        self.assertIn("stopped accepting", log)
        self.assertIn("refusal serve: stopped", log)
        # Stopped: the port no longer accepts.
        with self.assertRaises(OSError):
            s.request("GET", "/healthz", timeout=2)

    def test_a_second_sigterm_ends_the_delay(self):
        s = self.start("--shutdown-delay", "60")
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(s.request("GET", "/readyz")[0], 503)
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.wait(timeout=10), 0, "".join(s.stderr))
        self.assertLess(time.monotonic() - t0, 5)

    def test_drain_timeout_exits_1_with_the_request_unanswered(self):
        # The request waits 5 s in the queue; the drain may take 0.5 s.
        s = self.start("--drain-timeout", "0.5", "--batch-wait-ms", "5000")
        result = {}

        def client():
            try:
                result["answer"] = s.scan("slow", timeout=15)
            except (OSError, http.client.HTTPException) as e:
                result["error"] = e

        t = threading.Thread(target=client)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        code = s.wait(timeout=10)
        took = time.monotonic() - t0
        t.join(timeout=15)
        self.assertEqual(code, 1, "".join(s.stderr))
        self.assertGreaterEqual(took, 0.5)
        self.assertLess(took, 3)
        self.assertIn("exiting with 1 request(s) unanswered", "".join(s.stderr))
        self.assertIn("error", result)

    def test_a_second_sigterm_ends_the_drain(self):
        s = self.start("--batch-wait-ms", "8000")
        result = {}

        def client():
            try:
                result["answer"] = s.scan("slow", timeout=15)
            except (OSError, http.client.HTTPException) as e:
                result["error"] = e

        t = threading.Thread(target=client)
        t.start()
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(s.proc.poll())  # draining: the request is still queued
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        code = s.wait(timeout=10)
        t.join(timeout=15)
        self.assertEqual(code, 1, "".join(s.stderr))
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("error", result)

    def test_sigint_without_a_delay_stops_at_once(self):
        s = self.start()
        self.assertEqual(s.scan("hello")[0], 200)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGINT)
        self.assertEqual(s.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("SIGINT: shutting down", "".join(s.stderr))


if __name__ == "__main__":
    unittest.main(verbosity=2)
