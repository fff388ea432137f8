// A stand-alone fake Dynatrace OTLP API for the end-to-end tests.
//
//   fake_dynatrace_server [--api-token=TOKEN]
//   stdout: {"port":41234,"control_port":41235}
//
// `port` serves the Dynatrace OTLP contract (tests/fakes/fake_dynatrace.h) at
// http://127.0.0.1:<port>/api/v2/otlp. `control_port` serves, for the test:
//   GET  /received            everything received, as JSON (below)
//   POST /canonicalize/{metrics,logs,traces}
//                             the body parsed by libprotobuf and serialized
//                             again (deterministic), so a test can compare
//                             contents independent of encoder choices
//   POST /decode/metrics      {"metric_points":[...]} of an
//                             ExportMetricsServiceRequest body (below)
//
// /received:
//   {"requests":[{"signal","path","status","content_type","content_encoding",
//                 "wire_bytes","body_bytes",
//                 "items","rejected","rejection_message"}],  // 2xx: spans or
//                 // data points, and what the partial success refused
//    "spans":[{"trace_id","span_id","parent_span_id" (hex, "" for none),
//              "name","kind","service","attributes":{key:value},
//              "links":[{"trace_id","span_id","attributes"}]}],
//    "metrics":[{"body":base64,"canonical":base64}],   // one per 2xx request
//    "metric_points":[{"service","scope","metric","unit","type" (sum, gauge,
//              histogram, exponential_histogram, summary),"temporality"
//              (1 delta, 2 cumulative),"monotonic","attributes":{k:v},
//              "start","time" (ns as strings),"flags",
//              "value" (sums, gauges),
//              "histogram":{"count","sum","bounds","counts","min","max"},
//              "exponential":{"count","sum","scale","zero_count",
//                             "positive":{"offset","counts"},"negative":{...}}}],
//    "logs":[...same...]}
// Both servers bind 127.0.0.1 only. Runs until SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/strings/escaping.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include <boost/json.hpp>
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "tests/fakes/fake_dynatrace.h"

namespace gateway::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

json::value AnyValueToJson(const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      return json::value(v.string_value());
    case AnyValue::kBoolValue:
      return json::value(v.bool_value());
    case AnyValue::kIntValue:
      return json::value(v.int_value());
    case AnyValue::kDoubleValue:
      return json::value(v.double_value());
    case AnyValue::kBytesValue:
      return json::value(Hex(v.bytes_value()));
    case AnyValue::kArrayValue: {
      json::array a;
      for (const AnyValue& e : v.array_value().values()) a.push_back(AnyValueToJson(e));
      return a;
    }
    case AnyValue::kKvlistValue: {
      json::object o;
      for (const KeyValue& kv : v.kvlist_value().values()) o[kv.key()] = AnyValueToJson(kv.value());
      return o;
    }
    case AnyValue::VALUE_NOT_SET:
      break;
  }
  return nullptr;
}

template <typename Attributes>
json::object AttributesToJson(const Attributes& attributes) {
  json::object o;
  for (const KeyValue& kv : attributes) o[kv.key()] = AnyValueToJson(kv.value());
  return o;
}

std::string ServiceName(const opentelemetry::proto::resource::v1::Resource& resource) {
  for (const KeyValue& kv : resource.attributes()) {
    if (kv.key() == "service.name") return kv.value().string_value();
  }
  return "";
}

