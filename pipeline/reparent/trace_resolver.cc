// TraceResolver: arrival and decisions (which spans are targets, where they,
// their per-message spans, their children and invocations go). Waiting,
// waking, expiry and the questions to other shards are in
// trace_resolver_waits.cc.
#include "pipeline/reparent/trace_resolver.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "pipeline/otlp/span_attributes.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/reparent/shard_of.h"

namespace gateway {
namespace {

constexpr uint32_t kRemoteBits = kSpanFlagsHasIsRemote | kSpanFlagsIsRemote;
constexpr uint32_t kSampled = 0x01;
// A Link with trace id, span id and flags only: 18 + 10 + 5 bytes.
constexpr size_t kBareLinkBytes = 33;

// Sets (*attributes)[index] to key = hex of `id`, growing the vector if
// needed and reusing the strings already there.
template <size_t N>
void SetHexAttribute(std::vector<ExtraAttribute>* attributes, size_t index, const char* key, const OtelId<N>& id) {
  if (attributes->size() <= index) attributes->resize(index + 1);
  ExtraAttribute& attribute = (*attributes)[index];
  attribute.key.assign(key);
  std::string* value = std::get_if<std::string>(&attribute.value);
  if (value == nullptr) value = &attribute.value.template emplace<std::string>();
  static constexpr char kDigits[] = "0123456789abcdef";
  value->resize(2 * N);
  // Through a local pointer: a write through the string's operator[] makes
  // the compiler reload its data pointer after every character.
  char* const out = value->data();
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id.bytes[i] >> 4];
    out[2 * i + 1] = kDigits[id.bytes[i] & 0xf];
  }
}

}  // namespace

SpanId FanoutSpanId(const TraceId& original_trace, const SpanId& original, const TraceId& link_trace,
                    const SpanId& link_span) {
  uint64_t h = HashBytes({original_trace.View(), original.View(), link_trace.View(), link_span.View()});
  if (h == 0) h = 1;
  SpanId id;
  for (size_t i = 0; i < SpanId::kSize; ++i) {
    id.bytes[i] = static_cast<uint8_t>(h >> (8 * (SpanId::kSize - 1 - i)));
  }
  return id;
}

TraceResolver::TraceResolver(const ReparentOptions& options) : TraceResolver(options, TraceResolverLimits{}) {}

TraceResolver::TraceResolver(const ReparentOptions& options, const TraceResolverLimits& limits)
    : options_(options),
      limits_(limits),
      memory_(options.resolved_ttl, limits.max_resolved_spans, limits.max_table_bytes),
      original_parent_link_attributes_{{kAttrOriginalParent, true}} {
  for (SpanKind kind : options_.target_kinds) {
    int32_t k = static_cast<int32_t>(kind);
    if (k >= 0 && k < 64) target_kinds_mask_ |= uint64_t{1} << k;
  }
}

bool TraceResolver::Owns(const TraceId& trace) const {
  return limits_.shards <= 1 || ShardOf(trace, limits_.shards) == limits_.shard;
}

PeerAnswer TraceResolver::LinkFateNow(const LinkRef& link, uint64_t* after) {
  if (options_.WaitsForLinkFate()) return PeerAnswer::kAskOwner;
  if (Owns(link.trace_id)) return PeerAnswer::kUnmoved;
  if (peers_ == nullptr) return PeerAnswer::kAskOwner;
  const PeerAnswer answer = peers_->Ask(link.trace_id, link.span_id, after);
  if (answer == PeerAnswer::kUnmoved) ++stats_.peer_answers;
  return answer;
}

