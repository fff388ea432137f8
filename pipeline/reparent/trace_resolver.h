// The reparenting rules for one shard: single-threaded and synchronous.
//
// Spans go in as scanned SpanRefs; what can be decided comes out at once as
// OutputSpans (unchanged, rewritten, moved, or synthetic per-message spans),
// the rest is held until what it waits for is known (its parent's fate, its
// link target's fate), the hold window passes, the held-span bound is
// reached or ReleaseAll is called. docs/reparenting.md states the rules.
//
//   TraceResolver resolver(options);
//   std::vector<OutputSpan> out;
//   resolver.ProcessRequest(scanned.buffer, absl::MakeSpan(scanned.spans), now, &out);
//   resolver.Expire(now, &out);   // periodically
//   ...
//   resolver.ReleaseAll(&out);    // at shutdown
//
// Several resolvers (shards) each own the traces that hash to them
// (TraceResolverLimits::shard): a link target of another shard's trace is
// asked for with a FateQuery (TakeQueries), which the owner answers
// (AnswerQuery, TakeAnswers) and the asker learns (LearnFate):
//
//   resolver.TakeQueries(&queries);     // send each to its owner shard
//   owner.AnswerQuery(query, asker_shard, now);
//   owner.TakeAnswers(&answers);        // send each back to answer.asker
//   resolver.LearnFate(answer.trace, answer.span, answer.known ? &answer.fate : nullptr, now, &out);
//
// Not thread-safe: one owner thread (a shard worker, a test, a benchmark).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/extra_attribute.h"
#include "pipeline/otlp/trace_rewriter.h"
#include "pipeline/reparent/fate_observer.h"
#include "pipeline/reparent/fate_memory.h"
#include "pipeline/reparent/fate_table.h"
#include "pipeline/reparent/moved_filter.h"
#include "pipeline/reparent/peer_fates.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_engine.h"

namespace gateway {

// Attribute keys the engine adds (and, on links, reads as "not a parent").
inline constexpr char kAttrOriginalParent[] = "gateway.reparent.original_parent";
inline constexpr char kAttrOriginalTraceId[] = "gateway.reparent.original_trace_id";
inline constexpr char kAttrOriginalParentSpanId[] = "gateway.reparent.original_parent_span_id";
inline constexpr char kAttrFanoutOfTraceId[] = "gateway.reparent.fanout_of_trace_id";
inline constexpr char kAttrFanoutOfSpanId[] = "gateway.reparent.fanout_of_span_id";
// On a per-message span's link back to its batch span.
inline constexpr char kAttrBatchSpan[] = "gateway.reparent.batch_span";
// Attributes the engine reads.
inline constexpr char kAttrMessageId[] = "messaging.message.id";
inline constexpr char kAttrFaasTrigger[] = "faas.trigger";
// The AWS Lambda instrumentations' link to the X-Ray context of the
// environment (`_X_AMZN_TRACE_ID`): attribute source = x-ray-env.
inline constexpr char kAttrLinkSource[] = "source";
inline constexpr char kLinkSourceXrayEnv[] = "x-ray-env";

// Cumulative counts since construction.
struct TraceResolverStats {
  int64_t processed = 0;
  // Targets given their link's span as parent, and invocations moved under
  // their consumer child's producer.
  int64_t reparented = 0;
  int64_t descendants_moved = 0;
  // Per-message spans made for batch spans.
  int64_t fanout_created = 0;
  // Children of batch spans moved under their message's per-message span.
  int64_t routed = 0;
  int64_t released_hold_window = 0;
  int64_t released_memory_bound = 0;
  int64_t released_shutdown = 0;
  // Released at a flush (the end of a Lambda invoke).
  int64_t released_flush = 0;
  // Targets, invocations and per-message spans placed without their link
  // target's fate after waiting for it (hold window, held bound, shutdown,
  // or a cycle of links).
  int64_t link_fate_unknown = 0;
  // Link targets of other shards' traces: questions sent to their owners,
  // and answers taken from the owners' shared filters instead (AskPeersFirst).
  int64_t fate_queries = 0;
  int64_t peer_answers = 0;
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
  // This resolver owns the traces with ShardOf(trace, shards) == shard; it
  // asks about link targets in other traces with FateQuery.
  uint32_t shard = 0;
  uint32_t shards = 1;
};

// A question to the resolver that owns `trace`: the fate of span `span`.
// With `wait`, an owner that does not know it yet answers once it does.
struct FateQuery {
  TraceId trace;
  SpanId span;
  bool wait = false;
};

// The owner's answer, for shard `asker`.
struct FateAnswer {
  TraceId trace;
  SpanId span;
  bool known = false;
  Fate fate;
  uint32_t asker = 0;
};

// The span id of the per-message span standing for span `original` of trace
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

