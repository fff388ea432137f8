// The reparenting rules for one shard: single-threaded and synchronous.
//
// Spans go in as scanned SpanRefs; what can be decided comes out at once as
// OutputSpans (unchanged, rewritten, moved, or synthetic fan-out spans), the
// rest is held until its parent's fate is known, the hold window passes, the
// held-span bound is reached or ReleaseAll is called. docs/reparenting.md
// states the rules.
//
//   TraceResolver resolver(options);
//   std::vector<OutputSpan> out;
//   resolver.ProcessRequest(scanned.buffer, absl::MakeSpan(scanned.spans), now, &out);
//   resolver.Expire(now, &out);   // periodically
//   ...
//   resolver.ReleaseAll(&out);    // at shutdown
//
// Not thread-safe: one owner thread (a shard worker, a test, a benchmark).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pipeline/otlp/extra_attribute.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/trace_rewriter.h"
#include "pipeline/reparent/fate_observer.h"
#include "pipeline/reparent/fate_table.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_engine.h"

namespace gateway {

// Attribute keys the engine adds.
inline constexpr char kAttrOriginalParent[] = "gateway.reparent.original_parent";
inline constexpr char kAttrOriginalTraceId[] = "gateway.reparent.original_trace_id";
inline constexpr char kAttrOriginalParentSpanId[] = "gateway.reparent.original_parent_span_id";
inline constexpr char kAttrFanoutOfTraceId[] = "gateway.reparent.fanout_of_trace_id";
inline constexpr char kAttrFanoutOfSpanId[] = "gateway.reparent.fanout_of_span_id";

// Cumulative counts since construction.
struct TraceResolverStats {
  int64_t processed = 0;
  int64_t reparented = 0;
  int64_t descendants_moved = 0;
  int64_t fanout_created = 0;
  int64_t released_hold_window = 0;
  int64_t released_memory_bound = 0;
  int64_t released_shutdown = 0;
  int64_t released_flush = 0;
  // Reparent decisions recorded so far (RecentDecisions keeps the last few).
  int64_t decisions = 0;
};

// Sizing of one resolver; the sharded engine splits the global bounds.
struct TraceResolverLimits {
  int64_t max_held_spans = 1'000'000;
  int64_t max_resolved_spans = 4'000'000;
  // Bytes the fate tables may allocate, both generations together, a
  // growing table's old and new copy counted together; 0: no byte bound.
  int64_t max_table_bytes = 0;
  // Reparent decisions kept for RecentDecisions().
  size_t recent_decisions = 50;
};

// The span id of the fan-out span standing for span `original` of trace
// `original_trace` in the trace of `link`: a 64-bit hash of the four ids,
// never zero. Deterministic across processes and versions.
SpanId FanoutSpanId(const TraceId& original_trace, const SpanId& original, const TraceId& link_trace,
                    const SpanId& link_span);

class TraceResolver final {
 public:
  explicit TraceResolver(const ReparentOptions& options);
  TraceResolver(const ReparentOptions& options, const TraceResolverLimits& limits);

  TraceResolver(const TraceResolver&) = delete;
  TraceResolver& operator=(const TraceResolver&) = delete;

  // Decides `span` (and any held descendants its arrival resolves) and
  // appends what goes out to `out`. `buffer` owns span.buffer (the request's
  // ScannedTraceRequest::buffer): outputs and held spans take references to
  // it, one per OutputSpan or held span rather than one per span. `now` must
  // not go backwards.
  void Process(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now,
               std::vector<OutputSpan>* out);

  // The same as calling Process for each span of one request in order, but
  // faster: the fate-table slots of the next spans are prefetched while the
  // current one is decided.
  void ProcessRequest(const std::shared_ptr<const RequestBuffer>& buffer, absl::Span<const SpanRef> spans,
                      absl::Time now, std::vector<OutputSpan>* out);

  // Releases unchanged what has waited for the hold window and forgets fates
  // older than resolved_ttl.
  void Expire(absl::Time now, std::vector<OutputSpan>* out);

  // Releases every held span unchanged (shutdown).
  void ReleaseAll(std::vector<OutputSpan>* out);