// Parses `body` as the signal's export request and serializes it again
// deterministically; empty on parse failure.
bool Canonicalize(Signal signal, const std::string& body, std::string* out) {
  std::unique_ptr<google::protobuf::Message> msg;
  switch (signal) {
    case Signal::kTraces:
      msg = std::make_unique<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>();
      break;
    case Signal::kMetrics:
      msg = std::make_unique<
          opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest>();
      break;
    case Signal::kLogs:
      msg = std::make_unique<opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest>();
      break;
  }
  if (!msg->ParseFromString(body)) return false;
  out->clear();
  google::protobuf::io::StringOutputStream stream(out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  return msg->SerializeToCodedStream(&coded);
}

json::array Uint64s(const google::protobuf::RepeatedField<uint64_t>& values) {
  json::array a;
  for (uint64_t v : values) a.push_back(v);
  return a;
}

// Every data point of a metrics request, flattened (see the file comment).
json::array MetricPointsJson(const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& r) {
  namespace otlp = opentelemetry::proto::metrics::v1;
  json::array out;
  for (const auto& rm : r.resource_metrics()) {
    const std::string service = ServiceName(rm.resource());
    for (const auto& sm : rm.scope_metrics()) {
      for (const otlp::Metric& m : sm.metrics()) {
        auto point = [&](const auto& p, const char* type, int temporality, bool monotonic) {
          json::object o;
          o["service"] = service;
          o["scope"] = sm.scope().name();
          o["metric"] = m.name();
          o["unit"] = m.unit();
          o["type"] = type;
          o["temporality"] = temporality;
          o["monotonic"] = monotonic;
          o["attributes"] = AttributesToJson(p.attributes());
          o["start"] = std::to_string(p.start_time_unix_nano());
          o["time"] = std::to_string(p.time_unix_nano());
          o["flags"] = p.flags();
          return o;
        };
        switch (m.data_case()) {
          case otlp::Metric::kSum:
          case otlp::Metric::kGauge: {
            const bool sum = m.has_sum();
            const auto& points = sum ? m.sum().data_points() : m.gauge().data_points();
            for (const auto& p : points) {
              json::object o = point(p, sum ? "sum" : "gauge", sum ? m.sum().aggregation_temporality() : 0,
                                     sum && m.sum().is_monotonic());
              if (p.value_case() == otlp::NumberDataPoint::kAsDouble) {
                o["value"] = p.as_double();
              } else {
                o["value"] = p.as_int();
              }
              out.push_back(std::move(o));
            }
            break;
          }
          case otlp::Metric::kHistogram:
            for (const auto& p : m.histogram().data_points()) {
              json::object o = point(p, "histogram", m.histogram().aggregation_temporality(), true);
              json::object h;
              h["count"] = p.count();
              h["sum"] = p.has_sum() ? json::value(p.sum()) : json::value(nullptr);
              json::array bounds;
              for (double b : p.explicit_bounds()) bounds.push_back(b);
              h["bounds"] = std::move(bounds);
              h["counts"] = Uint64s(p.bucket_counts());
              h["min"] = p.has_min() ? json::value(p.min()) : json::value(nullptr);
              h["max"] = p.has_max() ? json::value(p.max()) : json::value(nullptr);
              o["histogram"] = std::move(h);
              out.push_back(std::move(o));
            }
            break;
          case otlp::Metric::kExponentialHistogram:
            for (const auto& p : m.exponential_histogram().data_points()) {
              json::object o =
                  point(p, "exponential_histogram", m.exponential_histogram().aggregation_temporality(), true);
              json::object e;
              e["count"] = p.count();
              e["sum"] = p.has_sum() ? json::value(p.sum()) : json::value(nullptr);
              e["scale"] = p.scale();
              e["zero_count"] = p.zero_count();
              e["positive"] = json::object{{"offset", p.positive().offset()}, {"counts", Uint64s(p.positive().bucket_counts())}};
              e["negative"] = json::object{{"offset", p.negative().offset()}, {"counts", Uint64s(p.negative().bucket_counts())}};
              o["exponential"] = std::move(e);
              out.push_back(std::move(o));
            }
            break;
          case otlp::Metric::kSummary:
            for (const auto& p : m.summary().data_points()) out.push_back(point(p, "summary", 0, false));
            break;
          case otlp::Metric::DATA_NOT_SET:
            break;
        }
      }
    }
  }
  return out;
}

std::string HeaderOr(const FakeDynatrace::ReceivedRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

std::string ReceivedJson(const FakeDynatrace& dt) {
  json::object root;
  json::array requests;
  json::array metrics;
  json::array logs;
  for (const FakeDynatrace::ReceivedRequest& r : dt.Requests()) {
    json::object o;
    o["signal"] = std::string(SignalName(r.signal));
    o["path"] = r.path;
    o["status"] = r.status;
    o["content_type"] = HeaderOr(r, "content-type");
    o["content_encoding"] = HeaderOr(r, "content-encoding");
    o["wire_bytes"] = r.wire_bytes;
    o["body_bytes"] = r.body.size();
    o["items"] = r.items;
    o["rejected"] = r.rejected_items;
    o["rejection_message"] = r.rejection_message;
    requests.push_back(std::move(o));
    if (r.status < 200 || r.status >= 300 || r.signal == Signal::kTraces) continue;
    json::object b;
    b["body"] = absl::Base64Escape(r.body);
    std::string canonical;
    if (Canonicalize(r.signal, r.body, &canonical)) b["canonical"] = absl::Base64Escape(canonical);
    (r.signal == Signal::kMetrics ? metrics : logs).push_back(std::move(b));
  }
  json::array spans;
  for (const auto& rs : dt.ReceivedSpans()) {
    const std::string service = ServiceName(rs.resource());
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) {
        json::object o;
        o["trace_id"] = Hex(s.trace_id());
        o["span_id"] = Hex(s.span_id());
        o["parent_span_id"] = Hex(s.parent_span_id());
        o["name"] = s.name();
        o["kind"] = static_cast<int>(s.kind());
        o["service"] = service;
        o["scope"] = ss.scope().name();
        o["attributes"] = AttributesToJson(s.attributes());
        json::array links;
        for (const auto& l : s.links()) {
          json::object lo;
          lo["trace_id"] = Hex(l.trace_id());
          lo["span_id"] = Hex(l.span_id());
          lo["attributes"] = AttributesToJson(l.attributes());
          links.push_back(std::move(lo));
        }
        o["links"] = std::move(links);
        spans.push_back(std::move(o));
      }
    }
  }
  root["requests"] = std::move(requests);
  json::array metric_points;
  for (const auto& rm : dt.ReceivedMetrics()) {
    opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest wrapped;
    *wrapped.add_resource_metrics() = rm;
    for (auto& p : MetricPointsJson(wrapped)) metric_points.push_back(std::move(p));
  }
  root["spans"] = std::move(spans);
  root["metrics"] = std::move(metrics);
  root["metric_points"] = std::move(metric_points);
  root["logs"] = std::move(logs);
  return json::serialize(root);
}

