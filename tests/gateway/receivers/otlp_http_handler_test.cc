#include "gateway/receivers/otlp_http_handler.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pipeline/otlp/gzip.h"
#include "gateway/receivers/http_server.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "tests/fakes/fake_ingest.h"
#include "tests/gateway/receivers/http_test_client.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;
namespace logs_v1 = opentelemetry::proto::collector::logs::v1;

using testing::FakeIngest;

std::string TracesWire(int spans = 2) {
  trace_v1::ExportTraceServiceRequest request;
  auto* scope_spans = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* span = scope_spans->add_spans();
    span->set_trace_id(std::string(16, static_cast<char>(i + 1)));
    span->set_span_id(std::string(8, static_cast<char>(i + 1)));
    span->set_name(absl::StrCat("span-", i, std::string(100, 'p')));
  }
  return request.SerializeAsString();
}

constexpr char kTracesJson[] =
    R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",)"
    R"("spanId":"0102030405060708","name":"from-json","kind":2}]}]}]})";

class OtlpHttpHandlerTest : public ::testing::Test {
 protected:
  OtlpHttpHandler& Handler(OtlpHttpHandlerOptions options = {}) {
    handler_ = std::make_unique<OtlpHttpHandler>(std::move(options), ingest_, registry_);
    return *handler_;
  }

  static HttpRequest Post(const std::string& path, std::string body,
                          const std::string& content_type = "application/x-protobuf") {
    HttpRequest request;
    request.method = "POST";
    request.path = path;
    request.headers = {{"content-type", content_type}};
    request.body = std::move(body);
    return request;
  }

  static std::string Header(const HttpResponse& response, const std::string& name) {
    for (const auto& [n, v] : response.headers) {
      if (n == name) return v;
    }
    return "";
  }

  static google::rpc::Status ParseStatus(const HttpResponse& response) {
    google::rpc::Status status;
    EXPECT_EQ(response.content_type, "application/x-protobuf");
    EXPECT_TRUE(status.ParseFromString(response.body));
    return status;
  }

  int64_t Rejected(const std::string& reason, const std::string& signal = "traces") {
    return registry_.CounterValue("gateway_requests_rejected_total",
                                  {{"transport", "http"}, {"signal", signal}, {"reason", reason}});
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
  std::unique_ptr<OtlpHttpHandler> handler_;
};

TEST_F(OtlpHttpHandlerTest, ProtobufRequestIsHandedOverAsIs) {
  std::string wire = TracesWire();
  HttpResponse r = Handler().Handle(Post("/v1/traces", wire));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/x-protobuf");
  EXPECT_EQ(r.body, "");  // an empty ExportTraceServiceResponse
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].signal, Signal::kTraces);
  EXPECT_EQ(calls[0].request, wire);
  const MetricLabels labels = {{"transport", "http"}, {"signal", "traces"}};
  EXPECT_EQ(registry_.CounterValue("gateway_requests_received_total", labels), 1);
  EXPECT_EQ(registry_.CounterValue("gateway_bytes_received_total", labels), static_cast<int64_t>(wire.size()));
}

TEST_F(OtlpHttpHandlerTest, PathsSelectTheSignal) {
  OtlpHttpHandler& handler = Handler();
  EXPECT_EQ(handler.Handle(Post("/v1/metrics", "")).status, 200);
  EXPECT_EQ(handler.Handle(Post("/v1/logs", "")).status, 200);
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].signal, Signal::kMetrics);
  EXPECT_EQ(calls[1].signal, Signal::kLogs);
}

TEST_F(OtlpHttpHandlerTest, PartialSuccessIsEncodedInTheResponse) {
  ingest_.SetResult({IngestOutcome::kAccepted, 3, "three log records too old"});
  HttpResponse r = Handler().Handle(Post("/v1/logs", ""));
  EXPECT_EQ(r.status, 200);
  logs_v1::ExportLogsServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(r.body));
  EXPECT_EQ(response.partial_success().rejected_log_records(), 3);
  EXPECT_EQ(response.partial_success().error_message(), "three log records too old");
}