bool TraceResolver::EligibleLink(const SpanRef& span, const LinkRef& link) const {
  if (!link.valid || link.trace_id == span.trace_id) return false;
  // Unsampled where the flags say so: the link's flags were written (the
  // is-remote bit is set) by an SDK that writes W3C trace flags (the span's
  // own sampled bit is set), and its sampled bit is clear. Python's encoder
  // writes no trace flags, so its links are never judged unsampled.
  if ((link.flags & kSpanFlagsHasIsRemote) != 0 && (span.flags & kSampled) != 0 && (link.flags & kSampled) == 0) {
    return false;
  }
  // Marked as not a producer: the gateway's own links (old parent, batch
  // span) and the Lambda instrumentations' X-Ray environment link.
  if (link.message.size() <= kBareLinkBytes) return true;  // no room for attributes
  static constexpr std::string_view kMarks[] = {kAttrOriginalParent, kAttrBatchSpan, kAttrLinkSource};
  std::string_view values[3];
  const uint32_t found = FindLinkAttributes(link, kMarks, values);
  return (found & 3) == 0 && !((found & 4) != 0 && values[2] == kLinkSourceXrayEnv);
}

int TraceResolver::ChooseLink(const SpanRef& span, int* eligible) const {
  *eligible = 0;
  if (!MaybeTarget(span)) return -1;
  int chosen = -1;
  for (size_t i = 0; i < span.links.size(); ++i) {
    if (!EligibleLink(span, span.links[i])) continue;
    ++*eligible;
    if (options_.link_choice == LinkChoice::kFirst) {
      if (chosen < 0) chosen = static_cast<int>(i);
      if (*eligible >= 2) break;
    } else {
      chosen = static_cast<int>(i);
    }
  }
  return chosen;
}

void TraceResolver::Process(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now,
                            std::vector<OutputSpan>* out) {
  ProcessRequest(buffer, absl::MakeConstSpan(&span, 1), now, out);
}

void TraceResolver::ProcessRequest(const std::shared_ptr<const RequestBuffer>& buffer,
                                   absl::Span<const SpanRef> spans, absl::Time now, std::vector<OutputSpan>* out) {
  // Far enough ahead for the loads to land, near enough to stay in L1.
  constexpr size_t kAhead = 8;
  // Fingerprints are computed once, for the prefetch and the decision.
  fingerprints_.resize(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanRef& span = spans[i];
    fingerprints_[i].self = FateFingerprint(FateKey{span.trace_id, span.span_id});
    fingerprints_[i].parent = span.has_parent ? FateFingerprint(FateKey{span.trace_id, span.parent_span_id}) : 0;
  }
  auto prefetch = [this, spans](size_t i) {
    const SpanRef& span = spans[i];
    memory_.Prefetch(fingerprints_[i].self);
    if (span.has_parent) memory_.Prefetch(fingerprints_[i].parent);
    // A target looks up the fate of the span its first link names.
    if (MaybeTarget(span)) memory_.Prefetch(FateFingerprint(FateKey{span.links[0].trace_id, span.links[0].span_id}));
  };
  for (size_t i = 0; i < spans.size() && i < kAhead; ++i) prefetch(i);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i + kAhead < spans.size()) prefetch(i + kAhead);
    if (PassUnchanged(spans[i], buffer, fingerprints_[i].self, fingerprints_[i].parent, now, out)) continue;
    Arrive(spans[i], buffer, fingerprints_[i].self, fingerprints_[i].parent, now, out);
    if (!ready_.empty() || !cycle_checks_.empty()) ResolveReady(now, out);
    if (static_cast<int64_t>(held_.size()) > limits_.max_held_spans) EnforceHeldBound(now, out);
  }
  if (!deferred_.empty()) FinishRequest(now, out);
  CompactOrder();
}

bool TraceResolver::PassUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                  uint64_t fingerprint, uint64_t parent_fingerprint, absl::Time now,
                                  std::vector<OutputSpan>* out) {
  // The common case of Arrive, decided inline: a span that is not a target,
  // whose parent (if it follows one) is known and unchanged, that nothing
  // waits for and no invocation rule applies to. Anything else goes to
  // Arrive, which decides the same span from scratch (nothing is changed
  // here before returning false).
  if (!memory_.Started()) return false;
  if (MaybeTarget(span)) return false;
  if (FollowsParent(span)) {
    if (!memory_.KnownUnchanged(parent_fingerprint)) return false;
  } else if (!deferred_.empty() && !span.has_parent && span.kind == SpanKind::kServer) {
    return false;
  }
  if (!waiting_.empty() || !subscribers_.empty()) {
    const FateKey own{span.trace_id, span.span_id};
    if (waiting_.contains(own) || subscribers_.contains(own)) return false;
  }
  ++stats_.processed;
  AppendUnchanged(span, buffer, out);
  memory_.RecordUnchanged(fingerprint, now);
  NoteFate(span, span.trace_id);
  return true;
}

