#include "gateway/config/config.h"

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/config/config_values.h"
#include "gateway/config/yaml_section.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace gateway {
namespace {

constexpr std::string_view kDefaultConfigYaml = R"yaml(# otlp-reparent-gateway: the built-in configuration. Every key is optional;
# a file given with --config is read over these values.
receivers:
  grpc:
    enabled: true
    endpoint: 127.0.0.1:4317   # loopback: a sidecar's applications share it; set 0.0.0.0 for a service
    max_recv_msg_size_mib: 4
    tls: {cert_file: "", key_file: ""}
    auth: {bearer_token: ""}
  http:
    enabled: true
    endpoint: 127.0.0.1:4318
    max_request_body_mib: 16
    cors: {allowed_origins: []}
    tls: {cert_file: "", key_file: ""}
    auth: {bearer_token: ""}
    threads: 2
    max_connections: 1024
    min_body_bytes_per_second: 1024
admin:
  endpoint: 127.0.0.1:13133
  status_token: ""   # /status and /status.json off loopback need "Authorization: Bearer <it>"
reparent:
  target_kinds: [consumer]
  link_choice: first
  record_original: true
  fanout: true
  max_fanout_links: 32
  hold_window: 10s
  resolved_ttl: 5m
  max_held_spans: 1000000
  max_resolved_spans: 4000000
  cross_process: false
  wait_for_link_fate: true   # with cross_process; false in a tier without a fate store (docs/scale-out.md)
  shards: 0
  fate_store:                # shared with other gateways; docs/reparenting.md "Across gateways"
    type: none               # none | redis
    redis:
      address: 127.0.0.1:6379
      username: ""
      password: ""
      key_prefix: "otlpgw:fate:"
      tls: {enabled: false, ca_file: "", server_name: "", cert_file: "", key_file: ""}
    ttl: 10m
    timeout: 200ms
    connect_timeout: 1s
    max_wait: 5s
    publish_linger: 10ms
    publish_kinds: [producer]
batch:
  max_spans: 2000
  max_bytes: 4000000
  timeout: 200ms
exporter:
  type: auto   # dynatrace when a Dynatrace endpoint is set, else otlphttp when its endpoint is set, else debug
  dynatrace:
    endpoint: ${env:DT_ENDPOINT:-}
    api_token: ${env:DT_API_TOKEN:-}
    api_token_file: ""       # read at start-up and on SIGHUP instead of api_token
  otlphttp:
    endpoint: ${env:OTEL_EXPORTER_OTLP_ENDPOINT:-}
    headers: {}
  ca_file: ${env:DT_CA_FILE:-}   # PEM CA bundle for https targets; empty: the system's
  compression: gzip
  timeout: 10s
  retry:
    enabled: true
    initial_interval: 5s
    max_interval: 30s
    max_elapsed: 55m
  max_in_flight: 16
  limits:
    traces: {max_request_bytes: 8000000}
    metrics: {max_request_bytes: 4000000}
    logs: {max_request_bytes: 2000000}
metrics:
  cumulative_to_delta: auto  # auto: true when exporting to Dynatrace
  initial_value: auto
  max_series: 250000
  max_series_mib: 64
  series_ttl: 1h
  drop_summaries: auto       # auto: true when exporting to Dynatrace
  max_dimensions: auto       # auto: 50 when exporting to Dynatrace, else no limit
queue:
  memory_limit_mib: 256
  process_memory_limit_mib: 0
  admission_wait: 500ms   # a request waits this long for room before UNAVAILABLE / 503
  persistent:
    enabled: false
    directory: ""
    max_size_mib: 1024
shutdown:
  drain_timeout: 25s
  drain_delay: 0s     # readiness off, still receiving, before the drain (a trace-affine tier)
log:
  level: info
)yaml";

// ---------------------------------------------------------------------------
// Environment defaults (DT_ENDPOINT, DT_API_TOKEN, OTEL_EXPORTER_OTLP_*).