http::response<http::string_body> Handle(const FakeDynatrace& dt,
                                         const http::request<http::string_body>& req) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(false);
  res.set(http::field::content_type, "application/json");
  const std::string target(req.target());
  if (req.method() == http::verb::get && target == "/received") {
    res.result(http::status::ok);
    res.body() = ReceivedJson(dt);
  } else if (req.method() == http::verb::post && target == "/decode/metrics") {
    opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest request;
    if (request.ParseFromString(req.body())) {
      res.result(http::status::ok);
      res.body() = json::serialize(json::object{{"metric_points", MetricPointsJson(request)}});
    } else {
      res.result(http::status::bad_request);
      res.body() = R"({"error":"does not parse"})";
    }
  } else if (req.method() == http::verb::post && target.rfind("/canonicalize/", 0) == 0) {
    const std::string name = target.substr(std::string("/canonicalize/").size());
    Signal signal = Signal::kTraces;
    if (name == "metrics") {
      signal = Signal::kMetrics;
    } else if (name == "logs") {
      signal = Signal::kLogs;
    } else if (name != "traces") {
      res.result(http::status::not_found);
      res.prepare_payload();
      return res;
    }
    std::string canonical;
    if (Canonicalize(signal, req.body(), &canonical)) {
      res.result(http::status::ok);
      res.set(http::field::content_type, "application/x-protobuf");
      res.body() = std::move(canonical);
    } else {
      res.result(http::status::bad_request);
      res.body() = R"({"error":"does not parse"})";
    }
  } else {
    res.result(http::status::not_found);
  }
  res.prepare_payload();
  return res;
}

// Serves the control API, one connection at a time, until the process ends.
void ServeControl(const FakeDynatrace& dt, asio::ip::tcp::acceptor& acceptor) {
  for (;;) {
    boost::system::error_code ec;
    asio::ip::tcp::socket socket(acceptor.get_executor());
    acceptor.accept(socket, ec);
    if (ec) continue;
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket, buffer, parser, ec);
    if (ec) continue;
    http::write(socket, Handle(dt, parser.get()), ec);
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }
}

int Main(int argc, char** argv) {
  // Blocked before any thread starts, so every thread inherits the mask and
  // the main thread receives them in sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  FakeDynatrace::Options options;
  options.token = "dt0c01.E2E.TOKEN";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    constexpr std::string_view kToken = "--api-token=";
    if (arg.substr(0, kToken.size()) == kToken) {
      options.token = std::string(arg.substr(kToken.size()));
    } else {
      std::cerr << "usage: fake_dynatrace_server [--api-token=TOKEN]\n";
      return 2;
    }
  }
  absl::StatusOr<std::unique_ptr<FakeDynatrace>> dt = FakeDynatrace::Start(options);
  if (!dt.ok()) {
    std::cerr << "fake_dynatrace: " << dt.status() << "\n";
    return 1;
  }
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  try {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.bind(endpoint);
    acceptor.listen();
  } catch (const boost::system::system_error& e) {
    std::cerr << "fake_dynatrace: control listener: " << e.what() << "\n";
    return 1;
  }
  std::cout << "{\"port\":" << (*dt)->port()
            << ",\"control_port\":" << acceptor.local_endpoint().port() << "}" << std::endl;

  std::thread control([&] { ServeControl(**dt, acceptor); });
  control.detach();
  int received = 0;
  sigwait(&signals, &received);
  // Leave without joining the control thread (blocked in accept); the fake's
  // own destructor stops its listener.
  std::_Exit(0);
}

}  // namespace
}  // namespace gateway::testing

int main(int argc, char** argv) { return gateway::testing::Main(argc, argv); }
