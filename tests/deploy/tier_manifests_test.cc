// Checks the two-tier manifests (deploy/k8s/tier.yaml,
// deploy/cloudformation/ecs-tier.yaml): the Collector configuration they
// carry passes the real Collector's `validate` (tests/go/collector, the
// release the tests run), routes by trace id to the gateways' discovery
// name, and the timings agree with each other and with the gateway's
// example config (docs/scale-out.md): the resolver's interval is below the
// drain delay, SIGKILL comes after drain delay + drain, and one export's
// timeout + retry stays below the hold window.
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/otel_collector.h"
#include "tests/scaleout/tier_processes.h"
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

absl::Duration Duration(const YAML::Node& node) {
  absl::Duration d;
  EXPECT_TRUE(node.IsScalar() && absl::ParseDuration(node.as<std::string>(), &d)) << YAML::Dump(node);
  return d;
}

GatewayConfig ExampleConfig() {
  absl::StatusOr<GatewayConfig> config =
      LoadConfigFile("deploy/config/gateway.yaml", MapEnv({{"DT_ENDPOINT", "https://x/api/v2/otlp"},
                                                             {"DT_API_TOKEN", "t"},
                                                             {"GATEWAY_CROSS_PROCESS", "true"}}));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : GatewayConfig{};
}