absl::StatusOr<std::string> PercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= text.size()) {
      return absl::InvalidArgumentError("OTEL_EXPORTER_OTLP_HEADERS: truncated %-escape");
    }
    for (int k = 1; k <= 2; ++k) {
      char c = text[i + k];
      int digit = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
      if (digit < 0) return absl::InvalidArgumentError("OTEL_EXPORTER_OTLP_HEADERS: bad %-escape");
      value = value * 16 + digit;
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

// OTEL_EXPORTER_OTLP_HEADERS: "k1=v1,k2=v2", values percent-encoded.
absl::Status ParseOtlpHeaders(std::string_view text, std::map<std::string, std::string>* out) {
  for (absl::string_view item : absl::StrSplit(ToAbsl(text), ',', absl::SkipWhitespace())) {
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError("OTEL_EXPORTER_OTLP_HEADERS: each entry must be key=value");
    }
    std::string name(absl::StripAsciiWhitespace(item.substr(0, eq)));
    std::string value;
    GATEWAY_ASSIGN_OR_RETURN(value, PercentDecode(absl::StripAsciiWhitespace(item.substr(eq + 1))));
    if (name.empty()) return absl::InvalidArgumentError("OTEL_EXPORTER_OTLP_HEADERS: empty header name");
    (*out)[absl::AsciiStrToLower(name)] = std::move(value);
  }
  return absl::OkStatus();
}

absl::Status ApplyEnvDefaults(const EnvLookup& env, GatewayConfig* config) {
  if (!env) return absl::OkStatus();
  if (auto v = env("DT_ENDPOINT"); v.has_value()) config->exporter.dynatrace.endpoint = *v;
  if (auto v = env("DT_API_TOKEN"); v.has_value()) config->exporter.dynatrace.api_token = *v;
  if (auto v = env("DT_CA_FILE"); v.has_value()) config->exporter.ca_file = *v;
  if (auto v = env("OTEL_EXPORTER_OTLP_ENDPOINT"); v.has_value()) config->exporter.otlphttp.endpoint = *v;
  if (auto v = env("OTEL_EXPORTER_OTLP_HEADERS"); v.has_value()) {
    GATEWAY_RETURN_IF_ERROR(ParseOtlpHeaders(*v, &config->exporter.otlphttp.headers));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Section parsers: each reads one part of the document into the config.

absl::Status ParseTls(const YamlSection& s, TlsConfig* tls) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"cert_file", "key_file"}));
  GATEWAY_RETURN_IF_ERROR(s.String("cert_file", &tls->cert_file));
  return s.String("key_file", &tls->key_file);
}

absl::Status ParseAuth(const YamlSection& s, AuthConfig* auth) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"bearer_token"}));
  return s.String("bearer_token", &auth->bearer_token);
}

absl::Status ParseReceivers(const YamlSection& s, GatewayConfig* config) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"grpc", "http"}));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection grpc, s.Sub("grpc"));
  GATEWAY_RETURN_IF_ERROR(grpc.CheckKeys({"enabled", "endpoint", "max_recv_msg_size_mib", "tls", "auth"}));
  GATEWAY_RETURN_IF_ERROR(grpc.Bool("enabled", &config->grpc.enabled));
  GATEWAY_RETURN_IF_ERROR(grpc.String("endpoint", &config->grpc.endpoint));
  GATEWAY_RETURN_IF_ERROR(grpc.Integer("max_recv_msg_size_mib", &config->grpc.max_recv_msg_size_mib, 1, 2047));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection grpc_tls, grpc.Sub("tls"));
  GATEWAY_RETURN_IF_ERROR(ParseTls(grpc_tls, &config->grpc.tls));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection grpc_auth, grpc.Sub("auth"));
  GATEWAY_RETURN_IF_ERROR(ParseAuth(grpc_auth, &config->grpc.auth));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection http, s.Sub("http"));
  GATEWAY_RETURN_IF_ERROR(
      http.CheckKeys({"enabled", "endpoint", "max_request_body_mib", "cors", "tls", "auth", "threads",
                      "max_connections", "min_body_bytes_per_second"}));
  GATEWAY_RETURN_IF_ERROR(http.Bool("enabled", &config->http.enabled));
  GATEWAY_RETURN_IF_ERROR(http.String("endpoint", &config->http.endpoint));
  GATEWAY_RETURN_IF_ERROR(http.Integer("max_request_body_mib", &config->http.max_request_body_mib, 1, 2047));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection cors, http.Sub("cors"));
  GATEWAY_RETURN_IF_ERROR(cors.CheckKeys({"allowed_origins"}));
  GATEWAY_RETURN_IF_ERROR(cors.StringList("allowed_origins", &config->http.cors_allowed_origins));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection http_tls, http.Sub("tls"));
  GATEWAY_RETURN_IF_ERROR(ParseTls(http_tls, &config->http.tls));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection http_auth, http.Sub("auth"));
  GATEWAY_RETURN_IF_ERROR(ParseAuth(http_auth, &config->http.auth));
  GATEWAY_RETURN_IF_ERROR(http.Integer("threads", &config->http.threads, 1, 256));
  GATEWAY_RETURN_IF_ERROR(http.Integer("max_connections", &config->http.max_connections, 1, 1 << 20));
  return http.Integer("min_body_bytes_per_second", &config->http.min_body_bytes_per_second, 0, 1 << 30);
}

