"""Process orchestration for the Python end-to-end tests.

Starts, on 127.0.0.1 only, the fake Dynatrace (//tests/e2e:fake_dynatrace_server),
the gateway (//gateway:otlp_gateway), moto in server mode (SQS and SNS), AWS's
Lambda Runtime Interface Emulator running a Python handler under awslambdaric,
and the instrumented Python apps. Every child runs in its own process group
and is killed with it when the test ends (normally, on failure or on a
signal); every wait has a deadline.

    from harness import Harness
    h = Harness()                       # one per test module (pytest fixture)
    sink = h.start_fake_dynatrace()     # .url, .received(), .arrivals
    gw = h.start_gateway(sink.url)      # .http_url, .grpc_endpoint
    sqs = h.start_moto()                # .url
    redis = h.start_redis()             # .address, .stop(); h.restart_redis(redis)
    h.run_app("sender", ["sqs_sender.py", ...])
    h.wait_for(lambda: ..., 30, "all spans at the sink")
    h.stop_all()

Binaries come from the sh_test arguments (E2E_FAKE_DYNATRACE, E2E_GATEWAY);
the venv and the emulator from E2E_PYTHON and E2E_RIE (run_python_test.sh);
redis-server from E2E_REDIS_SERVER, else the PATH, else /usr/bin.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

API_TOKEN = "dt0c01.E2E.TOKEN"
HERE = os.path.dirname(os.path.abspath(__file__))


def log(*args):
    print("[e2e]", *args, flush=True)


def out_dir():
    d = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    os.makedirs(d, exist_ok=True)
    return d


def tmp_dir(prefix):
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def wait_for(cond, timeout_s, what, interval_s=0.05):
    """Calls `cond` until it returns something truthy (returned) or
    `timeout_s` passes (AssertionError naming `what` and the last error)."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    for _ in range(1_000_000):
        try:
            v = cond()
            if v:
                return v
            last_error = None
        except Exception as e:  # a condition may fail while a server starts
            last_error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def free_ports(n):
    """`n` distinct ports free on 127.0.0.1 right now (bound, read, released
    together, so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http(method, url, body=None, headers=None, timeout_s=5.0):
    """(status, body bytes); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Child:
    """A process in its own group, stdout/stderr in the test's outputs."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.stdout_path = os.path.join(out_dir(), f"{name}.log")
        self.stderr_path = os.path.join(out_dir(), f"{name}.stderr.log")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)

    def stdout(self):
        with open(self.stdout_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def exited(self):
        return self.proc.poll() is not None

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace_s=5.0):
        if not self.exited():
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, n=3000):
        return (f"----- {self.name} (exit {self.proc.poll()}) -----\n"
                f"{self.stdout()[-n:]}\n----- {self.name} stderr -----\n{self.stderr()[-n:]}")


class FakeDynatrace:
    """//tests/e2e:fake_dynatrace_server plus a watcher thread that polls
    GET /received and notes when each span id was first seen (wall clock),
    so a test can tell how long spans spent between the app's export and
    the sink."""

    def __init__(self, child, port, control_port, poll_s=0.05):
        self.child = child
        self.port = port
        self.control_port = control_port
        self.url = f"http://127.0.0.1:{port}/api/v2/otlp"
        self.arrivals = {}  # span_id -> first time.time() it was seen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._watch, name="sink-watcher", daemon=True)
        self._thread.start()

    def received(self):
        status, body = http("GET", f"http://127.0.0.1:{self.control_port}/received")
        if status != 200:
            raise AssertionError(f"/received: HTTP {status}")
        got = json.loads(body)
        now = time.time()
        with self._lock:
            for s in got["spans"]:
                self.arrivals.setdefault(s["span_id"], now)
        return got

    def arrival(self, span_id):
        with self._lock:
            return self.arrivals.get(span_id)

    def _watch(self):
        for _ in range(10_000_000):
            if self._stop.wait(self._poll_s):
                return
            try:
                self.received()
            except Exception:  # the sink is stopping or busy; try again
                pass

    def stop_watching(self):
        self._stop.set()
        self._thread.join(timeout=5)


class Gateway:
    def __init__(self, child, grpc_port, http_port, admin_port):
        self.child = child
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.admin_port = admin_port
        self.http_url = f"http://127.0.0.1:{http_port}"
        self.grpc_endpoint = f"127.0.0.1:{grpc_port}"

    def endpoint(self, protocol):
        """What an app's OTLP exporter is pointed at for `protocol`."""
        return self.http_url if protocol == "http/protobuf" else f"http://{self.grpc_endpoint}"

    def metrics(self):
        status, body = http("GET", f"http://127.0.0.1:{self.admin_port}/metrics")
        if status != 200:
            raise AssertionError(f"/metrics: HTTP {status}")
        values = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values