  // Decides `span` (and anything its arrival resolves) and appends what goes
  // out to `out`: ProcessRequest of a request of one span. `buffer` owns
  // span.buffer (the request's ScannedTraceRequest::buffer): outputs and
  // held spans take references to it. `now` must not go backwards.
  void Process(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now,
               std::vector<OutputSpan>* out);

  // Decides the spans of one request in order. A target whose parent is in
  // the same process and not seen yet is decided at the end of the request,
  // after the rest of it: an invocation among them may take it along
  // (docs/reparenting.md, "Invocations").
  void ProcessRequest(const std::shared_ptr<const RequestBuffer>& buffer, absl::Span<const SpanRef> spans,
                      absl::Time now, std::vector<OutputSpan>* out);

  // Decides what has waited for the hold window (with what is known) and
  // forgets fates older than resolved_ttl.
  void Expire(absl::Time now, std::vector<OutputSpan>* out);

  // Decides everything held with what is known (shutdown).
  void ReleaseAll(std::vector<OutputSpan>* out);

  // The same, counted as released at a flush (the end of a Lambda invoke)
  // rather than at shutdown.
  void ReleaseAllForFlush(std::vector<OutputSpan>* out);

  // The earliest time at which Expire would decide something;
  // InfiniteFuture when nothing is held.
  absl::Time NextExpiry() const;

  // Link targets in other shards' traces whose fate this resolver waits
  // for, since the last call (appended to *queries).
  void TakeQueries(std::vector<FateQuery>* queries);
  // Owner side: a query from shard `asker`. Answered at once when the fate
  // is known (or the query does not wait), else when it becomes known within
  // the hold window.
  void AnswerQuery(const FateQuery& query, uint32_t asker, absl::Time now);
  // Answers due since the last call (appended to *answers).
  void TakeAnswers(std::vector<FateAnswer>* answers);
  // The fate of span (original trace `trace`, `span`) is `*fate`: what
  // waits for it is decided, and a moved fate is remembered. nullptr: whoever
  // was asked does not know it; what waits for it is decided without it.
  void LearnFate(const TraceId& trace, const SpanId& span, const Fate* fate, absl::Time now,
                 std::vector<OutputSpan>* out);
  // Without WaitsForLinkFate: before asking the owner of a link target of
  // another shard's trace, asks `peers` (null: nobody) whether it surely
  // has not moved; if so the target goes to its link's trace at once, as
  // the owner's answer would send it; if they cannot tell yet, they are
  // asked again at RecheckPeers. `peers` must outlive the resolver or
  // be replaced.
  void AskPeersFirst(const PeerFates* peers) { peers_ = peers; }
  // Adds every moved fate this resolver remembers to `filter` (null: none),
  // rotating it with the fate tables; see FateMemory::ShareMovedFates.
  void ShareMovedFates(MovedFilter* filter) { memory_.ShareMovedFates(filter); }
  // Whether targets wait for the peers (AskPeersFirst said kNotYet).
  bool HasPeerWaits() const { return peer_wait_count_ > 0; }
  // Asks the peers again about what waits for them, once its owner has got
  // far enough (a look at each owner's progress when nothing is due):
  // decides what they now answer for, asks the owners what only they can
  // say.
  void RecheckPeers(absl::Time now, std::vector<OutputSpan>* out);
  // The remembered fate of span (original trace `trace`, `span`); false if none.
  bool KnownFate(const TraceId& trace, const SpanId& span, Fate* fate) const;

