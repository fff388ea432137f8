#include "gateway/admin/admin_handler.h"

#include <boost/json.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/base/metrics_registry.h"
#include "tests/fakes/fake_clock.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "dt0c01.TOPSECRETTOKENVALUE";

class AdminHandlerTest : public ::testing::Test {
 protected:
  AdminHandlerTest() {
    absl::StatusOr<GatewayConfig> loaded = LoadConfig(
        "exporter: {dynatrace: {endpoint: 'https://abc.live.dynatrace.com/api/v2/otlp'}}",
        MapEnv({{"DT_API_TOKEN", kToken}}));
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    config_ = *loaded;
    received_ = registry_.GetCounter("gateway_spans_received_total", "Spans accepted", {{"transport", "grpc"}});
  }

  AdminHandler& Handler() {
    if (handler_ == nullptr) {
      AdminProbes probes = probes_;
      if (!probes.throughput) {
        probes.throughput = [this] {
          return ThroughputTotals{received_->Value(), reparented_.load(), exported_.load()};
        };
      }
      handler_ = std::make_unique<AdminHandler>(registry_, clock_, RenderEffectiveConfig(config_), probes,
                                                ConfigSecrets(config_));
    }
    return *handler_;
  }

  HttpResponse Get(const std::string& path, const std::string& method = "GET") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.remote_address = "127.0.0.1:5555";
    return Handler().Handle(request);
  }

  MetricsRegistry registry_;
  testing::FakeClock clock_;
  GatewayConfig config_;
  Counter* received_ = nullptr;
  std::atomic<int64_t> reparented_{0};
  std::atomic<int64_t> exported_{0};
  AdminProbes probes_;
  std::unique_ptr<AdminHandler> handler_;
};

TEST_F(AdminHandlerTest, HealthzIsOk) {
  HttpResponse r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_THAT(r.content_type, StartsWith("text/plain"));
}

TEST_F(AdminHandlerTest, HealthzFailsWhenNotLive) {
  probes_.live = [] { return false; };
  EXPECT_EQ(Get("/healthz").status, 503);
}

TEST_F(AdminHandlerTest, ReadyzReportsTheReason) {
  bool ready = true;
  probes_.ready = [&ready] { return Readiness{ready, ready ? "" : "exporter failing for 60s"}; };
  EXPECT_EQ(Get("/readyz").status, 200);
  ready = false;
  HttpResponse r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("exporter failing for 60s"));
}

TEST_F(AdminHandlerTest, MetricsArePrometheusText) {
  received_->Add(42);
  HttpResponse r = Get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  EXPECT_THAT(r.body, HasSubstr("# TYPE gateway_spans_received_total counter"));
  EXPECT_THAT(r.body, HasSubstr("gateway_spans_received_total{transport=\"grpc\"} 42"));
  EXPECT_THAT(r.body, HasSubstr("gateway_admin_requests_total"));
}

TEST_F(AdminHandlerTest, UnknownPathIs404AndOtherMethodsAre405) {
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(Get("/status/").status, 404);
  HttpResponse r = Get("/healthz", "POST");
  EXPECT_EQ(r.status, 405);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "allow");
  EXPECT_EQ(Get("/metrics", "DELETE").status, 405);
}

