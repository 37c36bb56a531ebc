#!/usr/bin/env python3
"""deploy/: the Kubernetes manifests and the container recipe, checked without a cluster or a
container engine (docs/deploy.md).

  - the kustomize base and the queue-depth overlay render (`kubectl kustomize`) and every
    resource validates against the Kubernetes JSON schemas (kubernetes-validate, offline);
  - the Deployment's settings hold together (grace period > shutdown delay + drain timeout,
    probes on the right routes, threads from requests.cpu, non-root, read-only root) and the
    server started with exactly its environment and arguments behaves as they say;
  - the metrics the queue-depth HPA and prometheus-adapter rule name exist in /metrics;
  - the Dockerfile's steps are the ones run here: `cmake --install` gives a tree whose binary
    finds the bundled model and serves with the image's settings, its HEALTHCHECK script tells
    ready from stopping, and packages/debian-runtime.txt names the package of every library
    the binary links.

    bash tests/deploy/run.sh --refusal build/release/refusal --build-dir build/release

Run by ctest (tests/deploy/CMakeLists.txt) through run.sh, which makes .venv-deploy.
"""
import argparse
import copy
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import kubernetes_validate
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
HEALTHCHECK = os.path.join(ROOT, "deploy", "healthcheck.sh")
# The oldest Kubernetes the manifests are for (autoscaling/v2 and policy/v1 are GA from 1.23;
# 1.25 is the oldest minor kubernetes-validate still ships), and the newest it knows.
KUBERNETES_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]
ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        why = ("kubectl not found: `kubectl kustomize` renders the overlays (no Debian package "
               "has it; the project's machines and CI's have it)")
        # CI must render them: a skip there would let a broken overlay or HPA pass unseen.
        if os.environ.get("CI"):
            raise AssertionError(why)
        raise unittest.SkipTest(why + "; each resource file is still validated on its own")
    out = subprocess.run([kubectl, "kustomize", os.path.join(K8S, overlay)], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def load_yaml(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, "%d %s" % (len(found), kind)
    return found[0]


def container_of(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_values(container):
    return {e["name"]: e.get("value") for e in container["env"]}


def dockerfile_stages():
    """The Dockerfile as [(instruction, argument)] per stage, continuation lines joined."""
    with open(DOCKERFILE) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def dockerfile_env():
    env = {}
    for instruction, rest in dockerfile_stages()[-1]:
        if instruction == "ENV":
            for pair in shlex.split(rest):
                k, _, v = pair.partition("=")
                env[k] = v
    return env


class Served:
    """`refusal serve` started with an environment and arguments as a pod or container would."""

    def __init__(self, binary, env, args=()):
        self.port = int(env["REFUSAL_SERVE_PORT"])
        self.proc = subprocess.Popen([binary, "serve", *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise AssertionError("did not start: " + line + self.proc.stderr.read())

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def stop(self):
        """SIGTERM (not ready), then a second one to skip the delay; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = self.get("/readyz")[0]
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        return ready, code

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def pod_env(overrides):
    """This process's environment without REFUSAL_* settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUSAL_")}
    env.update(overrides)
    return env


class Manifests(unittest.TestCase):
    def validate(self, doc, where):
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                self.fail("%s: %s/%s against Kubernetes %s: %s"
                          % (where, doc["kind"], doc["metadata"]["name"], version, e))

    def test_every_resource_file_validates(self):
        count = 0
        for overlay in ("base", "queue-depth"):
            folder = os.path.join(K8S, overlay)
            for name in sorted(os.listdir(folder)):
                if name == "kustomization.yaml" or not name.endswith(".yaml"):
                    continue
                if name == "prometheus-adapter-values.yaml":  # Helm values, not a resource
                    continue
                for doc in load_yaml(os.path.join(folder, name)):
                    self.validate(doc, os.path.join(overlay, name))
                    count += 1
        self.assertEqual(count, 5)  # Deployment, Service, PDB, HPA; the overlay's HPA

    def test_rendered_overlays_validate(self):
        for overlay in ("base", "queue-depth"):
            docs = render(overlay)
            self.assertEqual(sorted(d["kind"] for d in docs),
                             ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                              "Service"])
            for doc in docs:
                self.validate(doc, overlay)

    def test_the_validator_rejects_what_the_schemas_forbid(self):
        deployment = by_kind(render("base"), "Deployment")
        for broken in (["spec", "replicas", "two"], ["spec", "template", "spec", "unknownField", 1]):
            doc = copy.deepcopy(deployment)
            node = doc
            for key in broken[:-2]:
                node = node[key]
            node[broken[-2]] = broken[-1]
            with self.assertRaises(kubernetes_validate.ValidationError):
                kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)

    def test_the_deployment_holds_together(self):
        docs = render("base")
        deployment = by_kind(docs, "Deployment")
        pod = deployment["spec"]["template"]
        c = container_of(deployment)
        env = env_values(c)
        # Grace period > shutdown delay + drain timeout: SIGKILL never cuts a drain short.
        delay = float(env["REFUSAL_SERVE_SHUTDOWN_DELAY"])
        drain = float(env["REFUSAL_SERVE_DRAIN_TIMEOUT"])
        self.assertGreater(delay, 0)
        self.assertGreater(drain, 0)
        self.assertGreater(pod["spec"]["terminationGracePeriodSeconds"], delay + drain)
        # Probes: startup and liveness on /healthz, readiness on /readyz, on the served port.
        port = int(env["REFUSAL_SERVE_PORT"])
        self.assertEqual(c["ports"][0]["containerPort"], port)
        self.assertEqual(pod["metadata"]["annotations"]["prometheus.io/port"], str(port))
        for probe, path in (("startupProbe", "/healthz"), ("readinessProbe", "/readyz"),
                            ("livenessProbe", "/healthz")):
            self.assertEqual(c[probe]["httpGet"]["path"], path)
            self.assertEqual(c[probe]["httpGet"]["port"], c["ports"][0]["name"])
        # Threads: requests.cpu through the downward API, passed to --threads.
        field = next(e for e in c["env"] if e["name"] == "REFUSAL_NUM_THREADS")
        ref = field["valueFrom"]["resourceFieldRef"]
        self.assertEqual((ref["resource"], ref["containerName"]), ("requests.cpu", c["name"]))
        self.assertEqual(c["args"], ["--threads", "$(REFUSAL_NUM_THREADS)"])
        self.assertIn("cpu", c["resources"]["requests"])
        # Non-root (the image's user), read-only root filesystem, no privilege escalation.
        security = pod["spec"]["securityContext"]
        self.assertTrue(security["runAsNonRoot"])
        image_user = next(rest for instruction, rest in dockerfile_stages()[-1]
                          if instruction == "USER")
        self.assertEqual(str(security["runAsUser"]), image_user.split(":")[0])
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        # The Service, the PDB and the HPA find the pods and the Deployment.
        labels = pod["metadata"]["labels"]
        for kind, selector in (("Service", lambda d: d["spec"]["selector"]),
                               ("PodDisruptionBudget",
                                lambda d: d["spec"]["selector"]["matchLabels"])):
            sel = selector(by_kind(docs, kind))
            self.assertTrue(sel.items() <= labels.items(), kind)
        self.assertEqual(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(),
                         True)
        target = by_kind(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["name"]),
                         ("Deployment", deployment["metadata"]["name"]))

    def test_the_server_runs_as_the_deployment_says_and_has_the_hpa_metrics(self):
        deployment = by_kind(render("queue-depth"), "Deployment")
        c = container_of(deployment)
        env = {k: v for k, v in env_values(c).items() if v is not None}
        env["REFUSAL_NUM_THREADS"] = "2"  # what the downward API gives for requests.cpu "2"
        env.update(REFUSAL_SERVE_HOST="127.0.0.1", REFUSAL_SERVE_PORT=str(free_port()))
        # Kubernetes expands $(VAR) in args from the container's environment.
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in c["args"]]
        s = Served(ARGS.refusal, pod_env(env), args)
        try:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                self.assertEqual(s.get(c[probe]["httpGet"]["path"])[0], 200, probe)
            status, metrics = s.get(deployment["spec"]["template"]["metadata"]["annotations"]
                                    ["prometheus.io/path"])
            self.assertEqual(status, 200)
            # Every metric the queue-depth HPA and the adapter rule name.
            hpa = by_kind(render("queue-depth"), "HorizontalPodAutoscaler")
            names = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]
                     if m["type"] == "Pods"}
            values = load_yaml(os.path.join(K8S, "queue-depth",
                                            "prometheus-adapter-values.yaml"))[0]
            for rule in values["rules"]["custom"]:
                names.add(re.match(r"\w+", rule["seriesQuery"]).group(0))
                names.add(rule["name"]["as"])
            self.assertEqual(names, {"te_queue_size"})
            for name in names:
                self.assertRegex(metrics, r"(?m)^# TYPE %s gauge$" % name)
                self.assertRegex(metrics, r"(?m)^%s \d+$" % name)
            ready, code = s.stop()
            self.assertEqual((ready, code), (503, 0))
        finally:
            s.close()


