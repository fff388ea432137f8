// TraceResolver: what waits and for what (held spans, their wake-ups, cycles
// of links, the hold window, the held-span bound, shutdown) and the
// questions about link targets between shards.
#include <algorithm>
#include <cstring>
#include <utility>

#include "pipeline/reparent/shard_of.h"
#include "pipeline/reparent/trace_resolver.h"

namespace gateway {
namespace {

TraceId KeyTrace(const FateKey& key) {
  TraceId trace;
  std::memcpy(trace.bytes.data(), &key.trace_hi, 8);
  std::memcpy(trace.bytes.data() + 8, &key.trace_lo, 8);
  return trace;
}

SpanId KeySpan(const FateKey& key) {
  SpanId span;
  std::memcpy(span.bytes.data(), &key.span, 8);
  return span;
}

}  // namespace

FateKey TraceResolver::WaitKey(const Held& held) {
  switch (held.wait) {
    case Wait::kParent:
      return FateKey{held.span.trace_id, held.span.parent_span_id};
    case Wait::kLink: {
      const LinkRef& link = held.span.links[held.link];
      return FateKey{link.trace_id, link.span_id};
    }
    case Wait::kAnchorChild:
    case Wait::kMessageSpan:
      break;
  }
  return FateKey{held.span.trace_id, held.other};
}

FateKey TraceResolver::OwnKey(const Held& held) {
  return FateKey{held.span.trace_id, held.message_span ? held.other : held.span.span_id};
}

uint64_t TraceResolver::Hold(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer, Wait wait,
                             int link, const SpanId& other, bool message_span, bool anchored, absl::Time now) {
  const uint64_t id = next_hold_id_++;
  Held held;
  held.span = span;
  held.buffer = buffer;
  held.arrival = now;
  held.other = other;
  held.wait = wait;
  held.link = static_cast<int16_t>(link);
  held.anchored = anchored;
  held.message_span = message_span;
  held_order_.push_back(id);
  Restore(id, std::move(held));
  return id;
}

void TraceResolver::Restore(uint64_t hold_id, Held held) {
  if (held.wait == Wait::kLink) ++link_waits_;
  waiting_[WaitKey(held)].push_back(hold_id);
  held_by_key_[OwnKey(held)] = hold_id;
  held_.emplace(hold_id, std::move(held));
}

TraceResolver::Held TraceResolver::Take(uint64_t hold_id) {
  auto it = held_.find(hold_id);
  Held held = std::move(it->second);
  held_.erase(it);
  // A woken entry's list is gone already; a forced one is still listed.
  if (auto waiting = waiting_.find(WaitKey(held)); waiting != waiting_.end()) {
    auto& ids = waiting->second;
    ids.erase(std::remove(ids.begin(), ids.end(), hold_id), ids.end());
    if (ids.empty()) waiting_.erase(waiting);
  }
  if (auto own = held_by_key_.find(OwnKey(held)); own != held_by_key_.end() && own->second == hold_id) {
    held_by_key_.erase(own);
  }
  if (held.wait == Wait::kLink) --link_waits_;
  return held;
}

void TraceResolver::WaitForLink(const LinkRef& link, const uint64_t* after) {
  if (Owns(link.trace_id)) return;
  // The first to wait for it asks; the answer wakes them all.
  const FateKey key{link.trace_id, link.span_id};
  auto it = waiting_.find(key);
  if (it == waiting_.end() || it->second.size() != 1) return;
  if (after != nullptr) {
    const auto owner = static_cast<uint32_t>(ShardOf(link.trace_id, limits_.shards));
    if (peer_waits_.size() <= owner) peer_waits_.resize(limits_.shards);
    peer_waits_[owner].push_back(PeerWait{key, *after});
    ++peer_wait_count_;
  } else {
    queries_.push_back(FateQuery{link.trace_id, link.span_id, options_.WaitsForLinkFate()});
    ++stats_.fate_queries;
  }
}

void TraceResolver::RecheckPeers(absl::Time now, std::vector<OutputSpan>* out) {
  if (peer_wait_count_ == 0) return;
  for (uint32_t shard = 0; shard < peer_waits_.size(); ++shard) {
    std::deque<PeerWait>& waits = peer_waits_[shard];
    if (waits.empty()) continue;
    // Those behind one not due yet wait for it (a little longer at worst).
    const uint64_t progress = peers_ != nullptr ? peers_->Progress(shard) : ~uint64_t{0};
    while (!waits.empty() && waits.front().after <= progress) {
      const PeerWait wait = waits.front();
      waits.pop_front();
      --peer_wait_count_;
      // Decided meanwhile (hold window, held bound, flush): nothing to ask.
      if (!waiting_.contains(wait.key)) continue;
      const TraceId trace = KeyTrace(wait.key);
      const SpanId span = KeySpan(wait.key);
      const PeerAnswer answer = peers_ != nullptr ? peers_->AskAgain(trace, span, wait.after) : PeerAnswer::kAskOwner;
      if (answer == PeerAnswer::kNotYet) {
        waits.push_front(wait);
        ++peer_wait_count_;
        break;
      }
      if (answer == PeerAnswer::kUnmoved) {
        ++stats_.peer_answers;
        Wake(wait.key, false, Fate{});
      } else {
        queries_.push_back(FateQuery{trace, span, options_.WaitsForLinkFate()});
        ++stats_.fate_queries;
      }
    }
  }
  ResolveReady(now, out);
  CompactOrder();
}

void TraceResolver::RecordFate(const FateKey& key, uint64_t fingerprint, bool moved, const TraceId& new_trace,
                               absl::Time now) {
  memory_.Record(key, fingerprint, moved, new_trace, now);
  if (!waiting_.empty() || !subscribers_.empty()) Wake(key, true, Fate{new_trace, moved});
}

void TraceResolver::Wake(const FateKey& key, bool known, const Fate& fate) {
  if (!waiting_.empty()) {
    auto it = waiting_.find(key);
    if (it != waiting_.end()) {
      for (uint64_t id : it->second) ready_.push_back(Ready{id, known, fate});
      waiting_.erase(it);
    }
  }
  if (known && !subscribers_.empty()) {
    auto it = subscribers_.find(key);
    if (it != subscribers_.end()) {
      for (uint32_t asker : it->second) answers_.push_back(FateAnswer{KeyTrace(key), KeySpan(key), true, fate, asker});
      subscribers_.erase(it);
    }
  }
}

void TraceResolver::ResolveReady(absl::Time now, std::vector<OutputSpan>* out) {
  // A worklist, not recursion: a long chain of held descendants resolves in
  // constant stack depth. Cycles are looked for once nothing else is due, so
  // that every wait followed is a real one.
  for (;;) {
    while (!ready_.empty()) {
      const Ready next = ready_.back();
      ready_.pop_back();
      Resume(next.hold_id, next.known, next.fate, now, out);
    }
    if (cycle_checks_.empty()) return;
    const uint64_t id = cycle_checks_.back();
    cycle_checks_.pop_back();
    CheckCycle(id);
  }
}

void TraceResolver::Resume(uint64_t hold_id, bool known, const Fate& fate, absl::Time now,
                           std::vector<OutputSpan>* out) {
  if (!held_.contains(hold_id)) return;
  Held held = Take(hold_id);
  switch (held.wait) {
    case Wait::kParent: {
      SpanId message_span;
      if (DecideChild(held.span, held.buffer, fate, now, out, &message_span)) return;
      held.wait = Wait::kMessageSpan;
      held.other = message_span;
      Restore(hold_id, std::move(held));
      BreakCycle(hold_id);
      return;
    }
    case Wait::kLink: {
      const LinkRef& link = held.span.links[held.link];
      const TraceId trace = known && fate.moved ? fate.new_trace : link.trace_id;
      if (held.message_span) {
        TraceId batch_trace;
        if (auto it = batch_traces_.find(hold_id); it != batch_traces_.end()) {
          batch_trace = it->second;
          batch_traces_.erase(it);
        }
        EmitMessageSpan(held.span, held.buffer, held.link, held.other, trace, batch_trace, now, out);
      } else {
        DecideTarget(held.span, held.buffer, held.link, trace, held.anchored, now, out);
      }
      return;
    }
    case Wait::kAnchorChild: {
      AnchorLink link;
      if (auto it = anchor_links_.find(hold_id); it != anchor_links_.end()) {
        link = std::move(it->second);
        anchor_links_.erase(it);
      }
      DecideAnchor(held.span, held.buffer, link, fate.new_trace, now, out);
      return;
    }
    case Wait::kMessageSpan:
      DecideRouted(held.span, held.buffer, held.other, fate.new_trace, now, out);
      return;
  }
}

void TraceResolver::BreakCycle(uint64_t hold_id) {
  if (options_.WaitsForLinkFate()) cycle_checks_.push_back(hold_id);
}

void TraceResolver::CheckCycle(uint64_t hold_id) {
  // Only waits for link targets join traces into cycles (unless it
  // WaitsForLinkFate a target never waits for one of ours); a cycle of parents
  // alone is left to the hold window, as before.
  if (link_waits_ == 0 || !held_.contains(hold_id)) return;
  cycle_members_.clear();
  cycle_members_.push_back(hold_id);
  uint64_t current = hold_id;
  for (size_t steps = 0;; ++steps) {
    if (steps > held_.size()) return;
    auto next = held_by_key_.find(WaitKey(held_.find(current)->second));
    if (next == held_by_key_.end() || !held_.contains(next->second)) return;
    current = next->second;
    if (current == hold_id) break;
    cycle_members_.push_back(current);
  }
  uint64_t best = 0;
  TraceId best_trace;
  SpanId best_span;
  for (uint64_t id : cycle_members_) {
    const Held& held = held_.find(id)->second;
    if (held.wait != Wait::kLink) continue;
    const SpanId span = held.message_span ? held.other : held.span.span_id;
    if (best == 0 || held.span.trace_id < best_trace || (held.span.trace_id == best_trace && span < best_span)) {
      best = id;
      best_trace = held.span.trace_id;
      best_span = span;
    }
  }
  if (best == 0) return;
  ++stats_.link_fate_unknown;
  ready_.push_back(Ready{best, false, Fate{}});
}

void TraceResolver::Force(uint64_t hold_id, Release reason, absl::Time now, std::vector<OutputSpan>* out) {
  // What the span waits for is decided first, from the deepest link wait of
  // its chain up, so that the chain resolves together (a consumer's
  // descendants stay with it) and in the same way whatever expires first.
  for (size_t round = 0; held_.contains(hold_id) && round < 1'000'000; ++round) {
    uint64_t current = hold_id;
    uint64_t deepest = 0;
    for (size_t steps = 0; steps <= held_.size(); ++steps) {
      const Held& held = held_.find(current)->second;
      if (held.wait == Wait::kLink) deepest = current;
      auto next = held_by_key_.find(WaitKey(held));
      if (next == held_by_key_.end() || next->second == hold_id || !held_.contains(next->second)) break;
      current = next->second;
    }
    if (deepest == 0) break;
    ++stats_.link_fate_unknown;
    Resume(deepest, false, Fate{}, now, out);
    ResolveReady(now, out);
  }
  if (!held_.contains(hold_id)) return;
  // It still waits for a parent: it goes out unchanged, and what waits for
  // it follows it.
  Held held = Take(hold_id);
  anchor_links_.erase(hold_id);
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
  AppendUnchanged(held.span, held.buffer, out);
  const FateKey key = OwnKey(held);
  RecordFate(key, FateFingerprint(key), false, TraceId(), now);
  if (!held.message_span) NoteFate(held.span, held.span.trace_id);
  ResolveReady(now, out);
}

void TraceResolver::EnforceHeldBound(absl::Time now, std::vector<OutputSpan>* out) {
  while (static_cast<int64_t>(held_.size()) > limits_.max_held_spans && !held_order_.empty()) {
    const uint64_t oldest = held_order_.front();
    held_order_.pop_front();
    if (held_.contains(oldest)) Force(oldest, Release::kMemoryBound, now, out);
  }
  CompactOrder();
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
    Force(id, Release::kHoldWindow, now, out);
  }
  CompactOrder();
  memory_.Expire(now);
  ExpireSubscriptions(now);
}

