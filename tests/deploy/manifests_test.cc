// Checks the deployment manifests: they parse, and the settings that make the
// gateway work in each mode are present and agree with the gateway's config.
#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

boost::json::object ReadJson(const std::string& path) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(ReadFile(path), ec);
  EXPECT_FALSE(ec) << path << ": " << ec.message();
  return ec || !v.is_object() ? boost::json::object() : v.as_object();
}

const boost::json::object* FindByName(const boost::json::array& items, std::string_view name) {
  for (const boost::json::value& item : items) {
    if (item.is_object() && item.as_object().contains("name") && item.at("name").as_string() == name) {
      return &item.as_object();
    }
  }
  return nullptr;
}

// The drain the example config asks for; ECS/Kubernetes must wait longer.
absl::Duration ExampleDrainTimeout() {
  absl::StatusOr<GatewayConfig> config =
      LoadConfigFile("deploy/config/gateway.yaml", MapEnv({{"DT_ENDPOINT", "https://x/api/v2/otlp"},
                                                             {"DT_API_TOKEN", "t"}}));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? config->shutdown.drain_timeout : absl::ZeroDuration();
}

class ManifestsTest : public ::testing::Test {};

void ExpectGatewayContainer(const boost::json::object& gateway, absl::Duration drain) {
  const boost::json::array& command = gateway.at("healthCheck").at("command").as_array();
  ASSERT_GE(command.size(), 2u);
  EXPECT_EQ(command[0].as_string(), "CMD");
  EXPECT_THAT(std::string(command[command.size() - 1].as_string()), HasSubstr("/healthz"));
  // SIGKILL must come after the drain has had its time.
  EXPECT_GT(absl::Seconds(gateway.at("stopTimeout").to_number<int64_t>()), drain);
  // The token comes from Secrets Manager, never from plain environment.
  const boost::json::object* token = FindByName(gateway.at("secrets").as_array(), "DT_API_TOKEN");
  ASSERT_NE(token, nullptr);
  EXPECT_THAT(std::string(token->at("valueFrom").as_string()), HasSubstr("arn:aws:secretsmanager:"));
  EXPECT_EQ(FindByName(gateway.at("environment").as_array(), "DT_API_TOKEN"), nullptr);
  EXPECT_NE(FindByName(gateway.at("environment").as_array(), "DT_ENDPOINT"), nullptr);
  EXPECT_THAT(std::string(gateway.at("user").as_string()), ::testing::Not(::testing::StartsWith("0:")));
}

TEST_F(ManifestsTest, EcsSidecarTaskStartsTheAppAfterAHealthyGateway) {
  boost::json::object task = ReadJson("deploy/ecs/sidecar-task-definition.json");
  ASSERT_TRUE(task.contains("containerDefinitions"));
  const boost::json::array& containers = task.at("containerDefinitions").as_array();
  const boost::json::object* gateway = FindByName(containers, "otlp-gateway");
  const boost::json::object* app = FindByName(containers, "app");
  ASSERT_NE(gateway, nullptr);
  ASSERT_NE(app, nullptr);
  ExpectGatewayContainer(*gateway, ExampleDrainTimeout());

  const boost::json::array& depends = app->at("dependsOn").as_array();
  ASSERT_EQ(depends.size(), 1u);
  EXPECT_EQ(depends[0].at("containerName").as_string(), "otlp-gateway");
  EXPECT_EQ(depends[0].at("condition").as_string(), "HEALTHY");
  const boost::json::object* endpoint = FindByName(app->at("environment").as_array(), "OTEL_EXPORTER_OTLP_ENDPOINT");
  ASSERT_NE(endpoint, nullptr);
  EXPECT_EQ(endpoint->at("value").as_string(), "http://localhost:4318");
  // The app stops first (reverse dependency order) and must be done before
  // the gateway is.
  EXPECT_LE(app->at("stopTimeout").to_number<int64_t>(), gateway->at("stopTimeout").to_number<int64_t>());
  EXPECT_EQ(task.at("networkMode").as_string(), "awsvpc");
}

TEST_F(ManifestsTest, EcsServiceTaskExposesOtlpAndAdmin) {
  boost::json::object task = ReadJson("deploy/ecs/service-task-definition.json");
  const boost::json::array& containers = task.at("containerDefinitions").as_array();
  ASSERT_EQ(containers.size(), 1u);
  const boost::json::object& gateway = containers[0].as_object();
  ExpectGatewayContainer(gateway, ExampleDrainTimeout());
  std::vector<int64_t> ports;
  for (const boost::json::value& m : gateway.at("portMappings").as_array()) {
    ports.push_back(m.at("containerPort").to_number<int64_t>());
  }
  EXPECT_THAT(ports, ::testing::UnorderedElementsAre(4317, 4318, 13133));
  const boost::json::object* cross = FindByName(gateway.at("environment").as_array(), "GATEWAY_CROSS_PROCESS");
  ASSERT_NE(cross, nullptr);
  EXPECT_EQ(cross->at("value").as_string(), "true");
  const boost::json::object* admin = FindByName(gateway.at("environment").as_array(), "GATEWAY_ADMIN_ENDPOINT");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->at("value").as_string(), "0.0.0.0:13133");
}