void TraceResolver::Arrive(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                           uint64_t fingerprint, uint64_t parent_fingerprint, absl::Time now,
                           std::vector<OutputSpan>* out) {
  ++stats_.processed;
  int eligible = 0;
  const int chosen = ChooseLink(span, &eligible);
  if (chosen >= 0) {
    // A target whose parent is in this process (the flags say so) and not
    // seen yet waits for the end of the request: an invocation may follow.
    if (span.has_parent && (span.flags & kRemoteBits) == kSpanFlagsHasIsRemote) {
      const FateKey parent{span.trace_id, span.parent_span_id};
      Fate fate;
      if (!memory_.Find(parent, parent_fingerprint, &fate) && !held_by_key_.contains(parent)) {
        deferred_.push_back(Deferred{span, chosen, false});
        deferred_buffer_ = buffer;
        return;
      }
    }
    StartTarget(span, buffer, chosen, /*anchored=*/false, now, out);
    return;
  }
  if (FollowsParent(span)) {
    Fate parent;
    if (memory_.Find(FateKey{span.trace_id, span.parent_span_id}, parent_fingerprint, &parent)) {
      SpanId message_span;
      if (!DecideChild(span, buffer, parent, now, out, &message_span)) {
        const uint64_t id = Hold(span, buffer, Wait::kMessageSpan, -1, message_span, false, false, now);
        BreakCycle(id);
      }
    } else {
      const uint64_t id = Hold(span, buffer, Wait::kParent, -1, SpanId(), false, false, now);
      BreakCycle(id);
    }
    return;
  }
  if (!span.has_parent && !deferred_.empty() && span.kind == SpanKind::kServer && TryAnchor(span, buffer, now, out)) {
    return;
  }
  AppendUnchanged(span, buffer, out);
  RecordFate(FateKey{span.trace_id, span.span_id}, fingerprint, false, TraceId(), now);
  NoteFate(span, span.trace_id);
}

bool TraceResolver::TryAnchor(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                              absl::Time now, std::vector<OutputSpan>* out) {
  size_t index = 0;
  while (index < deferred_.size() &&
         (deferred_[index].anchored || deferred_[index].span.trace_id != span.trace_id ||
          deferred_[index].span.parent_span_id != span.span_id)) {
    ++index;
  }
  if (index == deferred_.size()) return false;
  std::string_view trigger;
  if (!SpanStringAttribute(span, kAttrFaasTrigger, &trigger) || trigger != "pubsub") return false;
  deferred_[index].anchored = true;
  const Deferred target = deferred_[index];
  const LinkRef& link = target.span.links[target.chosen];
  const uint64_t id = Hold(span, buffer, Wait::kAnchorChild, -1, target.span.span_id, false, false, now);
  anchor_links_[id] = AnchorLink{link.span_id, std::string(link.trace_state)};
  StartTarget(target.span, deferred_buffer_, target.chosen, /*anchored=*/true, now, out);
  return true;
}

void TraceResolver::FinishRequest(absl::Time now, std::vector<OutputSpan>* out) {
  std::vector<Deferred> deferred;
  deferred.swap(deferred_);
  const std::shared_ptr<const RequestBuffer> buffer = std::move(deferred_buffer_);
  for (const Deferred& d : deferred) {
    if (d.anchored) continue;
    StartTarget(d.span, buffer, d.chosen, /*anchored=*/false, now, out);
    if (!ready_.empty() || !cycle_checks_.empty()) ResolveReady(now, out);
  }
  if (static_cast<int64_t>(held_.size()) > limits_.max_held_spans) EnforceHeldBound(now, out);
}

