#include "gateway/config.h"

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pipeline/absl_compat.h"
#include "pipeline/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace gateway {
namespace {

constexpr std::string_view kDefaultConfigYaml = R"yaml(# otlp-reparent-gateway: the built-in configuration. Every key is optional;
# a file given with --config is read over these values.
receivers:
  grpc:
    enabled: true
    endpoint: 0.0.0.0:4317
    max_recv_msg_size_mib: 4
    tls: {cert_file: "", key_file: ""}
    auth: {bearer_token: ""}
  http:
    enabled: true
    endpoint: 0.0.0.0:4318
    max_request_body_mib: 16
    cors: {allowed_origins: []}
    tls: {cert_file: "", key_file: ""}
    auth: {bearer_token: ""}
    threads: 2
admin:
  endpoint: 127.0.0.1:13133
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
  shards: 0
batch:
  max_spans: 2000
  max_bytes: 4000000
  timeout: 200ms
exporter:
  type: auto   # dynatrace when a Dynatrace endpoint is set, else otlphttp when its endpoint is set, else debug
  dynatrace:
    endpoint: ${env:DT_ENDPOINT:-}
    api_token: ${env:DT_API_TOKEN:-}
  otlphttp:
    endpoint: ${env:OTEL_EXPORTER_OTLP_ENDPOINT:-}
    headers: {}
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
queue:
  memory_limit_mib: 256
  process_memory_limit_mib: 0
  persistent:
    enabled: false
    directory: ""
    max_size_mib: 1024
shutdown:
  drain_timeout: 25s
log:
  level: info
)yaml";

// ---------------------------------------------------------------------------
// Scalars.

absl::Status ParseConfigDuration(std::string_view text, std::string_view key, absl::Duration* out) {
  absl::Duration d;
  if (!absl::ParseDuration(ToAbsl(text), &d) || d == absl::InfiniteDuration() || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": invalid duration \"", ToAbsl(text),
                                                   "\" (use a number with a unit, e.g. 200ms, 10s, 5m, 1h)"));
  }
  *out = d;
  return absl::OkStatus();
}

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


// ---------------------------------------------------------------------------
// ${env:VAR} and ${env:VAR:-default}

absl::StatusOr<std::string> SubstituteEnv(std::string_view text, std::string_view key,
                                          const EnvLookup& env) {
  constexpr std::string_view kOpen = "${env:";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = text.find(kOpen, pos);
    if (start == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, start - pos));
    size_t close = text.find('}', start);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(key), ": unterminated ${env:...} reference"));
    }
    std::string_view body = text.substr(start + kOpen.size(), close - start - kOpen.size());
    std::string_view name = body;
    std::optional<std::string_view> fallback;
    if (size_t sep = body.find(":-"); sep != std::string_view::npos) {
      name = body.substr(0, sep);
      fallback = body.substr(sep + 2);
    }
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": empty variable name in ${env:}"));
    }
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (value.has_value() && !(value->empty() && fallback.has_value())) {
      out.append(*value);
    } else if (fallback.has_value()) {
      out.append(*fallback);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": environment variable ", ToAbsl(name),
                                                     " is not set (write ${env:", ToAbsl(name),
                                                     ":-default} to give a default)"));
    }
    pos = close + 1;
  }
}

// ---------------------------------------------------------------------------
// A map node of the document, with its dotted path for error messages.

class Section {
 public:
  Section(YAML::Node node, std::string path, const EnvLookup& env)
      : node_(std::move(node)), path_(std::move(path)), env_(env) {}