  // ---- Fate store hooks (fate_store_gate.h uses them) ----
  // A fate learned from another gateway: span `span` of trace
  // `original_trace` went out in `new_trace` (its own trace when it did not
  // move). Remembered, moved or not, and what waits for it is decided into
  // `out`.
  void LearnStoredFate(const TraceId& original_trace, const SpanId& span, const TraceId& new_trace, absl::Time now,
                       std::vector<OutputSpan>* out);
  // From now on tells `observer` (null: nobody) the fate of every span of a
  // kind in `kinds` when it is decided (not of fates learned, nor of
  // per-message spans). `observer` must outlive the resolver or be replaced.
  void ObserveFates(FateObserver* observer, absl::Span<const SpanKind> kinds);
  // ---- end of fate store hooks ----

  int64_t HeldSpans() const { return static_cast<int64_t>(held_.size()); }
  // Bytes the held spans' bookkeeping (held_, held_order_, waiting_,
  // held_by_key_) has allocated, estimated from the containers' capacities
  // in constant time; the requests the spans point into are not included
  // (the MemoryBudget counts those).
  int64_t HeldBytes() const;
  // Bytes the fate tables have allocated now (slot capacity x slot size,
  // both generations).
  int64_t TableBytes() const { return memory_.TableBytes(); }
  // The most TableBytes() has been, including the moment a growing table's
  // old and new slots both exist.
  int64_t PeakTableBytes() const { return memory_.PeakTableBytes(); }
  // Remembered fates (both generations; a span may count twice).
  int64_t ResolvedSpans() const { return memory_.Size(); }
  const TraceResolverStats& stats() const { return stats_; }
  // Oldest first.
  const std::deque<ReparentDecision>& RecentDecisions() const { return decisions_; }

 private:
  // What a held span waits for.
  enum class Wait : uint8_t {
    // Its parent's fate (a span that follows its parent).
    kParent,
    // Its link target's fate: a target, a target an invocation waits for
    // (`anchored`), or a per-message span not made yet (`message_span`).
    kLink,
    // An invocation: the decision of the target child it takes along.
    kAnchorChild,
    // A child of a batch span: its message's per-message span.
    kMessageSpan,
  };

  struct Held {
    // The span; for a per-message span not made yet, its batch span.
    SpanRef span;
    // Keeps span.buffer alive.
    std::shared_ptr<const RequestBuffer> buffer;
    absl::Time arrival;
    // kAnchorChild: the target child; kMessageSpan: the per-message span;
    // a per-message span not made yet: its own id.
    SpanId other;
    Wait wait = Wait::kParent;
    // kLink: the link (index into span.links).
    int16_t link = -1;
    bool anchored = false;
    bool message_span = false;
  };

  // A held span whose wait is over: `known` (else: decide without it) and
  // the fate of what it waited for.
  struct Ready {
    uint64_t hold_id;
    bool known;
    Fate fate;
  };

  // An invocation's new parent: its target child's chosen link.
  struct AnchorLink {
    SpanId span;
    std::string trace_state;
  };

  // A target held back to the end of its request (its local parent has not
  // been seen: an invocation later in the request may take it along).
  struct Deferred {
    SpanRef span;
    int chosen;
    bool anchored;
  };

  enum class Release : uint8_t { kHoldWindow, kMemoryBound, kShutdown, kFlush };
  void ReleaseAllHeld(Release reason, std::vector<OutputSpan>* out);

  // Fate store hook: tells observer_ where `span` went, if it observes its kind.
  void NoteFate(const SpanRef& span, const TraceId& new_trace) {
    const auto kind = static_cast<int32_t>(span.kind);
    if (observed_kinds_mask_ != 0 && kind >= 0 && kind < 64 && (observed_kinds_mask_ & (uint64_t{1} << kind)) != 0) {
      observer_->OnFate(span, new_trace);
    }
  }
  FateObserver* observer_ = nullptr;
  uint64_t observed_kinds_mask_ = 0;

