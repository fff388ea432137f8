// The Extensions and Telemetry API documents: events as Lambda and AWS's
// documentation show them, malformed ones refused with the field named.
#include "gateway/lambda/lambda_events.h"

#include <boost/json.hpp>

#include "gtest/gtest.h"

namespace gateway::lambda {
namespace {

namespace json = ::boost::json;

const absl::Time kNow = absl::FromUnixMillis(1'800'000'000'000);

TEST(LambdaEventsTest, ParsesAnInvokeWithAnEpochDeadline) {
  absl::StatusOr<LifecycleEvent> e = ParseLifecycleEvent(
      R"({"eventType":"INVOKE","deadlineMs":1800000030000,"requestId":"3da1f2dc-3222-475e-9205-e2e6c6318895",
          "invokedFunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:ExtensionTest",
          "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f35ae12-0c0fec141ab77a00bc047aa2"}})",
      kNow);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, LifecycleEventType::kInvoke);
  EXPECT_EQ(e->request_id, "3da1f2dc-3222-475e-9205-e2e6c6318895");
  EXPECT_EQ(e->deadline, kNow + absl::Seconds(30));
}

TEST(LambdaEventsTest, ParsesAShutdownWithRemainingMillisecondsAsAString) {
  absl::StatusOr<LifecycleEvent> e =
      ParseLifecycleEvent(R"({"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":"1700"})", kNow);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, LifecycleEventType::kShutdown);
  EXPECT_EQ(e->shutdown_reason, "spindown");
  EXPECT_EQ(e->deadline, kNow + absl::Milliseconds(1700));
}

TEST(LambdaEventsTest, AnEventWithoutDeadlineHasNone) {
  absl::StatusOr<LifecycleEvent> e = ParseLifecycleEvent(R"({"eventType":"SHUTDOWN"})", kNow);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->deadline, absl::InfiniteFuture());
}

TEST(LambdaEventsTest, RefusesWhatIsNotAnEvent) {
  for (const char* body : {"", "[]", "{\"eventType\":\"RESTORE\"}", "{\"eventType\":\"INVOKE\"}",
                           "{\"eventType\":\"SHUTDOWN\",\"deadlineMs\":\"soon\"}",
                           "{\"eventType\":\"SHUTDOWN\",\"deadlineMs\":-5}"}) {
    EXPECT_FALSE(ParseLifecycleEvent(body, kNow).ok()) << body;
  }
  absl::StatusOr<LifecycleEvent> e = ParseLifecycleEvent(R"({"eventType":"SHUTDOWN","deadlineMs":"x"})", kNow);
  EXPECT_NE(std::string(e.status().message()).find("deadlineMs"), std::string::npos);
}

TEST(LambdaEventsTest, KeepsPlatformEventsAndSkipsLogLines) {
  absl::StatusOr<std::vector<PlatformEvent>> events = ParseTelemetryBatch(R"([
    {"time":"2022-10-12T00:00:15.064Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}},
    {"time":"2022-10-12T00:00:15.070Z","type":"function","record":"[INFO] hello"},
    {"time":"2022-10-12T00:01:15.000Z","type":"platform.runtimeDone",
     "record":{"requestId":"r1","status":"success","metrics":{"durationMs":140.0,"producedBytes":16}}},
    {"time":"2022-10-12T00:01:15.000Z","type":"extension","record":"[INFO] extension line"},
    {"time":"2022-10-12T00:01:15.000Z","type":"platform.report","record":{"requestId":"r1"}},
    17
  ])");
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].type, "platform.runtimeDone");
  EXPECT_EQ((*events)[1].request_id, "r1");
  EXPECT_EQ((*events)[1].status, "success");
  EXPECT_EQ((*events)[2].type, "platform.report");
}

TEST(LambdaEventsTest, ATelemetryBodyThatIsNotAnArrayIsAnError) {
  EXPECT_FALSE(ParseTelemetryBatch(R"({"type":"platform.runtimeDone"})").ok());
  EXPECT_FALSE(ParseTelemetryBatch("not json").ok());
  EXPECT_TRUE(ParseTelemetryBatch("[]").ok());
}

TEST(LambdaEventsTest, RendersTheSubscriptionAsTheApiDocumentsIt) {
  TelemetrySubscription s;
  s.destination_uri = "http://sandbox.localdomain:4243/telemetry";
  json::value v = json::parse(RenderTelemetrySubscription(s));
  EXPECT_EQ(v.at("schemaVersion"), "2022-07-01");
  EXPECT_EQ(v.at("types"), json::array({"platform"}));
  EXPECT_EQ(v.at("buffering").at("timeoutMs"), 25);
  EXPECT_EQ(v.at("buffering").at("maxItems"), 1000);
  EXPECT_EQ(v.at("buffering").at("maxBytes"), 262144);
  EXPECT_EQ(v.at("destination").at("protocol"), "HTTP");
  EXPECT_EQ(v.at("destination").at("URI"), "http://sandbox.localdomain:4243/telemetry");
}

TEST(LambdaEventsTest, RendersRegisterAndErrorRequests) {
  json::value reg = json::parse(RenderRegisterRequest());
  EXPECT_EQ(reg.at("events"), json::array({"INVOKE", "SHUTDOWN"}));
  json::value err = json::parse(RenderErrorRequest("Extension.ConfigInvalid", "DT_ENDPOINT is \"not\" set"));
  EXPECT_EQ(err.at("errorType"), "Extension.ConfigInvalid");
  EXPECT_EQ(err.at("errorMessage"), "DT_ENDPOINT is \"not\" set");
  EXPECT_TRUE(err.at("stackTrace").is_array());
}

TEST(LambdaEventsTest, ParsesTheRegisterResponse) {
  absl::StatusOr<RegisterInfo> info = ParseRegisterResponse(
      R"({"functionName":"helloWorld","functionVersion":"$LATEST","handler":"lambda_function.lambda_handler"})");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->function_name, "helloWorld");
  EXPECT_EQ(info->handler, "lambda_function.lambda_handler");
  EXPECT_FALSE(ParseRegisterResponse("[1]").ok());
}

}  // namespace
}  // namespace gateway::lambda
