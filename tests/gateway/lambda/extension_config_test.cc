// Extension-mode configuration: sandbox defaults, the function's own OTLP
// target ignored, clear errors for what is missing, the file and flags over
// the defaults, secrets resolved.
#include "gateway/lambda/extension_config.h"

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace gateway::lambda {
namespace {

constexpr char kEndpoint[] = "https://abc12345.live.dynatrace.com/api/v2/otlp";

std::map<std::string, std::string> LambdaEnv() {
  return {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
          {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"},
          {"DT_ENDPOINT", kEndpoint},
          {"DT_API_TOKEN", "dt0c01.ABC"},
          // The function's SDK settings, pointing at this extension.
          {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"},
          {"OTEL_EXPORTER_OTLP_HEADERS", "x-a=b"}};
}

TEST(ExtensionConfigTest, SettingsComeFromTheEnvironmentAndTheFileName) {
  absl::StatusOr<ExtensionSettings> s = ExtensionSettingsFromEnv(
      MapEnv({{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"}, {"GATEWAY_LAMBDA_FLUSH_TIMEOUT", "750ms"},
              {"GATEWAY_LAMBDA_TELEMETRY_PORT", "4999"}}),
      "/opt/extensions/otlp-reparent-gateway");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->runtime_api, "127.0.0.1:9001");
  EXPECT_EQ(s->extension_name, "otlp-reparent-gateway");
  EXPECT_EQ(s->flush_timeout, absl::Milliseconds(750));
  EXPECT_EQ(s->telemetry_port, 4999);
  EXPECT_EQ(s->telemetry_host, "sandbox.localdomain");
  EXPECT_TRUE(s->release_program_pages);
  s = ExtensionSettingsFromEnv(
      MapEnv({{"AWS_LAMBDA_RUNTIME_API", "h:1"}, {"GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES", "false"}}), "x");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->release_program_pages);
}

TEST(ExtensionConfigTest, BadSettingsNameTheirVariable) {
  EXPECT_NE(std::string(ExtensionSettingsFromEnv(MapEnv({}), "x").status().message()).find("AWS_LAMBDA_RUNTIME_API"),
            std::string::npos);
  absl::StatusOr<ExtensionSettings> s = ExtensionSettingsFromEnv(
      MapEnv({{"AWS_LAMBDA_RUNTIME_API", "h:1"}, {"GATEWAY_LAMBDA_FLUSH_TIMEOUT", "2"}}), "x");
  EXPECT_NE(std::string(s.status().message()).find("GATEWAY_LAMBDA_FLUSH_TIMEOUT"), std::string::npos);
  s = ExtensionSettingsFromEnv(MapEnv({{"AWS_LAMBDA_RUNTIME_API", "h:1"}, {"GATEWAY_LAMBDA_TELEMETRY_PORT", "9001"}}),
                               "x");
  EXPECT_NE(std::string(s.status().message()).find("GATEWAY_LAMBDA_TELEMETRY_PORT"), std::string::npos);
  s = ExtensionSettingsFromEnv(
      MapEnv({{"AWS_LAMBDA_RUNTIME_API", "h:1"}, {"GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES", "sometimes"}}), "x");
  EXPECT_NE(std::string(s.status().message()).find("GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES"), std::string::npos);
}

TEST(ExtensionConfigTest, DefaultsSuitASmallSandbox) {
  absl::StatusOr<GatewayConfig> c = LoadExtensionConfig(MapEnv(LambdaEnv()), "", {}, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->grpc.endpoint, "127.0.0.1:4317");
  EXPECT_EQ(c->http.endpoint, "127.0.0.1:4318");
  EXPECT_EQ(c->http.threads, 1);
  EXPECT_EQ(c->reparent.shards, 1);
  EXPECT_EQ(c->queue.memory_limit_mib, 16);  // 128 MB / 8
  EXPECT_EQ(c->queue.process_memory_limit_mib, -1);
  EXPECT_EQ(ResolveExporterType(*c), ExporterType::kDynatrace);
  EXPECT_EQ(c->exporter.dynatrace.endpoint, kEndpoint);
  // The function's OTEL_EXPORTER_OTLP_* point at this extension: not a target.
  EXPECT_EQ(c->exporter.otlphttp.endpoint, "");
  EXPECT_TRUE(c->exporter.otlphttp.headers.empty());
}

TEST(ExtensionConfigTest, TheTelemetryBudgetFollowsTheFunctionsMemory) {
  std::map<std::string, std::string> env = LambdaEnv();
  env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "10240";
  EXPECT_EQ(LoadExtensionConfig(MapEnv(env), "", {}, nullptr)->queue.memory_limit_mib, 64);
  env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "16";
  EXPECT_EQ(LoadExtensionConfig(MapEnv(env), "", {}, nullptr)->queue.memory_limit_mib, 4);
}

TEST(ExtensionConfigTest, NoEndpointIsAClearError) {
  std::map<std::string, std::string> env = LambdaEnv();
  env.erase("DT_ENDPOINT");
  absl::StatusOr<GatewayConfig> c = LoadExtensionConfig(MapEnv(env), "", {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()).rfind("DT_ENDPOINT is not set", 0), 0u) << c.status();
}

TEST(ExtensionConfigTest, NoTokenIsAClearError) {
  std::map<std::string, std::string> env = LambdaEnv();
  env.erase("DT_API_TOKEN");
  absl::StatusOr<GatewayConfig> c = LoadExtensionConfig(MapEnv(env), "", {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()).rfind("DT_API_TOKEN is not set", 0), 0u) << c.status();
}

TEST(ExtensionConfigTest, TheTokenIsResolvedWhenItNamesASecret) {
  std::map<std::string, std::string> env = LambdaEnv();
  env["DT_API_TOKEN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dt-AbCdEf";
  absl::StatusOr<GatewayConfig> c =
      LoadExtensionConfig(MapEnv(env), "", {}, [](const std::string& value) -> absl::StatusOr<std::string> {
        return value.rfind("arn:", 0) == 0 ? "dt0c01.RESOLVED" : value;
      });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->exporter.dynatrace.api_token, "dt0c01.RESOLVED");
  c = LoadExtensionConfig(MapEnv(env), "", {},
                          [](const std::string&) -> absl::StatusOr<std::string> {
                            return absl::PermissionDeniedError("secretsmanager: HTTP 400 AccessDeniedException");
                          });
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()), "DT_API_TOKEN: secretsmanager: HTTP 400 AccessDeniedException");
}

TEST(ExtensionConfigTest, TheFileAndFlagsGoOverTheDefaults) {
  const std::string path = ::testing::TempDir() + "/extension.yaml";
  {
    std::ofstream out(path);
    out << "receivers:\n  http:\n    endpoint: 127.0.0.1:14318\nreparent:\n  shards: 2\n";
  }
  ConfigOverrides flags;
  flags.grpc_endpoint = "127.0.0.1:14317";
  absl::StatusOr<GatewayConfig> c = LoadExtensionConfig(MapEnv(LambdaEnv()), path, flags, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http.endpoint, "127.0.0.1:14318");
  EXPECT_EQ(c->grpc.endpoint, "127.0.0.1:14317");
  EXPECT_EQ(c->reparent.shards, 2);
  EXPECT_EQ(c->http.threads, 1) << "extension default kept where the file says nothing";
  std::remove(path.c_str());

  absl::StatusOr<GatewayConfig> missing = LoadExtensionConfig(MapEnv(LambdaEnv()), "/nonexistent.yaml", {}, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent.yaml"), std::string::npos);
}

TEST(ExtensionConfigTest, TheCaBundleIsTheSandboxes) {
  auto only = [](std::string present) {
    return [present](const std::string& path) { return path == present; };
  };
  // Amazon Linux 2023 (the Lambda runtimes) first, then Debian's.
  EXPECT_EQ(FindCaBundle(MapEnv({}), only("/etc/pki/tls/certs/ca-bundle.crt")), "/etc/pki/tls/certs/ca-bundle.crt");
  EXPECT_EQ(FindCaBundle(MapEnv({}), only("/etc/ssl/certs/ca-certificates.crt")),
            "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(FindCaBundle(MapEnv({{"SSL_CERT_FILE", "/var/task/ca.pem"}}), only("/etc/ssl/cert.pem")),
            "/var/task/ca.pem");
  EXPECT_EQ(FindCaBundle(MapEnv({}), only("/nowhere")), "");
}

TEST(ExtensionConfigTest, AnExplicitDebugExporterNeedsNoEndpoint) {
  std::map<std::string, std::string> env = LambdaEnv();
  env.erase("DT_ENDPOINT");
  ConfigOverrides flags;
  flags.exporter_type = "debug";
  absl::StatusOr<GatewayConfig> c = LoadExtensionConfig(MapEnv(env), "", flags, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ResolveExporterType(*c), ExporterType::kDebug);
}

}  // namespace
}  // namespace gateway::lambda