void TraceResolver::ReleaseAll(std::vector<OutputSpan>* out) { ReleaseAllHeld(Release::kShutdown, out); }

void TraceResolver::ReleaseAllForFlush(std::vector<OutputSpan>* out) { ReleaseAllHeld(Release::kFlush, out); }

void TraceResolver::ReleaseAllHeld(Release reason, std::vector<OutputSpan>* out) {
  // Oldest first; a release may resolve (and so remove) later ones, or hold
  // new ones (per-message spans of a target decided now), which come later
  // in the order.
  while (!held_order_.empty()) {
    const uint64_t id = held_order_.front();
    held_order_.pop_front();
    auto it = held_.find(id);
    if (it == held_.end()) continue;
    Force(id, reason, it->second.arrival, out);
  }
  held_.clear();
  waiting_.clear();
  held_by_key_.clear();
  anchor_links_.clear();
  batch_traces_.clear();
  peer_waits_.clear();
  peer_wait_count_ = 0;
  link_waits_ = 0;
}

absl::Time TraceResolver::NextExpiry() const {
  for (uint64_t id : held_order_) {
    auto it = held_.find(id);
    if (it != held_.end()) return it->second.arrival + options_.hold_window;
  }
  return absl::InfiniteFuture();
}

int64_t TraceResolver::HeldBytes() const {
  // Swiss tables: one slot and one control byte per capacity entry; the
  // deque: 8 bytes per id (its block map is noise). Waiting lists of more
  // than two children, which spill to the heap, are left out.
  using HeldSlot = std::pair<const uint64_t, Held>;
  using WaitingSlot = std::pair<const FateKey, absl::InlinedVector<uint64_t, 2>>;
  using KeySlot = std::pair<const FateKey, uint64_t>;
  return static_cast<int64_t>(held_.capacity() * (sizeof(HeldSlot) + 1) +
                              waiting_.capacity() * (sizeof(WaitingSlot) + 1) +
                              held_by_key_.capacity() * (sizeof(KeySlot) + 1) +
                              held_order_.size() * sizeof(uint64_t));
}

