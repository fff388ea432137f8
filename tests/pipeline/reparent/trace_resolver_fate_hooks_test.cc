// The resolver's two fate store hooks: LearnStoredFate (a fate decided by another
// gateway) and ObserveFates (fates this resolver decides, for publishing).
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway {
namespace {

using testing::ProtoSpan;
using testing::SpanIdBytes;
using testing::TraceIdBytes;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

ProtoSpan MakeSpan(uint64_t trace, uint64_t span, std::optional<uint64_t> parent,
                   ProtoSpan::SpanKind kind = ProtoSpan::SPAN_KIND_INTERNAL,
                   std::optional<std::pair<uint64_t, uint64_t>> link = std::nullopt) {
  ProtoSpan s;
  s.set_trace_id(TraceIdBytes(trace));
  s.set_span_id(SpanIdBytes(span));
  if (parent.has_value()) s.set_parent_span_id(SpanIdBytes(*parent));
  s.set_kind(kind);
  s.set_name("op");
  if (link.has_value()) {
    auto* l = s.add_links();
    l->set_trace_id(TraceIdBytes(link->first));
    l->set_span_id(SpanIdBytes(link->second));
  }
  return s;
}

TraceId Trace(uint64_t n) {
  TraceId t;
  TraceId::FromBytes(TraceIdBytes(n), &t);
  return t;
}
SpanId Span(uint64_t n) {
  SpanId s;
  SpanId::FromBytes(SpanIdBytes(n), &s);
  return s;
}

class Recorder final : public FateObserver {
 public:
  void OnFate(const SpanRef& span, const TraceId& new_trace) override {
    seen.push_back({span.span_id, new_trace});
  }
  std::vector<std::pair<SpanId, TraceId>> seen;
};

class TraceResolverFateHooksTest : public ::testing::Test {
 protected:
  // Processes `spans` as one request; returns what came out, decoded.
  std::vector<ProtoSpan> Feed(const std::vector<ProtoSpan>& spans, absl::Time now = kStart) {
    requests_.push_back(testing::ScanOrFail(testing::BuildRequest(spans)));
    std::vector<OutputSpan> out;
    resolver_.ProcessRequest(requests_.back().buffer, requests_.back().spans, now, &out);
    return testing::DecodeSpans(out);
  }

  ReparentOptions options_;
  TraceResolver resolver_{options_};
  std::vector<ScannedTraceRequest> requests_;
};

TEST_F(TraceResolverFateHooksTest, ALearnedFateMovesTheHeldChildren) {
  EXPECT_TRUE(Feed({MakeSpan(2, 10, 3)}).empty());  // held: its parent (2, 3) is not known
  std::vector<OutputSpan> out;
  resolver_.LearnStoredFate(Trace(2), Span(3), Trace(1), kStart, &out);
  const std::vector<ProtoSpan> spans = testing::DecodeSpans(out);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id(), TraceIdBytes(1));
  EXPECT_EQ(spans[0].parent_span_id(), SpanIdBytes(3));
  EXPECT_EQ(resolver_.HeldSpans(), 0);
  // A later child follows at once.
  const std::vector<ProtoSpan> later = Feed({MakeSpan(2, 11, 3)});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].trace_id(), TraceIdBytes(1));
}

TEST_F(TraceResolverFateHooksTest, ALearnedUnchangedFateReleasesTheHeldChildrenUnchanged) {
  EXPECT_TRUE(Feed({MakeSpan(2, 10, 3)}).empty());
  std::vector<OutputSpan> out;
  resolver_.LearnStoredFate(Trace(2), Span(3), Trace(2), kStart, &out);
  const std::vector<ProtoSpan> spans = testing::DecodeSpans(out);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id(), TraceIdBytes(2));
  EXPECT_EQ(resolver_.stats().released_hold_window, 0);
}

TEST_F(TraceResolverFateHooksTest, ObservesTheFateOfEverySpanOfTheObservedKinds) {
  Recorder recorder;
  resolver_.ObserveFates(&recorder, {SpanKind::kProducer});
  // A consumer moves with its producer child; an unrelated producer goes out
  // unchanged (the inline path); a producer whose parent never comes is
  // released unchanged at the hold window; internal spans are not observed.
  Feed({MakeSpan(1, 1, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)});
  Feed({MakeSpan(2, 2, std::nullopt, ProtoSpan::SPAN_KIND_CONSUMER, std::make_pair(1, 1)),
        MakeSpan(2, 3, 2, ProtoSpan::SPAN_KIND_PRODUCER), MakeSpan(2, 4, 2)});
  Feed({MakeSpan(5, 5, 9, ProtoSpan::SPAN_KIND_PRODUCER)});
  std::vector<OutputSpan> out;
  resolver_.Expire(kStart + options_.hold_window, &out);
  ASSERT_EQ(recorder.seen.size(), 3u);
  EXPECT_EQ(recorder.seen[0], std::make_pair(Span(1), Trace(1)));
  EXPECT_EQ(recorder.seen[1], std::make_pair(Span(3), Trace(1)));
  EXPECT_EQ(recorder.seen[2], std::make_pair(Span(5), Trace(5)));
  // Learned fates are not observed (they are someone else's to publish).
  resolver_.LearnStoredFate(Trace(7), Span(7), Trace(8), kStart, &out);
  EXPECT_EQ(recorder.seen.size(), 3u);
  resolver_.ObserveFates(nullptr, {});
  Feed({MakeSpan(6, 6, std::nullopt, ProtoSpan::SPAN_KIND_PRODUCER)});
  EXPECT_EQ(recorder.seen.size(), 3u);
}

}  // namespace
}  // namespace gateway
