#include "gateway/config/config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Matches a non-OK absl::Status (or StatusOr) whose message contains `text`.
MATCHER_P(StatusHasMessage, text, "") {
  const absl::Status& status = arg;
  if (status.ok()) {
    *result_listener << "status is OK";
    return false;
  }
  *result_listener << "status is " << status;
  return absl::StrContains(status.message(), text);
}

class ConfigTest : public ::testing::Test {
 protected:
  static EnvLookup NoEnv() { return MapEnv({}); }

  static GatewayConfig LoadOk(std::string_view yaml, const EnvLookup& env = NoEnv()) {
    absl::StatusOr<GatewayConfig> config = LoadConfig(yaml, env);
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? *config : GatewayConfig{};
  }

  static absl::Status LoadError(std::string_view yaml, const EnvLookup& env = NoEnv()) {
    absl::StatusOr<GatewayConfig> config = LoadConfig(yaml, env);
    return config.status();
  }
};

TEST_F(ConfigTest, EmptyFileGivesDocumentedDefaults) {
  GatewayConfig c = LoadOk("");
  EXPECT_EQ(c.grpc.endpoint, "127.0.0.1:4317");
  EXPECT_EQ(c.grpc.max_recv_msg_size_mib, 4);
  EXPECT_EQ(c.http.endpoint, "127.0.0.1:4318");
  EXPECT_EQ(c.admin.endpoint, "127.0.0.1:13133");
  EXPECT_EQ(c.reparent.target_kinds, std::vector<SpanKind>{SpanKind::kConsumer});
  EXPECT_EQ(c.reparent.link_choice, LinkChoice::kFirst);
  EXPECT_TRUE(c.reparent.record_original);
  EXPECT_TRUE(c.reparent.fanout);
  EXPECT_EQ(c.reparent.max_fanout_links, 32);
  EXPECT_EQ(c.reparent.hold_window, absl::Seconds(10));
  EXPECT_EQ(c.reparent.resolved_ttl, absl::Minutes(5));
  EXPECT_FALSE(c.reparent.cross_process);
  EXPECT_TRUE(c.reparent.wait_for_link_fate);
  EXPECT_EQ(c.reparent.shards, 0);
  EXPECT_EQ(c.batch.max_spans, 2000);
  EXPECT_EQ(c.batch.timeout, absl::Milliseconds(200));
  EXPECT_EQ(c.exporter.retry.max_elapsed, absl::Minutes(55));
  EXPECT_EQ(c.exporter.max_in_flight, 16);
  EXPECT_EQ(c.queue.memory_limit_mib, 256);
  EXPECT_EQ(c.queue.process_memory_limit_mib, 0);
  EXPECT_FALSE(c.queue.persistent.enabled);
  EXPECT_EQ(c.shutdown.drain_timeout, absl::Seconds(25));
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_EQ(ResolveExporterType(c), ExporterType::kDebug);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
}

TEST_F(ConfigTest, EmbeddedDefaultFileMatchesStructDefaults) {
  EnvLookup env = MapEnv({{"DT_ENDPOINT", "https://abc.live.dynatrace.com/api/v2/otlp"},
                          {"DT_API_TOKEN", "dt0c01.SECRETSECRET"}});
  GatewayConfig from_file = LoadOk(DefaultConfigYaml(), env);
  GatewayConfig from_nothing = LoadOk("", env);
  EXPECT_EQ(RenderEffectiveConfig(from_file), RenderEffectiveConfig(from_nothing));
  EXPECT_EQ(from_file.exporter.dynatrace.api_token, "dt0c01.SECRETSECRET");
  EXPECT_EQ(RenderEffectiveConfig(LoadOk(DefaultConfigYaml())), RenderEffectiveConfig(GatewayConfig{}));
}

