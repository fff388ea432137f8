#include "pipeline/reparent/trace_resolver.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "pipeline/otlp/trace_encoder.h"

namespace gateway {
namespace {

// FNV-1a over the bytes, then the splitmix64 finalizer for avalanche.
uint64_t HashIds(std::string_view a, std::string_view b, std::string_view c, std::string_view d) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (std::string_view part : {a, b, c, d}) {
    for (char ch : part) {
      h ^= static_cast<uint8_t>(ch);
      h *= 0x100000001b3ULL;
    }
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

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
  uint64_t h = HashIds(original_trace.View(), original.View(), link_trace.View(), link_span.View());
  if (h == 0) h = 1;
  SpanId id;
  for (size_t i = 0; i < SpanId::kSize; ++i) {
    id.bytes[i] = static_cast<uint8_t>(h >> (8 * (SpanId::kSize - 1 - i)));
  }
  return id;
}

TraceResolver::TraceResolver(const ReparentOptions& options) : TraceResolver(options, TraceResolverLimits{}) {}

TraceResolver::TraceResolver(const ReparentOptions& options, const TraceResolverLimits& limits)
    : options_(options), limits_(limits), original_parent_link_attributes_{{kAttrOriginalParent, true}} {
  for (SpanKind kind : options_.target_kinds) {
    int32_t k = static_cast<int32_t>(kind);
    if (k >= 0 && k < 64) target_kinds_mask_ |= uint64_t{1} << k;
  }
}

int TraceResolver::ChooseLink(const SpanRef& span) const {
  int32_t k = static_cast<int32_t>(span.kind);
  if (k < 0 || k >= 64 || (target_kinds_mask_ & (uint64_t{1} << k)) == 0) return -1;
  int chosen = -1;
  for (size_t i = 0; i < span.links.size(); ++i) {
    const LinkRef& link = span.links[i];
    if (!link.valid || link.trace_id == span.trace_id) continue;
    chosen = static_cast<int>(i);
    if (options_.link_choice == LinkChoice::kFirst) break;
  }
  return chosen;
}

void TraceResolver::Process(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now,
                            std::vector<OutputSpan>* out) {
  const uint64_t self = FateFingerprint(FateKey{span.trace_id, span.span_id});
  const uint64_t parent = span.has_parent ? FateFingerprint(FateKey{span.trace_id, span.parent_span_id}) : 0;
  ProcessOne(span, buffer, self, parent, now, out);
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
    fates_[current_].Prefetch(fingerprints_[i].self);
    moved_[current_].Prefetch(fingerprints_[i].self);
    if (spans[i].has_parent) {
      fates_[current_].Prefetch(fingerprints_[i].parent);
      moved_[current_].Prefetch(fingerprints_[i].parent);
    }
  };
  for (size_t i = 0; i < spans.size() && i < kAhead; ++i) prefetch(i);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i + kAhead < spans.size()) prefetch(i + kAhead);
    if (PassUnchanged(spans[i], buffer, fingerprints_[i].self, fingerprints_[i].parent, now, out)) continue;
    ProcessOne(spans[i], buffer, fingerprints_[i].self, fingerprints_[i].parent, now, out);
  }
}

bool TraceResolver::PassUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                                  uint64_t fingerprint, uint64_t parent_fingerprint, absl::Time now,
                                  std::vector<OutputSpan>* out) {
  // The common case of ProcessOne, decided inline: a span that is not a
  // target, whose parent (if it follows one) is known and unchanged, and
  // that no held span waits for. Anything else goes to ProcessOne, which
  // decides the same span from scratch (nothing is changed here before
  // returning false).
  if (limits_.max_resolved_spans <= 0 || generation_start_ == absl::InfinitePast()) return false;
  if (MaybeTarget(span)) return false;
  if (span.has_parent && !(span.parent_is_remote() && !options_.cross_process)) {
    // FindFate's answer, when it is "unchanged".
    if (fates_[current_].Find(parent_fingerprint) != FateTable::kUnchanged) return false;
    const int older = 1 - current_;
    if (!moved_[older].empty() && fates_[older].Find(parent_fingerprint) == FateTable::kMoved) return false;
  }
  if (!waiting_.empty() && waiting_.contains(FateKey{span.trace_id, span.span_id})) return false;
  ++stats_.processed;
  AppendUnchanged(span, buffer, out);
  NoteFate(span, span.trace_id);
  // RecordFate without children to wake.
  if (MakeRoom(false, now)) fates_[current_].Insert(fingerprint, false);
  if (static_cast<int64_t>(fates_[current_].size()) >= std::max<int64_t>(1, limits_.max_resolved_spans / 2)) {
    RotateFates(now);
  }
  return true;
}