class Container(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="refusal-install-")
        subprocess.run(["cmake", "--install", ARGS.build_dir, "--prefix", cls.prefix],
                       check=True, stdout=subprocess.DEVNULL)
        cls.binary = os.path.join(cls.prefix, "bin", "refusal")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def test_the_build_steps_are_the_ones_tested_here(self):
        # Each RUN command of the Dockerfile, and where CI runs it.
        run_here = {
            "bash scripts/setup.sh": "scripts/test.sh",
            "cmake --preset release": "scripts/test.sh",
            "cmake --build --preset release --target refusal": "scripts/test.sh (all targets)",
            "cmake --install build/release --prefix /opt/refusal": "Container.setUpClass",
            "bash /opt/refusal-setup/scripts/setup.sh packages/debian-runtime.txt":
                "test_runtime_packages_cover_every_linked_library",
            "rm -rf /opt/refusal-setup /var/lib/apt/lists/*": "(clean-up)",
            "useradd --system --uid 10001 --user-group --no-create-home "
            "--shell /usr/sbin/nologin refusal": "(the image's user)",
        }
        stages = dockerfile_stages()
        self.assertEqual(len(stages), 2)
        self.assertTrue(stages[0][0][1].startswith("debian:bookworm-slim AS "))
        self.assertEqual(stages[1][0][1], "debian:bookworm-slim")
        for stage in stages:
            for instruction, rest in stage:
                if instruction == "RUN":
                    for command in re.split(r"\s*&&\s*", rest):
                        self.assertIn(" ".join(command.split()), run_here)
        final = dict(stages[1])
        self.assertIn("HEALTHCHECK", final)
        self.assertIn("refusal-healthcheck", final["HEALTHCHECK"])
        self.assertIn("COPY deploy/healthcheck.sh /opt/refusal/bin/refusal-healthcheck",
                      ["COPY " + rest for i, rest in stages[1] if i == "COPY"])
        self.assertNotEqual(final["USER"].split(":")[0], "0")

    def test_the_installed_binary_finds_the_bundled_model(self):
        out = subprocess.run([self.binary, "classify", "I'm sorry, but I can't help with that."],
                             check=True, capture_output=True, text=True,
                             env=pod_env({})).stdout
        self.assertTrue(json.loads(out)["refusal"], out)

    def test_it_serves_with_the_images_settings_and_the_healthcheck_follows(self):
        env = dockerfile_env()
        env.pop("PATH")
        self.assertGreater(float(env["REFUSAL_SERVE_SHUTDOWN_DELAY"]), 0)
        env.update(REFUSAL_SERVE_HOST="127.0.0.1", REFUSAL_SERVE_PORT=str(free_port()))
        check_env = pod_env({"REFUSAL_SERVE_PORT": env["REFUSAL_SERVE_PORT"]})

        def healthcheck():
            return subprocess.run(["bash", HEALTHCHECK], env=check_env, timeout=10).returncode

        self.assertEqual(healthcheck(), 1)  # nothing listens yet
        s = Served(self.binary, pod_env(env))
        try:
            self.assertEqual(healthcheck(), 0)
            s.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertEqual(s.get("/healthz")[0], 200)  # still serving, during the delay
            self.assertEqual(healthcheck(), 1)           # but not ready
            s.proc.send_signal(signal.SIGTERM)
            self.assertEqual(s.proc.wait(timeout=20), 0)
            self.assertEqual(healthcheck(), 1)
        finally:
            s.close()

    def test_runtime_packages_cover_every_linked_library(self):
        with open(os.path.join(ROOT, "packages", "debian-runtime.txt")) as f:
            listed = {line.split("#")[0].strip() for line in f} - {""}
        ldd = subprocess.run(["ldd", self.binary], check=True, capture_output=True,
                             text=True).stdout
        self.assertNotIn("not found", ldd)
        libraries = re.findall(r"=> (/\S+)", ldd)
        self.assertGreater(len(libraries), 5)
        for lib in libraries:
            owner = None
            for path in (lib, os.path.realpath(lib)):
                r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0]
                    break
            self.assertIsNotNone(owner, "no Debian package has " + lib)
            self.assertIn(owner, listed, "%s (%s) is not in packages/debian-runtime.txt"
                          % (owner, lib))
        # The runtime stage's step itself (here a no-op: the -dev packages pulled them in).
        subprocess.run(["bash", "scripts/setup.sh", "packages/debian-runtime.txt"], cwd=ROOT,
                       check=True)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--refusal", default=os.environ.get("REFUSAL_BINARY",
                                                        "build/release/refusal"))
    ap.add_argument("--build-dir", default="build/release",
                    help="the build folder `cmake --install` installs from")
    ARGS, rest = ap.parse_known_args()
    ARGS.refusal = os.path.abspath(ARGS.refusal)
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
