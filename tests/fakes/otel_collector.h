// The real OpenTelemetry Collector (tests/go/collector, built by
// scripts/install_deps.sh --test into .deps/bin/otelcol-gateway-test) as a
// child process, for tests that compare the gateway with it or put it in
// front of the gateway.
//
//   absl::StatusOr<std::string> binary = OtelCollector::FindBinary();
//   auto collector = OtelCollector::Start(*binary, [&](int port) {
//     return absl::StrCat("receivers: {otlp: {protocols: {http: {endpoint: 127.0.0.1:", port, "}}}}\n", ...);
//   });
//   int status = PostProtobuf(absl::StrCat((*collector)->http_url(), "/v1/metrics"), body);
//
// A test target that uses FindBinary lists "//tests/go/collector:go.sum" in
// its data (the binary is found next to the source tree it came from), or
// sets $GATEWAY_OTELCOL.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/fakes/child_process.h"

namespace gateway::testing {

class OtelCollector final {
 public:
  // $GATEWAY_OTELCOL, else <source tree>/.deps/bin/otelcol-gateway-test;
  // NotFound (saying to run scripts/install_deps.sh --test) if absent.
  static absl::StatusOr<std::string> FindBinary();

  // Picks a free loopback port, writes config(port) to a file under
  // $TEST_TMPDIR, runs the Collector on it and waits (up to `timeout`) until
  // its OTLP/HTTP receiver on that port answers an empty metrics request.
  // The config must put an OTLP/HTTP receiver on 127.0.0.1:<port> and
  // should set service.telemetry.metrics.level: none (no fixed ports).
  // Retries with another port if the Collector exits while starting.
  static absl::StatusOr<std::unique_ptr<OtelCollector>> Start(const std::string& binary,
                                                               const std::function<std::string(int port)>& config,
                                                               absl::Duration timeout = absl::Seconds(60));
  ~OtelCollector();  // SIGTERM, then SIGKILL after 10 s

  OtelCollector(const OtelCollector&) = delete;
  OtelCollector& operator=(const OtelCollector&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string http_url() const;
  // The Collector's stderr so far.
  std::string Log() const;

 private:
  OtelCollector() = default;

  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  std::string log_path_;
};

// POSTs `body` as application/x-protobuf; returns the HTTP status (0 when no
// answer within `timeout`) and, if `response` is given, the body.
int PostProtobuf(const std::string& url, const std::string& body, std::string* response = nullptr,
                 absl::Duration timeout = absl::Seconds(10));

}  // namespace gateway::testing
