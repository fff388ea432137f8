// What the scale-out tests send through the tier and how they judge what
// comes out: messaging "stories" whose spans arrive out of order, in several
// requests, through different Collector replicas; the Collector's hash ring,
// to know which gateway owns a trace in each membership; and a verdict per
// span id from the offline oracle (tests/pipeline/reparent/reparent_oracle.h).
//
//   StoryPlan plan = MakeStoryPlan(/*stories=*/600, absl::Milliseconds(10), /*id_base=*/1);
//   StorySender sender(plan, {{col0_grpc, col0_http}, {col1_grpc, col1_http}});
//   sender.Start();
//   ...
//   sender.Join();
//   TierVerdict verdict = Classify(plan, options, ReceivedCopies({dt0.get(), dt1.get()}), probe_ids);
//   for (const SpanVerdict& v : verdict.spans) ... v.outcome, v.origin_trace, v.story ...
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "pipeline/base/sync.h"
#include "pipeline/reparent/reparent_options.h"
#include "tests/fakes/fake_dynatrace.h"

namespace gateway::scaleout {

using ProtoSpan = ::opentelemetry::proto::trace::v1::Span;

// One request's worth of one story: sent `due` after the story starts, to
// Collector `collector`, under the resource service.name = `service`.
struct StoryPart {
  int story = 0;
  absl::Duration due;
  int collector = 0;
  std::string service;
  std::vector<ProtoSpan> spans;
};

// Stories alternate between two kinds; story i starts at i × spacing.
//
// Out of order (a queue worker whose spans end, and are exported, children
// first): consumer c in trace C links producer p in trace P; c1 (child of
// c) and c2 (child of c1) in the worker; c3 (server span in another service,
// remote parent c2) and c4 (child of c3). Sent [c4, c3] to Collector 0,
// 150 ms later [c2, c1] to Collector 1, at 300 ms [c] to Collector 0, at
// 350 ms [p] to Collector 1. Every span of C must end up in trace P.
//
// Batch: consumer b in trace B links producers p1, p2, p3 (three traces); b1
// child of b, b2 (another service, remote parent b1). [b2] to Collector 1,
// 100 ms later [b1] to Collector 0, at 250 ms [b, p1] to Collector 1, at
// 300 ms [p2, p3] to Collector 0. b, b1, b2 end up in P1; fan-out spans of b
// in P2 and P3.
struct StoryPlan {
  int stories = 0;
  absl::Duration spacing;
  std::vector<StoryPart> parts;  // by start time (story start + due)
  std::map<std::string, int> story_of_span;  // span id -> story
  std::set<std::string> trace_ids;           // every trace id sent

  absl::Duration StoryStart(int story) const { return spacing * story; }
  std::vector<ProtoSpan> AllSpans() const;
};

// Ids are unique for a given `id_base` (keep bases apart by at least 1).
StoryPlan MakeStoryPlan(int stories, absl::Duration spacing, uint64_t id_base);

// Sends a plan's parts on their schedule from one thread: every 20 ms, one
// request per Collector with all the parts then due (Collector 0 over
// OTLP/HTTP protobuf, Collector 1 over OTLP/gRPC). A refused request is
// sent again on the next tick, up to 50 times.
class StorySender {
 public:
  // `collectors`: (grpc port, http port) of Collector 0 and 1.
  StorySender(const StoryPlan& plan, std::vector<std::pair<int, int>> collectors);
  ~StorySender();

  void Start();
  void Join();

  absl::Time start() const { return start_; }
  // When the span's request was first sent (after Join).
  absl::Time SentAt(const std::string& span_id) const;
  int64_t refused_requests() const { return refused_; }
  int64_t requests() const { return requests_; }

 private:
  void Run();

  const StoryPlan& plan_;
  const std::vector<std::pair<int, int>> collectors_;
  absl::Time start_;
  std::map<std::string, absl::Time> sent_at_;
  int64_t refused_ = 0;
  int64_t requests_ = 0;
  std::thread thread_;
};

// One root span per trace id (span ids from `id_base`), in requests of 500
// to a Collector's OTLP/HTTP port. Returns probe span id -> trace id, or an
// empty map if a request was refused.
std::map<std::string, std::string> SendProbes(const std::set<std::string>& trace_ids, int http_port,
                                              uint64_t id_base);

// The loadbalancing exporter's ring (consistent_hashing.go at v0.158.0):
// 200 points per endpoint at crc32(endpoint, little-endian point number)
// mod 131071, collisions moved up to 10 places on; a trace goes to the
// first point at or after crc32(trace id) mod 131071, wrapping around.
class CollectorRing {
 public:
  explicit CollectorRing(std::vector<std::string> endpoints);
  const std::string& EndpointFor(const std::string& trace_id) const;

 private:
  std::vector<std::pair<uint32_t, std::string>> items_;  // by position
};

struct ReceivedCopy {
  int replica = 0;  // index of the fake it arrived at
  ProtoSpan span;
};

// Every span the fakes accepted, by span id.
std::map<std::string, std::vector<ReceivedCopy>> ReceivedCopies(
    const std::vector<const testing::FakeDynatrace*>& fakes);

enum class Outcome {
  kExact,    // every copy is what the oracle expects
  kUnmoved,  // some copy is the span as sent (released unchanged, not moved)
  kMissing,  // no copy arrived
  kWrong,    // a copy is neither
};
const char* OutcomeName(Outcome outcome);

struct SpanVerdict {
  std::string span_id;
  // The trace whose owner decides this span: the span's trace as sent; for
  // a fan-out span, its consumer's.
  std::string origin_trace;
  int story = 0;
  // The span whose sending brought this one: itself; for a fan-out span,
  // its consumer.
  std::string source_span_id;
  bool fanout = false;
  Outcome outcome = Outcome::kMissing;
  int copies = 0;
  std::set<int> replicas;  // where the copies arrived
};

struct TierVerdict {
  std::vector<SpanVerdict> spans;
  std::map<Outcome, int64_t> counts;
  int64_t duplicated_spans = 0;  // spans with more than one copy
  int64_t extra_copies = 0;      // copies beyond the first
  std::vector<std::string> unexpected_ids;  // received, neither expected nor ignored
};

// Compares what arrived with ReparentOffline(plan.AllSpans(), options).
TierVerdict Classify(const StoryPlan& plan, const ReparentOptions& options,
                     const std::map<std::string, std::vector<ReceivedCopy>>& received,
                     const std::set<std::string>& ignored_ids);

std::string Hex(const std::string& bytes);

}  // namespace gateway::scaleout
