// The Telemetry API listener: runtimeDone marks its request done, waiting
// for it is bounded, the tracker keeps a bounded number of ids.
#include "gateway/lambda/telemetry_listener.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gateway::lambda {
namespace {

HttpRequest Post(std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/telemetry";
  r.body = std::move(body);
  return r;
}

TEST(TelemetryListenerTest, RuntimeDoneMarksItsRequestDone) {
  RuntimeDoneTracker tracker;
  TelemetryHandler handler(tracker);
  HttpResponse r = handler.Handle(Post(
      R"([{"time":"t","type":"platform.start","record":{"requestId":"a"}},
          {"time":"t","type":"platform.runtimeDone","record":{"requestId":"a","status":"success"}}])"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(tracker.IsDone("a"));
  EXPECT_FALSE(tracker.IsDone("b"));
  EXPECT_EQ(tracker.batches(), 1);
  EXPECT_EQ(tracker.platform_events(), 2);
}

TEST(TelemetryListenerTest, OnlyRuntimeDoneCountsAsDone) {
  RuntimeDoneTracker tracker;
  TelemetryHandler handler(tracker);
  handler.Handle(Post(R"([{"type":"platform.start","record":{"requestId":"a"}},
                          {"type":"platform.report","record":{"requestId":"a"}}])"));
  EXPECT_FALSE(tracker.IsDone("a"));
}

TEST(TelemetryListenerTest, MalformedBodiesAndOtherMethodsAreRefused) {
  RuntimeDoneTracker tracker;
  TelemetryHandler handler(tracker);
  EXPECT_EQ(handler.Handle(Post("{not json")).status, 400);
  HttpRequest get;
  get.method = "GET";
  EXPECT_EQ(handler.Handle(get).status, 405);
  EXPECT_EQ(tracker.batches(), 0);
}

TEST(TelemetryListenerTest, WaitForReturnsWhenRuntimeDoneArrivesAndGivesUpAtTheDeadline) {
  RuntimeDoneTracker tracker;
  std::thread marker([&tracker] {
    absl::SleepFor(absl::Milliseconds(20));
    tracker.MarkDone("late");
  });
  EXPECT_TRUE(tracker.WaitFor("late", absl::Now() + absl::Seconds(20)));
  marker.join();
  const absl::Time start = absl::Now();
  EXPECT_FALSE(tracker.WaitFor("never", start + absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
}

TEST(TelemetryListenerTest, RemembersOnlyTheMostRecentIds) {
  RuntimeDoneTracker tracker;
  for (size_t i = 0; i < RuntimeDoneTracker::kRemembered + 10; ++i) tracker.MarkDone(absl::StrCat("r", i));
  EXPECT_FALSE(tracker.IsDone("r0"));
  EXPECT_FALSE(tracker.IsDone("r9"));
  EXPECT_TRUE(tracker.IsDone("r10"));
  EXPECT_TRUE(tracker.IsDone(absl::StrCat("r", RuntimeDoneTracker::kRemembered + 9)));
}

}  // namespace
}  // namespace gateway::lambda