class Lambda:
    """AWS's Runtime Interface Emulator running `python -m awslambdaric` with
    a handler from this directory."""

    def __init__(self, child, port):
        self.child = child
        self.port = port
        self.url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"

    def invoke(self, event, timeout_s=60):
        status, body = http("POST", self.url, json.dumps(event).encode(),
                            {"content-type": "application/json"}, timeout_s=timeout_s)
        if status != 200:
            raise AssertionError(f"invoke: HTTP {status}: {body[:2000]!r}")
        return json.loads(body) if body else None


class Redis:
    """A redis-server on 127.0.0.1 (no persistence) for the gateways' fate
    store."""

    def __init__(self, child, port, argv):
        self.child = child
        self.port = port
        self.argv = argv
        self.address = f"127.0.0.1:{port}"

    def ping(self):
        """True when the server answers PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        """Stops it (SIGTERM, then SIGKILL); its port refuses connections
        afterwards."""
        self.child.stop(grace_s=3)
        wait_for(lambda: not self.ping(), 5, "redis-server to stop")


class Harness:
    def __init__(self):
        self.children = []
        self.python = os.environ.get("E2E_PYTHON") or sys.executable

    def _binary(self, env_name):
        p = os.environ.get(env_name)
        if not p:
            raise AssertionError(f"{env_name} is not set (run through run_python_test.sh)")
        return os.path.abspath(p)

    def spawn(self, name, argv, env=None, cwd=None):
        self._names = getattr(self, "_names", set())
        base = name
        for i in range(2, 1000):
            if name not in self._names:
                break
            name = f"{base}-{i}"
        self._names.add(name)
        child = Child(name, argv, env=env, cwd=cwd)
        self.children.append(child)
        return child

    def app_env(self, extra=None):
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE
        env["PYTHONUNBUFFERED"] = "1"
        # No AWS credential or region lookups outside the test.
        env.update({"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                    "AWS_EC2_METADATA_DISABLED": "true"})
        for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_PROPAGATORS"):
            env.pop(k, None)
        env.update(extra or {})
        return env

    def _wait_for_json_line(self, child, key, timeout_s):
        def ready():
            if child.exited():
                raise AssertionError(f"{child.name} exited early\n{child.tail()}")
            for line in child.stdout().splitlines():
                if line.startswith("{") and key in line:
                    return json.loads(line)
            return None
        return wait_for(ready, timeout_s, f"{child.name} to print its port")

    def start_fake_dynatrace(self):
        child = self.spawn("fake_dynatrace",
                           [self._binary("E2E_FAKE_DYNATRACE"), f"--api-token={API_TOKEN}"])
        ports = self._wait_for_json_line(child, '"control_port"', 20)
        sink = FakeDynatrace(child, ports["port"], ports["control_port"])
        log(f"fake Dynatrace on 127.0.0.1:{sink.port}")
        return sink

    def start_gateway(self, dt_url, hold_window="10s", extra_args=(), name="gateway"):
        grpc_port, http_port, admin_port = free_ports(3)
        argv = [self._binary("E2E_GATEWAY"),
                f"--grpc-endpoint=127.0.0.1:{grpc_port}",
                f"--http-endpoint=127.0.0.1:{http_port}",
                f"--admin-endpoint=127.0.0.1:{admin_port}",
                f"--dt-endpoint={dt_url}",
                f"--dt-api-token={API_TOKEN}",
                f"--hold-window={hold_window}",
                *extra_args,
                *os.environ.get("E2E_GATEWAY_EXTRA_ARGS", "").split()]
        child = self.spawn(name, argv, cwd=tmp_dir("gateway-"))

        def ready():
            if child.exited():
                raise AssertionError(f"gateway exited\n{child.tail()}")
            return http("GET", f"http://127.0.0.1:{admin_port}/readyz", timeout_s=1)[0] == 200
        wait_for(ready, 30, "gateway /readyz")
        gw = Gateway(child, grpc_port, http_port, admin_port)
        log(f"{name}: grpc {gw.grpc_endpoint}, http {gw.http_url}, hold window {hold_window}")
        return gw

    def start_moto(self):
        """moto in server mode (all services; the tests use SQS and SNS)."""
        child = self.spawn("moto", [self.python, os.path.join(HERE, "moto_server.py")],
                           env=self.app_env())
        port = self._wait_for_json_line(child, '"port"', 60)["port"]
        log(f"moto (SQS, SNS) on 127.0.0.1:{port}")
        return type("Moto", (), {"child": child, "port": port, "url": f"http://127.0.0.1:{port}"})

    def start_redis(self):
        """redis-server on 127.0.0.1 and a free port, no RDB or AOF; resolves
        when it answers PING. Another port if it exits while starting (the
        port was taken meanwhile)."""
        binary = (os.environ.get("E2E_REDIS_SERVER") or shutil.which("redis-server")
                  or "/usr/bin/redis-server")
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"no redis-server ({binary}): run scripts/install_deps.sh --test")
        for attempt in range(5):
            port = free_ports(1)[0]
            argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--dir", tmp_dir("redis-")]
            redis = Redis(self.spawn("redis", argv), port, argv)
            if self._redis_ready(redis):
                log(f"redis-server on {redis.address}")
                return redis
        raise AssertionError(f"redis-server did not start\n{redis.child.tail()}")

    def restart_redis(self, redis):
        """Starts a stopped `redis` again on its port, empty."""
        redis.child = self.spawn("redis", redis.argv)
        if not self._redis_ready(redis):
            raise AssertionError(f"redis-server did not start again\n{redis.child.tail()}")
        log(f"redis-server on {redis.address} again")

    @staticmethod
    def _redis_ready(redis):
        """Waits until `redis` answers PING (True) or exits (False)."""
        def ready():
            if redis.child.exited():
                return "exited"
            return redis.ping()
        return wait_for(ready, 20, "redis-server to answer PING") != "exited"

    def start_lambda(self, name, handler, env):
        """RIE on free ports running `python -m awslambdaric otel_wrapper.handler`
        from this directory, with `handler` (module.function) as the function
        the OpenTelemetry wrapper instruments. Resolves when it answers."""
        rie = self._binary("E2E_RIE")
        api_port, rie_port = free_ports(2)
        lambda_env = self.app_env({
            "ORIG_HANDLER": handler,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": "60",
            "LOG_LEVEL": "info",
            **env,
        })
        argv = [rie, f"--runtime-api-address=127.0.0.1:{api_port}",
                f"--runtime-interface-emulator-address=127.0.0.1:{rie_port}",
                self.python, "-m", "awslambdaric", "otel_wrapper.handler"]
        child = self.spawn(f"lambda_{name}", argv, env=lambda_env, cwd=HERE)

        def listening():
            if child.exited():
                raise AssertionError(f"RIE exited\n{child.tail()}")
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", rie_port)) == 0
        wait_for(listening, 30, "the Lambda emulator to listen")
        log(f"Lambda emulator for {name} on 127.0.0.1:{rie_port}")
        return Lambda(child, rie_port)

    def run_app(self, name, script, args, env=None, timeout_s=90, python=None):
        """Runs one of the apps in this directory to completion (with the
        venv's Python, or `python`); returns its stdout. Fails with its logs
        if it exits non-zero."""
        return self.finish_app(self.start_app(name, script, args, env=env, python=python), timeout_s)

    def start_app(self, name, script, args, env=None, python=None):
        """Starts one of the apps in this directory and returns at once (the
        Child); finish_app waits for it."""
        return self.spawn(name, [python or self.python, os.path.join(HERE, script), *args],
                          env=self.app_env(env))

    def finish_app(self, child, timeout_s=90):
        """Waits for an app started with start_app; returns its stdout. Fails
        with its logs if it exits non-zero or outlasts `timeout_s`."""
        name = child.name
        try:
            child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.stop()
            raise AssertionError(f"{name} did not finish in {timeout_s} s\n{child.tail()}")
        if child.proc.returncode != 0:
            raise AssertionError(f"{name} exited {child.proc.returncode}\n{child.tail()}")
        return child.stdout()

    def dump_logs(self):
        for c in self.children:
            print(c.tail(), flush=True)

    def stop_all(self):
        for c in reversed(self.children):
            c.stop(grace_s=3)
        self.children.clear()