TEST_F(ConfigTest, DynatraceEnvSelectsDynatraceExporter) {
  GatewayConfig c = LoadOk("", MapEnv({{"DT_ENDPOINT", "https://abc.live.dynatrace.com/api/v2/otlp"},
                                        {"DT_API_TOKEN", "dt0c01.TOKENTOKEN"}}));
  EXPECT_EQ(ResolveExporterType(c), ExporterType::kDynatrace);
  EXPECT_EQ(c.exporter.dynatrace.endpoint, "https://abc.live.dynatrace.com/api/v2/otlp");
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST_F(ConfigTest, OtelExporterEnvFillsGenericTarget) {
  GatewayConfig c = LoadOk("", MapEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
                                        {"OTEL_EXPORTER_OTLP_HEADERS", "X-Tenant=a%20b, authorization=Bearer%20xyz"}}));
  EXPECT_EQ(ResolveExporterType(c), ExporterType::kOtlpHttp);
  EXPECT_EQ(c.exporter.otlphttp.endpoint, "http://collector:4318");
  EXPECT_EQ(c.exporter.otlphttp.headers.at("x-tenant"), "a b");
  EXPECT_EQ(c.exporter.otlphttp.headers.at("authorization"), "Bearer xyz");
  EXPECT_THAT(LoadError("", MapEnv({{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}})),
              StatusHasMessage("OTEL_EXPORTER_OTLP_HEADERS"));
}

TEST_F(ConfigTest, FileOverridesEnvDefaults) {
  GatewayConfig c = LoadOk("exporter: {dynatrace: {endpoint: https://file.example/api/v2/otlp}}",
                           MapEnv({{"DT_ENDPOINT", "https://env.example/api/v2/otlp"}}));
  EXPECT_EQ(c.exporter.dynatrace.endpoint, "https://file.example/api/v2/otlp");
}