// A tier replica's environment, as the image's config file reads it: a
// central gateway (cross_process) that does not wait for producers it will
// never see (no fate store in these manifests; docs/scale-out.md).
void ExpectTierReplicaEnv(const std::map<std::string, std::string>& env) {
  ASSERT_TRUE(env.count("GATEWAY_CROSS_PROCESS") && env.count("GATEWAY_WAIT_FOR_LINK_FATE"));
  absl::StatusOr<GatewayConfig> config = LoadConfigFile(
      "deploy/config/gateway.yaml",
      MapEnv({{"DT_ENDPOINT", "https://x/api/v2/otlp"},
              {"DT_API_TOKEN", "t"},
              {"GATEWAY_CROSS_PROCESS", env.at("GATEWAY_CROSS_PROCESS")},
              {"GATEWAY_WAIT_FOR_LINK_FATE", env.at("GATEWAY_WAIT_FOR_LINK_FATE")}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->reparent.cross_process);
  EXPECT_FALSE(config->reparent.wait_for_link_fate);
  EXPECT_EQ(config->fate_store.type, FateStoreType::kNone) << "with a fate store, waiting may be worth it";
}

// The value of --drain-delay in a container's args.
absl::Duration DrainDelay(const YAML::Node& args) {
  for (const YAML::Node& arg : args) {
    const std::string a = arg.as<std::string>();
    absl::Duration d;
    if (absl::StartsWith(a, "--drain-delay=") && absl::ParseDuration(a.substr(14), &d)) return d;
  }
  ADD_FAILURE() << "no --drain-delay in " << YAML::Dump(args);
  return absl::ZeroDuration();
}

// `otelcol validate` on `config`.
void ExpectCollectorAccepts(const std::string& config, const std::string& name) {
  absl::StatusOr<std::string> binary = testing::OtelCollector::FindBinary();
  ASSERT_TRUE(binary.ok()) << binary.status();
  const std::string path = absl::StrCat(scaleout::TestDir(), "/", name, ".yaml");
  std::ofstream(path) << config;
  const std::string log_path = absl::StrCat(scaleout::TestDir(), "/", name, ".log");
  testing::ChildProcessOptions options;
  options.argv = {*binary, "validate", "--config=" + path};
  options.stdout_to = testing::ChildOutput::File(log_path);
  options.stderr_to = options.stdout_to;
  options.stdin_from_dev_null = true;
  absl::StatusOr<std::unique_ptr<testing::ChildProcess>> process = testing::ChildProcess::Start(options);
  ASSERT_TRUE(process.ok()) << process.status();
  const std::optional<int> status = (*process)->Wait(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << name << ":\n" << ReadFile(log_path);
}

// What both manifests' Collector configs must say.
void ExpectTierCollector(const YAML::Node& collector, absl::Duration hold_window) {
  const YAML::Node lb = collector["exporters"]["load_balancing"];
  ASSERT_TRUE(lb.IsMap());
  EXPECT_EQ(lb["routing_key"].as<std::string>(), "traceID");
  // Refused spans come back to be routed again with the current list.
  EXPECT_TRUE(lb["retry_on_failure"]["enabled"].as<bool>());
  EXPECT_TRUE(lb["sending_queue"]["enabled"].as<bool>());
  const YAML::Node otlp = lb["protocol"]["otlp"];
  EXPECT_FALSE(otlp["sending_queue"]["enabled"].as<bool>()) << "a per-gateway queue would hide failures from the "
                                                               "load_balancing retry";
  const absl::Duration one_export = Duration(otlp["timeout"]) + Duration(otlp["retry_on_failure"]["max_elapsed_time"]);
  // Half the hold window covers the SDKs' own batch delay (5 s of 10 s).
  EXPECT_LT(one_export, hold_window / 2) << "a failing replica would delay the others' spans past the hold window";
  const YAML::Node pipelines = collector["service"]["pipelines"];
  EXPECT_EQ(pipelines["traces"]["exporters"][0].as<std::string>(), "load_balancing");
  // Metrics and logs reach the gateways too, a service's streams on one replica.
  for (const char* signal : {"metrics", "logs"}) {
    const std::string exporter = pipelines[signal]["exporters"][0].as<std::string>();
    EXPECT_EQ(collector["exporters"][exporter]["routing_key"].as<std::string>(), "service") << signal;
    EXPECT_EQ(YAML::Dump(collector["exporters"][exporter]["resolver"]),
              YAML::Dump(collector["exporters"]["load_balancing"]["resolver"]))
        << signal << " go to the same gateways";
  }
}

TEST(TierManifestsTest, KubernetesHeadlessServiceFeedsTheCollectorsDnsResolver) {
  const GatewayConfig example = ExampleConfig();
  std::vector<YAML::Node> docs = YAML::LoadAll(ReadFile("deploy/k8s/tier.yaml"));
  YAML::Node headless, gateway, config_map, collector_deployment;
  for (const YAML::Node& doc : docs) {
    const std::string kind = doc["kind"].as<std::string>();
    const std::string name = doc["metadata"]["name"].as<std::string>();
    if (kind == "Service" && name == "otlp-gateway-headless") headless = doc;
    if (kind == "Deployment" && name == "otlp-gateway") gateway = doc;
    if (kind == "ConfigMap") config_map = doc;
    if (kind == "Deployment" && name == "otel-collector-tier") collector_deployment = doc;
  }
  ASSERT_TRUE(headless && gateway && config_map && collector_deployment);

  EXPECT_EQ(headless["spec"]["clusterIP"].as<std::string>(), "None");
  const YAML::Node pod = gateway["spec"]["template"];
  EXPECT_EQ(headless["spec"]["selector"]["app"].as<std::string>(), pod["metadata"]["labels"]["app"].as<std::string>());
  EXPECT_EQ(gateway["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 0);
  const YAML::Node container = pod["spec"]["containers"][0];
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  std::map<std::string, std::string> env;
  for (const YAML::Node& e : container["env"]) {
    if (e["value"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  }
  ExpectTierReplicaEnv(env);
  const absl::Duration drain_delay = DrainDelay(container["args"]);
  EXPECT_GT(absl::Seconds(pod["spec"]["terminationGracePeriodSeconds"].as<int>()),
            drain_delay + example.shutdown.drain_timeout);

  const std::string collector_yaml = config_map["data"]["collector.yaml"].as<std::string>();
  const YAML::Node collector = YAML::Load(collector_yaml);
  ExpectTierCollector(collector, example.reparent.hold_window);
  const YAML::Node dns = collector["exporters"]["load_balancing"]["resolver"]["dns"];
  ASSERT_TRUE(dns.IsMap());
  EXPECT_THAT(dns["hostname"].as<std::string>(),
              ::testing::StartsWith(absl::StrCat("otlp-gateway-headless.", headless["metadata"]["namespace"].as<std::string>(),
                                                 ".svc.")));
  EXPECT_EQ(dns["port"].as<std::string>(), headless["spec"]["ports"][0]["port"].as<std::string>());
  // The pod leaves the DNS answer (TTL 5 s) at SIGTERM; the Collectors must
  // have resolved again before the gateway stops receiving.
  EXPECT_LT(Duration(dns["interval"]) + absl::Seconds(5), drain_delay);
  EXPECT_EQ(collector_deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"].as<std::string>(),
            config_map["metadata"]["name"].as<std::string>());
  ExpectCollectorAccepts(collector_yaml, "k8s-tier-collector");
}

TEST(TierManifestsTest, EcsGatewaysRegisterInCloudMapThatTheCollectorsResolve) {
  const GatewayConfig example = ExampleConfig();
  const YAML::Node root = YAML::Load(ReadFile("deploy/cloudformation/ecs-tier.yaml"));
  const YAML::Node resources = root["Resources"];
  ASSERT_TRUE(resources.IsMap());
  const YAML::Node gateway = resources["GatewayTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
  const absl::Duration drain_delay = DrainDelay(gateway["Command"]);
  const absl::Duration stop_timeout = absl::Seconds(gateway["StopTimeout"].as<int>());
  EXPECT_GT(stop_timeout, drain_delay + example.shutdown.drain_timeout);
  EXPECT_LE(stop_timeout, absl::Seconds(120)) << "Fargate's maximum stopTimeout";
  EXPECT_EQ(gateway["PortMappings"][0]["ContainerPort"].as<int>(), 4317);
  std::map<std::string, std::string> gateway_env;
  for (const YAML::Node& e : gateway["Environment"]) {
    if (e["Value"].IsScalar()) gateway_env[e["Name"].as<std::string>()] = e["Value"].as<std::string>();
  }
  ExpectTierReplicaEnv(gateway_env);
  EXPECT_EQ(resources["GatewayService"]["Properties"]["ServiceRegistries"][0]["RegistryArn"].as<std::string>(),
            "GatewayDiscovery.Arn");
  EXPECT_EQ(resources["GatewayService"]["Properties"]["DeploymentConfiguration"]["MinimumHealthyPercent"].as<int>(),
            100);

  const YAML::Node collector_container = resources["CollectorTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
  EXPECT_EQ(collector_container["Command"][0].as<std::string>(), "--config=env:COLLECTOR_CONFIG");
  const YAML::Node env = collector_container["Environment"][0];
  EXPECT_EQ(env["Name"].as<std::string>(), "COLLECTOR_CONFIG");
  EXPECT_EQ(env["Value"].Tag(), "!Sub");
  const std::string collector_yaml =
      absl::StrReplaceAll(env["Value"].as<std::string>(), {{"${NamespaceName}", "otlp-tier.internal"}});
  EXPECT_THAT(collector_yaml, ::testing::Not(HasSubstr("${")));
  const YAML::Node collector = YAML::Load(collector_yaml);
  ExpectTierCollector(collector, example.reparent.hold_window);
  const YAML::Node cloud_map = collector["exporters"]["load_balancing"]["resolver"]["aws_cloud_map"];
  ASSERT_TRUE(cloud_map.IsMap());
  EXPECT_EQ(cloud_map["namespace"].as<std::string>(), "otlp-tier.internal");
  EXPECT_EQ(cloud_map["service_name"].as<std::string>(),
            resources["GatewayDiscovery"]["Properties"]["Name"].as<std::string>());
  EXPECT_EQ(cloud_map["port"].as<int>(), 4317);
  EXPECT_LT(Duration(cloud_map["interval"]) * 2, drain_delay);
  EXPECT_EQ(resources["CollectorTaskDefinition"]["Properties"]["TaskRoleArn"].as<std::string>(),
            "CollectorTaskRole.Arn");
  ExpectCollectorAccepts(collector_yaml, "ecs-tier-collector");
}

}  // namespace
}  // namespace gateway
