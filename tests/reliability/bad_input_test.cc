// Bad input against the whole gateway (StartGateway in-process, FakeDynatrace
// as the export target): malformed protobuf, hostile JSON, compression bombs,
// slow and oversized clients. Each gets its documented answer over HTTP and
// gRPC, nothing crashes, and a well-behaved client keeps being served in
// parallel the whole time.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "pipeline/otlp/gzip.h"
#include "gateway/gateway_app.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::reliability {
namespace {

constexpr char kProtobuf[] = "application/x-protobuf";
constexpr char kJson[] = "application/json";

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string LengthDelimited(int field, const std::string& value) {
  return Varint((static_cast<uint64_t>(field) << 3) | 2) + Varint(value.size()) + value;
}

// A span whose single attribute is an AnyValue nested `depth` array levels deep.
std::string DeeplyNestedProtobuf(int depth) {
  std::string value = LengthDelimited(1, "leaf");  // AnyValue{string_value}
  for (int i = 0; i < depth; ++i) {
    const std::string array = LengthDelimited(1, value);  // ArrayValue{values}
    value = LengthDelimited(5, array);                    // AnyValue{array_value}
  }
  const std::string key_value = LengthDelimited(1, "k") + LengthDelimited(2, value);
  const std::string span = LengthDelimited(1, std::string(16, '\x01')) + LengthDelimited(2, std::string(8, '\x02')) +
                           LengthDelimited(9, key_value);
  const std::string scope_spans = LengthDelimited(2, span);
  const std::string resource_spans = LengthDelimited(2, scope_spans);
  return LengthDelimited(1, resource_spans);
}

std::string DeeplyNestedJson(int depth) {
  std::string json = R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",)"
                     R"("spanId":"0102030405060708","attributes":[{"key":"k","value":)";
  for (int i = 0; i < depth; ++i) json += R"({"arrayValue":{"values":[)";
  json += R"({"stringValue":"leaf"})";
  for (int i = 0; i < depth; ++i) json += "]}}";
  json += "}]}]}]}]}";
  return json;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    GatewayConfig config = ReliabilityConfig(*dynatrace_);
    config.http.max_request_body_mib = 4;
    config.grpc.max_recv_msg_size_mib = 4;
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    good_client_ = std::thread([this] { GoodClientLoop(); });
    // The test body starts once the well-behaved client is being served, so
    // the two overlap even when the body takes milliseconds and the client's
    // thread is scheduled late (a loaded CI machine).
    ASSERT_TRUE(good_client_started_.WaitForNotificationWithTimeout(absl::Seconds(20)))
        << "the well-behaved client's first request did not complete";
  }

  void TearDown() override {
    stop_good_client_ = true;
    if (good_client_.joinable()) good_client_.join();
    EXPECT_GT(good_ok_.load(), 0) << "the well-behaved client never got through";
    EXPECT_EQ(good_failed_.load(), 0) << "the well-behaved client was refused while others misbehaved";
    // Every span the well-behaved client got acknowledged arrives.
    ASSERT_TRUE(dynatrace_->WaitForSpans(good_spans_acked_, absl::Now() + absl::Seconds(20)));
    if (app_) app_->Shutdown();
  }

  // Alternates gRPC and HTTP exports of 5 spans while the test runs (bounded),
  // at least one of each whatever the test's length.
  void GoodClientLoop() {
    SpanFactory spans(1'000'000);
    for (int i = 0; i < 2000 && (i < 2 || !stop_good_client_); ++i) {
      const std::string body = spans.Request(5).SerializeAsString();
      bool ok;
      if (i % 2 == 0) {
        ok = GrpcExportRaw(app_->grpc_port(), kTraceExport, body).ok();
      } else {
        ok = HttpPost(app_->http_port(), "/v1/traces", kProtobuf, body).status == 200;
      }
      (ok ? good_ok_ : good_failed_)++;
      if (ok) good_spans_acked_ += 5;
      if (i == 0) good_client_started_.Notify();
      absl::SleepFor(absl::Milliseconds(5));  // pacing of a real client, not a wait for a condition
    }
  }