TEST_F(AdminHandlerTest, HeadHasNoBody) {
  HttpResponse r = Get("/status", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(AdminHandlerTest, StatusPageShowsConfigThroughputAndDecisions) {
  probes_.recent_decisions = [] {
    return std::vector<DecisionRow>{{absl::FromUnixSeconds(1700000000), "0102030405060708090a0b0c0d0e0f10",
                                          "a1a2a3a4a5a6a7a8a9aaabacadaeafb0", "1112131415161718", "process order"}};
  };
  received_->Add(1000);
  EXPECT_THAT(Get("/status").body, HasSubstr("no earlier sample yet"));
  clock_.Advance(absl::Seconds(10));
  received_->Add(500);
  reparented_ = 20;
  exported_ = 400;
  HttpResponse r = Get("/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(r.body, StartsWith("<!DOCTYPE html>"));
  EXPECT_THAT(r.body, HasSubstr("over the last 10 s"));
  EXPECT_THAT(r.body, HasSubstr("<th>received</th><td class=\"n\">50.0</td><td class=\"n\">1500</td>"));
  EXPECT_THAT(r.body, HasSubstr("<th>reparented</th><td class=\"n\">2.0</td>"));
  EXPECT_THAT(r.body, HasSubstr("<th>exported</th><td class=\"n\">40.0</td>"));
  EXPECT_THAT(r.body, HasSubstr("process order"));
  EXPECT_THAT(r.body, HasSubstr("0102030405060708090a0b0c0d0e0f10"));
  EXPECT_THAT(r.body, HasSubstr("2023-11-14T22:13:20.000Z"));
  EXPECT_THAT(r.body, HasSubstr("hold_window: &quot;10s&quot;"));
  EXPECT_THAT(r.body, HasSubstr("abc.live.dynatrace.com"));
}

TEST_F(AdminHandlerTest, RatesCoverOnlyTheLastMinute) {
  Get("/status.json");  // t=0, 0 spans
  for (int i = 0; i < 120; ++i) {
    clock_.Advance(absl::Seconds(1));
    // 100 spans/s during the first minute, 10 spans/s during the second.
    received_->Add(i < 60 ? 100 : 10);
    Handler().SampleThroughput();
  }
  ThroughputRates rates = Handler().SampleThroughput();
  EXPECT_EQ(rates.window, absl::Seconds(60));
  EXPECT_DOUBLE_EQ(rates.received_per_s, 10.0);
  EXPECT_EQ(rates.totals.spans_received, 6600);
}

TEST_F(AdminHandlerTest, StatusPageEscapesHtml) {
  probes_.recent_decisions = [] {
    return std::vector<DecisionRow>{{absl::FromUnixSeconds(1700000000), "<b>orig</b>", "new\"trace",
                                          "'span'", "<script>alert('x')</script> & more \xff"}};
  };
  probes_.ready = [] { return Readiness{false, "<img src=x onerror=alert(1)>"}; };
  HttpResponse r = Get("/status");
  EXPECT_THAT(r.body, Not(HasSubstr("<script>")));
  EXPECT_THAT(r.body, Not(HasSubstr("<img")));
  EXPECT_THAT(r.body, Not(HasSubstr("<b>orig")));
  EXPECT_THAT(r.body, HasSubstr("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more \xEF\xBF\xBD"));
  EXPECT_THAT(r.body, HasSubstr("new&quot;trace"));
  EXPECT_THAT(r.body, HasSubstr("&lt;img src=x onerror=alert(1)&gt;"));
  bool has_csp = false;
  for (const auto& [name, value] : r.headers) has_csp = has_csp || name == "content-security-policy";
  EXPECT_TRUE(has_csp);
}

TEST_F(AdminHandlerTest, StatusJsonIsValidJsonWithTheSameData) {
  probes_.recent_decisions = [] {
    return std::vector<DecisionRow>{{absl::FromUnixSeconds(1700000000), "0102030405060708090a0b0c0d0e0f10",
                                          "a1a2a3a4a5a6a7a8a9aaabacadaeafb0", "1112131415161718",
                                          "quote\" back\\slash \x01 bad\xc3"}};
  };
  Get("/status.json");
  clock_.Advance(absl::Seconds(4));
  received_->Add(8);
  HttpResponse r = Get("/status.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  ASSERT_FALSE(ec) << ec.message() << "\n" << r.body;
  const boost::json::object& o = v.as_object();
  EXPECT_TRUE(o.at("live").as_bool());
  EXPECT_TRUE(o.at("ready").as_bool());
  EXPECT_DOUBLE_EQ(o.at("throughput").at("received_per_s").to_number<double>(), 2.0);
  EXPECT_EQ(o.at("throughput").at("received_total").to_number<int64_t>(), 8);
  const boost::json::array& decisions = o.at("recent_decisions").as_array();
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].at("span_name").as_string(), "quote\" back\\slash \x01 bad\xEF\xBF\xBD");
  EXPECT_EQ(decisions[0].at("new_trace_id").as_string(), "a1a2a3a4a5a6a7a8a9aaabacadaeafb0");
  EXPECT_THAT(std::string(o.at("config").as_string()), HasSubstr("hold_window"));
}

TEST_F(AdminHandlerTest, TokenNeverAppearsInAnyOutput) {
  // Even when a probe leaks it (a span name carrying it, a failure reason).
  probes_.recent_decisions = [] {
    return std::vector<DecisionRow>{
        {absl::FromUnixSeconds(1700000000), "00", "11", "22", absl::StrCat("leak ", kToken)}};
  };
  probes_.ready = [] { return Readiness{false, absl::StrCat("401 for Api-Token ", kToken)}; };
  registry_.GetCounter("gateway_weird_total", "x", {{"token", kToken}})->Add();
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/status", "/status.json", "/nope"}) {
    for (const char* method : {"GET", "POST"}) {
      HttpResponse r = Get(path, method);
      EXPECT_THAT(r.body, Not(HasSubstr(kToken))) << method << " " << path;
      EXPECT_THAT(r.body, Not(HasSubstr("TOPSECRET"))) << method << " " << path;
      for (const auto& [name, value] : r.headers) EXPECT_THAT(value, Not(HasSubstr("TOPSECRET")));
    }
  }
  EXPECT_THAT(Get("/status").body, HasSubstr("REDACTED"));
}

TEST_F(AdminHandlerTest, StatusOffLoopbackNeedsTheStatusToken) {
  auto from = [](const std::string& remote, const std::string& path, const std::string& auth = "") {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    request.remote_address = remote;
    if (!auth.empty()) request.headers.emplace_back("authorization", auth);
    return request;
  };
  AdminHandler no_token(registry_, clock_, RenderEffectiveConfig(config_), probes_, ConfigSecrets(config_));
  EXPECT_EQ(no_token.Handle(from("10.1.2.3:4000", "/status")).status, 403);
  EXPECT_EQ(no_token.Handle(from("10.1.2.3:4000", "/status.json", "Bearer anything")).status, 403);
  EXPECT_EQ(no_token.Handle(from("127.0.0.1:4000", "/status")).status, 200);
  EXPECT_EQ(no_token.Handle(from("::1:4000", "/status.json")).status, 200);
  // Probes and metrics answer everyone.
  EXPECT_EQ(no_token.Handle(from("10.1.2.3:4000", "/healthz")).status, 200);
  EXPECT_EQ(no_token.Handle(from("10.1.2.3:4000", "/readyz")).status, 200);
  EXPECT_EQ(no_token.Handle(from("10.1.2.3:4000", "/metrics")).status, 200);
  EXPECT_EQ(registry_.CounterValue("gateway_admin_requests_total", {{"outcome", "forbidden"}}), 2);

  AdminHandler with_token(registry_, clock_, RenderEffectiveConfig(config_), probes_, ConfigSecrets(config_),
                          "status-s3cret");
  EXPECT_EQ(with_token.Handle(from("10.1.2.3:4000", "/status", "Bearer status-s3cret")).status, 200);
  EXPECT_EQ(with_token.Handle(from("10.1.2.3:4000", "/status", "Bearer wrong")).status, 403);
}

TEST_F(AdminHandlerTest, ConcurrentRequestsAreSafe) {
  Handler();  // constructed before the threads share it
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 200; ++i) {
        clock_.Advance(absl::Milliseconds(300));
        received_->Add(3);
        EXPECT_EQ(Get(i % 2 == 0 ? "/status.json" : "/metrics").status, 200);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace gateway