  // The same, counted as released at a flush (the end of a Lambda invoke)
  // rather than at shutdown.
  void ReleaseAllForFlush(std::vector<OutputSpan>* out);

  // The earliest time at which Expire would release something;
  // InfiniteFuture when nothing is held.
  absl::Time NextExpiry() const;

  // ---- Fate store hooks (issue #19 part 2; fate_store_gate.h uses them) ----
  // A fate learned from another gateway: span `span` of trace
  // `original_trace` went out in `new_trace`. Remembered as if this resolver
  // had moved it (when new_trace differs), and spans held for it are
  // decided into `out`.
  void LearnFate(const TraceId& original_trace, const SpanId& span, const TraceId& new_trace, absl::Time now,
                 std::vector<OutputSpan>* out);
  // From now on tells `observer` (null: nobody) the fate of every span of a
  // kind in `kinds` when it is decided (not of fates learned). `observer`
  // must outlive the resolver or be replaced.
  void ObserveFates(FateObserver* observer, absl::Span<const SpanKind> kinds);
  // ---- end of fate store hooks ----

  int64_t HeldSpans() const { return static_cast<int64_t>(held_.size()); }
  // Bytes the held spans' bookkeeping (held_, held_order_, waiting_) has
  // allocated, estimated from the containers' capacities in constant time;
  // the requests the spans point into are not included (the MemoryBudget
  // counts those).
  int64_t HeldBytes() const;
  // Bytes the fate tables have allocated now (slot capacity x slot size,
  // both generations).
  int64_t TableBytes() const { return GenerationBytes(0) + GenerationBytes(1); }
  // The most TableBytes() has been, including the moment a growing table's
  // old and new slots both exist.
  int64_t PeakTableBytes() const { return peak_table_bytes_; }
  // Remembered fates (both generations; a span may count twice).
  int64_t ResolvedSpans() const { return static_cast<int64_t>(fates_[0].size() + fates_[1].size()); }
  const TraceResolverStats& stats() const { return stats_; }
  // Oldest first.
  const std::deque<ReparentDecision>& RecentDecisions() const { return decisions_; }

 private:
  // What happened to a span that went out: descendants follow it.
  struct Fate {
    TraceId new_trace;
    bool moved = false;
  };

  // A held span whose parent's fate just became known.
  struct Ready {
    uint64_t hold_id;
    Fate parent;
  };

  struct Held {
    SpanRef span;
    // Keeps span.buffer alive.
    std::shared_ptr<const RequestBuffer> buffer;
    absl::Time arrival;
  };

  enum class Release : uint8_t { kHoldWindow, kMemoryBound, kShutdown, kFlush };
  void ReleaseAllHeld(Release reason, std::vector<OutputSpan>* out);