  int Http(const std::string& body, std::string_view type = kProtobuf, std::string_view headers = "") {
    return HttpPost(app_->http_port(), "/v1/traces", type, body, headers).status;
  }
  grpc::StatusCode Grpc(const std::string& body) {
    return GrpcExportRaw(app_->grpc_port(), kTraceExport, body).error_code();
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::unique_ptr<GatewayApp> app_;
  std::thread good_client_;
  absl::Notification good_client_started_;
  std::atomic<bool> stop_good_client_{false};
  std::atomic<int> good_ok_{0};
  std::atomic<int> good_failed_{0};
  std::atomic<int64_t> good_spans_acked_{0};
};

TEST_F(BadInputTest, MalformedProtobufIsInvalidArgumentOverBothProtocols) {
  SpanFactory spans;
  const std::string valid = spans.Request(3).SerializeAsString();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", valid.substr(0, valid.size() - 3)},
      {"truncated in a tag", valid.substr(0, 1)},
      {"wrong wire type for resource_spans", Varint((1 << 3) | 0) + Varint(5)},
      {"huge varint (11 bytes)", std::string("\x08") + std::string(10, '\xff') + "\x01"},
      {"length past the end", "\x0a" + Varint(1000) + "abc"},
      {"length overflowing 64 bits", "\x0a" + std::string(9, '\xff') + "\x01"},
      {"negative int32 length", "\x0a" + Varint(static_cast<uint64_t>(-1))},
      {"group", std::string("\x0b\x0c")},
      {"nested length past its parent", LengthDelimited(1, "\x12\x7f" + std::string(3, 'x'))},
  };
  for (const auto& [name, body] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Http(body), 400);
    EXPECT_EQ(Grpc(body), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(BadInputTest, SpansWithIdsOfTheWrongLengthArePartiallyRejected) {
  SpanFactory spans(500);
  ExportTraceServiceRequest request = spans.Request(3);
  request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_trace_id("short");
  request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_span_id(std::string(9, 'x'));
  RawHttpResponse http = HttpPost(app_->http_port(), "/v1/traces", kProtobuf, request.SerializeAsString());
  EXPECT_EQ(http.status, 200);
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(http.body));
  EXPECT_EQ(response.partial_success().rejected_spans(), 2);

  const std::string bad_json =
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0102030405060708"}]}]}]})";
  EXPECT_EQ(Http(bad_json, kJson), 400);
}

TEST_F(BadInputTest, DeeplyNestedValuesAreInvalidArgument) {
  // JSON: the converter's depth limit answers 400.
  EXPECT_EQ(Http(DeeplyNestedJson(10'000), kJson), 400);
  // Protobuf: what the gateway accepts must still be deliverable, so it must
  // not answer 200 for a body that libprotobuf (recursion limit 100), and so
  // Dynatrace, cannot parse.
  const std::string nested = DeeplyNestedProtobuf(10'000);
  EXPECT_EQ(Http(nested), 400);
  EXPECT_EQ(Grpc(nested), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BadInputTest, HostileJsonIsBadRequest) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"invalid UTF-8", "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"\xff\xfe\"}]}]}]}"},
      {"truncated", R"({"resourceSpans":[{"scopeSpans":[)"},
      {"not JSON", "<xml/>"},
      {"wrong type", R"({"resourceSpans":"yes"})"},
      {"trailing garbage", R"({} {})"},
      {"lone surrogate", R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\ud800"}]}]}]})"},
  };
  for (const auto& [name, body] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Http(body, kJson), 400);
  }
}

TEST_F(BadInputTest, CompressionBombIsRefusedWithinTheLimit) {
  // 256 MiB of zeros packs into ~250 KiB; the limit is 4 MiB decompressed.
  const std::string bomb = GzipCompress(std::string(size_t{256} << 20, '\0'), 9);
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  EXPECT_EQ(Http(bomb, kProtobuf, "Content-Encoding: gzip\r\n"), 413);
  EXPECT_EQ(Http("\x1f\x8b not gzip", kProtobuf, "Content-Encoding: gzip\r\n"), 400);
}

TEST_F(BadInputTest, OversizedBodiesAndHeadersAreRefused) {
  EXPECT_EQ(Http(std::string(size_t{5} << 20, 'x')), 413);
  EXPECT_EQ(Http("", kProtobuf, "X-Big: " + std::string(32 << 10, 'a') + "\r\n"), 431);
  EXPECT_EQ(Grpc(std::string(size_t{5} << 20, 'x')), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(BadInputTest, SlowLorisClientsDoNotStarveOthers) {
  // 32 connections that send half a request and stall.
  std::vector<std::unique_ptr<RawHttpClient>> loris;
  for (int i = 0; i < 32; ++i) {
    loris.push_back(std::make_unique<RawHttpClient>(app_->http_port()));
    ASSERT_TRUE(loris.back()->connected());
    ASSERT_TRUE(loris.back()->Send("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
  }
  SpanFactory spans(900);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Http(spans.Request(2).SerializeAsString()), 200);
    EXPECT_EQ(Grpc(spans.Request(2).SerializeAsString()), grpc::StatusCode::OK);
  }
  good_spans_acked_ += 20;
}

}  // namespace
}  // namespace gateway::reliability