void TraceResolver::TakeQueries(std::vector<FateQuery>* queries) {
  queries->insert(queries->end(), queries_.begin(), queries_.end());
  queries_.clear();
}

void TraceResolver::TakeAnswers(std::vector<FateAnswer>* answers) {
  answers->insert(answers->end(), answers_.begin(), answers_.end());
  answers_.clear();
}

void TraceResolver::AnswerQuery(const FateQuery& query, uint32_t asker, absl::Time now) {
  const FateKey key{query.trace, query.span};
  Fate fate;
  if (memory_.Find(key, FateFingerprint(key), &fate)) {
    answers_.push_back(FateAnswer{query.trace, query.span, true, fate, asker});
  } else if (!query.wait) {
    answers_.push_back(FateAnswer{query.trace, query.span, false, Fate{}, asker});
  } else {
    subscribers_[key].push_back(asker);
    subscription_order_.push_back(Subscription{now, key, asker});
  }
}

void TraceResolver::ExpireSubscriptions(absl::Time now) {
  while (!subscription_order_.empty() && subscription_order_.front().time + options_.hold_window <= now) {
    const Subscription old = subscription_order_.front();
    subscription_order_.pop_front();
    auto it = subscribers_.find(old.key);
    if (it == subscribers_.end()) continue;
    auto& askers = it->second;
    if (auto pos = std::find(askers.begin(), askers.end(), old.asker); pos != askers.end()) askers.erase(pos);
    if (askers.empty()) subscribers_.erase(it);
  }
}

void TraceResolver::LearnFate(const TraceId& trace, const SpanId& span, const Fate* fate, absl::Time now,
                              std::vector<OutputSpan>* out) {
  const FateKey key{trace, span};
  if (fate != nullptr && fate->moved) memory_.Record(key, FateFingerprint(key), true, fate->new_trace, now);
  Wake(key, fate != nullptr, fate != nullptr ? *fate : Fate{});
  ResolveReady(now, out);
  CompactOrder();
}

// ---- Fate store hooks ----

void TraceResolver::LearnStoredFate(const TraceId& original_trace, const SpanId& span, const TraceId& new_trace,
                                    absl::Time now, std::vector<OutputSpan>* out) {
  const bool moved = new_trace != original_trace;
  const FateKey key{original_trace, span};
  // LearnFate remembers moved fates; an unchanged one is remembered too, so
  // that a central gateway does not wait for a link target another gateway
  // has already sent on unchanged.
  if (!moved) memory_.Record(key, FateFingerprint(key), false, TraceId(), now);
  const Fate fate{moved ? new_trace : TraceId(), moved};
  LearnFate(original_trace, span, &fate, now, out);
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

}  // namespace gateway
