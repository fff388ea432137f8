#include "pipeline/reparent/fate_store_gate.h"

#include <algorithm>
#include <utility>

#include "pipeline/otlp/span_attributes.h"

namespace gateway {

FateStoreGate::FateStoreGate(FateStoreClient& client, const ReparentOptions& reparent, std::function<void()> wake)
    : client_(client),
      counters_(client.gate_counters()),
      reparent_(reparent),
      options_(client.options()),
      replies_(std::make_shared<FateStoreReplies>(std::move(wake))) {
  for (SpanKind kind : reparent_.target_kinds) {
    const auto k = static_cast<int32_t>(kind);
    if (k >= 0 && k < 64) target_kinds_mask_ |= uint64_t{1} << k;
  }
}

FateStoreGate::~FateStoreGate() {
  // After this no answer reaches the gate and `wake` is not called again.
  replies_->Close();
  counters_.waiting->fetch_sub(static_cast<int64_t>(waiting_.size()), std::memory_order_relaxed);
}

size_t FateStoreGate::AddQueries(const SpanRef& span) {
  const auto kind = static_cast<int32_t>(span.kind);
  if (span.links.empty() || kind < 0 || kind >= 64 || (target_kinds_mask_ & (uint64_t{1} << kind)) == 0) return 0;
  // The links the resolver may follow: the chosen one (first or last valid
  // cross-trace link) and, with fan-out, up to max_fanout_links others.
  const size_t cap = reparent_.fanout ? 1 + static_cast<size_t>(std::max(0, reparent_.max_fanout_links)) : 1;
  std::vector<StoredFateKey>* queries = nullptr;
  int last = -1;
  auto add = [&](const LinkRef& link) {
    if (queries == nullptr) {
      FateStoreLookup& lookup = lookups_.emplace_back();
      queries = &lookup.queries;
    }
    queries->push_back(StoredFateKey{link.trace_id, link.span_id});
  };
  for (size_t i = 0; i < span.links.size(); ++i) {
    const LinkRef& link = span.links[i];
    if (!link.valid || link.trace_id == span.trace_id) continue;
    last = static_cast<int>(i);
    if (queries == nullptr || queries->size() < cap) {
      if (reparent_.link_choice == LinkChoice::kFirst || reparent_.fanout) add(link);
    }
  }
  if (last >= 0 && reparent_.link_choice == LinkChoice::kLast) {
    const LinkRef& chosen = span.links[static_cast<size_t>(last)];
    const StoredFateKey q{chosen.trace_id, chosen.span_id};
    bool present = false;
    if (queries != nullptr) {
      for (const StoredFateKey& have : *queries) present = present || have == q;
    }
    if (!present) add(chosen);
  }
  return queries == nullptr ? 0 : queries->size();
}

bool FateStoreGate::IsInvocationOf(const SpanRef& span, const SpanRef& target) {
  if (span.has_parent || span.kind != SpanKind::kServer || !target.has_parent) return false;
  if (span.trace_id != target.trace_id || span.span_id != target.parent_span_id) return false;
  std::string_view trigger;
  return SpanStringAttribute(span, kAttrFaasTrigger, &trigger) && trigger == "pubsub";
}

bool FateStoreGate::Admit(const std::shared_ptr<const RequestBuffer>& buffer, absl::Span<const SpanRef> spans,
                          absl::Time now, std::vector<SpanRef>* pass) {
  last_now_ = now;
  bool held = false;
  // Targets held back from this request, for the invocations among the
  // spans after them.
  held_in_request_.clear();
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanRef& span = spans[i];
    if (held && !span.has_parent && span.kind == SpanKind::kServer) {
      // An invocation whose target child came before it in this request
      // waits with that child: the resolver takes it along only when both
      // reach it in one request (docs/reparenting.md, "Invocations").
      auto target = std::find_if(held_in_request_.begin(), held_in_request_.end(), [&](uint64_t id) {
        auto it = waiting_.find(id);
        return it != waiting_.end() && it->second.companions.empty() && IsInvocationOf(span, it->second.span);
      });
      if (target != held_in_request_.end()) {
        waiting_.find(*target)->second.companions.push_back(span);
        continue;
      }
    }
    const size_t before = lookups_.size();
    const size_t queries = AddQueries(span);
    if (queries > 0 && static_cast<int64_t>(waiting_.size()) >= options_.max_waiting) {
      lookups_.resize(before);
      counters_.degraded_overflow->Add();
    } else if (queries > 0) {
      if (!held) {
        pass->assign(spans.begin(), spans.begin() + static_cast<ptrdiff_t>(i));
        held = true;
      }
      const uint64_t id = next_id_++;
      FateStoreLookup& lookup = lookups_.back();
      lookup.id = id;
      lookup.deadline = now + options_.max_wait;
      lookup.reply_to = replies_;
      waiting_.emplace(id, HeldBack{span, buffer, now, lookup.deadline, lookup.queries, {}});
      order_.push_back(id);
      held_in_request_.push_back(id);
      counters_.waiting->fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (held) pass->push_back(span);
  }
  return held;
}

bool FateStoreGate::AnyMoved(const std::vector<StoredFateKey>& queries, const FateStoreAnswer& answer) {
  for (size_t q = 0; q < queries.size() && q < answer.fates.size(); ++q) {
    if (answer.fates[q].has_value() && *answer.fates[q] != queries[q].original_trace) return true;
  }
  return false;
}

void FateStoreGate::Release(uint64_t id, absl::Time now, Counter* degraded, TraceResolver& resolver,
                            std::vector<OutputSpan>* out, const FateStoreAnswer* answer) {
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  const SpanRef span = it->second.span;
  std::vector<SpanRef> companions = std::move(it->second.companions);
  const std::shared_ptr<const RequestBuffer> buffer = std::move(it->second.buffer);
  if (answer != nullptr && AnyMoved(it->second.queries, *answer)) counters_.followed->Add();
  const absl::Time arrival = it->second.arrival;
  waiting_.erase(it);
  counters_.waiting->fetch_sub(1, std::memory_order_relaxed);
  counters_.waits->Add();
  counters_.wait_micros->Add(std::max<int64_t>(0, absl::ToInt64Microseconds(now - arrival)));
  if (degraded != nullptr) degraded->Add();
  if (companions.empty()) {
    resolver.Process(span, buffer, now, out);
    return;
  }
  // The target first, then its invocation, as they came.
  companions.insert(companions.begin(), span);
  resolver.ProcessRequest(buffer, companions, now, out);
}

void FateStoreGate::Poll(absl::Time now, TraceResolver& resolver, std::vector<OutputSpan>* out) {
  last_now_ = now;
  FateStoreAnswer answer;
  while (replies_->TryTake(&answer)) {
    auto it = waiting_.find(answer.id);
    if (it == waiting_.end()) continue;  // it went on at its deadline
    const std::vector<StoredFateKey>& queries = it->second.queries;
    bool complete = true;
    for (size_t i = 0; i < queries.size() && i < answer.fates.size(); ++i) {
      const std::optional<TraceId>& fate = answer.fates[i];
      if (!fate.has_value()) {
        complete = false;
        continue;
      }
      // Remembered by the resolver, moved or not: it then places the
      // consumer (and its per-message spans) by these fates itself.
      resolver.LearnStoredFate(queries[i].original_trace, queries[i].span, *fate, now, out);
      if (*fate != queries[i].original_trace) counters_.learned->Add();
    }
    const bool degraded = answer.outcome == FateStoreAnswer::Outcome::kUnavailable && !complete;
    Release(answer.id, now, degraded ? counters_.degraded_unavailable : nullptr, resolver, out, &answer);
  }
  while (!order_.empty()) {
    auto it = waiting_.find(order_.front());
    if (it == waiting_.end()) {
      order_.pop_front();
      continue;
    }
    if (it->second.deadline > now) break;
    const uint64_t id = order_.front();
    order_.pop_front();
    Release(id, now, counters_.degraded_timeout, resolver, out);
  }
}

void FateStoreGate::Flush(absl::Time now, bool force) {
  constexpr size_t kPublishBatch = 256;
  if (publish_.empty() && lookups_.empty()) return;
  if (lookups_.empty() && !force && publish_.size() < kPublishBatch &&
      now - publish_since_ < options_.publish_linger) {
    return;
  }
  client_.Submit(std::move(publish_), std::move(lookups_));
  publish_.clear();
  lookups_.clear();
}

absl::Time FateStoreGate::NextDeadline() const {
  absl::Time next = publish_.empty() ? absl::InfiniteFuture() : publish_since_ + options_.publish_linger;
  for (uint64_t id : order_) {
    auto it = waiting_.find(id);
    if (it != waiting_.end()) return std::min(next, it->second.deadline);
  }
  return next;
}

void FateStoreGate::ReleaseAll(absl::Time now, TraceResolver& resolver, std::vector<OutputSpan>* out) {
  while (!order_.empty()) {
    const uint64_t id = order_.front();
    order_.pop_front();
    Release(id, now, counters_.degraded_shutdown, resolver, out);
  }
}

void FateStoreGate::Settle(absl::Time until, const Clock& clock, TraceResolver& resolver,
                           std::vector<OutputSpan>* out) {
  Flush(clock.Now(), /*force=*/true);
  // The client sends what it has at once, lingering or not.
  client_.Flush(until);
  // Bounded: each round waits for an answer or `until`.
  for (int round = 0; round < 1000 && !waiting_.empty() && absl::Now() < until; ++round) {
    replies_->WaitForAnswer(until);
    Poll(clock.Now(), resolver, out);
  }
  const absl::Time now = clock.Now();
  while (!order_.empty()) {
    const uint64_t id = order_.front();
    order_.pop_front();
    Release(id, now, counters_.degraded_flush, resolver, out);
  }
}

void FateStoreGate::OnFate(const SpanRef& span, const TraceId& new_trace) {
  if (publish_.empty()) publish_since_ = last_now_;
  publish_.push_back(StoredFate{StoredFateKey{span.trace_id, span.span_id}, new_trace});
}

}  // namespace gateway
