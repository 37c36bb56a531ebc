"""`refusal serve` replicas behind haproxy on loopback: the rollout test
(tests/server/rollout_test.py) and the replica benchmark (bench/server/replicas.py) use these.

Python standard library only. Nothing here listens anywhere but 127.0.0.1.
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def load_texts(path, limit):
    """The first `limit` non-blank `text` fields of a .jsonl or .jsonl.gz file."""
    opener = gzip.open if path.endswith(".gz") else open
    texts = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line).get("text")
            if isinstance(text, str) and text.strip():
                texts.append(text)
            if len(texts) >= limit:
                break
    return texts


def llm_guard_answers(binary, model, texts):
    """What /scan/output must answer for each text: `refusal classify --preset llm-guard`'s
    is_valid and risk_score, as {"is_valid":…,"scanners":{"NoRefusal":risk}}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "texts.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        out = subprocess.run([binary, "classify", "--preset", "llm-guard", "--model", model,
                              "--input", path, "--progress", "never"],
                             check=True, capture_output=True, text=True).stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(texts)
    return [{"is_valid": r["is_valid"], "scanners": {"NoRefusal": r["risk_score"]}}
            for r in records]


class Replica:
    """One `refusal serve` process on `port`; its stderr lines are kept (access log)."""

    def __init__(self, binary, model, port, *flags):
        self.port = port
        cmd = [binary, "serve", "--model", model, "--host", HOST, "--port", str(port), *flags]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("refusal serve did not start: " + line + self.proc.stderr.read())
        self.stderr = []
        self.signalled_at = None  # index into stderr when SIGTERM was sent
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def terminate(self):
        self.signalled_at = len(self.stderr)
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def answered(self, after_signal=False):
        """Access-log lines of POST requests answered 200 (after SIGTERM only, if asked)."""
        lines = self.stderr[self.signalled_at or 0:] if after_signal else self.stderr
        n = 0
        for line in lines:
            if line.startswith("{"):
                rec = json.loads(line)
                n += rec.get("method") == "POST" and rec.get("status") == 200
        return n

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._reader.join(timeout=5)
        self.proc.stderr.close()


HAPROXY_CONFIG = """global
    maxconn 4096
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    # A check answered late on a busy machine is not a failure; two failures in a row are.
    timeout check 2s
    # No retries: a request sent to a server that does not answer it is a failed request.
    retries 0

frontend guard
    bind {host}:{port}
    default_backend replicas

backend replicas
    balance {balance}
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1
{servers}
"""


class Haproxy:
    """haproxy in the foreground, routing to `ports` with health checks on /readyz."""

    def __init__(self, ports, balance="roundrobin"):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            raise RuntimeError("haproxy not found: it is in packages/debian.txt "
                               "(bash scripts/setup.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="refusal-haproxy-")
        self.socket = os.path.join(self.dir, "admin.sock")
        self.port = free_port()
        self.names = ["r%d" % i for i in range(len(ports))]
        servers = "\n".join("    server %s %s:%d check" % (n, HOST, p)
                            for n, p in zip(self.names, ports))
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CONFIG.format(socket=self.socket, host=HOST, port=self.port,
                                          balance=balance, servers=servers))
        subprocess.run([exe, "-c", "-q", "-f", cfg], check=True)
        self.proc = subprocess.Popen([exe, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def states(self):
        """{server name: True when haproxy routes to it (UP)}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(b"show servers state replicas\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        head = next(line for line in lines if line.startswith("# be_id")).split()[1:]
        states = {}
        for line in lines:
            cols = line.split()
            if len(cols) == len(head) and cols[0].isdigit():
                row = dict(zip(head, cols))
                states[row["srv_name"]] = row["srv_op_state"] == "2"  # SRV_ST_RUNNING
        return states

    def wait_until(self, name, up, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited: " + self.proc.stderr.read())
            try:
                if self.states().get(name) == up:
                    return
            except OSError:
                pass  # the admin socket is not there yet
            time.sleep(0.05)
        raise RuntimeError("haproxy: %s not %s after %d s" % (name, "UP" if up else "DOWN",
                                                               timeout))

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