void TraceResolver::StartTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                                bool anchored, absl::Time now, std::vector<OutputSpan>* out) {
  const LinkRef& link = span.links[chosen];
  const FateKey target{link.trace_id, link.span_id};
  Fate fate;
  if (memory_.Find(target, FateFingerprint(target), &fate)) {
    DecideTarget(span, buffer, chosen, fate.moved ? fate.new_trace : link.trace_id, anchored, now, out);
    return;
  }
  // Not known: a gateway in front of one service uses what it knows; a
  // central one (cross_process, wait_for_link_fate) waits for the link
  // target within the hold window. Another shard's trace is asked about
  // unless a peer can say it did not move.
  uint64_t after = 0;
  const PeerAnswer now_answer = LinkFateNow(link, &after);
  if (now_answer == PeerAnswer::kUnmoved) {
    DecideTarget(span, buffer, chosen, link.trace_id, anchored, now, out);
    return;
  }
  const uint64_t id = Hold(span, buffer, Wait::kLink, chosen, SpanId(), false, anchored, now);
  WaitForLink(link, now_answer == PeerAnswer::kNotYet ? &after : nullptr);
  BreakCycle(id);
}

void TraceResolver::EmitReparented(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                   const SpanId& parent, std::string_view trace_state, const TraceId& new_trace,
                                   int remove_link, std::vector<OutputSpan>* out) {
  // Built in reused scratch space: strings keep their capacity across calls.
  SpanRewrite& rewrite = rewrite_;
  rewrite.trace_id = new_trace;
  rewrite.parent_span_id = parent;
  if (!rewrite.trace_state.has_value()) rewrite.trace_state.emplace();
  rewrite.trace_state->assign(trace_state.data(), trace_state.size());
  rewrite.flags = (span.flags & kSpanFlagsTraceFlagsMask) | kRemoteBits;
  rewrite.remove_link = remove_link;
  if (span.has_parent) {
    // The old parent stays reachable as a link; its context is the span's own.
    rewrite.extra_links.resize(1);  // the string keeps its capacity
    EncodeLink(span.trace_id, span.parent_span_id, "", span.flags, original_parent_link_attributes_,
               &rewrite.extra_links[0]);
  } else {
    rewrite.extra_links.clear();
  }
  size_t attributes = 0;
  if (options_.record_original) {
    SetHexAttribute(&rewrite.extra_attributes, attributes++, kAttrOriginalTraceId, span.trace_id);
    if (span.has_parent) {
      SetHexAttribute(&rewrite.extra_attributes, attributes++, kAttrOriginalParentSpanId, span.parent_span_id);
    }
  }
  rewrite.extra_attributes.resize(attributes);
  // Spliced: the encoder writes it from the received bytes.
  SpliceRewrite(span, rewrite, &out->emplace_back(OutputSpan::Unchanged(span, buffer)));
}

void TraceResolver::DecideTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                                 const TraceId& new_trace, bool anchored, absl::Time now,
                                 std::vector<OutputSpan>* out) {
  const LinkRef& link = span.links[chosen];
  if (anchored) {
    // Its invocation takes the link's span as parent; it stays below it.
    OutputSpan& moved = out->emplace_back(OutputSpan::Unchanged(span, buffer));
    moved.patched_trace_id = new_trace;
    moved.trace_id_offset = span.trace_id_offset;
    ++stats_.descendants_moved;
  } else {
    EmitReparented(span, buffer, link.span_id, link.trace_state, new_trace, chosen, out);
    ++stats_.reparented;
    Decided(span, new_trace, now);
  }
  if (options_.fanout && span.links.size() >= 2) MakeMessageSpans(span, buffer, new_trace, now, out);
  const FateKey key{span.trace_id, span.span_id};
  RecordFate(key, FateFingerprint(key), true, new_trace, now);
  NoteFate(span, new_trace);
}