absl::Status ParseReparent(const YamlSection& s, ReparentOptions* r) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"target_kinds", "link_choice", "record_original", "fanout",
                                       "max_fanout_links", "hold_window", "resolved_ttl", "max_held_spans",
                                       "max_resolved_spans", "cross_process", "wait_for_link_fate", "shards",
                                       "fate_store"}));
  if (s.Has("target_kinds")) {
    std::vector<std::string> kinds;
    GATEWAY_RETURN_IF_ERROR(s.StringList("target_kinds", &kinds));
    r->target_kinds.clear();
    for (size_t i = 0; i < kinds.size(); ++i) {
      SpanKind kind{};  // GCC 12 -O2 sees it as maybe-uninitialized once inlined into LoadConfigOver
      GATEWAY_RETURN_IF_ERROR(ParseSpanKind(kinds[i], absl::StrCat(s.Child("target_kinds"), "[", i, "]"), &kind));
      r->target_kinds.push_back(kind);
    }
  }
  std::string choice;
  GATEWAY_RETURN_IF_ERROR(s.String("link_choice", &choice));
  if (choice == "first") {
    r->link_choice = LinkChoice::kFirst;
  } else if (choice == "last") {
    r->link_choice = LinkChoice::kLast;
  } else if (!choice.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.Child("link_choice"), ": must be first or last, got \"", choice, "\""));
  }
  GATEWAY_RETURN_IF_ERROR(s.Bool("record_original", &r->record_original));
  GATEWAY_RETURN_IF_ERROR(s.Bool("fanout", &r->fanout));
  GATEWAY_RETURN_IF_ERROR(s.Integer("max_fanout_links", &r->max_fanout_links, 0, 1'000'000));
  GATEWAY_RETURN_IF_ERROR(s.Duration("hold_window", &r->hold_window));
  GATEWAY_RETURN_IF_ERROR(s.Duration("resolved_ttl", &r->resolved_ttl));
  GATEWAY_RETURN_IF_ERROR(s.Integer("max_held_spans", &r->max_held_spans, 0, int64_t{1} << 40));
  GATEWAY_RETURN_IF_ERROR(s.Integer("max_resolved_spans", &r->max_resolved_spans, 0, int64_t{1} << 40));
  GATEWAY_RETURN_IF_ERROR(s.Bool("cross_process", &r->cross_process));
  GATEWAY_RETURN_IF_ERROR(s.Bool("wait_for_link_fate", &r->wait_for_link_fate));
  return s.Integer("shards", &r->shards, 0, 1024);
}