TEST_F(OtlpHttpHandlerTest, ContentTypeParametersAndCaseAreIgnored) {
  EXPECT_EQ(Handler().Handle(Post("/v1/traces", TracesWire(), "Application/X-Protobuf; charset=binary")).status,
            200);
}

TEST_F(OtlpHttpHandlerTest, GzipBodyIsDecompressed) {
  std::string wire = TracesWire(50);
  HttpRequest request = Post("/v1/traces", GzipCompress(wire, 6));
  request.headers.emplace_back("content-encoding", "gzip");
  EXPECT_EQ(Handler().Handle(request).status, 200);
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request, wire);
}

TEST_F(OtlpHttpHandlerTest, GzipBombIs413) {
  OtlpHttpHandlerOptions options;
  options.max_decompressed_bytes = 1 << 20;
  std::string bomb = GzipCompress(std::string(64 << 20, '\0'), 9);  // ~64 KB on the wire
  ASSERT_LT(bomb.size(), 1u << 20);
  HttpRequest request = Post("/v1/traces", bomb);
  request.headers.emplace_back("content-encoding", "gzip");
  HttpResponse r = Handler(options).Handle(request);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ParseStatus(r).code(), 8);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(ingest_.CallCount(), 0u);
  EXPECT_EQ(Rejected("too_large"), 1);
}

TEST_F(OtlpHttpHandlerTest, UncompressedBodyOverTheLimitIs413) {
  OtlpHttpHandlerOptions options;
  options.max_decompressed_bytes = 100;
  EXPECT_EQ(Handler(options).Handle(Post("/v1/traces", std::string(101, 'x'))).status, 413);
}

TEST_F(OtlpHttpHandlerTest, CorruptGzipIs400) {
  HttpRequest request = Post("/v1/traces", "definitely not gzip");
  request.headers.emplace_back("content-encoding", "gzip");
  HttpResponse r = Handler().Handle(request);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ParseStatus(r).code(), 3);
}

TEST_F(OtlpHttpHandlerTest, UnsupportedContentTypeOrEncodingIs415) {
  OtlpHttpHandler& handler = Handler();
  EXPECT_EQ(handler.Handle(Post("/v1/traces", "x", "text/plain")).status, 415);
  EXPECT_EQ(handler.Handle(Post("/v1/traces", "x", "")).status, 415);
  HttpRequest brotli = Post("/v1/traces", "x");
  brotli.headers.emplace_back("content-encoding", "br");
  EXPECT_EQ(handler.Handle(brotli).status, 415);
  EXPECT_EQ(ingest_.CallCount(), 0u);
  EXPECT_EQ(Rejected("unsupported"), 3);
}

TEST_F(OtlpHttpHandlerTest, IngestInvalidIs400WithAStatusBody) {
  ingest_.SetResult({IngestOutcome::kInvalid, 0, "truncated field 2"});
  HttpResponse r = Handler().Handle(Post("/v1/traces", "\x0a\x05"));
  EXPECT_EQ(r.status, 400);
  google::rpc::Status status = ParseStatus(r);
  EXPECT_EQ(status.code(), 3);
  EXPECT_EQ(status.message(), "truncated field 2");
  EXPECT_EQ(Rejected("invalid"), 1);
}

TEST_F(OtlpHttpHandlerTest, OverloadIs503WithRetryAfterInWholeSeconds) {
  ingest_.SetResult({IngestOutcome::kOverloaded, 0, "", absl::Milliseconds(2500)});
  HttpResponse r = Handler().Handle(Post("/v1/traces", TracesWire()));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Header(r, "Retry-After"), "3");
  google::rpc::Status status = ParseStatus(r);
  EXPECT_EQ(status.code(), 14);  // UNAVAILABLE
  EXPECT_EQ(Rejected("overloaded"), 1);
  // The same delay as a RetryInfo detail, for clients that read the body.
  ASSERT_EQ(status.details_size(), 1);
  EXPECT_EQ(status.details(0).type_url(), "type.googleapis.com/google.rpc.RetryInfo");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(retry.ParseFromString(status.details(0).value()));
  EXPECT_EQ(retry.retry_delay().seconds(), 3);
  EXPECT_EQ(retry.retry_delay().nanos(), 0);
}