void TraceResolver::ProcessOne(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                               uint64_t fingerprint, uint64_t parent_fingerprint, absl::Time now,
                               std::vector<OutputSpan>* out) {
  ++stats_.processed;
  std::vector<Ready> ready;
  const int chosen = ChooseLink(span);
  if (chosen < 0 && span.has_parent && !(span.parent_is_remote() && !options_.cross_process)) {
    Fate parent;
    if (!FindFate(FateKey{span.trace_id, span.parent_span_id}, parent_fingerprint, &parent)) {
      Hold(span, buffer, now);
      while (static_cast<int64_t>(held_.size()) > limits_.max_held_spans && !held_order_.empty()) {
        uint64_t oldest = held_order_.front();
        held_order_.pop_front();
        if (held_.contains(oldest)) ReleaseHeld(oldest, Release::kMemoryBound, now, out);
      }
      CompactOrder();
      return;
    }
    Decide(span, buffer, chosen, &parent, fingerprint, now, out, &ready);
  } else {
    Decide(span, buffer, chosen, nullptr, fingerprint, now, out, &ready);
  }
  if (ready.empty() && held_order_.empty()) return;
  ResolveReady(&ready, now, out);
  CompactOrder();
}

void TraceResolver::Decide(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                           const Fate* parent, uint64_t fingerprint, absl::Time now, std::vector<OutputSpan>* out,
                           std::vector<Ready>* ready) {
  const FateKey key{span.trace_id, span.span_id};
  if (chosen >= 0) {
    const TraceId new_trace = span.links[chosen].trace_id;
    EmitTarget(span, buffer, chosen, now, out);
    NoteFate(span, new_trace);
    RecordFate(key, fingerprint, true, new_trace, now, ready);
    return;
  }
  if (parent != nullptr && parent->moved) {
    // The encoder patches the trace id while copying the span out.
    OutputSpan& moved = out->emplace_back(OutputSpan::Unchanged(span, buffer));
    moved.patched_trace_id = parent->new_trace;
    moved.trace_id_offset = span.trace_id_offset;
    ++stats_.descendants_moved;
    NoteFate(span, parent->new_trace);
    RecordFate(key, fingerprint, true, parent->new_trace, now, ready);
    return;
  }
  AppendUnchanged(span, buffer, out);
  NoteFate(span, span.trace_id);
  RecordFate(key, fingerprint, false, TraceId(), now, ready);
}

void TraceResolver::EmitTarget(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, int chosen,
                               absl::Time now, std::vector<OutputSpan>* out) {
  const LinkRef& link = span.links[chosen];
  // Built in reused scratch space: strings keep their capacity across calls.
  SpanRewrite& rewrite = target_rewrite_;
  rewrite.trace_id = link.trace_id;
  rewrite.parent_span_id = link.span_id;
  if (!rewrite.trace_state.has_value()) rewrite.trace_state.emplace();
  rewrite.trace_state->assign(link.trace_state.data(), link.trace_state.size());
  rewrite.flags = (span.flags & kSpanFlagsTraceFlagsMask) | kSpanFlagsHasIsRemote | kSpanFlagsIsRemote;
  rewrite.remove_link = chosen;
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
  ++stats_.reparented;

  if (options_.fanout) {
    int made = 0;
    for (size_t i = 0; i < span.links.size() && made < options_.max_fanout_links; ++i) {
      const LinkRef& other = span.links[i];
      if (static_cast<int>(i) == chosen || !other.valid || other.trace_id == span.trace_id) continue;
      const SpanId id = FanoutSpanId(span.trace_id, span.span_id, other.trace_id, other.span_id);
      OutputSpan fanout;
      fanout.buffer = buffer;
      fanout.scope_index = span.scope_index;
      fanout.end_time_unix_nano = span.end_time_unix_nano;
      fanout.rewritten = BuildFanoutSpan(span, other, id,
                                         {ExtraAttribute{kAttrFanoutOfTraceId, link.trace_id.Hex()},
                                          ExtraAttribute{kAttrFanoutOfSpanId, span.span_id.Hex()}});
      out->push_back(std::move(fanout));
      ++made;
    }
    stats_.fanout_created += made;
  }

  ++stats_.decisions;
  if (limits_.recent_decisions > 0) {
    // Once full, the oldest entry is reused (its name keeps its capacity).
    ReparentDecision decision;
    if (decisions_.size() >= limits_.recent_decisions) {
      decision = std::move(decisions_.front());
      decisions_.pop_front();
    }
    decision.time = now;
    decision.original_trace = span.trace_id;
    decision.new_trace = link.trace_id;
    decision.span = span.span_id;
    decision.name.assign(span.name.data(), span.name.size());
    decisions_.push_back(std::move(decision));
  }
}