  // Every key must be in `allowed`, and appear once.
  absl::Status CheckKeys(std::initializer_list<std::string_view> allowed) const {
    if (!node_.IsDefined() || node_.IsNull()) return absl::OkStatus();
    if (!node_.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(Label(), "must be a map of keys"));
    }
    std::set<std::string, std::less<>> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat(Label(), "keys must be plain strings"));
      }
      const std::string& key = it->first.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known = known || a == key;
      if (!known) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        return absl::InvalidArgumentError(absl::StrCat(Child(key), ": unknown key (known keys here: ",
                                                       absl::StrJoin(names, ", "), ")"));
      }
      if (!seen.insert(key).second) {
        return absl::InvalidArgumentError(absl::StrCat(Child(key), ": key appears twice"));
      }
    }
    return absl::OkStatus();
  }

  // The nested section `key` (may be absent: then it reads as empty).
  absl::StatusOr<Section> Sub(std::string_view key) const {
    YAML::Node child = Get(key);
    if (child.IsDefined() && !child.IsNull() && !child.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a map of keys"));
    }
    return Section(child, Child(key), env_);
  }

  // Each reader leaves `out` alone when the key is absent or null.
  absl::Status String(std::string_view key, std::string* out) const {
    std::optional<std::string> text;
    GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
    if (text.has_value()) *out = std::move(*text);
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(std::string_view key, Int* out, int64_t min, int64_t max) const {
    std::optional<std::string> text;
    GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
    if (!text.has_value()) return absl::OkStatus();
    int64_t value = 0;
    if (!absl::SimpleAtoi(*text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Child(key), ": must be an integer, got \"", *text, "\""));
    }
    if (value < min || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(Child(key), ": must be between ", min, " and ", max, ", got ", value));
    }
    *out = static_cast<Int>(value);
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool* out) const {
    std::optional<std::string> text;
    GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
    if (!text.has_value()) return absl::OkStatus();
    std::string lower = absl::AsciiStrToLower(*text);
    if (lower == "true") {
      *out = true;
    } else if (lower == "false") {
      *out = false;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(Child(key), ": must be true or false, got \"", *text, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Duration(std::string_view key, absl::Duration* out) const {
    std::optional<std::string> text;
    GATEWAY_ASSIGN_OR_RETURN(text, Scalar(key));
    if (!text.has_value()) return absl::OkStatus();
    return ParseConfigDuration(*text, Child(key), out);
  }

  absl::Status StringList(std::string_view key, std::vector<std::string>* out) const {
    YAML::Node child = Get(key);
    if (!child.IsDefined() || child.IsNull()) return absl::OkStatus();
    if (!child.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a list, e.g. [a, b]"));
    }
    std::vector<std::string> values;
    for (size_t i = 0; i < child.size(); ++i) {
      std::string item_key = absl::StrCat(Child(key), "[", i, "]");
      if (!child[i].IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat(item_key, ": must be a string"));
      }
      std::string value;
      GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(child[i].Scalar(), item_key, env_));
      values.push_back(std::move(value));
    }
    *out = std::move(values);
    return absl::OkStatus();
  }

  absl::Status StringMap(std::string_view key, std::map<std::string, std::string>* out) const {
    YAML::Node child = Get(key);
    if (!child.IsDefined() || child.IsNull()) return absl::OkStatus();
    if (!child.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a map of strings"));
    }
    std::map<std::string, std::string> values;
    for (auto it = child.begin(); it != child.end(); ++it) {
      if (!it->first.IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat(Child(key), ": keys must be plain strings"));
      }
      std::string item_key = absl::StrCat(Child(key), ".", it->first.Scalar());
      if (!it->second.IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat(item_key, ": must be a string"));
      }
      std::string value;
      GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(it->second.Scalar(), item_key, env_));
      values[it->first.Scalar()] = std::move(value);
    }
    *out = std::move(values);
    return absl::OkStatus();
  }

  bool Has(std::string_view key) const {
    YAML::Node child = Get(key);
    return child.IsDefined() && !child.IsNull();
  }

  std::string Child(std::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", ToAbsl(key));
  }

 private:
  std::string Label() const { return path_.empty() ? std::string("config: ") : absl::StrCat(path_, ": "); }

  YAML::Node Get(std::string_view key) const {
    if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  absl::StatusOr<std::optional<std::string>> Scalar(std::string_view key) const {
    YAML::Node child = Get(key);
    if (!child.IsDefined() || child.IsNull()) return std::optional<std::string>();
    if (!child.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(Child(key), ": must be a single value, not a list or map"));
    }
    std::string value;
    GATEWAY_ASSIGN_OR_RETURN(value, SubstituteEnv(child.Scalar(), Child(key), env_));
    return std::optional<std::string>(std::move(value));
  }

  YAML::Node node_;
  std::string path_;
  const EnvLookup& env_;
};

