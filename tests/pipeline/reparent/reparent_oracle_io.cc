// The helpers of reparent_oracle.h that build, scan and decode requests.
#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway::testing {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

}  // namespace

std::string BuildRequest(const std::vector<ProtoSpan>& spans, const std::string& service) {
  ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value(service);
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("test-scope");
  for (const ProtoSpan& s : spans) *ss->add_spans() = s;
  return request.SerializeAsString();
}

ScannedTraceRequest ScanOrFail(std::string body) {
  absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(body));
  EXPECT_TRUE(scanned.ok()) << scanned.status().ToString();
  if (!scanned.ok()) return ScannedTraceRequest{};
  return *std::move(scanned);
}

std::vector<ProtoSpan> DecodeSpans(absl::Span<const OutputSpan> spans) {
  if (spans.empty()) return {};
  return SpansOfBodies({EncodeTraceRequest(spans)});
}

std::vector<ProtoSpan> SpansOfBodies(const std::vector<std::string>& bodies) {
  std::vector<ProtoSpan> out;
  for (const std::string& body : bodies) {
    ExportTraceServiceRequest request;
    EXPECT_TRUE(request.ParseFromString(body));
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) out.push_back(s);
      }
    }
  }
  return out;
}

std::vector<std::string> Canonical(const std::vector<ProtoSpan>& spans) {
  std::vector<std::tuple<std::string, std::string, std::string>> keyed;
  for (const ProtoSpan& s : spans) keyed.emplace_back(s.trace_id(), s.span_id(), s.ShortDebugString());
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> out;
  for (auto& k : keyed) out.push_back(Hex(std::get<0>(k)) + "/" + Hex(std::get<1>(k)) + " " + std::get<2>(k));
  return out;
}

std::string TraceIdBytes(uint64_t n) {
  std::string id(16, '\0');
  id[0] = static_cast<char>(0xaa);
  for (int i = 0; i < 8; ++i) id[15 - i] = static_cast<char>(n >> (8 * i));
  return id;
}

std::string SpanIdBytes(uint64_t n) {
  std::string id(8, '\0');
  id[0] = static_cast<char>(0x55);
  for (int i = 0; i < 7; ++i) id[7 - i] = static_cast<char>(n >> (8 * i));
  return id;
}

}  // namespace gateway::testing