void TraceResolver::RecordFate(const FateKey& key, uint64_t fingerprint, bool moved, const TraceId& new_trace,
                               absl::Time now, std::vector<Ready>* ready) {
  if (generation_start_ == absl::InfinitePast()) generation_start_ = now;
  if (limits_.max_resolved_spans > 0 && MakeRoom(moved, now)) {
    if (moved) moved_[current_].InsertOrAssign(key, fingerprint, new_trace);
    fates_[current_].Insert(fingerprint, moved);
    if (static_cast<int64_t>(fates_[current_].size()) >= std::max<int64_t>(1, limits_.max_resolved_spans / 2)) {
      RotateFates(now);
    }
  }
  if (waiting_.empty()) return;
  auto waiting = waiting_.find(key);
  if (waiting != waiting_.end()) {
    for (uint64_t id : waiting->second) ready->push_back(Ready{id, Fate{new_trace, moved}});
    waiting_.erase(waiting);
  }
}

void TraceResolver::ResolveReady(std::vector<Ready>* ready, absl::Time now, std::vector<OutputSpan>* out) {
  // A worklist, not recursion: a long chain of held descendants resolves in
  // constant stack depth.
  while (!ready->empty()) {
    const Ready next = ready->back();
    ready->pop_back();
    auto it = held_.find(next.hold_id);
    if (it == held_.end()) continue;
    const SpanRef span = it->second.span;
    const std::shared_ptr<const RequestBuffer> buffer = std::move(it->second.buffer);
    held_.erase(it);
    // Held spans are never targets (a target is decided on arrival).
    Decide(span, buffer, -1, &next.parent, FateFingerprint(FateKey{span.trace_id, span.span_id}), now, out, ready);
  }
}

void TraceResolver::Hold(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, absl::Time now) {
  const uint64_t id = next_hold_id_++;
  const FateKey parent{span.trace_id, span.parent_span_id};
  held_.emplace(id, Held{span, buffer, now});
  held_order_.push_back(id);
  waiting_[parent].push_back(id);
}

void TraceResolver::UnlinkWaiting(const Held& held, uint64_t id) {
  auto it = waiting_.find(FateKey{held.span.trace_id, held.span.parent_span_id});
  if (it == waiting_.end()) return;
  auto& ids = it->second;
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty()) waiting_.erase(it);
}

void TraceResolver::ReleaseHeld(uint64_t id, Release reason, absl::Time now, std::vector<OutputSpan>* out) {
  auto it = held_.find(id);
  if (it == held_.end()) return;
  UnlinkWaiting(it->second, id);
  const SpanRef span = it->second.span;
  const std::shared_ptr<const RequestBuffer> buffer = std::move(it->second.buffer);
  held_.erase(it);
  switch (reason) {
    case Release::kHoldWindow:
      ++stats_.released_hold_window;
      break;
    case Release::kMemoryBound:
      ++stats_.released_memory_bound;
      break;
    case Release::kShutdown:
      ++stats_.released_shutdown;
      break;
    case Release::kFlush:
      ++stats_.released_flush;
      break;
  }
  // It goes out unchanged, so its held descendants stay with it.
  std::vector<Ready> ready;
  AppendUnchanged(span, buffer, out);
  NoteFate(span, span.trace_id);
  const FateKey key{span.trace_id, span.span_id};
  RecordFate(key, FateFingerprint(key), false, TraceId(), now, &ready);
  ResolveReady(&ready, now, out);
}