TEST_F(ConfigTest, EveryKeyParses) {
  constexpr std::string_view kYaml = R"yaml(
receivers:
  grpc:
    enabled: false
    endpoint: 127.0.0.1:5317
    max_recv_msg_size_mib: 8
    tls: {cert_file: /etc/c.pem, key_file: /etc/k.pem}
    auth: {bearer_token: grpc-bearer-secret}
  http:
    enabled: true
    endpoint: "[::]:5318"
    max_request_body_mib: 32
    cors: {allowed_origins: ["https://a.example", "*"]}
    tls: {cert_file: /etc/hc.pem, key_file: /etc/hk.pem}
    auth: {bearer_token: http-bearer-secret}
    threads: 3
    max_connections: 300
    min_body_bytes_per_second: 0
admin:
  endpoint: 0.0.0.0:9999
reparent:
  target_kinds: [consumer, SPAN_KIND_SERVER]
  link_choice: last
  record_original: false
  fanout: false
  max_fanout_links: 7
  hold_window: 1500ms
  resolved_ttl: 1h
  max_held_spans: 123
  max_resolved_spans: 456
  cross_process: true
  wait_for_link_fate: false
  shards: 3
batch:
  max_spans: 100
  max_bytes: 200000
  timeout: 50ms
exporter:
  type: otlphttp
  dynatrace: {endpoint: "https://x.live.dynatrace.com/api/v2/otlp", api_token: dt0c01.abcdefgh}
  otlphttp:
    endpoint: http://collector:4318
    headers: {x-a: "1", x-b: two}
  compression: none
  timeout: 3s
  retry: {enabled: false, initial_interval: 1s, max_interval: 2s, max_elapsed: 10m}
  max_in_flight: 9
  limits:
    traces: {max_request_bytes: 1000000}
    metrics: {max_request_bytes: 2000000}
    logs: {max_request_bytes: 3000000}
queue:
  memory_limit_mib: 64
  process_memory_limit_mib: 200
  persistent: {enabled: true, directory: /var/lib/gw, max_size_mib: 10}
shutdown:
  drain_timeout: 20s
log:
  level: debug
)yaml";
  GatewayConfig c = LoadOk(kYaml);
  EXPECT_FALSE(c.grpc.enabled);
  EXPECT_EQ(c.grpc.endpoint, "127.0.0.1:5317");
  EXPECT_EQ(c.grpc.max_recv_msg_size_mib, 8);
  EXPECT_EQ(c.grpc.tls.cert_file, "/etc/c.pem");
  EXPECT_EQ(c.grpc.tls.key_file, "/etc/k.pem");
  EXPECT_EQ(c.grpc.auth.bearer_token, "grpc-bearer-secret");
  EXPECT_EQ(c.http.endpoint, "[::]:5318");
  EXPECT_EQ(c.http.max_request_body_mib, 32);
  EXPECT_EQ(c.http.cors_allowed_origins, (std::vector<std::string>{"https://a.example", "*"}));
  EXPECT_EQ(c.http.tls.key_file, "/etc/hk.pem");
  EXPECT_EQ(c.http.auth.bearer_token, "http-bearer-secret");
  EXPECT_EQ(c.http.threads, 3);
  EXPECT_EQ(c.http.max_connections, 300);
  EXPECT_EQ(c.http.min_body_bytes_per_second, 0);
  EXPECT_EQ(c.admin.endpoint, "0.0.0.0:9999");
  EXPECT_EQ(c.reparent.target_kinds, (std::vector<SpanKind>{SpanKind::kConsumer, SpanKind::kServer}));
  EXPECT_EQ(c.reparent.link_choice, LinkChoice::kLast);
  EXPECT_FALSE(c.reparent.record_original);
  EXPECT_FALSE(c.reparent.fanout);
  EXPECT_EQ(c.reparent.max_fanout_links, 7);
  EXPECT_EQ(c.reparent.hold_window, absl::Milliseconds(1500));
  EXPECT_EQ(c.reparent.resolved_ttl, absl::Hours(1));
  EXPECT_EQ(c.reparent.max_held_spans, 123);
  EXPECT_EQ(c.reparent.max_resolved_spans, 456);
  EXPECT_TRUE(c.reparent.cross_process);
  EXPECT_FALSE(c.reparent.wait_for_link_fate);
  EXPECT_EQ(c.reparent.shards, 3);
  EXPECT_EQ(c.batch.max_spans, 100);
  EXPECT_EQ(c.batch.max_bytes, 200000);
  EXPECT_EQ(c.batch.timeout, absl::Milliseconds(50));
  EXPECT_EQ(c.exporter.type, ExporterType::kOtlpHttp);
  EXPECT_EQ(c.exporter.dynatrace.api_token, "dt0c01.abcdefgh");
  EXPECT_EQ(c.exporter.otlphttp.headers.at("x-b"), "two");
  EXPECT_EQ(c.exporter.compression, Compression::kNone);
  EXPECT_EQ(c.exporter.timeout, absl::Seconds(3));
  EXPECT_FALSE(c.exporter.retry.enabled);
  EXPECT_EQ(c.exporter.retry.initial_interval, absl::Seconds(1));
  EXPECT_EQ(c.exporter.retry.max_interval, absl::Seconds(2));
  EXPECT_EQ(c.exporter.retry.max_elapsed, absl::Minutes(10));
  EXPECT_EQ(c.exporter.max_in_flight, 9);
  EXPECT_EQ(c.exporter.limits.traces.max_request_bytes, 1000000);
  EXPECT_EQ(c.exporter.limits.metrics.max_request_bytes, 2000000);
  EXPECT_EQ(c.exporter.limits.logs.max_request_bytes, 3000000);
  EXPECT_EQ(c.queue.memory_limit_mib, 64);
  EXPECT_EQ(c.queue.process_memory_limit_mib, 200);
  EXPECT_TRUE(c.queue.persistent.enabled);
  EXPECT_EQ(c.queue.persistent.directory, "/var/lib/gw");
  EXPECT_EQ(c.queue.persistent.max_size_mib, 10);
  EXPECT_EQ(c.shutdown.drain_timeout, absl::Seconds(20));
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);

  // The rendering reads back to the same configuration (secrets aside).
  GatewayConfig again = LoadOk(RenderEffectiveConfig(c));
  EXPECT_EQ(RenderEffectiveConfig(again), RenderEffectiveConfig(c));
}

