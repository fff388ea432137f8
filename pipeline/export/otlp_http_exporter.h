// An Exporter that POSTs OTLP/HTTP protobuf requests to a collector endpoint,
// made for the Dynatrace OTLP API (`{env}/api/v2/otlp/v1/{traces,metrics,logs}`,
// `Authorization: Api-Token ...`, protobuf bodies only, optional gzip).
//
//   OtlpHttpExporterOptions options = ForDynatrace(
//       "https://abc12345.live.dynatrace.com/api/v2/otlp", token);
//   std::unique_ptr<Exporter> exporter =
//       NewOtlpHttpExporter(options, registry, RealClock());
//   exporter->Export(std::move(request));   // any thread, never blocks
//   exporter->Shutdown(absl::Now() + absl::Seconds(25));
//
// One exporter thread drives an HttpTransport (libcurl's multi interface,
// curl_http_transport.h, unless a test passes its own).
//
// Requests over the per-signal limits are split (SplitExportRequest) before
// sending. What follows an attempt is RetryPolicy's call (retry_policy.h):
// network errors, 408, 429, 502, 503 and 504 are retried with exponential
// backoff and jitter, honouring Retry-After; 413 splits the body in halves;
// other 4xx and 5xx responses reject the request (counted and logged with
// the start of the response body, header values redacted). Retrying stops
// when the oldest item would be older than `retry.max_item_age` (Dynatrace
// drops spans that ended more than an hour ago) or at the Shutdown deadline.
// A 2xx response's partial_success is counted (export_metrics.h lists the
// counters).
//
// Dynatrace accepts metrics with delta temporality only; this exporter passes
// metrics through unchanged, so cumulative metrics must be converted upstream
// (e.g. by the SDK's temporality preference) or they are rejected by the API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/base/clock.h"
#include "pipeline/export/exporter.h"
#include "pipeline/export/http_transport.h"
#include "pipeline/export/replaceable_header.h"
#include "pipeline/export/retry_policy.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/signal.h"

namespace gateway {

struct OtlpHttpExporterOptions {
  // Base URL; "/v1/traces", "/v1/metrics" and "/v1/logs" are appended
  // (a trailing slash on the base is ignored).
  std::string endpoint;
  // Full per-signal URLs, used as is when non-empty (like
  // OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT). Indexed by Signal.
  std::string signal_endpoint[kSignalCount];
  // Extra request headers, e.g. {"Authorization", "Api-Token dt0c01..."}.
  // Values are never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, a header whose value may be replaced while the exporter runs
  // (the API token re-read on SIGHUP): sent instead of any header of the
  // same name in `headers`, with its value when each attempt starts.
  std::shared_ptr<const ReplaceableHeader> replaceable_header;

  // Sends bodies with Content-Encoding: gzip (GzipCompressFast).
  bool gzip = true;

  // PEM bundle of the CAs to trust for HTTPS; empty: libcurl's built-in
  // default (Debian's: /etc/ssl/certs/ca-certificates.crt).
  std::string ca_file;

  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(30);

  // Uncompressed request size limits per signal (Dynatrace: traces 8 MB,
  // metrics 4 MB, logs 2 MB) and the metrics data point limit (15,000).
  size_t max_request_bytes[kSignalCount] = {8'000'000, 4'000'000, 2'000'000};
  int64_t max_metric_data_points = 15'000;

  // HTTP requests in flight at once, over all signals.
  int max_concurrent_requests = 4;

  // Backoff, Retry-After bound and jitter seed of retries, and the age past
  // which a request is given up (the age counts from ExportRequest's
  // oldest_item_time, or from its arrival when that is unknown).
  RetryPolicyOptions retry;

  // While a Flush waits, failed attempts are retried after at most this
  // (or the target's Retry-After), not after their backoff.
  absl::Duration flush_retry_interval = absl::Milliseconds(100);

  // Healthy() turns false once every attempt has failed for this long.
  absl::Duration unhealthy_after = absl::Seconds(60);

  // How much of an error response body goes into the log.
  size_t max_logged_response_bytes = 512;

  // Splits a serialized request into parts within (max_bytes, max_items);
  // SplitExportRequest from pipeline/otlp/otlp_wire.h when empty. Counts items
  // with CountItems when `count_items` is empty.
  std::function<std::vector<std::string>(Signal, std::string_view, size_t, int64_t)> splitter;
  std::function<int64_t(Signal, std::string_view)> count_items;
};

// Options for the Dynatrace OTLP API: `endpoint` is the OTLP base, e.g.
// "https://{env-id}.live.dynatrace.com/api/v2/otlp" or an ActiveGate's
// ".../e/{env-id}/api/v2/otlp"; `api_token` needs the openTelemetryTrace.ingest,
// metrics.ingest and logs.ingest scopes.
OtlpHttpExporterOptions ForDynatrace(std::string endpoint, std::string api_token);

// The URL a signal is posted to under `options`.
std::string ExportUrl(const OtlpHttpExporterOptions& options, Signal signal);

// Starts the exporter thread. on_done runs on the exporter thread, except
// for requests passed to Export after Shutdown: those are given up at once on
// the caller's thread. Counters and gauges are registered in
// `registry`, which must outlive the exporter; so must `clock`. The exporter
// thread is joined by Shutdown or the destructor (which gives up what is left
// immediately).
std::unique_ptr<Exporter> NewOtlpHttpExporter(const OtlpHttpExporterOptions& options,
                                              MetricsRegistry& registry, const Clock& clock);

// The same, sending through `transport` (which the exporter owns) instead of
// libcurl; the transport options derived from `options` are then the
// caller's business (ExportTransportOptions gives them).
std::unique_ptr<Exporter> NewOtlpHttpExporter(const OtlpHttpExporterOptions& options,
                                              MetricsRegistry& registry, const Clock& clock,
                                              std::unique_ptr<HttpTransport> transport);

// What the libcurl transport is built with: Content-Type
// application/x-protobuf, Content-Encoding gzip when `gzip`, then `headers`;
// the timeouts; max_concurrent_requests connections.
HttpTransportOptions ExportTransportOptions(const OtlpHttpExporterOptions& options);

}  // namespace gateway
