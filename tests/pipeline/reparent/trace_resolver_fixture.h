// The TraceResolver tests' fixture: spans built with libprotobuf, fed
// through a resolver span by span (Feed) or as one request (FeedRequest),
// decoded back.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/fakes/fake_clock.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {

using testing::ProtoSpan;
using testing::SpanIdBytes;
using testing::TraceIdBytes;

inline constexpr uint32_t kRemoteBits = kSpanFlagsHasIsRemote | kSpanFlagsIsRemote;

struct LinkSpec {
  std::string trace_id;
  std::string span_id;
  std::string trace_state;
};

inline ProtoSpan MakeSpan(uint64_t trace, uint64_t span, std::optional<uint64_t> parent,
                   ProtoSpan::SpanKind kind = ProtoSpan::SPAN_KIND_INTERNAL, std::vector<LinkSpec> links = {}) {
  ProtoSpan s;
  s.set_trace_id(TraceIdBytes(trace));
  s.set_span_id(SpanIdBytes(span));
  if (parent.has_value()) s.set_parent_span_id(SpanIdBytes(*parent));
  s.set_kind(kind);
  s.set_name("span-" + std::to_string(span));
  s.set_start_time_unix_nano(1'700'000'000'000'000'000ULL + span);
  s.set_end_time_unix_nano(1'700'000'000'500'000'000ULL + span);
  s.set_flags(0x101);  // sampled, parent known local
  auto* kv = s.add_attributes();
  kv->set_key("messaging.system");
  kv->mutable_value()->set_string_value("sqs");
  for (const LinkSpec& l : links) {
    auto* link = s.add_links();
    link->set_trace_id(l.trace_id);
    link->set_span_id(l.span_id);
    link->set_trace_state(l.trace_state);
    link->set_flags(0x101);
  }
  return s;
}

inline LinkSpec Link(uint64_t trace, uint64_t span, std::string trace_state = "") {
  return LinkSpec{TraceIdBytes(trace), SpanIdBytes(span), std::move(trace_state)};
}

inline std::string AttrString(const ProtoSpan& s, const std::string& key) {
  for (const auto& kv : s.attributes()) {
    if (kv.key() == key) return kv.value().string_value();
  }
  return "<absent>";
}

inline bool HasAttr(const ProtoSpan& s, const std::string& key) {
  return std::any_of(s.attributes().begin(), s.attributes().end(),
                     [&](const auto& kv) { return kv.key() == key; });
}

inline std::string Hex(const std::string& bytes) {
  TraceId t;
  SpanId s;
  if (TraceId::FromBytes(bytes, &t)) return t.Hex();
  if (SpanId::FromBytes(bytes, &s)) return s.Hex();
  return "?";
}

inline const ProtoSpan* Find(const std::vector<ProtoSpan>& spans, uint64_t span) {
  for (const ProtoSpan& s : spans) {
    if (s.span_id() == SpanIdBytes(span)) return &s;
  }
  return nullptr;
}

class TraceResolverTest : public ::testing::Test {
 protected:
  void Make() { resolver_ = std::make_unique<TraceResolver>(options_, limits_); }

  // One request through Process; what came out of this call.
  std::vector<ProtoSpan> Feed(const std::vector<ProtoSpan>& spans) {
    if (!resolver_) Make();
    std::vector<OutputSpan> out;
    ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(spans));
    for (const SpanRef& span : scanned.spans) resolver_->Process(span, scanned.buffer, clock_.Now(), &out);
    last_raw_ = out;
    return testing::DecodeSpans(out);
  }

  // The same through ProcessRequest (the shard worker's path).
  std::vector<ProtoSpan> FeedRequest(const std::vector<ProtoSpan>& spans) {
    if (!resolver_) Make();
    std::vector<OutputSpan> out;
    ScannedTraceRequest scanned = testing::ScanOrFail(testing::BuildRequest(spans));
    resolver_->ProcessRequest(scanned.buffer, scanned.spans, clock_.Now(), &out);
    last_raw_ = out;
    return testing::DecodeSpans(out);
  }

  std::vector<ProtoSpan> Advance(absl::Duration d) {
    clock_.Advance(d);
    std::vector<OutputSpan> out;
    resolver_->Expire(clock_.Now(), &out);
    return testing::DecodeSpans(out);
  }

  std::vector<ProtoSpan> ReleaseAll() {
    std::vector<OutputSpan> out;
    resolver_->ReleaseAll(&out);
    return testing::DecodeSpans(out);
  }

  ReparentOptions options_;
  TraceResolverLimits limits_;
  testing::FakeClock clock_;
  std::unique_ptr<TraceResolver> resolver_;
  std::vector<OutputSpan> last_raw_;
};

}  // namespace gateway