  // --- arrival and decisions (trace_resolver.cc) ---
  bool PassUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, uint64_t fingerprint,
                     uint64_t parent_fingerprint, absl::Time now, std::vector<OutputSpan>* out);
  void Arrive(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, uint64_t fingerprint,
              uint64_t parent_fingerprint, absl::Time now, std::vector<OutputSpan>* out);
  // A span of a target kind with links (whether a link is eligible is
  // ChooseLink's to say).
  bool MaybeTarget(const SpanRef& span) const {
    const auto kind = static_cast<int32_t>(span.kind);
    return !span.links.empty() && kind >= 0 && kind < 64 && (target_kinds_mask_ & (uint64_t{1} << kind)) != 0;
  }
  // Whether the span's parent decides its fate (it has one, and it is not
  // remote, or remote parents are waited for).
  bool FollowsParent(const SpanRef& span) const {
    return span.has_parent && (options_.cross_process || !ParentIsRemote(span));
  }
  static bool ParentIsRemote(const SpanRef& span) {
    if ((span.flags & kSpanFlagsHasIsRemote) != 0) return (span.flags & kSpanFlagsIsRemote) != 0;
    // The SDK does not say (no is-remote bits): an entry span's parent is
    // taken as remote.
    return span.kind == SpanKind::kServer || span.kind == SpanKind::kConsumer;
  }
  bool EligibleLink(const SpanRef& span, const LinkRef& link) const;
  // Index of the chosen link, or -1 when the span is not a target;
  // *eligible: how many links are eligible (with link_choice first,
  // counted up to 2).
  int ChooseLink(const SpanRef& span, int* eligible) const;
  // Decides target `span` when its link target's fate is known or need not
  // be waited for, else holds it.
  void StartTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                   bool anchored, absl::Time now, std::vector<OutputSpan>* out);
  void DecideTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                    const TraceId& new_trace, bool anchored, absl::Time now, std::vector<OutputSpan>* out);
  // Writes `span` under `parent` in `new_trace` (a target, or an
  // invocation), dropping link `remove_link` (-1: none).
  void EmitReparented(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, const SpanId& parent,
                      std::string_view trace_state, const TraceId& new_trace, int remove_link,
                      std::vector<OutputSpan>* out);
  void MakeMessageSpans(const SpanRef& batch, const std::shared_ptr<const RequestBuffer>& buffer,
                        const TraceId& batch_trace, absl::Time now, std::vector<OutputSpan>* out);
  void EmitMessageSpan(const SpanRef& batch, const std::shared_ptr<const RequestBuffer>& buffer, int link_index,
                       const SpanId& id, const TraceId& trace, const TraceId& batch_trace, absl::Time now,
                       std::vector<OutputSpan>* out);
  // Decides `span` (that follows its parent) whose parent's fate is
  // `parent`; false, having emitted nothing, when it is to wait for the
  // per-message span *message_span first.
  bool DecideChild(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, const Fate& parent,
                   absl::Time now, std::vector<OutputSpan>* out, SpanId* message_span);
  void DecideRouted(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                    const SpanId& message_span, const TraceId& new_trace, absl::Time now,
                    std::vector<OutputSpan>* out);
  void DecideAnchor(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                    const AnchorLink& link, const TraceId& new_trace, absl::Time now, std::vector<OutputSpan>* out);
  // Records a reparent decision for RecentDecisions.
  void Decided(const SpanRef& span, const TraceId& new_trace, absl::Time now);
  // An invocation (a root SERVER span with faas.trigger = pubsub) takes
  // along the first target held back in this request whose parent it is.
  bool TryAnchor(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now,
                 std::vector<OutputSpan>* out);
  // Decides the targets held back to the end of the request.
  void FinishRequest(absl::Time now, std::vector<OutputSpan>* out);
  bool Owns(const TraceId& trace) const;
  // What to do now about a link target whose fate is not known here:
  // kUnmoved: decide it into its link's trace (no waiting for link fates,
  // and this shard owns it or a peer says it did not move); kAskOwner: wait
  // and ask its owner (or, owned, just wait); kNotYet: wait and ask the
  // peers again (*after).
  PeerAnswer LinkFateNow(const LinkRef& link, uint64_t* after);
  const PeerFates* peers_ = nullptr;
  // Link targets the peers are to be asked about again (RecheckPeers), per
  // owner shard, in the order asked (so nearly in order of `after`: a
  // shard's requests are processed nearly in ticket order).
  struct PeerWait {
    FateKey key;
    uint64_t after;
  };
  std::vector<std::deque<PeerWait>> peer_waits_;
  size_t peer_wait_count_ = 0;

  // --- waiting (trace_resolver_waits.cc) ---
  // Holds a span that arrives now (or a per-message span not made yet) and
  // returns its hold id.
  uint64_t Hold(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, Wait wait, int link,
                const SpanId& other, bool message_span, bool anchored, absl::Time now);
  // Puts a taken entry back under its hold id (keeping its place in the
  // arrival order), waiting for what it now says.
  void Restore(uint64_t hold_id, Held held);
  // Removes a held entry and returns it.
  Held Take(uint64_t hold_id);
  // Asks about link target `link` when it is not ours and nobody asked
  // yet: the peers again later when `after` is given (LinkFateNow said
  // kNotYet), else its owner.
  void WaitForLink(const LinkRef& link, const uint64_t* after);
  static FateKey WaitKey(const Held& held);
  static FateKey OwnKey(const Held& held);
  void RecordFate(const FateKey& key, uint64_t fingerprint, bool moved, const TraceId& new_trace, absl::Time now);
  // Ends the waits for `key`: queues what waited for it.
  void Wake(const FateKey& key, bool known, const Fate& fate);
  void ResolveReady(absl::Time now, std::vector<OutputSpan>* out);
  // Decides held span `hold_id` now that what it waited for is `known` (or
  // not) with `fate`.
  void Resume(uint64_t hold_id, bool known, const Fate& fate, absl::Time now, std::vector<OutputSpan>* out);
  // With cross_process: a wait just begun may close a cycle (each member
  // waiting for the next, through at least one link); it is broken at the
  // member with the least (trace id, span id) that waits for a link target,
  // which is queued to be decided without it.
  void BreakCycle(uint64_t hold_id);
  void CheckCycle(uint64_t hold_id);
  // Decides a held span now: first what it waits for, through held spans,
  // down to the deepest that waits for a link target (decided without it);
  // if it still waits after that, it is released unchanged.
  void Force(uint64_t hold_id, Release reason, absl::Time now, std::vector<OutputSpan>* out);
  void EnforceHeldBound(absl::Time now, std::vector<OutputSpan>* out);
  void CompactOrder();
  void ExpireSubscriptions(absl::Time now);

  const ReparentOptions options_;
  const TraceResolverLimits limits_;
  uint64_t target_kinds_mask_ = 0;

  // Held spans by hold id (increasing with arrival).
  absl::flat_hash_map<uint64_t, Held> held_;
  // Hold ids in arrival order; ids of spans resolved since are skipped.
  std::deque<uint64_t> held_order_;
  // What is waited for -> hold ids of what waits for it.
  absl::flat_hash_map<FateKey, absl::InlinedVector<uint64_t, 2>> waiting_;
  // Own key of each held span -> its hold id.
  absl::flat_hash_map<FateKey, uint64_t> held_by_key_;
  // Invocations waiting for their target child: their new parent.
  absl::flat_hash_map<uint64_t, AnchorLink> anchor_links_;
  // Per-message spans not made yet: their batch span's new trace.
  absl::flat_hash_map<uint64_t, TraceId> batch_traces_;
  uint64_t next_hold_id_ = 1;
  // Held entries waiting for a link target (cycles need one).
  int64_t link_waits_ = 0;
  // The worklist of held spans whose wait is over.
  std::vector<Ready> ready_;
  // Waits begun that may close a cycle (cross_process), checked once ready_
  // is empty.
  std::vector<uint64_t> cycle_checks_;
  std::vector<uint64_t> cycle_members_;
  // Targets held back to the end of the current request.
  std::vector<Deferred> deferred_;
  std::shared_ptr<const RequestBuffer> deferred_buffer_;

  // Owner side: shards waiting for the fate of a key, and when they asked.
  absl::flat_hash_map<FateKey, absl::InlinedVector<uint32_t, 1>> subscribers_;
  struct Subscription {
    absl::Time time;
    FateKey key;
    uint32_t asker;
  };
  std::deque<Subscription> subscription_order_;
  std::vector<FateQuery> queries_;
  std::vector<FateAnswer> answers_;

  FateMemory memory_;
  std::deque<ReparentDecision> decisions_;

  // Scratch space reused across calls.
  struct SpanFingerprints {
    uint64_t self = 0;
    uint64_t parent = 0;
  };
  std::vector<SpanFingerprints> fingerprints_;
  SpanRewrite rewrite_;
  std::vector<ExtraAttribute> original_parent_link_attributes_;
  TraceResolverStats stats_;
};

}  // namespace gateway