absl::Status ParseSpanKind(std::string_view text, std::string_view key, SpanKind* kind) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(text));
  absl::string_view name = lower;
  absl::ConsumePrefix(&name, "span_kind_");
  static constexpr std::pair<std::string_view, SpanKind> kKinds[] = {
      {"internal", SpanKind::kInternal}, {"server", SpanKind::kServer},
      {"client", SpanKind::kClient},     {"producer", SpanKind::kProducer},
      {"consumer", SpanKind::kConsumer},
  };
  for (const auto& [n, k] : kKinds) {
    if (ToStd(name) == n) {
      *kind = k;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(key), ": unknown span kind \"", ToAbsl(text), "\" (internal, server, client, producer, consumer)"));
}

std::string_view SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal:
      return "internal";
    case SpanKind::kServer:
      return "server";
    case SpanKind::kClient:
      return "client";
    case SpanKind::kProducer:
      return "producer";
    case SpanKind::kConsumer:
      return "consumer";
    case SpanKind::kUnspecified:
      break;
  }
  return "unspecified";
}

absl::Status ParseExporterType(std::string_view text, std::string_view key, ExporterType* type) {
  for (ExporterType t : {ExporterType::kAuto, ExporterType::kDynatrace, ExporterType::kOtlpHttp,
                         ExporterType::kDebug}) {
    if (text == ExporterTypeName(t)) {
      *type = t;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be dynatrace, otlphttp, debug or auto, got \"",
                                                 ToAbsl(text), "\""));
}

absl::Status ParseLogLevelValue(std::string_view text, std::string_view key, LogLevel* level) {
  if (!ParseLogLevel(text, level)) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be debug, info, warn or error, got \"",
                                                   ToAbsl(text), "\""));
  }
  return absl::OkStatus();
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
  if (auto v = env("OTEL_EXPORTER_OTLP_ENDPOINT"); v.has_value()) config->exporter.otlphttp.endpoint = *v;
  if (auto v = env("OTEL_EXPORTER_OTLP_HEADERS"); v.has_value()) {
    GATEWAY_RETURN_IF_ERROR(ParseOtlpHeaders(*v, &config->exporter.otlphttp.headers));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Section parsers.

absl::Status ParseTls(const Section& s, TlsConfig* tls) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"cert_file", "key_file"}));
  GATEWAY_RETURN_IF_ERROR(s.String("cert_file", &tls->cert_file));
  return s.String("key_file", &tls->key_file);
}

absl::Status ParseAuth(const Section& s, AuthConfig* auth) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"bearer_token"}));
  return s.String("bearer_token", &auth->bearer_token);
}

absl::Status ParseReceivers(const Section& s, GatewayConfig* config) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"grpc", "http"}));
  GATEWAY_ASSIGN_OR_RETURN(Section grpc, s.Sub("grpc"));
  GATEWAY_RETURN_IF_ERROR(grpc.CheckKeys({"enabled", "endpoint", "max_recv_msg_size_mib", "tls", "auth"}));
  GATEWAY_RETURN_IF_ERROR(grpc.Bool("enabled", &config->grpc.enabled));
  GATEWAY_RETURN_IF_ERROR(grpc.String("endpoint", &config->grpc.endpoint));
  GATEWAY_RETURN_IF_ERROR(grpc.Integer("max_recv_msg_size_mib", &config->grpc.max_recv_msg_size_mib, 1, 2047));
  GATEWAY_ASSIGN_OR_RETURN(Section grpc_tls, grpc.Sub("tls"));
  GATEWAY_RETURN_IF_ERROR(ParseTls(grpc_tls, &config->grpc.tls));
  GATEWAY_ASSIGN_OR_RETURN(Section grpc_auth, grpc.Sub("auth"));
  GATEWAY_RETURN_IF_ERROR(ParseAuth(grpc_auth, &config->grpc.auth));

  GATEWAY_ASSIGN_OR_RETURN(Section http, s.Sub("http"));
  GATEWAY_RETURN_IF_ERROR(
      http.CheckKeys({"enabled", "endpoint", "max_request_body_mib", "cors", "tls", "auth", "threads"}));
  GATEWAY_RETURN_IF_ERROR(http.Bool("enabled", &config->http.enabled));
  GATEWAY_RETURN_IF_ERROR(http.String("endpoint", &config->http.endpoint));
  GATEWAY_RETURN_IF_ERROR(http.Integer("max_request_body_mib", &config->http.max_request_body_mib, 1, 2047));
  GATEWAY_ASSIGN_OR_RETURN(Section cors, http.Sub("cors"));
  GATEWAY_RETURN_IF_ERROR(cors.CheckKeys({"allowed_origins"}));
  GATEWAY_RETURN_IF_ERROR(cors.StringList("allowed_origins", &config->http.cors_allowed_origins));
  GATEWAY_ASSIGN_OR_RETURN(Section http_tls, http.Sub("tls"));
  GATEWAY_RETURN_IF_ERROR(ParseTls(http_tls, &config->http.tls));
  GATEWAY_ASSIGN_OR_RETURN(Section http_auth, http.Sub("auth"));
  GATEWAY_RETURN_IF_ERROR(ParseAuth(http_auth, &config->http.auth));
  return http.Integer("threads", &config->http.threads, 1, 256);
}

