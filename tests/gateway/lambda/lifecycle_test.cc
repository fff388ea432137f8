// ExtensionLifecycle on simulated time: when it waits, flushes, asks for the
// next event and exits.
#include "gateway/lambda/lifecycle.h"

#include "gtest/gtest.h"

namespace gateway::lambda {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

LifecycleEvent InvokeEvent(const std::string& id, absl::Time deadline) {
  LifecycleEvent e;
  e.type = LifecycleEventType::kInvoke;
  e.request_id = id;
  e.deadline = deadline;
  return e;
}

LifecycleEvent ShutdownEvent(absl::Time deadline) {
  LifecycleEvent e;
  e.type = LifecycleEventType::kShutdown;
  e.deadline = deadline;
  e.shutdown_reason = "spindown";
  return e;
}

class LifecycleTest : public ::testing::Test {
 protected:
  LifecycleTest() {
    options_.flush_timeout = absl::Seconds(2);
    options_.deadline_margin = absl::Milliseconds(50);
  }
  LifecycleOptions options_;
};

TEST_F(LifecycleTest, AnInvokeWaitsForRuntimeDoneThenFlushesThenAsksForTheNextEvent) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  EXPECT_EQ(lifecycle.state(), LifecycleState::kIdle);

  Step step = lifecycle.OnInvoke(InvokeEvent("a", kT0 + absl::Seconds(30)), kT0);
  EXPECT_EQ(step.kind, Step::kWaitForRuntimeDone);
  EXPECT_EQ(step.request_id, "a");
  // Late enough that the whole flush still fits before the function's deadline.
  EXPECT_EQ(step.until, kT0 + absl::Seconds(30) - absl::Seconds(2) - absl::Milliseconds(50));
  EXPECT_EQ(lifecycle.state(), LifecycleState::kAwaitingRuntimeDone);

  step = lifecycle.OnRuntimeDone(kT0 + absl::Milliseconds(120));
  EXPECT_EQ(step.kind, Step::kFlush);
  EXPECT_EQ(step.until, kT0 + absl::Milliseconds(120) + absl::Seconds(2));
  EXPECT_EQ(lifecycle.state(), LifecycleState::kFlushing);

  step = lifecycle.OnFlushed(FlushResult{true, 0}, kT0 + absl::Milliseconds(125));
  EXPECT_EQ(step.kind, Step::kNext);
  EXPECT_EQ(lifecycle.state(), LifecycleState::kIdle);
  EXPECT_EQ(lifecycle.stats().invokes, 1);
  EXPECT_EQ(lifecycle.stats().runtime_done_seen, 1);
  EXPECT_EQ(lifecycle.stats().flushes, 1);
  EXPECT_EQ(lifecycle.stats().flushes_incomplete, 0);
}

TEST_F(LifecycleTest, TheFlushNeverRunsPastTheFunctionsDeadline) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  const absl::Time deadline = kT0 + absl::Seconds(3);
  lifecycle.OnInvoke(InvokeEvent("a", deadline), kT0);
  // runtimeDone 1.5 s in: 1.5 s left, less the margin.
  Step step = lifecycle.OnRuntimeDone(kT0 + absl::Milliseconds(1500));
  EXPECT_EQ(step.kind, Step::kFlush);
  EXPECT_EQ(step.until, deadline - absl::Milliseconds(50));
}

TEST_F(LifecycleTest, AMissingRuntimeDoneFlushesWhenJustEnoughTimeIsLeft) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  const absl::Time deadline = kT0 + absl::Seconds(10);
  Step step = lifecycle.OnInvoke(InvokeEvent("a", deadline), kT0);
  step = lifecycle.OnWaitExpired(step.until);
  EXPECT_EQ(step.kind, Step::kFlush);
  EXPECT_EQ(step.until, deadline - absl::Milliseconds(50));
  EXPECT_EQ(lifecycle.stats().runtime_done_missed, 1);
  EXPECT_EQ(lifecycle.OnFlushed(FlushResult{true, 0}, deadline - absl::Milliseconds(60)).kind, Step::kNext);
}

