#include "tests/pipeline/reparent/reparent_oracle.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/reparent/trace_resolver.h"

namespace gateway::testing {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

constexpr uint32_t kRemoteBits = kSpanFlagsHasIsRemote | kSpanFlagsIsRemote;

bool ValidId(const std::string& bytes, size_t size) {
  return bytes.size() == size && bytes != std::string(size, '\0');
}

bool ValidLink(const ProtoSpan::Link& link) {
  return ValidId(link.trace_id(), 16) && ValidId(link.span_id(), 8);
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

void AddString(google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>* attrs,
               const std::string& key, const std::string& value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

bool IsTarget(const ProtoSpan& span, const ReparentOptions& options, int* chosen) {
  if (std::find(options.target_kinds.begin(), options.target_kinds.end(), static_cast<SpanKind>(span.kind())) ==
      options.target_kinds.end()) {
    return false;
  }
  *chosen = -1;
  for (int i = 0; i < span.links_size(); ++i) {
    const auto& link = span.links(i);
    if (!ValidLink(link) || link.trace_id() == span.trace_id()) continue;
    *chosen = i;
    if (options.link_choice == LinkChoice::kFirst) break;
  }
  return *chosen >= 0;
}

}  // namespace

std::vector<ProtoSpan> ReparentOffline(const std::vector<ProtoSpan>& spans, const ReparentOptions& options) {
  using Key = std::pair<std::string, std::string>;
  std::map<Key, size_t> index;
  for (size_t i = 0; i < spans.size(); ++i) index[{spans[i].trace_id(), spans[i].span_id()}] = i;

  // Fate: "" = unchanged, else the new trace id. Computed by walking up to
  // the nearest decided ancestor, then assigning down the walked path.
  std::vector<int> decided(spans.size(), 0);
  std::vector<std::string> fate(spans.size());
  for (size_t start = 0; start < spans.size(); ++start) {
    std::vector<size_t> path;
    size_t i = start;
    std::string result;
    while (true) {
      if (decided[i]) {
        result = fate[i];
        break;
      }
      const ProtoSpan& s = spans[i];
      int chosen;
      if (IsTarget(s, options, &chosen)) {
        decided[i] = 1;
        fate[i] = s.links(chosen).trace_id();
        result = fate[i];
        break;
      }
      path.push_back(i);
      const bool has_parent = !s.parent_span_id().empty();
      const bool remote = (s.flags() & kRemoteBits) == kRemoteBits;
      if (!has_parent || (remote && !options.cross_process)) break;
      auto it = index.find({s.trace_id(), s.parent_span_id()});
      if (it == index.end() || path.size() > spans.size()) break;
      i = it->second;
    }
    for (size_t p : path) {
      decided[p] = 1;
      fate[p] = result;
    }
  }

  std::vector<ProtoSpan> out;
  for (size_t i = 0; i < spans.size(); ++i) {
    const ProtoSpan& s = spans[i];
    int chosen;
    if (!IsTarget(s, options, &chosen)) {
      ProtoSpan copy = s;
      if (!fate[i].empty()) copy.set_trace_id(fate[i]);
      out.push_back(std::move(copy));
      continue;
    }
    const ProtoSpan::Link& link = s.links(chosen);
    ProtoSpan r = s;
    r.set_trace_id(link.trace_id());
    r.set_parent_span_id(link.span_id());
    r.set_trace_state(link.trace_state());
    r.set_flags((s.flags() & kSpanFlagsTraceFlagsMask) | kRemoteBits);
    r.mutable_links()->DeleteSubrange(chosen, 1);
    const bool has_parent = !s.parent_span_id().empty();
    if (has_parent) {
      auto* old = r.add_links();
      old->set_trace_id(s.trace_id());
      old->set_span_id(s.parent_span_id());
      old->set_flags(s.flags());
      auto* kv = old->add_attributes();
      kv->set_key(kAttrOriginalParent);
      kv->mutable_value()->set_bool_value(true);
    }
    if (options.record_original) {
      AddString(r.mutable_attributes(), kAttrOriginalTraceId, Hex(s.trace_id()));
      if (has_parent) AddString(r.mutable_attributes(), kAttrOriginalParentSpanId, Hex(s.parent_span_id()));
    }
    out.push_back(r);

    if (!options.fanout) continue;
    int made = 0;
    for (int l = 0; l < s.links_size() && made < options.max_fanout_links; ++l) {
      const ProtoSpan::Link& other = s.links(l);
      if (l == chosen || !ValidLink(other) || other.trace_id() == s.trace_id()) continue;
      TraceId ot, lt;
      SpanId os, ls;
      TraceId::FromBytes(s.trace_id(), &ot);
      SpanId::FromBytes(s.span_id(), &os);
      TraceId::FromBytes(other.trace_id(), &lt);
      SpanId::FromBytes(other.span_id(), &ls);
      ProtoSpan f;
      f.set_trace_id(other.trace_id());
      f.set_span_id(std::string(FanoutSpanId(ot, os, lt, ls).View()));
      f.set_trace_state(other.trace_state());
      f.set_parent_span_id(other.span_id());
      f.set_kind(ProtoSpan::SPAN_KIND_CONSUMER);
      f.set_flags((other.flags() & kSpanFlagsTraceFlagsMask) | kRemoteBits);
      f.set_name(s.name());
      f.set_start_time_unix_nano(s.start_time_unix_nano());
      f.set_end_time_unix_nano(s.end_time_unix_nano());
      *f.mutable_attributes() = s.attributes();
      for (const auto& kv : other.attributes()) *f.add_attributes() = kv;
      AddString(f.mutable_attributes(), kAttrFanoutOfTraceId, Hex(link.trace_id()));
      AddString(f.mutable_attributes(), kAttrFanoutOfSpanId, Hex(s.span_id()));
      if (s.has_status()) *f.mutable_status() = s.status();
      out.push_back(std::move(f));
      ++made;
    }
  }
  return out;
}

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
  std::vector<ProtoSpan> out;
  if (spans.empty()) return out;
  ExportTraceServiceRequest request;
  EXPECT_TRUE(request.ParseFromString(EncodeTraceRequest(spans)));
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) out.push_back(s);
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