absl::Status ParseFateStore(const YamlSection& s, FateStoreConfig* f) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys(
      {"type", "redis", "ttl", "timeout", "connect_timeout", "max_wait", "publish_linger", "publish_kinds"}));
  std::string type;
  GATEWAY_RETURN_IF_ERROR(s.String("type", &type));
  if (type == "none") {
    f->type = FateStoreType::kNone;
  } else if (type == "redis") {
    f->type = FateStoreType::kRedis;
  } else if (!type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(s.Child("type"), ": must be none or redis, got \"", type, "\""));
  }
  GATEWAY_ASSIGN_OR_RETURN(YamlSection redis, s.Sub("redis"));
  GATEWAY_RETURN_IF_ERROR(redis.CheckKeys({"address", "username", "password", "key_prefix", "tls"}));
  GATEWAY_RETURN_IF_ERROR(redis.String("address", &f->redis.address));
  GATEWAY_RETURN_IF_ERROR(redis.String("username", &f->redis.username));
  GATEWAY_RETURN_IF_ERROR(redis.String("password", &f->redis.password));
  GATEWAY_RETURN_IF_ERROR(redis.String("key_prefix", &f->redis.key_prefix));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection tls, redis.Sub("tls"));
  GATEWAY_RETURN_IF_ERROR(tls.CheckKeys({"enabled", "ca_file", "server_name", "cert_file", "key_file"}));
  GATEWAY_RETURN_IF_ERROR(tls.Bool("enabled", &f->redis.tls.enabled));
  GATEWAY_RETURN_IF_ERROR(tls.String("ca_file", &f->redis.tls.ca_file));
  GATEWAY_RETURN_IF_ERROR(tls.String("server_name", &f->redis.tls.server_name));
  GATEWAY_RETURN_IF_ERROR(tls.String("cert_file", &f->redis.tls.cert_file));
  GATEWAY_RETURN_IF_ERROR(tls.String("key_file", &f->redis.tls.key_file));
  GATEWAY_RETURN_IF_ERROR(s.Duration("ttl", &f->ttl));
  GATEWAY_RETURN_IF_ERROR(s.Duration("timeout", &f->timeout));
  GATEWAY_RETURN_IF_ERROR(s.Duration("connect_timeout", &f->connect_timeout));
  GATEWAY_RETURN_IF_ERROR(s.Duration("max_wait", &f->max_wait));
  GATEWAY_RETURN_IF_ERROR(s.Duration("publish_linger", &f->publish_linger));
  if (s.Has("publish_kinds")) {
    std::vector<std::string> kinds;
    GATEWAY_RETURN_IF_ERROR(s.StringList("publish_kinds", &kinds));
    f->publish_kinds.clear();
    for (size_t i = 0; i < kinds.size(); ++i) {
      SpanKind kind;
      GATEWAY_RETURN_IF_ERROR(ParseSpanKind(kinds[i], absl::StrCat(s.Child("publish_kinds"), "[", i, "]"), &kind));
      f->publish_kinds.push_back(kind);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseExporter(const YamlSection& s, ExporterConfig* e) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"type", "dynatrace", "otlphttp", "ca_file", "compression", "timeout",
                                       "retry", "max_in_flight", "limits"}));
  std::string type;
  GATEWAY_RETURN_IF_ERROR(s.String("type", &type));
  if (!type.empty()) GATEWAY_RETURN_IF_ERROR(ParseExporterType(type, s.Child("type"), &e->type));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection dt, s.Sub("dynatrace"));
  GATEWAY_RETURN_IF_ERROR(dt.CheckKeys({"endpoint", "api_token", "api_token_file", "allow_insecure_http"}));
  GATEWAY_RETURN_IF_ERROR(dt.String("endpoint", &e->dynatrace.endpoint));
  GATEWAY_RETURN_IF_ERROR(dt.String("api_token", &e->dynatrace.api_token));
  GATEWAY_RETURN_IF_ERROR(dt.String("api_token_file", &e->dynatrace.api_token_file));
  GATEWAY_RETURN_IF_ERROR(dt.Bool("allow_insecure_http", &e->dynatrace.allow_insecure_http));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection otlp, s.Sub("otlphttp"));
  GATEWAY_RETURN_IF_ERROR(otlp.CheckKeys({"endpoint", "headers"}));
  GATEWAY_RETURN_IF_ERROR(otlp.String("endpoint", &e->otlphttp.endpoint));
  GATEWAY_RETURN_IF_ERROR(otlp.StringMap("headers", &e->otlphttp.headers));

  GATEWAY_RETURN_IF_ERROR(s.String("ca_file", &e->ca_file));
  std::string compression;
  GATEWAY_RETURN_IF_ERROR(s.String("compression", &compression));
  if (compression == "gzip") {
    e->compression = Compression::kGzip;
  } else if (compression == "none") {
    e->compression = Compression::kNone;
  } else if (!compression.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.Child("compression"), ": must be gzip or none, got \"", compression, "\""));
  }
  GATEWAY_RETURN_IF_ERROR(s.Duration("timeout", &e->timeout));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection retry, s.Sub("retry"));
  GATEWAY_RETURN_IF_ERROR(retry.CheckKeys({"enabled", "initial_interval", "max_interval", "max_elapsed"}));
  GATEWAY_RETURN_IF_ERROR(retry.Bool("enabled", &e->retry.enabled));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("initial_interval", &e->retry.initial_interval));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("max_interval", &e->retry.max_interval));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("max_elapsed", &e->retry.max_elapsed));

  GATEWAY_RETURN_IF_ERROR(s.Integer("max_in_flight", &e->max_in_flight, 1, 1024));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection limits, s.Sub("limits"));
  GATEWAY_RETURN_IF_ERROR(limits.CheckKeys({"traces", "metrics", "logs"}));
  for (auto [name, target] : {std::pair<std::string_view, SignalLimits*>{"traces", &e->limits.traces},
                              {"metrics", &e->limits.metrics},
                              {"logs", &e->limits.logs}}) {
    GATEWAY_ASSIGN_OR_RETURN(YamlSection signal, limits.Sub(name));
    GATEWAY_RETURN_IF_ERROR(signal.CheckKeys({"max_request_bytes"}));
    GATEWAY_RETURN_IF_ERROR(
        signal.Integer("max_request_bytes", &target->max_request_bytes, 1024, int64_t{1} << 31));
  }
  return absl::OkStatus();
}