TEST_F(LifecycleTest, AnInvokeAlreadyPastItsFlushPointFlushesAtOnce) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  // One second left: less than a flush timeout.
  Step step = lifecycle.OnInvoke(InvokeEvent("a", kT0 + absl::Seconds(1)), kT0);
  EXPECT_EQ(step.kind, Step::kWaitForRuntimeDone);
  EXPECT_EQ(step.until, kT0);
}

TEST_F(LifecycleTest, AnInvokeWithoutDeadlineWaitsAtMostFifteenMinutes) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  Step step = lifecycle.OnInvoke(InvokeEvent("a", absl::InfiniteFuture()), kT0);
  EXPECT_EQ(step.until, kT0 + absl::Minutes(15) - absl::Seconds(2) - absl::Milliseconds(50));
}

TEST_F(LifecycleTest, WithoutTheTelemetryApiAnInvokeIsNotHeldUp) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(false);
  Step step = lifecycle.OnInvoke(InvokeEvent("a", kT0 + absl::Seconds(30)), kT0);
  EXPECT_EQ(step.kind, Step::kNext);
  EXPECT_EQ(lifecycle.state(), LifecycleState::kIdle);
  EXPECT_EQ(lifecycle.stats().flushes, 0);
}

TEST_F(LifecycleTest, ShutdownFlushesUntilItsDeadlineThenExitsZero) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  Step step = lifecycle.OnShutdown(ShutdownEvent(kT0 + absl::Milliseconds(1700)), kT0);
  EXPECT_EQ(step.kind, Step::kFlush);
  EXPECT_EQ(step.until, kT0 + absl::Milliseconds(1650));
  EXPECT_EQ(lifecycle.state(), LifecycleState::kShutdownFlushing);
  step = lifecycle.OnFlushed(FlushResult{true, 100}, kT0 + absl::Milliseconds(1650));
  EXPECT_EQ(step.kind, Step::kExit);
  EXPECT_EQ(step.exit_code, 0);
  EXPECT_EQ(lifecycle.state(), LifecycleState::kDone);
  EXPECT_EQ(lifecycle.stats().flushes_incomplete, 1);
  EXPECT_EQ(lifecycle.stats().undelivered_bytes, 100);
}

TEST_F(LifecycleTest, AShutdownPastItsDeadlineFlushesForNoTimeAtAll) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  Step step = lifecycle.OnShutdown(ShutdownEvent(kT0 - absl::Seconds(1)), kT0);
  EXPECT_EQ(step.kind, Step::kFlush);
  EXPECT_EQ(step.until, kT0);
}

TEST_F(LifecycleTest, AnIncompleteFlushIsCountedAndWhatItLeftIsRemembered) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  lifecycle.OnInvoke(InvokeEvent("a", kT0 + absl::Seconds(30)), kT0);
  lifecycle.OnRuntimeDone(kT0);
  EXPECT_EQ(lifecycle.OnFlushed(FlushResult{true, 4096}, kT0 + absl::Seconds(2)).kind, Step::kNext);
  EXPECT_EQ(lifecycle.stats().flushes_incomplete, 1);
  EXPECT_EQ(lifecycle.stats().undelivered_bytes, 4096);
  lifecycle.OnInvoke(InvokeEvent("b", kT0 + absl::Seconds(60)), kT0 + absl::Seconds(10));
  lifecycle.OnRuntimeDone(kT0 + absl::Seconds(11));
  lifecycle.OnFlushed(FlushResult{true, 0}, kT0 + absl::Seconds(11));
  EXPECT_EQ(lifecycle.stats().flushes_incomplete, 1);
  EXPECT_EQ(lifecycle.stats().undelivered_bytes, 0);
}

TEST_F(LifecycleTest, OutOfTurnSignalsChangeNothing) {
  ExtensionLifecycle lifecycle(options_);
  lifecycle.Ready(true);
  EXPECT_EQ(lifecycle.OnRuntimeDone(kT0).kind, Step::kNext);
  EXPECT_EQ(lifecycle.OnWaitExpired(kT0).kind, Step::kNext);
  EXPECT_EQ(lifecycle.state(), LifecycleState::kIdle);
  EXPECT_EQ(lifecycle.stats().runtime_done_seen, 0);
  EXPECT_EQ(lifecycle.stats().runtime_done_missed, 0);
}

}  // namespace
}  // namespace gateway::lambda