TEST_F(ConfigTest, EnvSubstitution) {
  EnvLookup env = MapEnv({{"PORT", "7000"}, {"HOST", "10.0.0.1"}, {"EMPTY", ""}});
  GatewayConfig c = LoadOk(R"yaml(
receivers:
  grpc: {endpoint: "${env:HOST}:${env:PORT}"}
  http: {endpoint: "${env:UNSET_HOST:-127.0.0.1}:${env:EMPTY:-4318}", threads: "${env:THREADS:-5}"}
exporter:
  otlphttp: {headers: {x-port: "${env:PORT}"}}
)yaml",
                           env);
  EXPECT_EQ(c.grpc.endpoint, "10.0.0.1:7000");
  EXPECT_EQ(c.http.endpoint, "127.0.0.1:4318");
  EXPECT_EQ(c.http.threads, 5);
  EXPECT_EQ(c.exporter.otlphttp.headers.at("x-port"), "7000");
}

TEST_F(ConfigTest, UnsetEnvWithoutDefaultIsAnErrorNamingKeyAndVariable) {
  absl::Status s = LoadError("exporter: {dynatrace: {api_token: '${env:MY_TOKEN}'}}");
  EXPECT_THAT(s, StatusHasMessage("exporter.dynatrace.api_token"));
  EXPECT_THAT(s, StatusHasMessage("MY_TOKEN"));
  EXPECT_THAT(LoadError("admin: {endpoint: '${env:X'}"), StatusHasMessage("unterminated"));
}

TEST_F(ConfigTest, UnknownKeysAreErrorsNamingThem) {
  EXPECT_THAT(LoadError("reparent: {hold_windw: 10s}"), StatusHasMessage("reparent.hold_windw: unknown key"));
  EXPECT_THAT(LoadError("recievers: {}"), StatusHasMessage("recievers: unknown key"));
  EXPECT_THAT(LoadError("receivers: {grpc: {tls: {cert: x}}}"), StatusHasMessage("receivers.grpc.tls.cert"));
  EXPECT_THAT(LoadError("exporter: {limits: {spans: {}}}"), StatusHasMessage("exporter.limits.spans"));
  EXPECT_THAT(LoadError("admin: {endpoint: a:1, endpoint: b:2}"), StatusHasMessage("twice"));
}

TEST_F(ConfigTest, BadValuesAreErrorsNamingTheKey) {
  EXPECT_THAT(LoadError("reparent: {hold_window: 10}"), StatusHasMessage("reparent.hold_window: invalid duration"));
  EXPECT_THAT(LoadError("batch: {timeout: soon}"), StatusHasMessage("batch.timeout: invalid duration"));
  EXPECT_THAT(LoadError("shutdown: {drain_timeout: -1s}"), StatusHasMessage("shutdown.drain_timeout"));
  EXPECT_THAT(LoadError("batch: {max_spans: lots}"), StatusHasMessage("batch.max_spans: must be an integer"));
  EXPECT_THAT(LoadError("batch: {max_spans: 0}"), StatusHasMessage("batch.max_spans: must be between"));
  EXPECT_THAT(LoadError("reparent: {fanout: maybe}"), StatusHasMessage("reparent.fanout: must be true or false"));
  EXPECT_THAT(LoadError("reparent: {link_choice: middle}"), StatusHasMessage("reparent.link_choice"));
  EXPECT_THAT(LoadError("reparent: {target_kinds: [consumer, queue]}"),
              StatusHasMessage("reparent.target_kinds[1]"));
  EXPECT_THAT(LoadError("reparent: {target_kinds: consumer}"), StatusHasMessage("must be a list"));
  EXPECT_THAT(LoadError("exporter: {type: zipkin}"), StatusHasMessage("exporter.type"));
  EXPECT_THAT(LoadError("exporter: {compression: zstd}"), StatusHasMessage("exporter.compression"));
  EXPECT_THAT(LoadError("log: {level: loud}"), StatusHasMessage("log.level"));
  EXPECT_THAT(LoadError("queue: {process_memory_limit_mib: -2}"),
              StatusHasMessage("queue.process_memory_limit_mib: must be between"));
  EXPECT_THAT(LoadError("admin: [1, 2]"), StatusHasMessage("admin: must be a map"));
  EXPECT_THAT(LoadError("admin: {endpoint: [1]}"), StatusHasMessage("admin.endpoint: must be a single value"));
  EXPECT_THAT(LoadError("just a string"), StatusHasMessage("must be a map"));
  EXPECT_THAT(LoadError("receivers: {grpc: {endpoint: [unclosed"), StatusHasMessage("YAML syntax error at line"));
}

