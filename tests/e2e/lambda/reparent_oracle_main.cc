// The offline reparenting oracle (tests/pipeline/reparent_oracle.h) as a
// command for the Lambda end-to-end test: reads the export requests the
// function's SDK sent (JSON lines {"request": base64 ExportTraceServiceRequest,
// "result": "SUCCESS"|...}) on stdin, prints the spans the gateway must
// deliver with the default reparenting options, one JSON line each:
//   {"trace_id","span_id","parent_span_id" (hex, "" for none),"name","kind"}
// Exit status 1 on malformed input.
#include <iostream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/reparent/reparent_options.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace {

namespace json = ::boost::json;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

}  // namespace

int main() {
  std::vector<gateway::testing::ProtoSpan> spans;
  std::string line;
  int line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.empty()) continue;
    boost::system::error_code ec;
    json::value record = json::parse(line, ec);
    if (ec || !record.is_object() || !record.as_object().contains("request")) {
      std::cerr << "line " << line_number << ": not a record\n";
      return 1;
    }
    if (const json::value* result = record.as_object().if_contains("result");
        result != nullptr && result->is_string() && result->get_string() != "SUCCESS") {
      continue;  // not delivered to the gateway
    }
    std::string bytes;
    if (!absl::Base64Unescape(std::string(record.at("request").as_string()), &bytes)) {
      std::cerr << "line " << line_number << ": bad base64\n";
      return 1;
    }
    ExportTraceServiceRequest request;
    if (!request.ParseFromString(bytes)) {
      std::cerr << "line " << line_number << ": not an ExportTraceServiceRequest\n";
      return 1;
    }
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) spans.push_back(s);
      }
    }
  }
  for (const gateway::testing::ProtoSpan& s : gateway::testing::ReparentOffline(spans, gateway::ReparentOptions{})) {
    json::object out{{"trace_id", Hex(s.trace_id())},
                     {"span_id", Hex(s.span_id())},
                     {"parent_span_id", Hex(s.parent_span_id())},
                     {"name", s.name()},
                     {"kind", static_cast<int>(s.kind())}};
    std::cout << json::serialize(out) << "\n";
  }
  return 0;
}
