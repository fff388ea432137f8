// Two Collector replicas routing by trace id to three gateway replicas; the
// out-of-order and batch stories go through both Collectors. Mid-run one
// gateway is killed with SIGKILL and dropped from Cloud Map (what ECS does
// when a task dies), and two seconds later a fresh replica joins. The rule
// checked, span id by span id against the offline oracle
// (docs/scale-out.md, "When a replica leaves or joins"):
//
//   - a trace whose owner never changed comes out exactly as the oracle says;
//   - lost: only spans of the killed replica's traces, sent to it in the
//     1.5 s before the kill (accepted, not yet exported: a story's spans
//     all arrive within 350 ms, then wait for the batch delay and an
//     export). Not the whole hold window: the replicas do not wait for
//     producers they will never see (wait_for_link_fate: false, as in the
//     manifests), so nothing else is held that long;
//   - left in their original trace ("unmoved"): only spans of traces whose
//     owner changed (the killed replica's, and those the new replica took
//     over) and only in stories that started before the membership settled;
//   - duplicates (the Collector sending a batch again after one replica
//     failed) are counted and reported, and must be exact copies.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/scaleout/tier_test_env.h"

namespace gateway::scaleout {
namespace {

class TierCrashTest : public TierTest {};

TEST_F(TierCrashTest, KilledReplicaLosesOnlyWhatItHadNotExportedAndOnlyMovedTracesSplit) {
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(StartGateway(i));
  PublishGateways({0, 1, 2});
  ASSERT_NO_FATAL_FAILURE(StartCollectors());

  const StoryPlan plan = MakeStoryPlan(/*stories=*/800, absl::Milliseconds(10), /*id_base=*/1);
  const std::set<std::string> probes = CheckRingAgainstProbes(plan, {0, 1, 2});
  ASSERT_FALSE(HasFailure());
  const int64_t before_run = SpansReceived();

  StorySender sender(plan, CollectorPorts());
  sender.Start();
  SleepUntil(sender.start() + absl::Seconds(3));
  gateways_[1]->process().Signal(SIGKILL);
  const absl::Time killed_at = absl::Now();
  PublishGateways({0, 2});
  const std::optional<int> status = gateways_[1]->process().Wait(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(status.has_value() && WIFSIGNALED(*status));

  SleepUntil(sender.start() + absl::Seconds(5));
  ASSERT_NO_FATAL_FAILURE(StartGateway(3));
  PublishGateways({0, 2, 3});
  const absl::Time joined_at = absl::Now();
  sender.Join();
  WaitQuiet(/*quiet=*/kHoldWindow + absl::Seconds(1), /*max=*/absl::Seconds(40));

  const TierVerdict verdict = Classify(plan, OracleOptions(), Received(), probes);
  // Memberships in order: before the kill, after it, after the join.
  const std::vector<std::vector<int>> rings = {{0, 1, 2}, {0, 2}, {0, 2, 3}};
  const absl::Time settled_at = joined_at + DiscoveryLag();
  const absl::Time lost_from = killed_at - absl::Milliseconds(1500);
  int64_t moved_traces_spans = 0;
  int64_t early_losses = 0;
  absl::Duration oldest_loss = absl::ZeroDuration();  // how long before the kill the oldest lost span was sent
  for (const SpanVerdict& v : verdict.spans) {
    const int first_owner = Owner(rings[0], v.origin_trace);
    const bool stable =
        first_owner == Owner(rings[1], v.origin_trace) && first_owner == Owner(rings[2], v.origin_trace);
    const absl::Time story_start = sender.start() + plan.StoryStart(v.story);
    const absl::Time sent_at = sender.SentAt(v.source_span_id);
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
        EXPECT_EQ(first_owner, 1) << where << ": lost, but its trace was not the killed replica's";
        EXPECT_LE(sent_at, killed_at) << where << ": lost, but sent after the kill";
        if (sent_at < lost_from) ++early_losses;
        oldest_loss = std::max(oldest_loss, killed_at - sent_at);
        break;
      case Outcome::kUnmoved:
        EXPECT_FALSE(stable) << where << ": left in its trace although its owner never changed";
        EXPECT_LT(story_start, settled_at) << where << ": left in its trace after the membership settled";
        break;
    }
  }
  EXPECT_EQ(early_losses, 0) << "spans lost that the killed replica should have exported before it died";
  EXPECT_TRUE(verdict.unexpected_ids.empty()) << verdict.unexpected_ids.size() << " unexpected span ids";
  EXPECT_EQ(sender.refused_requests(), 0);

  const std::string summary = absl::StrCat(
      "tier_crash: spans_expected=", verdict.spans.size(), " exact=", verdict.counts.at(Outcome::kExact),
      " unmoved=", verdict.counts.count(Outcome::kUnmoved) ? verdict.counts.at(Outcome::kUnmoved) : 0,
      " missing=", verdict.counts.count(Outcome::kMissing) ? verdict.counts.at(Outcome::kMissing) : 0,
      " wrong=", verdict.counts.count(Outcome::kWrong) ? verdict.counts.at(Outcome::kWrong) : 0,
      " in_traces_whose_owner_changed=", moved_traces_spans, " duplicated_spans=", verdict.duplicated_spans,
      " extra_copies=", verdict.extra_copies, " requests=", sender.requests(),
      " spans_received=", SpansReceived() - before_run, " cloud_map_calls=", cloud_map_->Requests(),
      " oldest_lost_span_sent_before_kill=", absl::FormatDuration(oldest_loss), " | ",
      OutcomesByChange(verdict, rings, {"kill", "join"}));
  std::cout << summary << "\n";
  RecordProperty("summary", summary);
}

}  // namespace
}  // namespace gateway::scaleout
