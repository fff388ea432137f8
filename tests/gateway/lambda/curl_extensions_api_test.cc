// The libcurl Extensions API client against the HTTP stand-in of Lambda's
// API: the headers and bodies the contract asks for, events parsed, error
// answers turned into errors.
#include "gateway/lambda/curl_extensions_api.h"

#include <thread>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "tests/fakes/fake_lambda_api.h"

namespace gateway::lambda {
namespace {

using testing::FakeLambdaApi;
namespace json = ::boost::json;

class CurlExtensionsApiTest : public ::testing::Test {
 protected:
  void Start(FakeLambdaApi::Options options = {}) {
    absl::StatusOr<std::unique_ptr<FakeLambdaApi>> api = FakeLambdaApi::Start(options);
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    CurlExtensionsApiOptions client;
    client.runtime_api = api_->address();
    client_ = NewCurlExtensionsApiClient(client, RealClock());
  }

  std::unique_ptr<FakeLambdaApi> api_;
  std::unique_ptr<ExtensionsApiClient> client_;
};

TEST_F(CurlExtensionsApiTest, RegistersWithItsNameForInvokeAndShutdown) {
  Start();
  absl::StatusOr<RegisterInfo> info = client_->Register("otlp-reparent-gateway");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->function_name, "fake-function");
  EXPECT_EQ(api_->registered_name(), "otlp-reparent-gateway");
  EXPECT_EQ(json::parse(api_->registered_events()).at("events"), json::array({"INVOKE", "SHUTDOWN"}));
}

TEST_F(CurlExtensionsApiTest, ARefusedRegistrationIsAnError) {
  FakeLambdaApi::Options options;
  options.register_status = 403;
  Start(options);
  absl::StatusOr<RegisterInfo> info = client_->Register("x");
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(info.status())) << info.status();
  EXPECT_NE(std::string(info.status().message()).find("403"), std::string::npos);
}

TEST_F(CurlExtensionsApiTest, NextEventBlocksUntilAnEventAndParsesIt) {
  Start();
  ASSERT_TRUE(client_->Register("x").ok());
  const absl::Time deadline = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now() + absl::Seconds(30)));
  std::thread pusher([&] {
    ASSERT_TRUE(api_->WaitForNextCalls(1, absl::Now() + absl::Seconds(20)));
    api_->PushInvoke("req-7", deadline);
  });
  absl::StatusOr<LifecycleEvent> event = client_->NextEvent();
  pusher.join();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, LifecycleEventType::kInvoke);
  EXPECT_EQ(event->request_id, "req-7");
  EXPECT_EQ(event->deadline, deadline);

  api_->PushShutdown(deadline, "timeout");
  event = client_->NextEvent();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, LifecycleEventType::kShutdown);
  EXPECT_EQ(event->shutdown_reason, "timeout");
}

TEST_F(CurlExtensionsApiTest, CallsBeforeRegisteringAreRefused) {
  Start();
  absl::StatusOr<LifecycleEvent> event = client_->NextEvent();
  ASSERT_FALSE(event.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(event.status())) << event.status();
}

TEST_F(CurlExtensionsApiTest, SubscribesToPlatformEventsOverHttp) {
  Start();
  ASSERT_TRUE(client_->Register("x").ok());
  TelemetrySubscription s;
  s.destination_uri = "http://sandbox.localdomain:4243/telemetry";
  ASSERT_TRUE(client_->SubscribeTelemetry(s).ok());
  json::value body = json::parse(api_->subscription_body());
  EXPECT_EQ(body.at("destination").at("URI"), "http://sandbox.localdomain:4243/telemetry");
  EXPECT_EQ(api_->destination(), "http://127.0.0.1:4243/telemetry");
}

TEST_F(CurlExtensionsApiTest, ARefusedSubscriptionIsAnError) {
  FakeLambdaApi::Options options;
  options.subscribe_status = 400;
  Start(options);
  ASSERT_TRUE(client_->Register("x").ok());
  TelemetrySubscription s;
  s.destination_uri = "http://sandbox.localdomain:4243/telemetry";
  absl::Status status = client_->SubscribeTelemetry(s);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("Telemetry.NotSupported"), std::string::npos) << status;
}

TEST_F(CurlExtensionsApiTest, AnEmulatorsAcceptedButUnservedSubscriptionIsNotASubscription) {
  FakeLambdaApi::Options options;
  options.subscribe_status = 202;
  Start(options);
  ASSERT_TRUE(client_->Register("x").ok());
  TelemetrySubscription s;
  s.destination_uri = "http://sandbox.localdomain:4243/telemetry";
  absl::Status status = client_->SubscribeTelemetry(s);
  EXPECT_TRUE(absl::IsUnimplemented(status)) << status;
}

TEST_F(CurlExtensionsApiTest, ReportsInitAndExitErrorsWithTheirType) {
  Start();
  ASSERT_TRUE(client_->Register("x").ok());
  ASSERT_TRUE(client_->InitError("Extension.ConfigInvalid", "DT_ENDPOINT is not set").ok());
  ASSERT_TRUE(client_->ExitError("Extension.EventLoopFailed", "event/next: HTTP 500").ok());
  std::vector<FakeLambdaApi::ErrorReport> errors = api_->errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].path, "/2020-01-01/extension/init/error");
  EXPECT_EQ(errors[0].error_type, "Extension.ConfigInvalid");
  EXPECT_EQ(json::parse(errors[0].body).at("errorMessage"), "DT_ENDPOINT is not set");
  EXPECT_EQ(errors[1].path, "/2020-01-01/extension/exit/error");
  EXPECT_EQ(errors[1].error_type, "Extension.EventLoopFailed");
}

TEST_F(CurlExtensionsApiTest, AnUnreachableApiIsUnavailable) {
  CurlExtensionsApiOptions options;
  options.runtime_api = "127.0.0.1:1";
  std::unique_ptr<ExtensionsApiClient> client = NewCurlExtensionsApiClient(options, RealClock());
  absl::StatusOr<RegisterInfo> info = client->Register("x");
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsUnavailable(info.status())) << info.status();
}

}  // namespace
}  // namespace gateway::lambda