TEST_F(ConfigTest, ValidationNamesTheKey) {
  GatewayConfig c = LoadOk("exporter: {type: dynatrace, dynatrace: {endpoint: ftp://x, api_token: t0123456789}}");
  EXPECT_THAT(ValidateConfig(c),
              StatusHasMessage("exporter.dynatrace.endpoint: must be an https:// or http:// URL"));
  c = LoadOk("exporter: {type: dynatrace, dynatrace: {endpoint: 'https://x/api/v2/otlp'}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("exporter.dynatrace.api_token"));
  c = LoadOk("exporter: {type: otlphttp}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("exporter.otlphttp.endpoint"));
  c = LoadOk("receivers: {grpc: {endpoint: nohostport}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("receivers.grpc.endpoint: must be host:port"));
  c = LoadOk("receivers: {http: {endpoint: 'localhost:99999'}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("receivers.http.endpoint"));
  c = LoadOk("receivers: {http: {tls: {cert_file: /c.pem}}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("receivers.http.tls"));
  c = LoadOk("queue: {persistent: {enabled: true}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("queue.persistent.directory"));
  c = LoadOk("exporter: {retry: {initial_interval: 1m, max_interval: 1s}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("exporter.retry.max_interval"));
  c = LoadOk("reparent: {hold_window: 10m, resolved_ttl: 1m}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("reparent.resolved_ttl"));
  c = LoadOk("receivers: {grpc: {enabled: false}, http: {enabled: false}}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("receivers"));
  c = LoadOk("batch: {timeout: 0s}");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("batch.timeout"));
}

TEST_F(ConfigTest, FlagOverridesBeatFileAndEnv) {
  GatewayConfig c = LoadOk("receivers: {grpc: {endpoint: 1.2.3.4:1}}\nexporter: {dynatrace: {endpoint: https://file/x}}",
                           MapEnv({{"DT_API_TOKEN", "env-token-123"}}));
  ConfigOverrides o;
  o.grpc_endpoint = "127.0.0.1:0";
  o.http_endpoint = "127.0.0.1:0";
  o.admin_endpoint = "127.0.0.1:0";
  o.dt_endpoint = "https://flag.live.dynatrace.com/api/v2/otlp";
  o.dt_api_token = "flag-token-456";
  o.hold_window = "2s";
  o.log_level = "warn";
  o.memory_limit_mib = "96";
  o.process_memory_limit_mib = "600";
  ASSERT_TRUE(ApplyFlagOverrides(o, &c).ok());
  EXPECT_EQ(c.queue.memory_limit_mib, 96);
  EXPECT_EQ(c.queue.process_memory_limit_mib, 600);
  EXPECT_EQ(c.grpc.endpoint, "127.0.0.1:0");
  EXPECT_EQ(c.http.endpoint, "127.0.0.1:0");
  EXPECT_EQ(c.admin.endpoint, "127.0.0.1:0");
  EXPECT_EQ(c.exporter.dynatrace.endpoint, "https://flag.live.dynatrace.com/api/v2/otlp");
  EXPECT_EQ(c.exporter.dynatrace.api_token, "flag-token-456");
  EXPECT_EQ(c.reparent.hold_window, absl::Seconds(2));
  EXPECT_EQ(c.log.level, LogLevel::kWarn);
  EXPECT_EQ(ResolveExporterType(c), ExporterType::kDynatrace);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);

  ConfigOverrides bad;
  bad.hold_window = "ten";
  EXPECT_THAT(ApplyFlagOverrides(bad, &c), StatusHasMessage("--hold-window"));
  bad = {};
  bad.log_level = "chatty";
  EXPECT_THAT(ApplyFlagOverrides(bad, &c), StatusHasMessage("--log-level"));
  bad = {};
  bad.memory_limit_mib = "-5";
  EXPECT_THAT(ApplyFlagOverrides(bad, &c), StatusHasMessage("--memory-limit-mib"));
  bad = {};
  bad.process_memory_limit_mib = "lots";
  EXPECT_THAT(ApplyFlagOverrides(bad, &c), StatusHasMessage("--process-memory-limit-mib"));
}

TEST_F(ConfigTest, ParsesOverrideFlagsAndKeepsTheRest) {
  std::vector<std::string> rest;
  absl::StatusOr<ConfigOverrides> o = ParseOverrideFlags(
      {"--config=/etc/gw.yaml", "--grpc-endpoint=127.0.0.1:1", "--hold-window", "3s", "--dt-api-token=abc", "x"},
      &rest);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->grpc_endpoint, "127.0.0.1:1");
  EXPECT_EQ(o->hold_window, "3s");
  EXPECT_EQ(o->dt_api_token, "abc");
  EXPECT_FALSE(o->http_endpoint.has_value());
  EXPECT_EQ(rest, (std::vector<std::string>{"--config=/etc/gw.yaml", "x"}));
  EXPECT_THAT(ParseOverrideFlags({"--log-level"}, &rest).status(), StatusHasMessage("--log-level: missing value"));
}

TEST_F(ConfigTest, RenderingRedactsEverySecret) {
  GatewayConfig c = LoadOk(R"yaml(
receivers:
  grpc: {auth: {bearer_token: grpc-bearer-SECRET1}}
  http: {auth: {bearer_token: http-bearer-SECRET2}}
exporter:
  dynatrace: {endpoint: "https://x.live.dynatrace.com/api/v2/otlp", api_token: dt0c01.SECRET3}
  otlphttp: {endpoint: "http://c:4318", headers: {authorization: "Bearer SECRET4"}}
)yaml");
  std::string text = RenderEffectiveConfig(c);
  for (std::string_view secret : {"SECRET1", "SECRET2", "SECRET3", "SECRET4"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(text, HasSubstr("api_token: \"REDACTED\""));
  EXPECT_THAT(text, HasSubstr("x.live.dynatrace.com"));
  std::vector<std::string> secrets = ConfigSecrets(c);
  EXPECT_EQ(secrets.size(), 4u);
}

TEST_F(ConfigTest, LoadsExampleDeployConfig) {
  // The example shipped in deploy/config/gateway.yaml must load and validate.
  EnvLookup env = MapEnv({{"DT_ENDPOINT", "https://abc12345.live.dynatrace.com/api/v2/otlp"},
                          {"DT_API_TOKEN", "dt0c01.EXAMPLE"}});
  absl::StatusOr<GatewayConfig> c = LoadConfigFile("deploy/config/gateway.yaml", env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(ValidateConfig(*c).ok()) << ValidateConfig(*c);
  EXPECT_EQ(ResolveExporterType(*c), ExporterType::kDynatrace);
  EXPECT_THAT(LoadConfigFile("deploy/config/does_not_exist.yaml", env).status(),
              StatusHasMessage("does_not_exist.yaml"));
}

}  // namespace
TEST_F(ConfigTest, CleartextDynatraceEndpointOffLoopbackIsRefusedUnlessAllowed) {
  GatewayConfig c = LoadOk(R"yaml(
exporter:
  dynatrace: {endpoint: "http://activegate.internal:9999/e/abc/api/v2/otlp", api_token: "dt0c01.abcdefgh"}
)yaml");
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("cleartext"));
  c.exporter.dynatrace.allow_insecure_http = true;
  EXPECT_TRUE(ValidateConfig(c).ok());
  GatewayConfig allowed = LoadOk(R"yaml(
exporter:
  dynatrace: {endpoint: "http://activegate.internal:9999/e/abc/api/v2/otlp", api_token: "dt0c01.abcdefgh",
              allow_insecure_http: true}
)yaml");
  EXPECT_TRUE(allowed.exporter.dynatrace.allow_insecure_http);
  GatewayConfig loopback = LoadOk(R"yaml(
exporter:
  dynatrace: {endpoint: "http://127.0.0.1:9999/api/v2/otlp", api_token: "dt0c01.abcdefgh"}
)yaml");
  EXPECT_TRUE(ValidateConfig(loopback).ok());
}

TEST_F(ConfigTest, DrainDelayIsReadAndDefaultsToNone) {
  EXPECT_EQ(LoadOk("").shutdown.drain_delay, absl::ZeroDuration());
  EXPECT_EQ(LoadOk("shutdown: {drain_delay: 5s}\n").shutdown.drain_delay, absl::Seconds(5));
}

TEST_F(ConfigTest, StatusTokenIsReadAndTreatedAsASecret) {
  GatewayConfig c = LoadOk("admin: {endpoint: \"0.0.0.0:13133\", status_token: \"s3cret-status\"}\n");
  EXPECT_EQ(c.admin.status_token, "s3cret-status");
  const std::vector<std::string> secrets = ConfigSecrets(c);
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "s3cret-status"), secrets.end());
}

// A readable file of the test's own: its path.
std::string WriteTestFile(const std::string& name, const std::string& contents) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

TEST_F(ConfigTest, CaFileIsReadFromYamlOrEnvAndMustBeReadable) {
  const std::string ca = WriteTestFile("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  GatewayConfig c = LoadOk("exporter: {ca_file: \"" + ca + "\"}\n");
  EXPECT_EQ(c.exporter.ca_file, ca);
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_THAT(RenderEffectiveConfig(c), HasSubstr("ca_file: \"" + ca + "\""));
  EXPECT_EQ(LoadOk("", MapEnv({{"DT_CA_FILE", ca}})).exporter.ca_file, ca);
  EXPECT_EQ(LoadOk("exporter: {ca_file: /etc/other.pem}\n", MapEnv({{"DT_CA_FILE", ca}})).exporter.ca_file,
            "/etc/other.pem");

  c.exporter.ca_file = ca + ".missing";
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("exporter.ca_file: cannot read \"" + ca + ".missing\""));
}

TEST_F(ConfigTest, ApiTokenFileStandsInForTheTokenAndMustBeReadable) {
  const std::string token = WriteTestFile("dt_token", "dt0c01.FROMFILEFROMFILE\n");
  GatewayConfig c = LoadOk("exporter:\n  dynatrace: {endpoint: \"https://abc.live.dynatrace.com/api/v2/otlp\", "
                           "api_token_file: \"" + token + "\"}\n");
  EXPECT_EQ(c.exporter.dynatrace.api_token_file, token);
  EXPECT_TRUE(c.exporter.dynatrace.api_token.empty());
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_THAT(RenderEffectiveConfig(c), HasSubstr("api_token_file: \"" + token + "\""));
  c.exporter.dynatrace.api_token_file = token + ".missing";
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("exporter.dynatrace.api_token_file: cannot read"));
  c.exporter.dynatrace.api_token_file.clear();
  EXPECT_THAT(ValidateConfig(c), StatusHasMessage("api_token_file"));
}

}  // namespace gateway