void TraceResolver::CompactOrder() {
  while (!held_order_.empty() && !held_.contains(held_order_.front())) held_order_.pop_front();
  if (held_order_.size() > 2 * held_.size() + 1024) {
    std::deque<uint64_t> live;
    for (uint64_t id : held_order_) {
      if (held_.contains(id)) live.push_back(id);
    }
    held_order_.swap(live);
  }
}

void TraceResolver::Expire(absl::Time now, std::vector<OutputSpan>* out) {
  while (!held_order_.empty()) {
    const uint64_t id = held_order_.front();
    auto it = held_.find(id);
    if (it == held_.end()) {
      held_order_.pop_front();
      continue;
    }
    if (it->second.arrival + options_.hold_window > now) break;
    held_order_.pop_front();
    ReleaseHeld(id, Release::kHoldWindow, now, out);
  }
  CompactOrder();
  EvictFates(now);
}

bool TraceResolver::FindFate(const FateKey& key, uint64_t fingerprint, Fate* fate) const {
  const int older = 1 - current_;
  const FateTable::Found in_current = fates_[current_].Find(fingerprint);
  // A moved fate in either generation wins over an unchanged one; the older
  // generation can only add one when it has moved fates at all.
  FateTable::Found in_older = FateTable::kAbsent;
  if (in_current == FateTable::kAbsent || (in_current == FateTable::kUnchanged && !moved_[older].empty())) {
    in_older = fates_[older].Find(fingerprint);
  }
  if (in_current == FateTable::kMoved || in_older == FateTable::kMoved) {
    for (int g : {current_, older}) {
      if (moved_[g].empty()) continue;
      if (const TraceId* new_trace = moved_[g].Find(key, fingerprint); new_trace != nullptr) {
        *fate = Fate{*new_trace, true};
        return true;
      }
    }
  }
  if (in_current == FateTable::kAbsent && in_older == FateTable::kAbsent) return false;
  *fate = Fate{TraceId(), false};
  return true;
}

bool TraceResolver::MakeRoomSlow(bool moved, absl::Time now) {
  const int64_t generation_bound = limits_.max_table_bytes > 0 ? limits_.max_table_bytes / 2 : -1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    FateTable& fates = fates_[current_];
    MovedTable& moved_table = moved_[current_];
    const bool grow_fates = fates.Full();
    const bool grow_moved = moved && moved_table.Full();
    size_t fate_capacity = !grow_fates ? 0 : fates.capacity() == 0 ? FateTable::kInitialCapacity : 2 * fates.capacity();
    size_t moved_capacity =
        !grow_moved ? 0 : moved_table.capacity() == 0 ? MovedTable::kInitialCapacity : 2 * moved_table.capacity();
    // The generation's bytes while the growing tables copy: every slot it
    // has now plus the new ones.
    auto peak = [&] {
      return GenerationBytes(current_) + static_cast<int64_t>(fate_capacity * FateTable::kSlotBytes +
                                                              moved_capacity * MovedTable::kSlotBytes);
    };
    if (generation_bound >= 0) {
      // A table that starts out (after a rotation) starts smaller under a
      // tight bound; the bigger new table halves first, down to 2 slots
      // (one entry at half full).
      while (peak() > generation_bound) {
        const bool fates_shrink = fates.capacity() == 0 && fate_capacity > 2;
        const bool moved_shrinks = moved_table.capacity() == 0 && moved_capacity > 2;
        if (moved_shrinks && (!fates_shrink || moved_capacity * MovedTable::kSlotBytes >=
                                                   fate_capacity * FateTable::kSlotBytes)) {
          moved_capacity /= 2;
        } else if (fates_shrink) {
          fate_capacity /= 2;
        } else {
          break;
        }
      }
      if (peak() > generation_bound) {
        // The current generation is full by bytes: it becomes the older one.
        // Once is enough: an empty generation that cannot take the fate never
        // will.
        if (GenerationBytes(current_) == 0) return false;
        RotateFates(now);
        continue;
      }
    }
    peak_table_bytes_ = std::max(peak_table_bytes_, peak() + GenerationBytes(1 - current_));
    if (grow_fates) fates.Grow(fate_capacity);
    if (grow_moved) moved_table.Grow(moved_capacity);
    return true;
  }
  return false;
}

