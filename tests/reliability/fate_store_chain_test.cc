// Three gateways, one per service in sidecar mode (the real binary), sharing
// a fate store on a real redis-server started here on 127.0.0.1 and a free
// port; Dynatrace is a FakeDynatrace in this process. Chains A -> B -> C:
// A's producer, B's consumer linking it (by its original trace id) with B's
// own producer below, C's consumer linking B's producer by ITS original
// trace id. Each service's spans go to its own gateway.
//
// With the store, C's gateway learns where B's gateway moved B's producer
// (into A's trace) and puts C's consumer under it there: whole chains. With
// Redis killed, every span still arrives exactly once, each consumer as
// without a store (C's under B's producer's ORIGINAL trace), and the
// gateways count those decisions; with Redis back, whole chains again.
//
// The expected trace and parent of every span come from an oracle over the
// spans sent, not from hand-written ids.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fakes/redis_server_process.h"
#include "tests/reliability/gateway_process.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

using ::gateway::testing::RedisServerOptions;
using ::gateway::testing::RedisServerProcess;
using ::opentelemetry::proto::trace::v1::Span;

constexpr int kChainsPerPhase = 12;
constexpr int kSpansPerChain = 7;

enum Service { kA = 0, kB = 1, kC = 2 };

// One span as sent, by service.
struct Sent {
  Service service;
  Span span;
};

// Chain n: A: root a1 <- producer a2; B: consumer b1 (link a2) <- b2 <- producer b3;
// C: consumer c1 (link b3) <- c2. Listed parents first (causal order).
std::vector<Sent> MakeChain(uint64_t n) {
  auto trace = [n](uint64_t service) { return SpanFactory::IdBytes(0xA000000000000000ULL + (service << 56), n); };
  auto id = [n](uint64_t k) { return SpanFactory::IdBytes(n * 16 + k); };
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  auto make = [&](Service service, uint64_t k, std::optional<uint64_t> parent, Span::SpanKind kind,
                  std::optional<std::pair<uint64_t, uint64_t>> link = std::nullopt) {
    Span s;
    s.set_trace_id(trace(service));
    s.set_span_id(id(k));
    if (parent.has_value()) s.set_parent_span_id(id(*parent));
    s.set_kind(kind);
    s.set_name(absl::StrCat("svc", static_cast<int>(service), "-", k));
    s.set_start_time_unix_nano(now);
    s.set_end_time_unix_nano(now + 1000 + k);
    if (link.has_value()) {
      auto* l = s.add_links();
      l->set_trace_id(trace(link->first));
      l->set_span_id(id(link->second));
    }
    return Sent{service, s};
  };
  return {make(kA, 1, std::nullopt, Span::SPAN_KIND_SERVER),
          make(kA, 2, 1, Span::SPAN_KIND_PRODUCER),
          make(kB, 3, std::nullopt, Span::SPAN_KIND_CONSUMER, std::make_pair(kA, 2)),
          make(kB, 4, 3, Span::SPAN_KIND_INTERNAL),
          make(kB, 5, 4, Span::SPAN_KIND_PRODUCER),
          make(kC, 6, std::nullopt, Span::SPAN_KIND_CONSUMER, std::make_pair(kB, 5)),
          make(kC, 7, 6, Span::SPAN_KIND_INTERNAL)};
}

struct Placement {
  std::string trace_id;
  std::string parent_span_id;
};

// Where each span must end up (by span id), from the spans sent in causal
// order: a consumer goes under the span its link names, in that span's
// final trace when `follow` (the link target's fate is known, here through
// the store) else in the link's trace as received; every other span follows
// its parent.
std::map<std::string, Placement> Oracle(const std::vector<Sent>& sent, bool follow) {
  std::map<std::string, std::string> final_trace;  // original trace + span id -> trace
  std::map<std::string, Placement> out;
  for (const Sent& s : sent) {
    const Span& span = s.span;
    Placement p{span.trace_id(), span.parent_span_id()};
    if (span.kind() == Span::SPAN_KIND_CONSUMER && span.links_size() > 0 &&
        span.links(0).trace_id() != span.trace_id()) {
      const auto& link = span.links(0);
      auto target = final_trace.find(link.trace_id() + link.span_id());
      p.trace_id = follow && target != final_trace.end() ? target->second : link.trace_id();
      p.parent_span_id = link.span_id();
    } else if (!span.parent_span_id().empty()) {
      p.trace_id = final_trace.at(span.trace_id() + span.parent_span_id());
    }
    final_trace[span.trace_id() + span.span_id()] = p.trace_id;
    out[span.span_id()] = p;
  }
  return out;
}

