// Fuzzes the OTLP/HTTP receiver with raw HTTP requests: the bytes are parsed
// with Boost.Beast's request parser under the server's limits (as
// gateway/receivers/http_server.cc does), and a complete request goes to
// OtlpHttpHandler::Handle. The handler must answer with one of its
// documented codes, hand Ingest only well-formed protobuf requests of the
// path's signal, and answer 200 only when Ingest accepted.
//
// Input: byte 0 picks what Ingest answers (accept, accept with a partial
// rejection, overloaded, shutting down, invalid); the rest is the request.
#include <cstddef>
#include <cctype>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/otlp_http_handler.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/ingest/ingest.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/otlp/otlp_wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_oracle.h"

namespace {

namespace http = boost::beast::http;

constexpr size_t kMaxHeaderBytes = 16 << 10;
constexpr size_t kMaxBodyBytes = 64 << 10;

bool ParsesAs(gateway::Signal signal, const std::string& wire) {
  switch (signal) {
    case gateway::Signal::kTraces:
      return opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest().ParseFromString(wire);
    case gateway::Signal::kMetrics:
      return opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest().ParseFromString(wire);
    case gateway::Signal::kLogs:
      return opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest().ParseFromString(wire);
  }
  return false;
}

// Checks what the handler hands over, then answers as byte 0 of the input says.
class CheckingIngest final : public gateway::Ingest {
 public:
  gateway::IngestResult Accept(gateway::Signal signal, std::string request) override {
    called = true;
    // JSON was converted and compressed bodies inflated: protobuf that
    // libprotobuf parses, or at least bytes the receiver could not judge
    // (the pipeline validates); never more than the decompression limit.
    FUZZ_CHECK(request.size() <= kMaxBodyBytes * 4, "body over max_decompressed_bytes reached Ingest");
    FUZZ_CHECK(signal == expected_signal, "signal does not match the path");
    if (json) FUZZ_CHECK(ParsesAs(signal, request), "converted JSON does not parse with libprotobuf");
    gateway::IngestResult result;
    switch (mode % 5) {
      case 0:
        break;
      case 1:
        result.rejected_items = 1;
        result.message = "one item rejected";
        break;
      case 2:
        result.outcome = gateway::IngestOutcome::kOverloaded;
        result.retry_after = absl::Seconds(2);
        break;
      case 3:
        result.outcome = gateway::IngestOutcome::kShuttingDown;
        break;
      default:
        result.outcome = gateway::IngestOutcome::kInvalid;
        result.message = "invalid";
        break;
    }
    last = result.outcome;
    return result;
  }
  bool Ready() const override { return true; }

  uint8_t mode = 0;
  bool json = false;
  gateway::Signal expected_signal = gateway::Signal::kTraces;
  bool called = false;
  gateway::IngestOutcome last = gateway::IngestOutcome::kAccepted;
};

struct Fixture {
  Fixture() {
    gateway::SetLogLevel(gateway::LogLevel::kError);
    gateway::OtlpHttpHandlerOptions options;
    options.max_decompressed_bytes = kMaxBodyBytes * 4;
    options.cors_allowed_origins = {"https://app.example.com"};
    handler = std::make_unique<gateway::OtlpHttpHandler>(options, ingest, registry);
  }
  gateway::MetricsRegistry registry;
  CheckingIngest ingest;
  std::unique_ptr<gateway::OtlpHttpHandler> handler;
};

// "Application/JSON ; charset=utf-8" -> "application/json".
std::string MediaType(const std::string& header) {
  std::string type = header.substr(0, header.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  size_t start = 0;
  while (start < type.size() && (type[start] == ' ' || type[start] == '\t')) ++start;
  type.erase(0, start);
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

bool Documented(int status) {
  switch (status) {
    case 200: case 204: case 400: case 401: case 404: case 405: case 413: case 415: case 503:
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = gateway::fuzz::QuietLibprotobuf();
  (void)quiet;
  static Fixture* fixture = new Fixture();
  if (size < 1) return 0;
  fixture->ingest.mode = data[0];
  fixture->ingest.called = false;

  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxBodyBytes);
  parser.eager(true);
  boost::beast::error_code ec;
  std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t used = parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  // Feed the rest as the server would as more bytes arrive.
  while (!ec && !parser.is_done() && used > 0 && used < raw.size()) {
    raw.remove_prefix(used);
    used = parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  }
  if (ec || !parser.is_done()) return 0;

  const http::request<http::string_body>& message = parser.get();
  gateway::HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string_view target = message.target();
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = message.body();
  request.remote_address = "127.0.0.1";
  fixture->ingest.json = MediaType(request.Header("content-type")) == "application/json";
  fixture->ingest.expected_signal = request.path == "/v1/metrics" ? gateway::Signal::kMetrics
                                    : request.path == "/v1/logs"  ? gateway::Signal::kLogs
                                                                  : gateway::Signal::kTraces;

  const gateway::HttpResponse response = fixture->handler->Handle(request);
  FUZZ_CHECK(Documented(response.status), "undocumented status code");
  if (response.status == 200) {
    FUZZ_CHECK(fixture->ingest.called, "200 without Ingest accepting");
    FUZZ_CHECK(fixture->ingest.last == gateway::IngestOutcome::kAccepted, "200 for a refused request");
  }
  if (fixture->ingest.called && fixture->ingest.last == gateway::IngestOutcome::kOverloaded) {
    FUZZ_CHECK(response.status == 503, "overload not answered 503");
    bool retry_after = false;
    for (const auto& [name, value] : response.headers) retry_after |= (name == "Retry-After");
    FUZZ_CHECK(retry_after, "503 without Retry-After");
  }
  return 0;
}