absl::Status ParseReparent(const Section& s, ReparentOptions* r) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"target_kinds", "link_choice", "record_original", "fanout",
                                       "max_fanout_links", "hold_window", "resolved_ttl", "max_held_spans",
                                       "max_resolved_spans", "cross_process", "shards"}));
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
  return s.Integer("shards", &r->shards, 0, 1024);
}

absl::Status ParseExporter(const Section& s, ExporterConfig* e) {
  GATEWAY_RETURN_IF_ERROR(s.CheckKeys({"type", "dynatrace", "otlphttp", "compression", "timeout", "retry",
                                       "max_in_flight", "limits"}));
  std::string type;
  GATEWAY_RETURN_IF_ERROR(s.String("type", &type));
  if (!type.empty()) GATEWAY_RETURN_IF_ERROR(ParseExporterType(type, s.Child("type"), &e->type));

  GATEWAY_ASSIGN_OR_RETURN(Section dt, s.Sub("dynatrace"));
  GATEWAY_RETURN_IF_ERROR(dt.CheckKeys({"endpoint", "api_token"}));
  GATEWAY_RETURN_IF_ERROR(dt.String("endpoint", &e->dynatrace.endpoint));
  GATEWAY_RETURN_IF_ERROR(dt.String("api_token", &e->dynatrace.api_token));

  GATEWAY_ASSIGN_OR_RETURN(Section otlp, s.Sub("otlphttp"));
  GATEWAY_RETURN_IF_ERROR(otlp.CheckKeys({"endpoint", "headers"}));
  GATEWAY_RETURN_IF_ERROR(otlp.String("endpoint", &e->otlphttp.endpoint));
  GATEWAY_RETURN_IF_ERROR(otlp.StringMap("headers", &e->otlphttp.headers));

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

  GATEWAY_ASSIGN_OR_RETURN(Section retry, s.Sub("retry"));
  GATEWAY_RETURN_IF_ERROR(retry.CheckKeys({"enabled", "initial_interval", "max_interval", "max_elapsed"}));
  GATEWAY_RETURN_IF_ERROR(retry.Bool("enabled", &e->retry.enabled));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("initial_interval", &e->retry.initial_interval));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("max_interval", &e->retry.max_interval));
  GATEWAY_RETURN_IF_ERROR(retry.Duration("max_elapsed", &e->retry.max_elapsed));

  GATEWAY_RETURN_IF_ERROR(s.Integer("max_in_flight", &e->max_in_flight, 1, 1024));

  GATEWAY_ASSIGN_OR_RETURN(Section limits, s.Sub("limits"));
  GATEWAY_RETURN_IF_ERROR(limits.CheckKeys({"traces", "metrics", "logs"}));
  for (auto [name, target] : {std::pair<std::string_view, SignalLimits*>{"traces", &e->limits.traces},
                              {"metrics", &e->limits.metrics},
                              {"logs", &e->limits.logs}}) {
    GATEWAY_ASSIGN_OR_RETURN(Section signal, limits.Sub(name));
    GATEWAY_RETURN_IF_ERROR(signal.CheckKeys({"max_request_bytes"}));
    GATEWAY_RETURN_IF_ERROR(
        signal.Integer("max_request_bytes", &target->max_request_bytes, 1024, int64_t{1} << 31));
  }
  return absl::OkStatus();
}