// The value of `series` (name with its labels, as rendered) in Prometheus
// text; -1 when absent.
double Series(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  const size_t start = at + series.size() + 2;
  double value = -1;
  return absl::SimpleAtod(text.substr(start, text.find('\n', start) - start), &value) ? value : -1;
}

class FateStoreChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServerProcess>> redis = RedisServerProcess::Start(RedisServerOptions{});
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> dt = FakeDynatrace::Start({});
    ASSERT_TRUE(dt.ok()) << dt.status();
    dynatrace_ = *std::move(dt);
    const char* tmp = std::getenv("TEST_TMPDIR");
    for (int g = 0; g < 3; ++g) {
      const std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/fate-chain-gw", g, ".yaml");
      std::ofstream(path) << "receivers:\n  grpc: {endpoint: 127.0.0.1:0}\n  http: {endpoint: 127.0.0.1:0}\n"
                             "admin: {endpoint: 127.0.0.1:0}\n"
                             "reparent:\n  hold_window: 8s\n  shards: 2\n  fate_store:\n    type: redis\n"
                             "    redis: {address: \""
                          << redis_->address()
                          << "\"}\n    max_wait: 4s\n    timeout: 500ms\n"
                             "batch: {timeout: 20ms}\n"
                             "exporter:\n  type: dynatrace\n  dynatrace: {endpoint: \""
                          << dynatrace_->url()
                          << "\", api_token: test-token}\n  timeout: 2s\n"
                             "  retry: {initial_interval: 20ms, max_interval: 200ms}\n"
                             "shutdown: {drain_timeout: 5s}\n";
      gateways_[g] = GatewayProcess::Start(GatewayProcess::Binary(), path);
      ASSERT_NE(gateways_[g], nullptr);
      int grpc_port = 0;
      ASSERT_TRUE(gateways_[g]->WaitListening(absl::Now() + absl::Seconds(30), &grpc_port, &http_ports_[g]))
          << gateways_[g]->Log();
    }
  }

  void TearDown() override {
    for (auto& gw : gateways_) {
      if (gw == nullptr) continue;
      gw->Signal(SIGTERM);
      const int status = gw->WaitExit(absl::Now() + absl::Seconds(20));
      EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << gw->Log();
    }
  }

  // Sends each chain's spans to its services' gateways, one request per
  // service and chain, children before parents (as SDKs export them); C
  // first and A last when `reverse`. Returns the longest request.
  absl::Duration Send(const std::vector<std::vector<Sent>>& chains, bool reverse) {
    absl::Duration longest;
    for (const std::vector<Sent>& chain : chains) {
      for (int i = 0; i < 3; ++i) {
        const Service service = static_cast<Service>(reverse ? 2 - i : i);
        ExportTraceServiceRequest request;
        auto* rs = request.add_resource_spans();
        auto* attr = rs->mutable_resource()->add_attributes();
        attr->set_key("service.name");
        attr->mutable_value()->set_string_value(absl::StrCat("service-", static_cast<int>(service)));
        auto* ss = rs->add_scope_spans();
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          if (it->service == service) *ss->add_spans() = it->span;
        }
        const absl::Time start = absl::Now();
        const RawHttpResponse response = HttpPost(http_ports_[service], "/v1/traces", "application/x-protobuf",
                                                  request.SerializeAsString());
        longest = std::max(longest, absl::Now() - start);
        EXPECT_EQ(response.status, 200) << response.body;
      }
    }
    return longest;
  }

  std::vector<std::vector<Sent>> NewChains(int count) {
    std::vector<std::vector<Sent>> chains;
    for (int i = 0; i < count; ++i) chains.push_back(MakeChain(next_chain_++));
    return chains;
  }

  // Every span of `chains` arrived exactly once, where the oracle says.
  void ExpectDelivered(const std::vector<std::vector<Sent>>& chains, bool follow, const std::string& phase) {
    std::vector<Sent> sent;
    for (const auto& chain : chains) sent.insert(sent.end(), chain.begin(), chain.end());
    const std::map<std::string, Placement> expected = Oracle(sent, follow);
    sent_total_ += static_cast<int64_t>(sent.size());
    ASSERT_TRUE(dynatrace_->WaitForSpans(sent_total_, absl::Now() + absl::Seconds(40))) << phase;
    std::map<std::string, std::vector<Placement>> got;
    for (const auto& rs : dynatrace_->ReceivedSpans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) got[s.span_id()].push_back({s.trace_id(), s.parent_span_id()});
      }
    }
    int whole = 0;
    for (const auto& [span_id, want] : expected) {
      auto it = got.find(span_id);
      ASSERT_NE(it, got.end()) << phase << ": span lost";
      ASSERT_EQ(it->second.size(), 1u) << phase << ": span delivered " << it->second.size() << " times";
      EXPECT_EQ(it->second[0].trace_id, want.trace_id) << phase;
      EXPECT_EQ(it->second[0].parent_span_id, want.parent_span_id) << phase;
      whole += it->second[0].trace_id == want.trace_id ? 1 : 0;
    }
    EXPECT_EQ(whole, static_cast<int>(expected.size())) << phase;
  }

  std::string Metrics(Service service) { return HttpGet(gateways_[service]->admin_port(), "/metrics").body; }

  bool WaitAllUp(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      bool all = true;
      for (Service s : {kA, kB, kC}) all = all && Series(Metrics(s), "gateway_fate_store_up") == 1;
      if (all) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::unique_ptr<RedisServerProcess> redis_;
  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::unique_ptr<GatewayProcess> gateways_[3];
  int http_ports_[3] = {0, 0, 0};
  uint64_t next_chain_ = 1;
  int64_t sent_total_ = 0;
};

