// A rolling replacement of one gateway replica behind two Collector
// replicas, as ECS (minimum healthy 100 %, maximum 200 %) or a Kubernetes
// rolling update with a surge of one does it: the new replica joins the
// service discovery first, then the old one is dropped from it and gets
// SIGTERM. Run with Cloud Map (ECS) without and with --drain-delay (the
// gateway keeps receiving while the Collectors' resolver catches up), and
// with DNS (a Kubernetes headless Service, which drops a terminating pod
// from its answer) and with the `k8s` resolver (its EndpointSlices, from a
// fake API server), both with the delay. The rule checked, span id by span id
// (docs/scale-out.md, "When a replica leaves or joins"):
//
//   - nothing is lost: what the leaving replica refuses, the Collectors send
//     again to the trace's new owner;
//   - a trace whose owner never changed comes out exactly as the oracle says;
//   - spans left in their original trace ("unmoved") belong to traces whose
//     owner changed, in stories that started before the membership settled.
//
// The number of unmoved spans with and without the drain delay is printed
// (docs/scale-out.md quotes it).
#include <signal.h>
#include <sys/wait.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/scaleout/tier_test_env.h"

namespace gateway::scaleout {
namespace {

struct Rollout {
  Discovery discovery;
  absl::Duration drain_delay;
};

class TierRollingTest : public TierTest, public ::testing::WithParamInterface<Rollout> {};

const char* DiscoveryName(Discovery discovery) {
  switch (discovery) {
    case Discovery::kDns:
      return "Dns";
    case Discovery::kK8s:
      return "K8s";
    case Discovery::kCloudMap:
      break;
  }
  return "CloudMap";
}

TEST_P(TierRollingTest, ReplacedReplicaLosesNothingAndOnlyMovedTracesSplit) {
  const absl::Duration drain_delay = GetParam().drain_delay;
  UseDiscovery(GetParam().discovery);
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(StartGateway(i, drain_delay));
  PublishGateways({0, 1, 2});
  ASSERT_NO_FATAL_FAILURE(StartCollectors());

  const StoryPlan plan = MakeStoryPlan(/*stories=*/700, absl::Milliseconds(10), /*id_base=*/2);
  const std::set<std::string> probes = CheckRingAgainstProbes(plan, {0, 1, 2});
  ASSERT_FALSE(HasFailure());

  StorySender sender(plan, CollectorPorts());
  sender.Start();
  SleepUntil(sender.start() + absl::Seconds(2));
  ASSERT_NO_FATAL_FAILURE(StartGateway(3, drain_delay));
  PublishGateways({0, 1, 2, 3});
  SleepUntil(sender.start() + absl::Seconds(3.5));
  PublishGateways({0, 2, 3});
  gateways_[1]->process().Signal(SIGTERM);
  const absl::Time left_at = absl::Now();
  const std::optional<int> status =
      gateways_[1]->process().Wait(left_at + drain_delay + absl::Seconds(20));
  const absl::Duration exit_after = absl::Now() - left_at;
  sender.Join();
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  WaitQuiet(/*quiet=*/kHoldWindow + absl::Seconds(1), /*max=*/absl::Seconds(40));

  const TierVerdict verdict = Classify(plan, OracleOptions(), Received(), probes);
  const std::vector<std::vector<int>> rings = {{0, 1, 2}, {0, 1, 2, 3}, {0, 2, 3}};
  const absl::Time settled_at = left_at + DiscoveryLag();
  int64_t moved_traces_spans = 0;
  for (const SpanVerdict& v : verdict.spans) {
    const int first_owner = Owner(rings[0], v.origin_trace);
    const bool stable =
        first_owner == Owner(rings[1], v.origin_trace) && first_owner == Owner(rings[2], v.origin_trace);
    const absl::Time story_start = sender.start() + plan.StoryStart(v.story);
    moved_traces_spans += !stable;
    const std::string where = absl::StrCat("span ", Hex(v.span_id), " of story ", v.story,
                                           v.fanout ? " (fan-out)" : "", ", first owner ", first_owner);
    switch (v.outcome) {
      case Outcome::kExact:
        break;
      case Outcome::kWrong:
        ADD_FAILURE() << where << ": a copy is neither what the oracle expects nor the span as sent";
        break;
      case Outcome::kMissing:
        ADD_FAILURE() << where << ": lost in a graceful replacement";
        break;
      case Outcome::kUnmoved:
        EXPECT_FALSE(stable) << where << ": left in its trace although its owner never changed";
        EXPECT_LT(story_start, settled_at) << where << ": left in its trace after the membership settled";
        break;
    }
  }
  EXPECT_TRUE(verdict.unexpected_ids.empty()) << verdict.unexpected_ids.size() << " unexpected span ids";
  EXPECT_EQ(sender.refused_requests(), 0);
  EXPECT_GT(dynatrace_[3]->SpanCount(), 0) << "the joining replica got nothing: the Collectors never found it";

  auto count = [&verdict](Outcome o) { return verdict.counts.count(o) ? verdict.counts.at(o) : 0; };
  const std::string summary = absl::StrCat(
      "tier_rolling: discovery=", DiscoveryName(GetParam().discovery),
      " drain_delay=", absl::FormatDuration(drain_delay), " spans_expected=", verdict.spans.size(),
      " exact=", count(Outcome::kExact), " unmoved=", count(Outcome::kUnmoved),
      " missing=", count(Outcome::kMissing), " wrong=", count(Outcome::kWrong),
      " in_traces_whose_owner_changed=", moved_traces_spans, " duplicated_spans=", verdict.duplicated_spans,
      " extra_copies=", verdict.extra_copies, " old_replica_exited_after=", absl::FormatDuration(exit_after),
      " | ", OutcomesByChange(verdict, rings, {"join", "leave"}));
  std::cout << summary << "\n";
  RecordProperty("summary", summary);
}

INSTANTIATE_TEST_SUITE_P(Discovery, TierRollingTest,
                         ::testing::Values(Rollout{Discovery::kCloudMap, absl::ZeroDuration()},
                                           Rollout{Discovery::kCloudMap, absl::Seconds(3)},
                                           Rollout{Discovery::kDns, absl::Seconds(3)},
                                           Rollout{Discovery::kK8s, absl::Seconds(3)}),
                         [](const ::testing::TestParamInfo<Rollout>& info) {
                           return absl::StrCat(DiscoveryName(info.param.discovery), "DrainDelay",
                                               absl::ToInt64Seconds(info.param.drain_delay), "s");
                         });

}  // namespace
}  // namespace gateway::scaleout
