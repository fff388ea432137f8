#include "tests/scaleout/tier_test_env.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/fakes/otel_collector.h"

namespace gateway::scaleout {

void TierTest::SetUp() {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat(test->test_suite_name(), ".", test->name());
  std::replace(name.begin(), name.end(), '/', '_');
  dir_ = absl::StrCat(TestDir(), "/", name);
  std::filesystem::create_directories(dir_);
  const char* gateway = std::getenv("GATEWAY_BINARY");
  gateway_binary_ = gateway != nullptr && *gateway != '\0' ? gateway : "gateway/otlp_gateway";
  absl::StatusOr<std::string> collector = testing::OtelCollector::FindBinary();
  ASSERT_TRUE(collector.ok()) << collector.status();
  collector_binary_ = *collector;
  for (auto& dt : dynatrace_) {
    absl::StatusOr<std::unique_ptr<testing::FakeDynatrace>> fake = testing::FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dt = *std::move(fake);
  }
  absl::StatusOr<std::unique_ptr<FakeCloudMap>> cloud_map = FakeCloudMap::Start();
  ASSERT_TRUE(cloud_map.ok()) << cloud_map.status();
  cloud_map_ = *std::move(cloud_map);
  hosts_file_ = absl::StrCat(dir_, "/hosts");
}

absl::Duration TierTest::DiscoveryLag() const {
  switch (discovery_) {
    case Discovery::kDns:
      return 2 * kResolverInterval + absl::Seconds(5);
    case Discovery::kK8s:
      return 2 * kResolverInterval + absl::Seconds(1);
    case Discovery::kCloudMap:
      break;
  }
  return 2 * kResolverInterval;
}

void TierTest::TearDown() {
  // Collectors first, so that they do not retry into stopped gateways.
  for (auto& collector : collectors_) collector->process().Signal(SIGTERM);
  for (auto& collector : collectors_) collector->process().Wait(absl::Now() + absl::Seconds(10));
  kube_api_.reset();  // ends its watches
  for (auto& gateway : gateways_) {
    if (gateway) gateway->process().Signal(SIGTERM);
  }
  for (auto& gateway : gateways_) {
    if (gateway) gateway->process().Wait(absl::Now() + absl::Seconds(15));
  }
  if (HasFailure()) {
    std::cerr << "files (configs, logs) under " << dir_ << "\n";
  }
}

void TierTest::StartGateway(int i, absl::Duration drain_delay) {
  GatewayReplicaOptions options;
  options.binary = gateway_binary_;
  options.dir = dir_;
  options.name = absl::StrCat("gateway", i);
  options.dynatrace_url = dynatrace_[i]->url();
  options.hold_window = kHoldWindow;
  options.drain_delay = drain_delay;
  if (discovery_ == Discovery::kDns || discovery_ == Discovery::kK8s) {
    // The first replica picks the port; the others take it on their own
    // loopback address.
    options.grpc_host = absl::StrCat("127.0.0.", i + 1);
    options.grpc_port = dns_port_;
  }
  absl::StatusOr<std::unique_ptr<GatewayReplica>> replica = GatewayReplica::Start(options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  gateways_[i] = *std::move(replica);
  if (discovery_ != Discovery::kCloudMap && dns_port_ == 0) dns_port_ = gateways_[i]->grpc_port();
}

void TierTest::PublishGateways(const std::vector<int>& replicas) {
  if (discovery_ == Discovery::kK8s) {
    if (kube_api_ == nullptr) {
      absl::StatusOr<std::unique_ptr<FakeKubeApi>> kube = FakeKubeApi::Start(dir_);
      ASSERT_TRUE(kube.ok()) << kube.status();
      kube_api_ = *std::move(kube);
    }
    std::vector<std::string> addresses;
    for (int i : replicas) addresses.push_back(absl::StrCat("127.0.0.", i + 1));
    kube_api_->SetAddresses(std::move(addresses), dns_port_);
    return;
  }
  if (discovery_ == Discovery::kDns) {
    std::vector<std::string> addresses;
    for (int i : replicas) addresses.push_back(absl::StrCat("127.0.0.", i + 1));
    const absl::Status written = RewriteHostsFile(hosts_file_, kDnsName, addresses);
    ASSERT_TRUE(written.ok()) << written;
    return;
  }
  std::vector<std::string> endpoints;
  for (int i : replicas) endpoints.push_back(gateways_[i]->endpoint());
  cloud_map_->SetInstances(std::move(endpoints));
}

void TierTest::StartCollectors() {
  for (int i = 0; i < 2; ++i) {
    CollectorReplicaOptions options;
    options.binary = collector_binary_;
    options.dir = dir_;
    options.name = absl::StrCat("collector", i);
    if (discovery_ == Discovery::kDns) {
      options.resolver_yaml = DnsResolverYaml(kDnsName, dns_port_, kResolverInterval);
      options.hosts_file = hosts_file_;
    } else if (discovery_ == Discovery::kK8s) {
      ASSERT_NE(kube_api_, nullptr) << "PublishGateways first";
      options.resolver_yaml =
          K8sResolverYaml(absl::StrCat(FakeKubeApi::kService, ".", FakeKubeApi::kNamespace), dns_port_);
      options.env = {absl::StrCat("KUBECONFIG=", kube_api_->KubeconfigPath())};
    } else {
      options.resolver_yaml = CloudMapResolverYaml(kResolverInterval);
      options.env = cloud_map_->CollectorEnv();
    }
    absl::StatusOr<std::unique_ptr<CollectorReplica>> collector = CollectorReplica::Start(options);
    ASSERT_TRUE(collector.ok()) << collector.status();
    collectors_.push_back(*std::move(collector));
  }
}

std::vector<std::pair<int, int>> TierTest::CollectorPorts() const {
  std::vector<std::pair<int, int>> ports;
  for (const auto& c : collectors_) ports.emplace_back(c->grpc_port(), c->http_port());
  return ports;
}

int TierTest::Owner(const std::vector<int>& replicas, const std::string& trace) const {
  std::vector<std::string> endpoints;
  for (int i : replicas) endpoints.push_back(gateways_[i]->endpoint());
  // A copy: the ring is a temporary, gone at the end of this statement.
  const std::string owner = CollectorRing(endpoints).EndpointFor(trace);
  for (int i : replicas) {
    if (gateways_[i]->endpoint() == owner) return i;
  }
  return -1;
}

std::set<std::string> TierTest::CheckRingAgainstProbes(const StoryPlan& plan, const std::vector<int>& replicas) {
  std::set<std::string> ids;
  const std::map<std::string, std::string> probes =
      SendProbes(plan.trace_ids, collectors_[0]->http_port(), /*id_base=*/0xfe);
  EXPECT_EQ(probes.size(), plan.trace_ids.size()) << "a probe request was refused";
  for (const auto& [id, trace] : probes) ids.insert(id);
  std::vector<std::string> endpoints;
  for (int i : replicas) endpoints.push_back(gateways_[i]->endpoint());
  const CollectorRing ring(endpoints);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::map<std::string, std::vector<ReceivedCopy>> received;
  for (int i = 0; i < 300 && absl::Now() < deadline; ++i) {
    received = Received();
    size_t arrived = 0;
    for (const auto& [id, trace] : probes) arrived += received.count(id);
    if (arrived == probes.size()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  int64_t misrouted = 0;
  int64_t lost = 0;
  for (const auto& [id, trace] : probes) {
    auto it = received.find(id);
    if (it == received.end()) {
      ++lost;
      continue;
    }
    for (const ReceivedCopy& copy : it->second) misrouted += gateways_[copy.replica]->endpoint() != ring.EndpointFor(trace);
  }
  EXPECT_EQ(lost, 0) << "probes that did not arrive";
  EXPECT_EQ(misrouted, 0) << "probes not at the replica the ring computes: CollectorRing no longer matches the "
                             "Collector's loadbalancing exporter";
  return ids;
}

std::string TierTest::OutcomesByChange(const TierVerdict& verdict, const std::vector<std::vector<int>>& rings,
                                       const std::vector<std::string>& names) const {
  std::vector<std::string> parts;
  for (size_t k = 0; k + 1 < rings.size() && k < names.size(); ++k) {
    int64_t unmoved = 0;
    int64_t missing = 0;
    std::set<std::string> traces;
    for (const SpanVerdict& v : verdict.spans) {
      if (Owner(rings[k], v.origin_trace) == Owner(rings[k + 1], v.origin_trace)) continue;
      traces.insert(v.origin_trace);
      unmoved += v.outcome == Outcome::kUnmoved;
      missing += v.outcome == Outcome::kMissing;
    }
    parts.push_back(absl::StrCat(names[k], ": unmoved=", unmoved, " missing=", missing, " traces_moved=", traces.size()));
  }
  return absl::StrJoin(parts, "; ");
}

std::map<std::string, std::vector<ReceivedCopy>> TierTest::Received() const {
  std::vector<const testing::FakeDynatrace*> fakes;
  for (const auto& dt : dynatrace_) fakes.push_back(dt.get());
  return ReceivedCopies(fakes);
}

int64_t TierTest::SpansReceived() const {
  int64_t n = 0;
  for (const auto& dt : dynatrace_) n += dt->SpanCount();
  return n;
}

void TierTest::WaitQuiet(absl::Duration quiet, absl::Duration max) {
  const absl::Time deadline = absl::Now() + max;
  int64_t last = SpansReceived();
  absl::Time last_change = absl::Now();
  for (int i = 0; i < 10000 && absl::Now() < deadline; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    const int64_t now = SpansReceived();
    if (now != last) {
      last = now;
      last_change = absl::Now();
    } else if (absl::Now() - last_change >= quiet) {
      return;
    }
  }
}

ReparentOptions TierTest::OracleOptions() {
  ReparentOptions options;
  options.cross_process = true;
  options.wait_for_link_fate = false;  // as the replicas run (and deploy/ manifests)
  return options;
}

void TierTest::SleepUntil(absl::Time t) {
  const absl::Duration d = t - absl::Now();
  if (d > absl::ZeroDuration()) absl::SleepFor(d);
}

}  // namespace gateway::scaleout
