"""A stand-in for the Lambda Telemetry API, in front of AWS's Runtime
Interface Emulator (RIE), which implements the Runtime and Extensions APIs
but answers `PUT /2022-07-01/telemetry` with 202 "Telemetry.NotSupported"
and sends no platform events.

The proxy listens where the runtime and the extension are told the Lambda
API is (their AWS_LAMBDA_RUNTIME_API); it forwards every Runtime API and
Extensions API call to RIE unchanged, and implements the Telemetry API's
Subscribe itself, from AWS's documented contract
(docs.aws.amazon.com/lambda/latest/dg/telemetry-api-reference.html and
telemetry-schema-reference.html):

  * PUT /2022-07-01/telemetry with the Lambda-Extension-Identifier header and
    a JSON body {schemaVersion, types, buffering, destination}: 400
    ValidationError for a missing/invalid field (destination protocol HTTP
    only, types among platform/function/extension, buffering within the
    documented bounds), else 200 "OK";
  * platform events, seen from the runtime's own calls through the proxy:
    `platform.start` when the runtime receives an invocation
    (GET .../runtime/invocation/next), `platform.runtimeDone` (status
    success or error) and `platform.report` once RIE accepted its
    .../response or .../error;
  * delivery: each subscriber's events are buffered and POSTed as one JSON
    array of {time, type, record} to its destination URI once timeoutMs has
    passed since the first buffered event (or maxItems are buffered),
    retried with backoff when the POST fails.

For the tests it also records what the extension did: its register calls,
subscriptions and each event/next call, and calls `on_extension_next(n)`
when the extension's n-th event/next arrives, before forwarding it (the
test snapshots what the Dynatrace stand-in holds at that moment).
"""