absl::Status ParseDocument(const YAML::Node& root, const EnvLookup& env, GatewayConfig* config) {
  Section top(root, "", env);
  GATEWAY_RETURN_IF_ERROR(
      top.CheckKeys({"receivers", "admin", "reparent", "batch", "exporter", "queue", "shutdown", "log"}));

  GATEWAY_ASSIGN_OR_RETURN(Section receivers, top.Sub("receivers"));
  GATEWAY_RETURN_IF_ERROR(ParseReceivers(receivers, config));

  GATEWAY_ASSIGN_OR_RETURN(Section admin, top.Sub("admin"));
  GATEWAY_RETURN_IF_ERROR(admin.CheckKeys({"endpoint"}));
  GATEWAY_RETURN_IF_ERROR(admin.String("endpoint", &config->admin.endpoint));

  GATEWAY_ASSIGN_OR_RETURN(Section reparent, top.Sub("reparent"));
  GATEWAY_RETURN_IF_ERROR(ParseReparent(reparent, &config->reparent));

  GATEWAY_ASSIGN_OR_RETURN(Section batch, top.Sub("batch"));
  GATEWAY_RETURN_IF_ERROR(batch.CheckKeys({"max_spans", "max_bytes", "timeout"}));
  GATEWAY_RETURN_IF_ERROR(batch.Integer("max_spans", &config->batch.max_spans, 1, 10'000'000));
  GATEWAY_RETURN_IF_ERROR(batch.Integer("max_bytes", &config->batch.max_bytes, 1024, int64_t{1} << 31));
  GATEWAY_RETURN_IF_ERROR(batch.Duration("timeout", &config->batch.timeout));

  GATEWAY_ASSIGN_OR_RETURN(Section exporter, top.Sub("exporter"));
  GATEWAY_RETURN_IF_ERROR(ParseExporter(exporter, &config->exporter));

  GATEWAY_ASSIGN_OR_RETURN(Section queue, top.Sub("queue"));
  GATEWAY_RETURN_IF_ERROR(queue.CheckKeys({"memory_limit_mib", "process_memory_limit_mib", "persistent"}));
  GATEWAY_RETURN_IF_ERROR(queue.Integer("memory_limit_mib", &config->queue.memory_limit_mib, 1, 1 << 20));
  GATEWAY_RETURN_IF_ERROR(
      queue.Integer("process_memory_limit_mib", &config->queue.process_memory_limit_mib, -1, 1 << 20));
  GATEWAY_ASSIGN_OR_RETURN(Section persistent, queue.Sub("persistent"));
  GATEWAY_RETURN_IF_ERROR(persistent.CheckKeys({"enabled", "directory", "max_size_mib"}));
  GATEWAY_RETURN_IF_ERROR(persistent.Bool("enabled", &config->queue.persistent.enabled));
  GATEWAY_RETURN_IF_ERROR(persistent.String("directory", &config->queue.persistent.directory));
  GATEWAY_RETURN_IF_ERROR(
      persistent.Integer("max_size_mib", &config->queue.persistent.max_size_mib, 1, int64_t{1} << 30));

  GATEWAY_ASSIGN_OR_RETURN(Section shutdown, top.Sub("shutdown"));
  GATEWAY_RETURN_IF_ERROR(shutdown.CheckKeys({"drain_timeout"}));
  GATEWAY_RETURN_IF_ERROR(shutdown.Duration("drain_timeout", &config->shutdown.drain_timeout));

  GATEWAY_ASSIGN_OR_RETURN(Section log, top.Sub("log"));
  GATEWAY_RETURN_IF_ERROR(log.CheckKeys({"level"}));
  std::string level;
  GATEWAY_RETURN_IF_ERROR(log.String("level", &level));
  if (!level.empty()) GATEWAY_RETURN_IF_ERROR(ParseLogLevelValue(level, log.Child("level"), &config->log.level));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Validation helpers.

absl::Status ValidateHostPort(std::string_view key, const std::string& endpoint) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be host:port (e.g. 0.0.0.0:4317), ",
                                                   ToAbsl(why), ", got \"", endpoint, "\""));
  };
  size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string_view host = std::string_view(endpoint).substr(0, colon);
  std::string_view port = std::string_view(endpoint).substr(colon + 1);
  if (host.empty()) return bad("no host");
  if (host.front() == '[' && host.back() != ']') return bad("unbalanced [ ] around an IPv6 address");
  if (host.front() != '[' && host.find(':') != std::string_view::npos) {
    return bad("write IPv6 addresses in brackets");
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(ToAbsl(port), &port_number) || port_number < 0 || port_number > 65535) {
    return bad("port must be 0-65535");
  }
  return absl::OkStatus();
}