int64_t TraceResolver::HeldBytes() const {
  // Swiss tables: one slot and one control byte per capacity entry; the
  // deque: 8 bytes per id (its block map is noise). Waiting lists of more
  // than two children, which spill to the heap, are left out.
  using HeldSlot = std::pair<const uint64_t, Held>;
  using WaitingSlot = std::pair<const FateKey, absl::InlinedVector<uint64_t, 2>>;
  return static_cast<int64_t>(held_.capacity() * (sizeof(HeldSlot) + 1) +
                              waiting_.capacity() * (sizeof(WaitingSlot) + 1) +
                              held_order_.size() * sizeof(uint64_t));
}

void TraceResolver::RotateFates(absl::Time now) {
  current_ = 1 - current_;
  // The generation forgotten now was as busy as the next one is likely to
  // be: a table it filled to a quarter or more of its slots is kept, zeroed,
  // instead of being freed and grown again from its initial size by
  // doubling (a rehash of every entry at each step, and fresh pages). One it
  // hardly used (rotated by time after traffic fell) gives its memory back.
  auto forget = [](auto& table) {
    if (4 * table.size() >= table.capacity()) {
      table.Empty();
    } else {
      table.Clear();
    }
  };
  forget(moved_[current_]);
  forget(fates_[current_]);
  generation_start_ = now;
}

void TraceResolver::EvictFates(absl::Time now) {
  const absl::Duration half = options_.resolved_ttl / 2;
  if (generation_start_ == absl::InfinitePast()) {
    generation_start_ = now;
    return;
  }
  if (now - generation_start_ >= options_.resolved_ttl) {
    // Both generations are older than the TTL.
    for (int g : {0, 1}) {
      moved_[g].Clear();
      fates_[g].Clear();
    }
    generation_start_ = now;
  } else if (now - generation_start_ >= half) {
    RotateFates(now);
  }
}

void TraceResolver::ReleaseAll(std::vector<OutputSpan>* out) { ReleaseAllHeld(Release::kShutdown, out); }

void TraceResolver::ReleaseAllForFlush(std::vector<OutputSpan>* out) { ReleaseAllHeld(Release::kFlush, out); }

void TraceResolver::ReleaseAllHeld(Release reason, std::vector<OutputSpan>* out) {
  // Oldest first; a release may resolve (and so remove) later ones.
  while (!held_order_.empty()) {
    const uint64_t id = held_order_.front();
    held_order_.pop_front();
    auto it = held_.find(id);
    if (it == held_.end()) continue;
    ReleaseHeld(id, reason, it->second.arrival, out);
  }
  held_.clear();
  waiting_.clear();
}

// ---- Fate store hooks (issue #19 part 2) ----

void TraceResolver::LearnFate(const TraceId& original_trace, const SpanId& span, const TraceId& new_trace,
                              absl::Time now, std::vector<OutputSpan>* out) {
  const FateKey key{original_trace, span};
  std::vector<Ready> ready;
  const bool moved = new_trace != original_trace;
  RecordFate(key, FateFingerprint(key), moved, moved ? new_trace : TraceId(), now, &ready);
  if (ready.empty()) return;
  ResolveReady(&ready, now, out);
  CompactOrder();
}

void TraceResolver::ObserveFates(FateObserver* observer, absl::Span<const SpanKind> kinds) {
  observer_ = observer;
  observed_kinds_mask_ = 0;
  if (observer == nullptr) return;
  for (SpanKind kind : kinds) {
    const auto k = static_cast<int32_t>(kind);
    if (k >= 0 && k < 64) observed_kinds_mask_ |= uint64_t{1} << k;
  }
}

// ---- end of fate store hooks ----

absl::Time TraceResolver::NextExpiry() const {
  for (uint64_t id : held_order_) {
    auto it = held_.find(id);
    if (it != held_.end()) return it->second.arrival + options_.hold_window;
  }
  return absl::InfiniteFuture();
}

}  // namespace gateway