void TraceResolver::MakeMessageSpans(const SpanRef& batch, const std::shared_ptr<const RequestBuffer>& buffer,
                                     const TraceId& batch_trace, absl::Time now, std::vector<OutputSpan>* out) {
  if (!options_.fanout || options_.max_fanout_links <= 0 || batch.links.size() < 2) return;
  // One per-message span per link target (links to one span share it), in
  // link order, at most max_fanout_links; each message id of a link routes
  // to its link's per-message span.
  struct Made {
    SpanId id;
    int link;
  };
  absl::InlinedVector<Made, 8> made;
  std::vector<MessageRoute> routes;
  int eligible = 0;
  for (size_t i = 0; i < batch.links.size(); ++i) {
    const LinkRef& link = batch.links[i];
    if (!EligibleLink(batch, link)) continue;
    ++eligible;
    const SpanId id = FanoutSpanId(batch.trace_id, batch.span_id, link.trace_id, link.span_id);
    const bool seen = std::any_of(made.begin(), made.end(), [&](const Made& m) { return m.id == id; });
    if (!seen && static_cast<int>(made.size()) >= options_.max_fanout_links) continue;
    if (!seen) made.push_back(Made{id, static_cast<int>(i)});
    std::string_view message_id;
    if (LinkStringAttribute(link, kAttrMessageId, &message_id)) routes.push_back({MessageIdHash(message_id), id});
  }
  if (eligible < 2) return;
  if (!routes.empty()) memory_.RecordRoutes(FateKey{batch.trace_id, batch.span_id}, std::move(routes), now);
  for (const Made& m : made) {
    const LinkRef& link = batch.links[m.link];
    const FateKey target{link.trace_id, link.span_id};
    Fate fate;
    if (memory_.Find(target, FateFingerprint(target), &fate)) {
      EmitMessageSpan(batch, buffer, m.link, m.id, fate.moved ? fate.new_trace : link.trace_id, batch_trace, now, out);
      continue;
    }
    uint64_t after = 0;
    const PeerAnswer now_answer = LinkFateNow(link, &after);
    if (now_answer == PeerAnswer::kUnmoved) {
      EmitMessageSpan(batch, buffer, m.link, m.id, link.trace_id, batch_trace, now, out);
    } else {
      const uint64_t id = Hold(batch, buffer, Wait::kLink, m.link, m.id, /*message_span=*/true, false, now);
      batch_traces_[id] = batch_trace;
      WaitForLink(link, now_answer == PeerAnswer::kNotYet ? &after : nullptr);
      BreakCycle(id);
    }
  }
}

void TraceResolver::EmitMessageSpan(const SpanRef& batch, const std::shared_ptr<const RequestBuffer>& buffer,
                                    int link_index, const SpanId& id, const TraceId& trace,
                                    const TraceId& batch_trace, absl::Time now, std::vector<OutputSpan>* out) {
  const LinkRef& link = batch.links[link_index];
  MessageSpanFields fields;
  fields.trace_id = trace;
  fields.span_id = id;
  fields.flags = (link.flags & kSpanFlagsTraceFlagsMask) | kRemoteBits;
  fields.time_unix_nano = SpanStartTime(batch);
  EncodeLink(batch_trace, batch.span_id, "", batch.flags & kSpanFlagsTraceFlagsMask,
             {ExtraAttribute{kAttrBatchSpan, true}}, &fields.batch_link);
  fields.extra = {ExtraAttribute{kAttrFanoutOfTraceId, batch_trace.Hex()},
                  ExtraAttribute{kAttrFanoutOfSpanId, batch.span_id.Hex()}};
  OutputSpan message_span;
  message_span.buffer = buffer;
  message_span.scope_index = batch.scope_index;
  message_span.end_time_unix_nano = fields.time_unix_nano;
  message_span.rewritten = BuildMessageSpan(batch, link, fields);
  out->push_back(std::move(message_span));
  ++stats_.fanout_created;
  const FateKey key{batch.trace_id, id};
  RecordFate(key, FateFingerprint(key), true, trace, now);
}