// Reads `key` with `parse` when it is present and not empty.
template <typename T, typename Parse>
absl::Status ParseWith(const YamlSection& s, std::string_view key, Parse parse, T* out) {
  std::string text;
  GATEWAY_RETURN_IF_ERROR(s.String(key, &text));
  if (text.empty()) return absl::OkStatus();
  return parse(text, s.Child(key), out);
}

absl::Status ParseMetrics(const YamlSection& s, MetricsConfig* m) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"cumulative_to_delta", "initial_value", "max_series", "max_series_mib",
                                       "series_ttl", "drop_summaries", "max_dimensions"}));
  GATEWAY_RETURN_IF_ERROR(ParseWith(s, "cumulative_to_delta", ParseAutoBool, &m->cumulative_to_delta));
  GATEWAY_RETURN_IF_ERROR(ParseWith(s, "initial_value", ParseInitialValue, &m->initial_value));
  GATEWAY_RETURN_IF_ERROR(ParseWith(s, "drop_summaries", ParseAutoBool, &m->drop_summaries));
  GATEWAY_RETURN_IF_ERROR(ParseWith(s, "max_dimensions", ParseMaxDimensions, &m->max_dimensions));
  GATEWAY_RETURN_IF_ERROR(s.Integer("max_series", &m->max_series, 1, int64_t{1} << 40));
  GATEWAY_RETURN_IF_ERROR(s.Integer("max_series_mib", &m->max_series_mib, 1, 1 << 20));
  return s.Duration("series_ttl", &m->series_ttl);
}