  // Decides a span (`chosen`: its parent link from ChooseLink, or -1) whose
  // parent's fate is `parent` (nullptr: no parent to follow); records its
  // fate and queues the held children it resolves.
  // Fingerprints are those of the span's key and of its parent's key (0
  // without a parent).
  // `buffer` owns span.buffer.
  void ProcessOne(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, uint64_t fingerprint,
                  uint64_t parent_fingerprint, absl::Time now, std::vector<OutputSpan>* out);
  // ProcessOne's common case (not a target, parent known unchanged or not
  // followed, no held child waiting) without its bookkeeping; false, having
  // changed nothing, for any other span.
  bool PassUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, uint64_t fingerprint,
                     uint64_t parent_fingerprint, absl::Time now, std::vector<OutputSpan>* out);
  void Decide(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
              const Fate* parent, uint64_t fingerprint, absl::Time now, std::vector<OutputSpan>* out,
              std::vector<Ready>* ready);
  // A span of a target kind with links (whether a link is valid and
  // cross-trace is ChooseLink's to say).
  bool MaybeTarget(const SpanRef& span) const {
    const auto kind = static_cast<int32_t>(span.kind);
    return !span.links.empty() && kind >= 0 && kind < 64 && (target_kinds_mask_ & (uint64_t{1} << kind)) != 0;
  }
  void EmitTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                  absl::Time now, std::vector<OutputSpan>* out);
  void RecordFate(const FateKey& key, uint64_t fingerprint, bool moved, const TraceId& new_trace, absl::Time now,
                  std::vector<Ready>* ready);
  // The remembered fate of `key`; false if none.
  bool FindFate(const FateKey& key, uint64_t fingerprint, Fate* fate) const;
  void RotateFates(absl::Time now);
  // Makes room in the current generation for one more fate (and one more
  // moved entry when `moved`), growing its tables within max_table_bytes /
  // 2 for the generation (the old and new slots of a growing table counted
  // together), rotating first when they cannot grow within it. False when
  // even an empty generation has no room (a bound of a few dozen bytes): the
  // fate is then not remembered.
  bool MakeRoom(bool moved, absl::Time now) {
    if (!fates_[current_].Full() && !(moved && moved_[current_].Full())) return true;
    return MakeRoomSlow(moved, now);
  }
  bool MakeRoomSlow(bool moved, absl::Time now);
  int64_t GenerationBytes(int g) const {
    return static_cast<int64_t>(fates_[g].capacity() * FateTable::kSlotBytes +
                                moved_[g].capacity() * MovedTable::kSlotBytes);
  }
  void ResolveReady(std::vector<Ready>* ready, absl::Time now, std::vector<OutputSpan>* out);
  void Hold(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now);
  void ReleaseHeld(uint64_t id, Release reason, absl::Time now, std::vector<OutputSpan>* out);
  void UnlinkWaiting(const Held& held, uint64_t id);
  void CompactOrder();
  void EvictFates(absl::Time now);

  // Index of the chosen link, or -1 when the span is not a target.
  int ChooseLink(const SpanRef& span) const;

  // Fate store hook: tells observer_ where `span` went, if it observes its kind.
  void NoteFate(const SpanRef& span, const TraceId& new_trace) {
    const auto kind = static_cast<int32_t>(span.kind);
    if (observed_kinds_mask_ != 0 && kind >= 0 && kind < 64 && (observed_kinds_mask_ & (uint64_t{1} << kind)) != 0) {
      observer_->OnFate(span, new_trace);
    }
  }
  FateObserver* observer_ = nullptr;
  uint64_t observed_kinds_mask_ = 0;

  const ReparentOptions options_;
  const TraceResolverLimits limits_;
  uint64_t target_kinds_mask_ = 0;

  // Held spans by hold id (increasing with arrival).
  absl::flat_hash_map<uint64_t, Held> held_;
  // Hold ids in arrival order; ids of spans resolved since are skipped.
  std::deque<uint64_t> held_order_;
  // (original trace, parent span id) -> hold ids of children waiting for it.
  absl::flat_hash_map<FateKey, absl::InlinedVector<uint64_t, 2>> waiting_;
  uint64_t next_hold_id_ = 1;

  // Fates of spans that went out, keyed by (original trace, span id), in two
  // generations: new fates go to generation current_; a rotation (every
  // resolved_ttl / 2, or when the current generation holds half of
  // max_resolved_spans, or when its tables could not grow within half of
  // max_table_bytes) drops the older generation whole. So a fate is
  // remembered for between resolved_ttl / 2 and resolved_ttl, at most
  // max_resolved_spans are and the tables never allocate more than
  // max_table_bytes, without per-entry expiry bookkeeping.
  //
  // Every fate is a 64-bit fingerprint of the key in fates_, 8 bytes, so the
  // table that every span touches stays small and in cache; moved spans
  // (few) are also kept exactly with their new trace in moved_, consulted
  // only when the fingerprint is marked moved. A fingerprint collision (odds
  // about n / 2^64 per lookup) would make a child of a never-seen parent go
  // out unchanged at once instead of after the hold window.
  FateTable fates_[2];
  MovedTable moved_[2];
  int current_ = 0;
  absl::Time generation_start_ = absl::InfinitePast();
  int64_t peak_table_bytes_ = 0;

  std::deque<ReparentDecision> decisions_;

  // Scratch space reused across calls.
  struct SpanFingerprints {
    uint64_t self = 0;
    uint64_t parent = 0;
  };
  std::vector<SpanFingerprints> fingerprints_;
  SpanRewrite target_rewrite_;
  std::vector<ExtraAttribute> original_parent_link_attributes_;
  TraceResolverStats stats_;
};

}  // namespace gateway