TEST_F(ManifestsTest, ServiceEnvironmentMakesAValidCentralConfig) {
  absl::StatusOr<GatewayConfig> config = LoadConfigFile(
      "deploy/config/gateway.yaml", MapEnv({{"DT_ENDPOINT", "https://abc.live.dynatrace.com/api/v2/otlp"},
                                            {"DT_API_TOKEN", "dt0c01.x"},
                                            {"GATEWAY_ADMIN_ENDPOINT", "0.0.0.0:13133"},
                                            {"GATEWAY_CROSS_PROCESS", "true"},
                                            {"GATEWAY_MEMORY_LIMIT_MIB", "1024"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->reparent.cross_process);
  EXPECT_EQ(config->queue.memory_limit_mib, 1024);
  EXPECT_EQ(config->admin.endpoint, "0.0.0.0:13133");
  EXPECT_TRUE(ValidateConfig(*config).ok()) << ValidateConfig(*config);
}

TEST_F(ManifestsTest, KubernetesSidecarIsANativeSidecarWithProbes) {
  std::vector<YAML::Node> docs = YAML::LoadAll(ReadFile("deploy/k8s/sidecar.yaml"));
  ASSERT_EQ(docs.size(), 1u);
  const YAML::Node& deployment = docs[0];
  EXPECT_EQ(deployment["kind"].as<std::string>(), "Deployment");
  const YAML::Node spec = deployment["spec"]["template"]["spec"];
  EXPECT_GT(absl::Seconds(spec["terminationGracePeriodSeconds"].as<int>()), ExampleDrainTimeout());
  const YAML::Node gateway = spec["initContainers"][0];
  EXPECT_EQ(gateway["name"].as<std::string>(), "otlp-gateway");
  EXPECT_EQ(gateway["restartPolicy"].as<std::string>(), "Always");
  EXPECT_EQ(gateway["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(gateway["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_TRUE(gateway["securityContext"]["runAsNonRoot"].as<bool>());
  bool token_from_secret = false;
  for (const YAML::Node& env : gateway["env"]) {
    if (env["name"].as<std::string>() == "DT_API_TOKEN") {
      token_from_secret = env["valueFrom"]["secretKeyRef"].IsMap() && !env["value"];
    }
  }
  EXPECT_TRUE(token_from_secret);
  const YAML::Node app = spec["containers"][0];
  bool points_at_gateway = false;
  for (const YAML::Node& env : app["env"]) {
    if (env["name"].as<std::string>() == "OTEL_EXPORTER_OTLP_ENDPOINT") {
      points_at_gateway = env["value"].as<std::string>() == "http://localhost:4318";
    }
  }
  EXPECT_TRUE(points_at_gateway);
}

TEST_F(ManifestsTest, CloudFormationTemplateParsesWithIntrinsicTags) {
  // yaml-cpp keeps !Ref, !Sub and !GetAtt as tags on ordinary nodes.
  YAML::Node root = YAML::Load(ReadFile("deploy/cloudformation/ecs-service.yaml"));
  ASSERT_TRUE(root["Resources"].IsMap());
  const YAML::Node resources = root["Resources"];
  for (const char* name : {"TaskDefinition", "Service", "LoadBalancer", "GrpcTargetGroup", "HttpTargetGroup",
                           "ExecutionRole"}) {
    EXPECT_TRUE(resources[name].IsMap()) << name;
  }
  EXPECT_EQ(resources["Service"]["Type"].as<std::string>(), "AWS::ECS::Service");
  const YAML::Node container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0];
  EXPECT_GT(absl::Seconds(container["StopTimeout"].as<int>()), ExampleDrainTimeout());
  const YAML::Node secret = container["Secrets"][0];
  EXPECT_EQ(secret["Name"].as<std::string>(), "DT_API_TOKEN");
  EXPECT_EQ(secret["ValueFrom"].Tag(), "!Ref");
  EXPECT_EQ(secret["ValueFrom"].as<std::string>(), "DynatraceTokenSecretArn");
  EXPECT_EQ(resources["TaskDefinition"]["Properties"]["ExecutionRoleArn"].Tag(), "!GetAtt");
  for (const char* group : {"GrpcTargetGroup", "HttpTargetGroup"}) {
    EXPECT_EQ(resources[group]["Properties"]["HealthCheckPath"].as<std::string>(), "/readyz") << group;
  }
  EXPECT_EQ(root["Parameters"]["DesiredCount"]["Default"].as<int>(), 1);
}

TEST_F(ManifestsTest, DockerfileIsMultiStageNonRootWithHealthcheck) {
  std::string dockerfile = ReadFile("deploy/Dockerfile");
  EXPECT_THAT(dockerfile, HasSubstr("ARG BASE_IMAGE=localhost/debian:bookworm"));
  EXPECT_THAT(dockerfile, HasSubstr("AS build"));
  EXPECT_THAT(dockerfile, HasSubstr("AS runtime"));
  EXPECT_THAT(dockerfile, HasSubstr("bazel --output_user_root=/tmp/bazel build -c opt //gateway:otlp_gateway"));
  EXPECT_THAT(dockerfile, HasSubstr("EXPOSE 4317 4318 13133"));
  EXPECT_THAT(dockerfile, HasSubstr("USER 10001:10001"));
  EXPECT_THAT(dockerfile, HasSubstr("HEALTHCHECK"));
  for (const char* lib : {"libgrpc++1.51", "libprotobuf32", "libabsl20220623", "libcurl4", "libyaml-cpp0.7",
                          "zlib1g", "libisal2", "ca-certificates"}) {
    EXPECT_THAT(dockerfile, HasSubstr(lib));
  }
}

}  // namespace
}  // namespace gateway