absl::Status ParseDocument(const YAML::Node& root, const EnvLookup& env, GatewayConfig* config) {
  YamlSection top(root, "", env);
  GATEWAY_RETURN_IF_ERROR(
      top.CheckKeys({"receivers", "admin", "reparent", "batch", "exporter", "metrics", "queue", "shutdown", "log"}));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection receivers, top.Sub("receivers"));
  GATEWAY_RETURN_IF_ERROR(ParseReceivers(receivers, config));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection admin, top.Sub("admin"));
  GATEWAY_RETURN_IF_ERROR(admin.CheckKeys({"endpoint", "status_token"}));
  GATEWAY_RETURN_IF_ERROR(admin.String("endpoint", &config->admin.endpoint));
  GATEWAY_RETURN_IF_ERROR(admin.String("status_token", &config->admin.status_token));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection reparent, top.Sub("reparent"));
  GATEWAY_RETURN_IF_ERROR(ParseReparent(reparent, &config->reparent));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection fate_store, reparent.Sub("fate_store"));
  GATEWAY_RETURN_IF_ERROR(ParseFateStore(fate_store, &config->fate_store));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection batch, top.Sub("batch"));
  GATEWAY_RETURN_IF_ERROR(batch.CheckKeys({"max_spans", "max_bytes", "timeout"}));
  GATEWAY_RETURN_IF_ERROR(batch.Integer("max_spans", &config->batch.max_spans, 1, 10'000'000));
  GATEWAY_RETURN_IF_ERROR(batch.Integer("max_bytes", &config->batch.max_bytes, 1024, int64_t{1} << 31));
  GATEWAY_RETURN_IF_ERROR(batch.Duration("timeout", &config->batch.timeout));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection exporter, top.Sub("exporter"));
  GATEWAY_RETURN_IF_ERROR(ParseExporter(exporter, &config->exporter));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection metrics, top.Sub("metrics"));
  GATEWAY_RETURN_IF_ERROR(ParseMetrics(metrics, &config->metrics));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection queue, top.Sub("queue"));
  GATEWAY_RETURN_IF_ERROR(
      queue.CheckKeys({"memory_limit_mib", "process_memory_limit_mib", "admission_wait", "persistent"}));
  GATEWAY_RETURN_IF_ERROR(queue.Integer("memory_limit_mib", &config->queue.memory_limit_mib, 1, 1 << 20));
  GATEWAY_RETURN_IF_ERROR(
      queue.Integer("process_memory_limit_mib", &config->queue.process_memory_limit_mib, -1, 1 << 20));
  GATEWAY_RETURN_IF_ERROR(queue.Duration("admission_wait", &config->queue.admission_wait));
  GATEWAY_ASSIGN_OR_RETURN(YamlSection persistent, queue.Sub("persistent"));
  GATEWAY_RETURN_IF_ERROR(persistent.CheckKeys({"enabled", "directory", "max_size_mib"}));
  GATEWAY_RETURN_IF_ERROR(persistent.Bool("enabled", &config->queue.persistent.enabled));
  GATEWAY_RETURN_IF_ERROR(persistent.String("directory", &config->queue.persistent.directory));
  GATEWAY_RETURN_IF_ERROR(
      persistent.Integer("max_size_mib", &config->queue.persistent.max_size_mib, 1, int64_t{1} << 30));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection shutdown, top.Sub("shutdown"));
  GATEWAY_RETURN_IF_ERROR(shutdown.CheckKeys({"drain_timeout", "drain_delay"}));
  GATEWAY_RETURN_IF_ERROR(shutdown.Duration("drain_timeout", &config->shutdown.drain_timeout));
  GATEWAY_RETURN_IF_ERROR(shutdown.Duration("drain_delay", &config->shutdown.drain_delay));

  GATEWAY_ASSIGN_OR_RETURN(YamlSection log, top.Sub("log"));
  GATEWAY_RETURN_IF_ERROR(log.CheckKeys({"level"}));
  std::string level;
  GATEWAY_RETURN_IF_ERROR(log.String("level", &level));
  if (!level.empty()) GATEWAY_RETURN_IF_ERROR(ParseLogLevelValue(level, log.Child("level"), &config->log.level));
  return absl::OkStatus();
}

}  // namespace

std::string_view DefaultConfigYaml() { return kDefaultConfigYaml; }

absl::StatusOr<GatewayConfig> LoadConfig(std::string_view yaml_text, const EnvLookup& env) {
  return LoadConfigOver(GatewayConfig{}, yaml_text, env);
}

absl::StatusOr<GatewayConfig> LoadConfigOver(GatewayConfig config, std::string_view yaml_text, const EnvLookup& env) {
  GATEWAY_RETURN_IF_ERROR(ApplyEnvDefaults(env, &config));
  // yaml-cpp reports errors by throwing; this is the boundary.
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    GATEWAY_RETURN_IF_ERROR(ParseDocument(root, env, &config));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
  return config;
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("config file ", path, ": read error"));
  absl::StatusOr<GatewayConfig> config = LoadConfig(buffer.str(), env);
  if (!config.ok()) {
    return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<GatewayConfig> LoadDefaultConfig(const EnvLookup& env) { return LoadConfig("", env); }

}  // namespace gateway