bool TraceResolver::DecideChild(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                const Fate& parent, absl::Time now, std::vector<OutputSpan>* out,
                                SpanId* message_span) {
  if (parent.moved && memory_.HasRoutes()) {
    const std::vector<MessageRoute>* routes = memory_.FindRoutes(FateKey{span.trace_id, span.parent_span_id});
    std::string_view message_id;
    if (routes != nullptr && SpanStringAttribute(span, kAttrMessageId, &message_id)) {
      const uint64_t hash = MessageIdHash(message_id);
      for (const MessageRoute& route : *routes) {
        if (route.message_id_hash != hash) continue;
        const FateKey key{span.trace_id, route.span};
        Fate fate;
        if (memory_.Find(key, FateFingerprint(key), &fate) && fate.moved) {
          DecideRouted(span, buffer, route.span, fate.new_trace, now, out);
          return true;
        }
        if (held_by_key_.contains(key)) {
          *message_span = route.span;
          return false;
        }
        break;  // the per-message span is forgotten: follow the batch span
      }
    }
  }
  const FateKey key{span.trace_id, span.span_id};
  if (parent.moved) {
    // The encoder patches the trace id while copying the span out.
    OutputSpan& moved = out->emplace_back(OutputSpan::Unchanged(span, buffer));
    moved.patched_trace_id = parent.new_trace;
    moved.trace_id_offset = span.trace_id_offset;
    ++stats_.descendants_moved;
    RecordFate(key, FateFingerprint(key), true, parent.new_trace, now);
    NoteFate(span, parent.new_trace);
  } else {
    AppendUnchanged(span, buffer, out);
    RecordFate(key, FateFingerprint(key), false, TraceId(), now);
    NoteFate(span, span.trace_id);
  }
  return true;
}

void TraceResolver::DecideRouted(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                 const SpanId& message_span, const TraceId& new_trace, absl::Time now,
                                 std::vector<OutputSpan>* out) {
  SpanRewrite& rewrite = rewrite_;
  rewrite.trace_id = new_trace;
  rewrite.parent_span_id = message_span;
  rewrite.trace_state.reset();
  rewrite.flags.reset();
  rewrite.remove_link = -1;
  rewrite.extra_links.clear();
  size_t attributes = 0;
  if (options_.record_original) {
    SetHexAttribute(&rewrite.extra_attributes, attributes++, kAttrOriginalTraceId, span.trace_id);
    SetHexAttribute(&rewrite.extra_attributes, attributes++, kAttrOriginalParentSpanId, span.parent_span_id);
  }
  rewrite.extra_attributes.resize(attributes);
  SpliceRewrite(span, rewrite, &out->emplace_back(OutputSpan::Unchanged(span, buffer)));
  ++stats_.routed;
  const FateKey key{span.trace_id, span.span_id};
  RecordFate(key, FateFingerprint(key), true, new_trace, now);
  NoteFate(span, new_trace);
}

void TraceResolver::DecideAnchor(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                 const AnchorLink& link, const TraceId& new_trace, absl::Time now,
                                 std::vector<OutputSpan>* out) {
  EmitReparented(span, buffer, link.span, link.trace_state, new_trace, -1, out);
  ++stats_.reparented;
  Decided(span, new_trace, now);
  const FateKey key{span.trace_id, span.span_id};
  RecordFate(key, FateFingerprint(key), true, new_trace, now);
  NoteFate(span, new_trace);
}

void TraceResolver::Decided(const SpanRef& span, const TraceId& new_trace, absl::Time now) {
  ++stats_.decisions;
  if (limits_.recent_decisions == 0) return;
  // Once full, the oldest entry is reused (its name keeps its capacity).
  ReparentDecision decision;
  if (decisions_.size() >= limits_.recent_decisions) {
    decision = std::move(decisions_.front());
    decisions_.pop_front();
  }
  decision.time = now;
  decision.original_trace = span.trace_id;
  decision.new_trace = new_trace;
  decision.span = span.span_id;
  decision.name.assign(span.name.data(), span.name.size());
  decisions_.push_back(std::move(decision));
}

bool TraceResolver::KnownFate(const TraceId& trace, const SpanId& span, Fate* fate) const {
  const FateKey key{trace, span};
  return memory_.Find(key, FateFingerprint(key), fate);
}

}  // namespace gateway