absl::Status ValidateUrl(std::string_view key, const std::string& url) {
  absl::string_view rest = url;
  if ((absl::ConsumePrefix(&rest, "https://") || absl::ConsumePrefix(&rest, "http://")) && !rest.empty() &&
      rest.front() != '/' && rest.find_first_of(" \t\r\n") == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be an https:// or http:// URL, got \"",
                                                 url, "\""));
}

absl::Status ValidateTls(std::string_view key, const TlsConfig& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(key), ": cert_file and key_file must be set together"));
  }
  return absl::OkStatus();
}

absl::Status Positive(std::string_view key, absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": must be greater than 0"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Rendering: YAML double-quoted strings are JSON strings.

std::string Q(std::string_view s) { return absl::StrCat("\"", JsonEscape(s), "\""); }
std::string D(absl::Duration d) { return Q(ToStd(absl::FormatDuration(d))); }
std::string B(bool b) { return b ? "true" : "false"; }
std::string Secret(const std::string& s) { return s.empty() ? Q("") : Q(kRedacted); }

}  // namespace


EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

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

absl::Status ApplyFlagOverrides(const ConfigOverrides& o, GatewayConfig* config) {
  if (o.grpc_endpoint) config->grpc.endpoint = *o.grpc_endpoint;
  if (o.http_endpoint) config->http.endpoint = *o.http_endpoint;
  if (o.admin_endpoint) config->admin.endpoint = *o.admin_endpoint;
  if (o.dt_endpoint) config->exporter.dynatrace.endpoint = *o.dt_endpoint;
  if (o.dt_api_token) config->exporter.dynatrace.api_token = *o.dt_api_token;
  if (o.hold_window) {
    GATEWAY_RETURN_IF_ERROR(ParseConfigDuration(*o.hold_window, "--hold-window",
                                                          &config->reparent.hold_window));
  }
  if (o.log_level) GATEWAY_RETURN_IF_ERROR(ParseLogLevelValue(*o.log_level, "--log-level", &config->log.level));
  if (o.exporter_type) {
    GATEWAY_RETURN_IF_ERROR(ParseExporterType(*o.exporter_type, "--exporter", &config->exporter.type));
  }
  if (o.memory_limit_mib) {
    int64_t mib = 0;
    if (!absl::SimpleAtoi(*o.memory_limit_mib, &mib) || mib <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--memory-limit-mib: expected a positive whole number of MiB, got \"", *o.memory_limit_mib, "\""));
    }
    config->queue.memory_limit_mib = mib;
  }
  if (o.process_memory_limit_mib) {
    int64_t mib = 0;
    if (!absl::SimpleAtoi(*o.process_memory_limit_mib, &mib) || mib < -1 || mib > (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--process-memory-limit-mib: expected a whole number of MiB (0: from the container, -1: "
                       "none), got \"",
                       *o.process_memory_limit_mib, "\""));
    }
    config->queue.process_memory_limit_mib = mib;
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfigOverrides> ParseOverrideFlags(const std::vector<std::string>& args,
                                                   std::vector<std::string>* rest) {
  ConfigOverrides o;
  const std::pair<std::string_view, std::optional<std::string> ConfigOverrides::*> kFlags[] = {
      {"grpc-endpoint", &ConfigOverrides::grpc_endpoint}, {"http-endpoint", &ConfigOverrides::http_endpoint},
      {"admin-endpoint", &ConfigOverrides::admin_endpoint}, {"dt-endpoint", &ConfigOverrides::dt_endpoint},
      {"dt-api-token", &ConfigOverrides::dt_api_token},   {"hold-window", &ConfigOverrides::hold_window},
      {"log-level", &ConfigOverrides::log_level},         {"exporter", &ConfigOverrides::exporter_type},
      {"memory-limit-mib", &ConfigOverrides::memory_limit_mib},
      {"process-memory-limit-mib", &ConfigOverrides::process_memory_limit_mib},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) {
      if (rest != nullptr) rest->push_back(args[i]);
      continue;
    }
    absl::string_view name = body.substr(0, body.find('='));
    bool matched = false;
    for (const auto& [flag, member] : kFlags) {
      if (ToStd(name) != flag) continue;
      matched = true;
      if (name.size() < body.size()) {
        o.*member = std::string(body.substr(name.size() + 1));
      } else if (i + 1 < args.size()) {
        o.*member = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
      }
    }
    if (!matched && rest != nullptr) rest->push_back(args[i]);
  }
  return o;
}

