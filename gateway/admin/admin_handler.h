// The admin endpoints, served by the HTTP server on admin.endpoint:
//
//   GET /healthz      200 "ok" while the process is live (503 otherwise)
//   GET /readyz       200 when receivers are up and the exporter is healthy,
//                     else 503 with the reason
//   GET /metrics      Prometheus text format 0.0.4 from the MetricsRegistry
//   GET /status       an HTML page: configuration in effect, throughput over
//                     the last minute, the latest reparent decisions
//   GET /status.json  the same data as JSON
//
// /status and /status.json show span names and trace ids: they answer
// clients on loopback, and others only with "Authorization: Bearer
// <status_token>" (403 otherwise, and always when no token is set). The
// probes and /metrics answer everyone.
//
// Any other path is 404; any method but GET and HEAD is 405.
//
//   AdminProbes probes;
//   probes.ready = [&] { return Readiness{receivers.Up() && exporter->Healthy(), "exporter failing"}; };
//   probes.throughput = [&] { return ThroughputTotals{...counter values...}; };
//   probes.recent_decisions = [&] { return engine.RecentDecisions(); };
//   AdminHandler admin(registry, RealClock(), RenderEffectiveConfig(config), std::move(probes),
//                      ConfigSecrets(config));
//   HttpServer server(..., &admin);
//
// Every response body is scrubbed of the given secrets, whatever a probe
// returns.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gateway/receivers/http_handler.h"
#include "pipeline/base/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"

namespace gateway {

struct Readiness {
  bool ready = true;
  // Why not ready; shown in the 503 body and on the status page.
  std::string reason;
};

// One consumer span that was given its producer as parent.
struct DecisionRow {
  absl::Time time;
  std::string original_trace_id;  // 32 lower-case hex digits
  std::string new_trace_id;       // 32 lower-case hex digits
  std::string span_id;            // 16 lower-case hex digits
  std::string span_name;          // as sent by the application: untrusted
};

// Cumulative counts since start; the handler turns them into rates.
struct ThroughputTotals {
  int64_t spans_received = 0;
  int64_t spans_reparented = 0;
  int64_t spans_exported = 0;
};

// Called from HTTP server threads, concurrently; must be thread-safe and
// must not block. Unset probes read as live / ready / nothing.
struct AdminProbes {
  std::function<bool()> live;
  std::function<Readiness()> ready;
  // Most recent first; the page shows at most kMaxDecisionsShown.
  std::function<std::vector<DecisionRow>()> recent_decisions;
  std::function<ThroughputTotals()> throughput;
  // The shared fate store's state as label / value rows; unset: no store
  // (the page leaves the section out).
  std::function<std::vector<std::pair<std::string, std::string>>()> fate_store;
};

// Spans/s over the sampling window, or -1 while there is no earlier sample.
struct ThroughputRates {
  double received_per_s = -1;
  double reparented_per_s = -1;
  double exported_per_s = -1;
  absl::Duration window;  // the span of time the rates cover
  ThroughputTotals totals;
};

class AdminHandler final : public HttpHandler {
 public:
  static constexpr size_t kMaxDecisionsShown = 50;
  // Rates cover up to this much history.
  static constexpr absl::Duration kRateWindow = absl::Minutes(1);

  // `registry` and `clock` must outlive the handler. `effective_config` is
  // shown as is (render it with RenderEffectiveConfig, which redacts
  // secrets); `secrets` are also scrubbed from every response.
  AdminHandler(MetricsRegistry& registry, const Clock& clock, std::string effective_config, AdminProbes probes,
               std::vector<std::string> secrets = {}, std::string status_token = "");

  // Thread-safe.
  HttpResponse Handle(HttpRequest request) override;

  // Takes a throughput sample at the clock's current time and returns the
  // rates over the last minute. Thread-safe. For the status pages and tests.
  ThroughputRates SampleThroughput();

 private:
  struct Sample {
    absl::Time time;
    ThroughputTotals totals;
  };

  bool StatusAllowed(const HttpRequest& request) const;
  HttpResponse Healthz();
  HttpResponse Readyz();
  HttpResponse Metrics();
  HttpResponse StatusHtml();
  HttpResponse StatusJson();
  std::vector<DecisionRow> Decisions();
  Readiness CurrentReadiness();
  std::string Scrub(std::string text) const;

  MetricsRegistry& registry_;
  const Clock& clock_;
  const std::string effective_config_;
  const AdminProbes probes_;
  const std::vector<std::string> secrets_;
  const std::string status_token_;
  const absl::Time started_;
  Counter* requests_ok_;
  Counter* requests_not_found_;
  Counter* requests_forbidden_;
  Counter* requests_bad_method_;

  Mutex mu_;
  // Oldest first; at most one sample per second within the window, plus the
  // newest sample older than the window as the baseline.
  std::deque<Sample> samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway
