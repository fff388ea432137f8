#include "gateway/config/config.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config/config_values.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {
namespace {

// YAML double-quoted strings are JSON strings.

std::string Q(std::string_view s) { return absl::StrCat("\"", JsonEscape(s), "\""); }
std::string D(absl::Duration d) { return Q(ToStd(absl::FormatDuration(d))); }
std::string B(bool b) { return b ? "true" : "false"; }
std::string Secret(const std::string& s) { return s.empty() ? Q("") : Q(kRedacted); }

}  // namespace

std::string RenderEffectiveConfig(const GatewayConfig& c) {
  auto tls = [](const TlsConfig& t) {
    return absl::StrCat("{cert_file: ", Q(t.cert_file), ", key_file: ", Q(t.key_file), "}");
  };
  std::vector<std::string> kinds;
  for (SpanKind k : c.reparent.target_kinds) kinds.emplace_back(SpanKindName(k));
  std::vector<std::string> origins;
  for (const std::string& o : c.http.cors_allowed_origins) origins.push_back(Q(o));
  std::vector<std::string> headers;
  for (const auto& [name, value] : c.exporter.otlphttp.headers) {
    headers.push_back(absl::StrCat(Q(name), ": ", Secret(value)));
  }
  const ExporterConfig& e = c.exporter;
  std::string out;
  absl::StrAppend(&out, "receivers:\n  grpc:\n    enabled: ", B(c.grpc.enabled), "\n    endpoint: ",
                  Q(c.grpc.endpoint), "\n    max_recv_msg_size_mib: ", c.grpc.max_recv_msg_size_mib,
                  "\n    tls: ", tls(c.grpc.tls), "\n    auth: {bearer_token: ", Secret(c.grpc.auth.bearer_token),
                  "}\n");
  absl::StrAppend(&out, "  http:\n    enabled: ", B(c.http.enabled), "\n    endpoint: ", Q(c.http.endpoint),
                  "\n    max_request_body_mib: ", c.http.max_request_body_mib, "\n    cors: {allowed_origins: [",
                  absl::StrJoin(origins, ", "), "]}\n    tls: ", tls(c.http.tls),
                  "\n    auth: {bearer_token: ", Secret(c.http.auth.bearer_token), "}\n    threads: ", c.http.threads,
                  "\n    max_connections: ", c.http.max_connections,
                  "\n    min_body_bytes_per_second: ", c.http.min_body_bytes_per_second, "\n");
  absl::StrAppend(&out, "admin:\n  endpoint: ", Q(c.admin.endpoint), "\n");
  const ReparentOptions& r = c.reparent;
  absl::StrAppend(&out, "reparent:\n  target_kinds: [", absl::StrJoin(kinds, ", "), "]\n  link_choice: ",
                  r.link_choice == LinkChoice::kFirst ? "first" : "last", "\n  record_original: ",
                  B(r.record_original), "\n  fanout: ", B(r.fanout), "\n  max_fanout_links: ", r.max_fanout_links,
                  "\n  hold_window: ", D(r.hold_window), "\n  resolved_ttl: ", D(r.resolved_ttl),
                  "\n  max_held_spans: ", r.max_held_spans, "\n  max_resolved_spans: ", r.max_resolved_spans,
                  "\n  cross_process: ", B(r.cross_process), "\n  wait_for_link_fate: ", B(r.wait_for_link_fate),
                  "\n  shards: ", r.shards, "\n");
  const FateStoreConfig& f = c.fate_store;
  std::vector<std::string> publish_kinds;
  for (SpanKind k : f.publish_kinds) publish_kinds.emplace_back(SpanKindName(k));
  absl::StrAppend(&out, "  fate_store:\n    type: ", ToAbsl(FateStoreTypeName(f.type)), "\n    redis:\n      address: ",
                  Q(f.redis.address), "\n      username: ", Q(f.redis.username), "\n      password: ",
                  Secret(f.redis.password), "\n      key_prefix: ", Q(f.redis.key_prefix),
                  "\n      tls: {enabled: ", B(f.redis.tls.enabled), ", ca_file: ", Q(f.redis.tls.ca_file),
                  ", server_name: ", Q(f.redis.tls.server_name), ", cert_file: ", Q(f.redis.tls.cert_file),
                  ", key_file: ", Q(f.redis.tls.key_file), "}\n    ttl: ", D(f.ttl), "\n    timeout: ", D(f.timeout),
                  "\n    connect_timeout: ", D(f.connect_timeout), "\n    max_wait: ", D(f.max_wait),
                  "\n    publish_linger: ", D(f.publish_linger),
                  "\n    publish_kinds: [", absl::StrJoin(publish_kinds, ", "), "]\n");
  absl::StrAppend(&out, "batch:\n  max_spans: ", c.batch.max_spans, "\n  max_bytes: ", c.batch.max_bytes,
                  "\n  timeout: ", D(c.batch.timeout), "\n");
  absl::StrAppend(&out, "exporter:\n  type: ", ToAbsl(ExporterTypeName(e.type)), "  # in effect: ",
                  ToAbsl(ExporterTypeName(ResolveExporterType(c))), "\n  dynatrace:\n    endpoint: ",
                  Q(e.dynatrace.endpoint), "\n    api_token: ", Secret(e.dynatrace.api_token),
                  "\n    api_token_file: ", Q(e.dynatrace.api_token_file),
                  "\n  otlphttp:\n    endpoint: ", Q(e.otlphttp.endpoint), "\n    headers: {",
                  absl::StrJoin(headers, ", "), "}\n  ca_file: ", Q(e.ca_file), "\n  compression: ",
                  e.compression == Compression::kGzip ? "gzip" : "none", "\n  timeout: ", D(e.timeout),
                  "\n  retry:\n    enabled: ", B(e.retry.enabled), "\n    initial_interval: ",
                  D(e.retry.initial_interval), "\n    max_interval: ", D(e.retry.max_interval),
                  "\n    max_elapsed: ", D(e.retry.max_elapsed), "\n  max_in_flight: ", e.max_in_flight,
                  "\n  limits:\n    traces: {max_request_bytes: ", e.limits.traces.max_request_bytes,
                  "}\n    metrics: {max_request_bytes: ", e.limits.metrics.max_request_bytes,
                  "}\n    logs: {max_request_bytes: ", e.limits.logs.max_request_bytes, "}\n");
  absl::StrAppend(&out, "metrics:\n",
                  RenderMetricsConfig(c.metrics, ResolveExporterType(c) == ExporterType::kDynatrace));
  absl::StrAppend(&out, "queue:\n  memory_limit_mib: ", c.queue.memory_limit_mib,
                  "\n  process_memory_limit_mib: ", c.queue.process_memory_limit_mib,
                  "\n  admission_wait: ", D(c.queue.admission_wait),
                  "\n  persistent:\n    enabled: ", B(c.queue.persistent.enabled),
                  "\n    directory: ", Q(c.queue.persistent.directory),
                  "\n    max_size_mib: ", c.queue.persistent.max_size_mib, "\n");
  absl::StrAppend(&out, "shutdown:\n  drain_timeout: ", D(c.shutdown.drain_timeout),
                  "\n  drain_delay: ", D(c.shutdown.drain_delay), "\n");
  absl::StrAppend(&out, "log:\n  level: ", ToAbsl(LogLevelName(c.log.level)), "\n");
  return out;
}

}  // namespace gateway