absl::Status ValidateConfig(const GatewayConfig& c) {
  if (c.grpc.enabled) {
    GATEWAY_RETURN_IF_ERROR(ValidateHostPort("receivers.grpc.endpoint", c.grpc.endpoint));
    GATEWAY_RETURN_IF_ERROR(ValidateTls("receivers.grpc.tls", c.grpc.tls));
  }
  if (c.http.enabled) {
    GATEWAY_RETURN_IF_ERROR(ValidateHostPort("receivers.http.endpoint", c.http.endpoint));
    GATEWAY_RETURN_IF_ERROR(ValidateTls("receivers.http.tls", c.http.tls));
  }
  if (!c.grpc.enabled && !c.http.enabled) {
    return absl::InvalidArgumentError("receivers: at least one of grpc and http must be enabled");
  }
  GATEWAY_RETURN_IF_ERROR(ValidateHostPort("admin.endpoint", c.admin.endpoint));
  if (c.reparent.target_kinds.empty()) {
    return absl::InvalidArgumentError("reparent.target_kinds: must name at least one span kind");
  }
  if (c.reparent.resolved_ttl < c.reparent.hold_window) {
    return absl::InvalidArgumentError("reparent.resolved_ttl: must be at least reparent.hold_window");
  }
  GATEWAY_RETURN_IF_ERROR(Positive("batch.timeout", c.batch.timeout));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.timeout", c.exporter.timeout));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.retry.initial_interval", c.exporter.retry.initial_interval));
  GATEWAY_RETURN_IF_ERROR(Positive("exporter.retry.max_elapsed", c.exporter.retry.max_elapsed));
  if (c.exporter.retry.max_interval < c.exporter.retry.initial_interval) {
    return absl::InvalidArgumentError(
        "exporter.retry.max_interval: must be at least exporter.retry.initial_interval");
  }
  GATEWAY_RETURN_IF_ERROR(Positive("shutdown.drain_timeout", c.shutdown.drain_timeout));
  if (c.batch.max_bytes > c.exporter.limits.traces.max_request_bytes) {
    return absl::InvalidArgumentError(
        "batch.max_bytes: must not exceed exporter.limits.traces.max_request_bytes");
  }
  if (c.queue.persistent.enabled && c.queue.persistent.directory.empty()) {
    return absl::InvalidArgumentError("queue.persistent.directory: must be set when queue.persistent.enabled");
  }
  switch (ResolveExporterType(c)) {
    case ExporterType::kDynatrace:
      if (c.exporter.dynatrace.endpoint.empty()) {
        return absl::InvalidArgumentError(
            "exporter.dynatrace.endpoint: must be set for the dynatrace exporter (or set DT_ENDPOINT)");
      }
      GATEWAY_RETURN_IF_ERROR(ValidateUrl("exporter.dynatrace.endpoint", c.exporter.dynatrace.endpoint));
      if (c.exporter.dynatrace.api_token.empty()) {
        return absl::InvalidArgumentError(
            "exporter.dynatrace.api_token: must be set for the dynatrace exporter (or set DT_API_TOKEN)");
      }
      break;
    case ExporterType::kOtlpHttp:
      if (c.exporter.otlphttp.endpoint.empty()) {
        return absl::InvalidArgumentError(
            "exporter.otlphttp.endpoint: must be set for the otlphttp exporter (or set "
            "OTEL_EXPORTER_OTLP_ENDPOINT)");
      }
      GATEWAY_RETURN_IF_ERROR(ValidateUrl("exporter.otlphttp.endpoint", c.exporter.otlphttp.endpoint));
      break;
    case ExporterType::kDebug:
    case ExporterType::kAuto:
      break;
  }
  return absl::OkStatus();
}

ExporterType ResolveExporterType(const GatewayConfig& config) {
  if (config.exporter.type != ExporterType::kAuto) return config.exporter.type;
  if (!config.exporter.dynatrace.endpoint.empty()) return ExporterType::kDynatrace;
  if (!config.exporter.otlphttp.endpoint.empty()) return ExporterType::kOtlpHttp;
  return ExporterType::kDebug;
}