TEST_F(FateStoreChainTest, WholeChainsAcrossGatewaysAndNothingLostWhileRedisIsDown) {
  // Redis up: half the chains in causal order, half in reverse (C's
  // consumer arrives before B's gateway has moved B's producer: C's
  // gateway asks again until it has).
  const auto first = NewChains(kChainsPerPhase);
  Send({first.begin(), first.begin() + kChainsPerPhase / 2}, /*reverse=*/false);
  Send({first.begin() + kChainsPerPhase / 2, first.end()}, /*reverse=*/true);
  ExpectDelivered(first, /*follow=*/true, "redis up");
  EXPECT_EQ(Series(Metrics(kC), "gateway_fate_store_links_followed_total"), kChainsPerPhase);

  // Redis killed: nothing lost, nothing waits, each consumer as without a store.
  redis_->Kill();
  const auto second = NewChains(kChainsPerPhase);
  const absl::Duration longest = Send(second, /*reverse=*/false);
  EXPECT_LT(longest, absl::Seconds(1)) << "ingest waited for the store";
  ExpectDelivered(second, /*follow=*/false, "redis down");
  for (Service s : {kB, kC}) {
    EXPECT_GE(Series(Metrics(s), "gateway_fate_store_degraded_total{reason=\"unavailable\"}"), kChainsPerPhase)
        << "service " << static_cast<int>(s);
  }
  EXPECT_EQ(Series(Metrics(kC), "gateway_fate_store_up"), 0);
  const std::string status = HttpGet(gateways_[kC]->admin_port(), "/status.json").body;
  EXPECT_TRUE(absl::StrContains(status, "\"fate_store\":{\"store\":\"redis ")) << status;
  EXPECT_TRUE(absl::StrContains(status, "down")) << status;

  // Redis back (empty): the gateways reconnect; whole chains again.
  ASSERT_TRUE(redis_->Restart().ok()) << redis_->Log();
  ASSERT_TRUE(WaitAllUp(absl::Seconds(20)));
  const auto third = NewChains(kChainsPerPhase);
  Send({third.begin(), third.begin() + kChainsPerPhase / 2}, /*reverse=*/true);
  Send({third.begin() + kChainsPerPhase / 2, third.end()}, /*reverse=*/false);
  ExpectDelivered(third, /*follow=*/true, "redis back");
  EXPECT_EQ(Series(Metrics(kC), "gateway_fate_store_links_followed_total"), 2 * kChainsPerPhase);
  EXPECT_EQ(dynatrace_->SpanCount(), 3 * kChainsPerPhase * kSpansPerChain);
}

}  // namespace
}  // namespace gateway::reliability
