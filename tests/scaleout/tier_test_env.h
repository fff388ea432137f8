// A gtest fixture for the two-tier tests: up to four gateway replicas (the
// real binary, $GATEWAY_BINARY), each exporting to its own FakeDynatrace so
// that every span's exporter is known; two Collector replicas whose
// loadbalancing exporter finds the gateways, re-resolving every second,
// through either
//   - a FakeCloudMap (the ECS service-discovery variant; the default), or
//   - DNS (the Kubernetes headless Service variant): replica i listens on
//     127.0.0.<i+1>, all on one gRPC port, and the Collectors resolve one
//     name from an /etc/hosts of their own (CollectorReplicaOptions::hosts_file);
//   - the `k8s` resolver: the same addresses, in the EndpointSlice of a
//     FakeKubeApi that the Collectors reach through KUBECONFIG.
//
//   class MyTest : public TierTest {};
//   TEST_F(MyTest, ...) {
//     StartGateway(0); StartGateway(1);
//     PublishGateways({0, 1});
//     StartCollectors();
//     StoryPlan plan = MakeStoryPlan(...);
//     std::set<std::string> probes = CheckRingAgainstProbes(plan, {0, 1});
//     ...
//     WaitQuiet(absl::Seconds(3), absl::Seconds(40));
//     TierVerdict verdict = Classify(plan, OracleOptions(), Received(), probes);
//   }
#pragma once

#include <array>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/time/time.h"
#include "pipeline/reparent/reparent_options.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/scaleout/tier_processes.h"
#include "tests/scaleout/tier_stories.h"

namespace gateway::scaleout {

// How the Collectors find the gateway replicas.
enum class Discovery { kCloudMap, kDns, kK8s };

class TierTest : public ::testing::Test {
 protected:
  static constexpr int kReplicas = 4;
  static constexpr absl::Duration kHoldWindow = absl::Seconds(3);
  static constexpr absl::Duration kResolverInterval = absl::Seconds(1);
  static constexpr char kDnsName[] = "otlp-gateway-headless.tier.test";

  // Before the first StartGateway.
  void UseDiscovery(Discovery discovery) { discovery_ = discovery; }
  // Longest time from PublishGateways until every Collector routes by the
  // new list: two resolver intervals; with DNS also Go's /etc/hosts cache
  // (5 s), which the Collector's resolver reads through; with k8s the fake
  // API's watch poll (0.5 s), once more if another watch held its thread.
  absl::Duration DiscoveryLag() const;

  void SetUp() override;
  void TearDown() override;

  // Starts replica `i` exporting to fake `i`; fails the test if it does not
  // come up.
  void StartGateway(int i, absl::Duration drain_delay = absl::ZeroDuration());
  // What the fake Cloud Map (or the name, with DNS) answers from now on.
  void PublishGateways(const std::vector<int>& replicas);
  void StartCollectors();
  std::vector<std::pair<int, int>> CollectorPorts() const;

  // Sends one probe span per trace id of the plan through Collector 0 and
  // checks that each arrived at the replica CollectorRing says owns its
  // trace among `replicas`. Returns the probe span ids.
  std::set<std::string> CheckRingAgainstProbes(const StoryPlan& plan, const std::vector<int>& replicas);
  // Index of the replica owning `trace` among `replicas`.
  int Owner(const std::vector<int>& replicas, const std::string& trace) const;

  // For each membership change (rings[k] -> rings[k + 1], named names[k]):
  // the unmoved and missing spans of the traces whose owner changed then,
  // e.g. "kill: unmoved=12 missing=24 traces_moved=310; join: ...".
  std::string OutcomesByChange(const TierVerdict& verdict, const std::vector<std::vector<int>>& rings,
                               const std::vector<std::string>& names) const;

  // Waits until no fake has received a span for `quiet` (at most `max`).
  void WaitQuiet(absl::Duration quiet, absl::Duration max);
  std::map<std::string, std::vector<ReceivedCopy>> Received() const;
  int64_t SpansReceived() const;

  // The gateways' reparenting rules (cross-process without waiting for link
  // targets, as in deploy/'s tier manifests; defaults otherwise).
  static ReparentOptions OracleOptions();
  static void SleepUntil(absl::Time t);

  std::string dir_;  // this test's configs and logs
  std::string gateway_binary_;
  std::string collector_binary_;
  std::array<std::unique_ptr<testing::FakeDynatrace>, kReplicas> dynatrace_;
  std::array<std::unique_ptr<GatewayReplica>, kReplicas> gateways_;
  std::unique_ptr<FakeCloudMap> cloud_map_;
  std::unique_ptr<FakeKubeApi> kube_api_;  // with k8s
  Discovery discovery_ = Discovery::kCloudMap;
  std::string hosts_file_;  // with DNS: the Collectors' /etc/hosts
  int dns_port_ = 0;        // with DNS and k8s: every replica's gRPC port
  std::vector<std::unique_ptr<CollectorReplica>> collectors_;
};

}  // namespace gateway::scaleout