std::string_view ExporterTypeName(ExporterType type) {
  switch (type) {
    case ExporterType::kAuto:
      return "auto";
    case ExporterType::kDynatrace:
      return "dynatrace";
    case ExporterType::kOtlpHttp:
      return "otlphttp";
    case ExporterType::kDebug:
      return "debug";
  }
  return "auto";
}

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
                  "\n");
  absl::StrAppend(&out, "admin:\n  endpoint: ", Q(c.admin.endpoint), "\n");
  const ReparentOptions& r = c.reparent;
  absl::StrAppend(&out, "reparent:\n  target_kinds: [", absl::StrJoin(kinds, ", "), "]\n  link_choice: ",
                  r.link_choice == LinkChoice::kFirst ? "first" : "last", "\n  record_original: ",
                  B(r.record_original), "\n  fanout: ", B(r.fanout), "\n  max_fanout_links: ", r.max_fanout_links,
                  "\n  hold_window: ", D(r.hold_window), "\n  resolved_ttl: ", D(r.resolved_ttl),
                  "\n  max_held_spans: ", r.max_held_spans, "\n  max_resolved_spans: ", r.max_resolved_spans,
                  "\n  cross_process: ", B(r.cross_process), "\n  shards: ", r.shards, "\n");
  absl::StrAppend(&out, "batch:\n  max_spans: ", c.batch.max_spans, "\n  max_bytes: ", c.batch.max_bytes,
                  "\n  timeout: ", D(c.batch.timeout), "\n");
  absl::StrAppend(&out, "exporter:\n  type: ", ToAbsl(ExporterTypeName(e.type)), "  # in effect: ",
                  ToAbsl(ExporterTypeName(ResolveExporterType(c))), "\n  dynatrace:\n    endpoint: ",
                  Q(e.dynatrace.endpoint), "\n    api_token: ", Secret(e.dynatrace.api_token),
                  "\n  otlphttp:\n    endpoint: ", Q(e.otlphttp.endpoint), "\n    headers: {",
                  absl::StrJoin(headers, ", "), "}\n  compression: ",
                  e.compression == Compression::kGzip ? "gzip" : "none", "\n  timeout: ", D(e.timeout),
                  "\n  retry:\n    enabled: ", B(e.retry.enabled), "\n    initial_interval: ",
                  D(e.retry.initial_interval), "\n    max_interval: ", D(e.retry.max_interval),
                  "\n    max_elapsed: ", D(e.retry.max_elapsed), "\n  max_in_flight: ", e.max_in_flight,
                  "\n  limits:\n    traces: {max_request_bytes: ", e.limits.traces.max_request_bytes,
                  "}\n    metrics: {max_request_bytes: ", e.limits.metrics.max_request_bytes,
                  "}\n    logs: {max_request_bytes: ", e.limits.logs.max_request_bytes, "}\n");
  absl::StrAppend(&out, "queue:\n  memory_limit_mib: ", c.queue.memory_limit_mib,
                  "\n  process_memory_limit_mib: ", c.queue.process_memory_limit_mib,
                  "\n  persistent:\n    enabled: ", B(c.queue.persistent.enabled),
                  "\n    directory: ", Q(c.queue.persistent.directory),
                  "\n    max_size_mib: ", c.queue.persistent.max_size_mib, "\n");
  absl::StrAppend(&out, "shutdown:\n  drain_timeout: ", D(c.shutdown.drain_timeout), "\n");
  absl::StrAppend(&out, "log:\n  level: ", ToAbsl(LogLevelName(c.log.level)), "\n");
  return out;
}

std::vector<std::string> ConfigSecrets(const GatewayConfig& c) {
  std::vector<std::string> secrets;
  for (const std::string* s : {&c.exporter.dynatrace.api_token, &c.grpc.auth.bearer_token,
                               &c.http.auth.bearer_token}) {
    secrets.push_back(*s);
  }
  for (const auto& [name, value] : c.exporter.otlphttp.headers) {
    secrets.push_back(value);
  }
  // Short values (a header like "gzip") would scrub harmless text everywhere.
  std::erase_if(secrets, [](const std::string& s) { return s.size() < kMinSecretLength; });
  return secrets;
}

}  // namespace gateway