TEST_F(OtlpHttpHandlerTest, JsonOverloadCarriesRetryInfoInTheJsonMapping) {
  ingest_.SetResult({IngestOutcome::kOverloaded, 0, "", absl::Seconds(2)});
  HttpResponse r = Handler().Handle(Post("/v1/traces", kTracesJson, "application/json"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            "{\"code\":14,\"message\":\"gateway overloaded, retry later\",\"details\":[{\"@type\":"
            "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"2s\"}]}");
}

TEST_F(OtlpHttpHandlerTest, ShuttingDownIs503) {
  ingest_.SetResult({IngestOutcome::kShuttingDown, 0, ""});
  HttpResponse r = Handler().Handle(Post("/v1/traces", TracesWire()));
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(Header(r, "Retry-After").empty());
  EXPECT_EQ(Rejected("shutting_down"), 1);
}

TEST_F(OtlpHttpHandlerTest, ExportsWaitForRoomOnlyWhileTheBudgetIsFull) {
  OtlpHttpHandlerOptions options;
  options.admission_wait = absl::Milliseconds(300);
  OtlpHttpHandler& handler = Handler(options);
  HttpRequest post = Post("/v1/traces", "");
  post.headers.emplace_back("content-length", "30000");
  EXPECT_EQ(handler.RoomWait(post), absl::ZeroDuration());
  EXPECT_TRUE(handler.HasRoom(post));
  // Room is asked for the body as announced.
  ASSERT_FALSE(ingest_.RoomAsked().empty());
  EXPECT_EQ(ingest_.RoomAsked().back(), 30000);

  ingest_.SetBudgetFull(true);
  EXPECT_EQ(handler.RoomWait(post), absl::Milliseconds(300));
  EXPECT_FALSE(handler.HasRoom(post));
  // Only exports wait: not what OnHeaders refuses anyway.
  EXPECT_EQ(handler.RoomWait(Post("/v1/spans", "")), absl::ZeroDuration());
  HttpRequest get = post;
  get.method = "GET";
  EXPECT_EQ(handler.RoomWait(get), absl::ZeroDuration());
  EXPECT_EQ(handler.RoomWait(Post("/v1/traces", "", "text/plain")), absl::ZeroDuration());
  EXPECT_EQ(handler.RoomWait(Post("/v1/logs", "", "application/json")), absl::Milliseconds(300));
  EXPECT_EQ(Rejected("unsupported"), 0);  // asking counts nothing

  handler.RoomWaitEnded(true, absl::Milliseconds(2));
  handler.RoomWaitEnded(false, absl::Milliseconds(300));
  EXPECT_EQ(registry_.CounterValue("gateway_admission_waits_total", {{"transport", "http"}, {"outcome", "admitted"}}),
            1);
  EXPECT_EQ(registry_.CounterValue("gateway_admission_waits_total", {{"transport", "http"}, {"outcome", "timed_out"}}),
            1);
  EXPECT_EQ(registry_.CounterValue("gateway_admission_wait_microseconds_total", {{"transport", "http"}}), 302'000);
}

TEST_F(OtlpHttpHandlerTest, ACompressedExportWaitsForRoomForItsLikelyDecompressedSize) {
  OtlpHttpHandlerOptions options;
  options.admission_wait = absl::Milliseconds(300);
  options.max_decompressed_bytes = 1 << 20;
  OtlpHttpHandler& handler = Handler(options);
  auto announcing = [](int64_t bytes, const std::string& encoding) {
    HttpRequest post = Post("/v1/traces", "");
    post.headers.emplace_back("content-length", absl::StrCat(bytes));
    if (!encoding.empty()) post.headers.emplace_back("content-encoding", encoding);
    return post;
  };
  auto asked = [&](const HttpRequest& request) {
    EXPECT_TRUE(handler.HasRoom(request));
    return ingest_.RoomAsked().back();
  };
  // Nothing decompressed yet: the announced size.
  EXPECT_EQ(asked(announcing(1000, "gzip")), 1000);

  const std::string raw = TracesWire(50);
  const std::string compressed = GzipCompress(raw, 6);
  ASSERT_FALSE(compressed.empty());
  const double ratio = static_cast<double>(raw.size()) / static_cast<double>(compressed.size());
  ASSERT_GT(ratio, 4.0);
  for (int i = 0; i < 30; ++i) {
    HttpRequest post = Post("/v1/traces", compressed);
    post.headers.emplace_back("content-encoding", "gzip");
    ASSERT_EQ(handler.Handle(std::move(post)).status, 200);
  }
  // Compressed bodies: the recent ratio (within the average's rounding of
  // half a step); uncompressed ones as announced.
  for (const std::string encoding : {"gzip", " GZIP ", "deflate"}) {
    const int64_t gzip_asks = asked(announcing(1000, encoding));
    EXPECT_GE(gzip_asks, static_cast<int64_t>(1000 * (ratio - 0.5))) << encoding;
    EXPECT_LE(gzip_asks, static_cast<int64_t>(1000 * ratio) + 1) << encoding;
  }
  EXPECT_EQ(asked(announcing(1000, "")), 1000);
  EXPECT_EQ(asked(announcing(1000, "identity")), 1000);
  // Never more than a body may decompress to.
  EXPECT_EQ(asked(announcing(900'000, "gzip")), 1 << 20);

  // It waits while that much does not fit.
  ingest_.SetBudgetFull(true);
  EXPECT_EQ(handler.RoomWait(announcing(1000, "gzip")), absl::Milliseconds(300));
}

TEST_F(OtlpHttpHandlerTest, ABodyThatOutgrowsTheRoomPausesForWhatIsLeftOfTheWait) {
  OtlpHttpHandlerOptions options;
  options.admission_wait = absl::Milliseconds(300);
  OtlpHttpHandler& handler = Handler(options);
  HttpRequest post = Post("/v1/traces", "");
  ASSERT_FALSE(handler.OnHeaders(&post).has_value());  // holds budget for the body
  EXPECT_EQ(handler.BodyRoomWait(post, 4096, absl::ZeroDuration()), absl::ZeroDuration());
  EXPECT_TRUE(handler.HasRoomForBody(post, 4096));
  EXPECT_EQ(ingest_.RoomAsked().back(), 4096);

  ingest_.SetBudgetFull(true);
  EXPECT_FALSE(handler.HasRoomForBody(post, 8192));
  EXPECT_EQ(handler.BodyRoomWait(post, 8192, absl::ZeroDuration()), absl::Milliseconds(300));
  EXPECT_EQ(handler.BodyRoomWait(post, 8192, absl::Milliseconds(120)), absl::Milliseconds(180));
  EXPECT_EQ(handler.BodyRoomWait(post, 8192, absl::Milliseconds(300)), absl::ZeroDuration());
  // A request whose body is not read holds nothing and never pauses.
  HttpRequest bare = Post("/v1/traces", "");
  EXPECT_EQ(handler.BodyRoomWait(bare, 8192, absl::ZeroDuration()), absl::ZeroDuration());
}

TEST_F(OtlpHttpHandlerTest, NoPauseWhenAdmissionWaitIsZero) {
  OtlpHttpHandler& handler = Handler();
  HttpRequest post = Post("/v1/traces", "");
  ASSERT_FALSE(handler.OnHeaders(&post).has_value());
  ingest_.SetBudgetFull(true);
  EXPECT_EQ(handler.BodyRoomWait(post, 8192, absl::ZeroDuration()), absl::ZeroDuration());
}

TEST_F(OtlpHttpHandlerTest, AnExportWithoutItsTokenDoesNotWaitForRoom) {
  OtlpHttpHandlerOptions options;
  options.admission_wait = absl::Milliseconds(300);
  options.bearer_token = "tok";
  OtlpHttpHandler& handler = Handler(options);
  ingest_.SetBudgetFull(true);
  HttpRequest post = Post("/v1/traces", "");
  EXPECT_EQ(handler.RoomWait(post), absl::ZeroDuration());
  post.headers.emplace_back("authorization", "Bearer tok");
  EXPECT_EQ(handler.RoomWait(post), absl::Milliseconds(300));
  EXPECT_EQ(Rejected("unauthenticated"), 0);
}

TEST_F(OtlpHttpHandlerTest, NoWaitForRoomWhenAdmissionWaitIsZero) {
  ingest_.SetBudgetFull(true);
  EXPECT_EQ(Handler().RoomWait(Post("/v1/traces", "")), absl::ZeroDuration());
}

TEST_F(OtlpHttpHandlerTest, UnknownPathIs404AndWrongMethodIs405) {
  OtlpHttpHandler& handler = Handler();
  EXPECT_EQ(handler.Handle(Post("/v1/spans", "")).status, 404);
  HttpRequest get = Post("/v1/traces", "");
  get.method = "GET";
  HttpResponse r = handler.Handle(get);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "POST");
  EXPECT_EQ(ingest_.CallCount(), 0u);
}

TEST_F(OtlpHttpHandlerTest, BearerTokenIsRequiredWhenConfigured) {
  OtlpHttpHandlerOptions options;
  options.bearer_token = "tok";
  OtlpHttpHandler& handler = Handler(options);
  HttpResponse r = handler.Handle(Post("/v1/traces", ""));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer");
  HttpRequest wrong = Post("/v1/traces", "");
  wrong.headers.emplace_back("authorization", "Bearer toc");
  EXPECT_EQ(handler.Handle(wrong).status, 401);
  HttpRequest right = Post("/v1/traces", "");
  right.headers.emplace_back("authorization", "bearer tok");
  EXPECT_EQ(handler.Handle(right).status, 200);
  EXPECT_EQ(ingest_.CallCount(), 1u);
  EXPECT_EQ(Rejected("unauthenticated"), 2);
}

TEST_F(OtlpHttpHandlerTest, CorsPreflightAndAllowOriginForListedOrigins) {
  OtlpHttpHandlerOptions options;
  options.cors_allowed_origins = {"https://app.example.com"};
  OtlpHttpHandler& handler = Handler(options);
  HttpRequest preflight;
  preflight.method = "OPTIONS";
  preflight.path = "/v1/traces";
  preflight.headers = {{"origin", "https://app.example.com"},
                       {"access-control-request-method", "POST"},
                       {"access-control-request-headers", "content-type"}};
  HttpResponse r = handler.Handle(preflight);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(Header(r, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(Header(r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(Header(r, "Access-Control-Allow-Headers"), "content-type");

  HttpRequest post = Post("/v1/traces", "");
  post.headers.emplace_back("origin", "https://app.example.com");
  EXPECT_EQ(Header(handler.Handle(post), "Access-Control-Allow-Origin"), "https://app.example.com");

  HttpRequest evil = Post("/v1/traces", "");
  evil.headers.emplace_back("origin", "https://evil.example.com");
  EXPECT_EQ(Header(handler.Handle(evil), "Access-Control-Allow-Origin"), "");
  preflight.headers[0].second = "https://evil.example.com";
  EXPECT_EQ(Header(handler.Handle(preflight), "Access-Control-Allow-Origin"), "");
}

TEST_F(OtlpHttpHandlerTest, JsonRequestIsConvertedAndAnsweredInJson) {
  HttpResponse r = Handler().Handle(Post("/v1/traces", kTracesJson, "application/json"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "{}");
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  trace_v1::ExportTraceServiceRequest request;
  ASSERT_TRUE(request.ParseFromString(calls[0].request));
  ASSERT_EQ(request.resource_spans(0).scope_spans(0).spans_size(), 1);
  const auto& span = request.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.name(), "from-json");
  EXPECT_EQ(span.span_id(), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(span.kind(), 2);
}

TEST_F(OtlpHttpHandlerTest, JsonPartialSuccessAndErrorsAreJson) {
  ingest_.SetResult({IngestOutcome::kAccepted, 1, "one span dropped"});
  OtlpHttpHandler& handler = Handler();
  HttpResponse ok = handler.Handle(Post("/v1/traces", kTracesJson, "application/json"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("\"partialSuccess\""), std::string::npos) << ok.body;
  EXPECT_NE(ok.body.find("one span dropped"), std::string::npos) << ok.body;

  HttpResponse bad = handler.Handle(Post("/v1/traces", "{\"resourceSpans\": [", "application/json"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.content_type, "application/json");
  EXPECT_EQ(bad.body.rfind("{\"code\":3,\"message\":", 0), 0u) << bad.body;
  EXPECT_EQ(ingest_.CallCount(), 1u);
}

// Through the real server: gzip over the wire, keep-alive, chunked, and a
// compressed body whose decompressed size is over the limit.
class OtlpHttpEndToEndTest : public OtlpHttpHandlerTest {
 protected:
  void SetUp() override {
    OtlpHttpHandlerOptions options;
    options.max_decompressed_bytes = 1 << 20;
    Handler(options);
    HttpServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.threads = 2;
    auto server = StartHttpServer(server_options, *handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override { server_->Shutdown(); }

  static std::string Request(const std::string& path, const std::string& body, const std::string& headers) {
    return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: gw\r\n", headers, "Content-Length: ", body.size(),
                        "\r\n\r\n", body);
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(OtlpHttpEndToEndTest, GzipRequestsOnOneKeepAliveConnection) {
  testing::RawHttpClient client(server_->port());
  std::string wire = TracesWire(20);
  const std::string headers = "Content-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n";
  ASSERT_TRUE(client.Send(Request("/v1/traces", GzipCompress(wire, 6), headers)));
  testing::RawHttpResponse first = client.ReadResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("content-type"), "application/x-protobuf");
  ASSERT_TRUE(client.Send(Request("/v1/traces", GzipCompress(wire, 1), headers)));
  EXPECT_EQ(client.ReadResponse().status, 200);
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].request, wire);
  EXPECT_EQ(calls[1].request, wire);
}

TEST_F(OtlpHttpEndToEndTest, ChunkedJsonRequest) {
  testing::RawHttpClient client(server_->port());
  std::string json = kTracesJson;
  std::string half1 = json.substr(0, json.size() / 2), half2 = json.substr(json.size() / 2);
  ASSERT_TRUE(client.Send(absl::StrCat("POST /v1/traces HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n",
                                       "Transfer-Encoding: chunked\r\n\r\n", absl::Hex(half1.size()), "\r\n", half1,
                                       "\r\n", absl::Hex(half2.size()), "\r\n", half2, "\r\n0\r\n\r\n")));
  testing::RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{}");
}

TEST_F(OtlpHttpEndToEndTest, GzipBombOverTheWireIs413) {
  testing::RawHttpClient client(server_->port());
  std::string bomb = GzipCompress(std::string(32 << 20, 'a'), 9);
  ASSERT_TRUE(client.Send(
      Request("/v1/logs", bomb, "Content-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n")));
  testing::RawHttpResponse r = client.ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ingest_.CallCount(), 0u);
  EXPECT_EQ(Rejected("too_large", "logs"), 1);
}

// The headers alone: what OnHeaders decides before the body is read.
HttpRequest Headers(const std::string& path, const std::string& content_length,
                    const std::string& content_type = "application/x-protobuf") {
  HttpRequest request;
  request.method = "POST";
  request.path = path;
  request.headers = {{"content-type", content_type}};
  if (!content_length.empty()) request.headers.emplace_back("content-length", content_length);
  return request;
}

TEST_F(OtlpHttpHandlerTest, WrongTokenIsRefusedFromTheHeaders) {
  OtlpHttpHandlerOptions options;
  options.bearer_token = "tok";
  OtlpHttpHandler& handler = Handler(options);
  HttpRequest request = Headers("/v1/traces", "16777216");
  std::optional<HttpResponse> refused = handler.OnHeaders(&request);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(Header(*refused, "WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(ingest_.Holds().empty());  // nothing held for an unauthenticated body
  EXPECT_EQ(Rejected("unauthenticated"), 1);

  HttpRequest right = Headers("/v1/traces", "100");
  right.headers.emplace_back("authorization", "Bearer tok");
  EXPECT_FALSE(handler.OnHeaders(&right).has_value());
  EXPECT_NE(right.admission, nullptr);
}

TEST_F(OtlpHttpHandlerTest, UnknownPathAndUnsupportedTypeAreRefusedFromTheHeaders) {
  OtlpHttpHandler& handler = Handler();
  HttpRequest unknown = Headers("/v2/traces", "10");
  ASSERT_TRUE(handler.OnHeaders(&unknown).has_value());
  EXPECT_EQ(handler.OnHeaders(&unknown)->status, 404);
  HttpRequest text = Headers("/v1/logs", "10", "text/plain");
  ASSERT_TRUE(handler.OnHeaders(&text).has_value());
  EXPECT_EQ(handler.OnHeaders(&text)->status, 415);
  EXPECT_TRUE(ingest_.Holds().empty());
}

TEST_F(OtlpHttpHandlerTest, TheBodyHoldsTheBudgetForWhatItHasInMemory) {
  OtlpHttpHandler& handler = Handler();
  // 16 MiB announced: nothing is held for it before it arrives.
  HttpRequest request = Headers("/v1/traces", "16777216");
  EXPECT_FALSE(handler.OnHeaders(&request).has_value());
  EXPECT_FALSE(handler.OnBodyProgress(&request, 8192).has_value());
  EXPECT_FALSE(handler.OnBodyProgress(&request, 65536).has_value());
  EXPECT_EQ(ingest_.Holds(), (std::vector<int64_t>{0, 8192, 65536}));

  // No room for more of the body: 503, the body is not read further.
  ingest_.SetReceiveRoom(false);
  std::optional<HttpResponse> cut = handler.OnBodyProgress(&request, 131072);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->status, 503);
  EXPECT_EQ(Header(*cut, "Retry-After"), "1");

  // No room at all: refused from the headers.
  HttpRequest refused = Headers("/v1/traces", "1234");
  std::optional<HttpResponse> r = handler.OnHeaders(&refused);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Header(*r, "Retry-After"), "1");
  EXPECT_EQ(Rejected("overloaded"), 2);
  EXPECT_EQ(ingest_.CallCount(), 0u);
}

TEST_F(OtlpHttpHandlerTest, TheHoldIsDroppedBeforeTheRequestIsAccepted) {
  OtlpHttpHandler& handler = Handler();
  HttpRequest request = Headers("/v1/traces", "0");
  ASSERT_FALSE(handler.OnHeaders(&request).has_value());
  std::weak_ptr<void> hold = request.admission;
  bool held_during_accept = true;
  ingest_.SetHook([&](Signal, const std::string&) {
    held_during_accept = !hold.expired();
    return IngestResult{};
  });
  EXPECT_EQ(handler.Handle(std::move(request)).status, 200);
  EXPECT_FALSE(held_during_accept);
}

TEST_F(OtlpHttpHandlerTest, OwnExportIsRefusedAsALoop) {
  OtlpHttpHandlerOptions options;
  options.own_instance_id = "00112233aabbccdd";
  OtlpHttpHandler& handler = Handler(options);
  HttpRequest own = Headers("/v1/traces", "10");
  own.headers.emplace_back("x-otlp-reparent-gateway-instance", "00112233aabbccdd");
  std::optional<HttpResponse> refused = handler.OnHeaders(&own);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 508);
  EXPECT_EQ(Rejected("export_loop"), 1);
  EXPECT_TRUE(ingest_.Holds().empty());

  // Another gateway's export (a second tier) is served.
  HttpRequest other = Post("/v1/traces", TracesWire());
  other.headers.emplace_back("x-otlp-reparent-gateway-instance", "ffeeddccbbaa9988");
  EXPECT_EQ(handler.Handle(std::move(other)).status, 200);
}

}  // namespace
}  // namespace gateway