import http.client
import json
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA_VERSIONS = {"2022-07-01", "2022-12-13", "2025-01-29"}
TYPES = {"platform", "function", "extension"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


def _now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Subscriber:
    def __init__(self, uri, types, timeout_ms, max_items):
        self.uri = uri
        self.types = types
        self.timeout_s = timeout_ms / 1000.0
        self.max_items = max_items
        self.buffer = []
        self.first_at = None


class TelemetryProxy:
    def __init__(self, listen_port, rie_address, on_extension_next=None):
        self.rie_host, rie_port = rie_address.rsplit(":", 1)
        self.rie_port = int(rie_port)
        self.on_extension_next = on_extension_next
        self.lock = threading.Condition()
        self.subscribers = []
        self.registers = []        # (name header, body)
        self.subscriptions = []    # (status, body)
        self.extension_next_calls = 0
        self.lifecycle_events = []  # event/next answers the extension got, parsed
        self.delivered = []        # (uri, events) POSTed to subscribers
        self.invoke_started = {}   # request id -> time.monotonic()
        self._stopping = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                body = self._body()
                path = urllib.parse.urlsplit(self.path).path
                if path.rstrip("/") == "/2022-07-01/telemetry":
                    status, answer = proxy._subscribe(self.command, self.headers, body)
                    self._reply(status, answer, [("Content-Type", "application/json")])
                    return
                if path == "/2020-01-01/extension/register":
                    with proxy.lock:
                        proxy.registers.append((self.headers.get("Lambda-Extension-Name", ""), body))
                if path == "/2020-01-01/extension/event/next":
                    with proxy.lock:
                        proxy.extension_next_calls += 1
                        n = proxy.extension_next_calls
                    if proxy.on_extension_next is not None:
                        proxy.on_extension_next(n)
                status, headers, answer = proxy._forward(self.command, self.path, self.headers, body)
                if path == "/2020-01-01/extension/event/next" and status == 200:
                    with proxy.lock:
                        proxy.lifecycle_events.append(json.loads(answer or b"{}"))
                proxy._observe_runtime(self.command, path, status, headers)
                self._reply(status, answer, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                         threading.Thread(target=self._deliver_loop, daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # ---- Runtime / Extensions API: forwarded to RIE ----

    def _forward(self, method, target, headers, body):
        conn = http.client.HTTPConnection(self.rie_host, self.rie_port, timeout=None)
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        out["Content-Length"] = str(len(body))
        conn.request(method, target, body=body, headers=out)
        resp = conn.getresponse()
        answer = resp.read()
        back = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        conn.close()
        return resp.status, back, answer

    def _observe_runtime(self, method, path, status, headers):
        prefix = "/2018-06-01/runtime/invocation/"
        if not path.startswith(prefix):
            return
        rest = path[len(prefix):]
        if method == "GET" and rest == "next" and status == 200:
            request_id = dict((k.lower(), v) for k, v in headers).get("lambda-runtime-aws-request-id", "")
            with self.lock:
                self.invoke_started[request_id] = time.monotonic()
            self._emit("platform.start", {"requestId": request_id, "version": "$LATEST"})
            return
        if method == "POST" and 200 <= status < 300:
            request_id, _, what = rest.partition("/")
            if what not in ("response", "error"):
                return
            with self.lock:
                started = self.invoke_started.pop(request_id, time.monotonic())
            duration_ms = round((time.monotonic() - started) * 1000.0, 3)
            outcome = "success" if what == "response" else "error"
            self._emit("platform.runtimeDone", {"requestId": request_id, "status": outcome,
                                                "metrics": {"durationMs": duration_ms, "producedBytes": 0}})
            self._emit("platform.report", {"requestId": request_id, "status": outcome,
                                           "metrics": {"durationMs": duration_ms,
                                                       "billedDurationMs": int(duration_ms) + 1,
                                                       "memorySizeMB": 128, "maxMemoryUsedMB": 0}})

    # ---- Telemetry API ----

    def _subscribe(self, method, headers, body):
        def invalid(message):
            with self.lock:
                self.subscriptions.append((400, body))
            return 400, json.dumps({"errorType": "ValidationError", "errorMessage": message}).encode()

        if method != "PUT":
            return 405, b'{"errorType":"MethodNotAllowed"}'
        if not headers.get("Lambda-Extension-Identifier"):
            return 403, b'{"errorType":"Extension.MissingExtensionIdentifier"}'
        try:
            request = json.loads(body)
        except ValueError:
            return invalid("body is not JSON")
        if not isinstance(request, dict):
            return invalid("body is not a JSON object")
        if request.get("schemaVersion") not in SCHEMA_VERSIONS:
            return invalid("schemaVersion is missing or unknown")
        types = request.get("types")
        if not isinstance(types, list) or not types or not set(types) <= TYPES:
            return invalid("types should be a non-empty subset of platform, function, extension")
        destination = request.get("destination") or {}
        if destination.get("protocol") != "HTTP":
            return invalid("destination.protocol must be HTTP")
        uri = urllib.parse.urlsplit(destination.get("URI", ""))
        if uri.scheme != "http" or uri.hostname != "sandbox.localdomain" or not uri.port:
            return invalid("destination.URI must be http://sandbox.localdomain:<port>[/path]")
        buffering = request.get("buffering") or {}
        timeout_ms = buffering.get("timeoutMs", 1000)
        max_items = buffering.get("maxItems", 10000)
        max_bytes = buffering.get("maxBytes", 262144)
        if not 25 <= timeout_ms <= 30000 or not 1000 <= max_items <= 10000 or not 262144 <= max_bytes <= 1048576:
            return invalid("buffering out of bounds (timeoutMs 25-30000, maxItems 1000-10000, "
                           "maxBytes 262144-1048576)")
        with self.lock:
            self.subscriptions.append((200, body))
            self.subscribers.append(_Subscriber(destination["URI"], set(types), timeout_ms, max_items))
        return 200, b'"OK"'

    def _emit(self, event_type, record):
        event = {"time": _now_iso(), "type": event_type, "record": record}
        with self.lock:
            for s in self.subscribers:
                if "platform" in s.types:
                    if not s.buffer:
                        s.first_at = time.monotonic()
                    s.buffer.append(event)
            self.lock.notify_all()

    def _deliver_loop(self):
        while True:
            with self.lock:
                if self._stopping:
                    return
                now = time.monotonic()
                due = [s for s in self.subscribers
                       if s.buffer and (now - s.first_at >= s.timeout_s or len(s.buffer) >= s.max_items)]
                if not due:
                    waits = [s.first_at + s.timeout_s - now for s in self.subscribers if s.buffer]
                    self.lock.wait(timeout=max(0.001, min(waits)) if waits else 0.5)
                    continue
                batches = [(s.uri, s.buffer) for s in due]
                for s in due:
                    s.buffer, s.first_at = [], None
            for uri, events in batches:
                self._post(uri, events)

    def _post(self, uri, events):
        parts = urllib.parse.urlsplit(uri)
        body = json.dumps(events).encode()
        for attempt in range(5):
            try:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                conn.request("POST", parts.path or "/", body=body, headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
                if 200 <= status < 300:
                    with self.lock:
                        self.delivered.append((uri, events))
                    return
            except OSError:
                pass
            time.sleep(0.05 * (2 ** attempt))
