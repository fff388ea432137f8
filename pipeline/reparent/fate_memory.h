// What a resolver remembers about spans that went out: each span's fate
// (unchanged, or moved to another trace), keyed by (original trace id, span
// id), and the message routes of batch spans, for between resolved_ttl / 2
// and resolved_ttl, within a count and a byte bound. docs/reparenting.md
// ("Across requests and out of order") states the bounds.
//
//   FateMemory memory(options.resolved_ttl, limits);
//   const FateKey key{span.trace_id, span.span_id};
//   memory.Record(key, FateFingerprint(key), /*moved=*/true, new_trace, now);
//   Fate fate;
//   if (memory.Find(key, FateFingerprint(key), &fate) && fate.moved) ... fate.new_trace ...
//   memory.Expire(now);   // periodically
//
// Not thread-safe: one owner thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/reparent/fate_table.h"
#include "pipeline/reparent/moved_filter.h"

namespace gateway {

// The fate of a span: where its descendants go.
struct Fate {
  TraceId new_trace;
  bool moved = false;
};

// A message of a batch span: children carrying its message id go under its
// per-message span.
struct MessageRoute {
  // MessageIdHash of the link's messaging.message.id.
  uint64_t message_id_hash = 0;
  // The per-message span (in the batch span's original trace's key space:
  // its fate is keyed by (batch's original trace, this id)).
  SpanId span;
};

// 64-bit hash of the bytes of `parts` in order: FNV-1a, then the splitmix64
// finalizer for avalanche. Stable across processes and versions (span ids
// made from it must be).
uint64_t HashBytes(std::initializer_list<std::string_view> parts);

// 64-bit hash of a messaging.message.id value.
inline uint64_t MessageIdHash(std::string_view message_id) { return HashBytes({message_id}); }

class FateMemory {
 public:
  // max_resolved_spans <= 0 remembers nothing; max_table_bytes 0: no byte bound.
  FateMemory(absl::Duration resolved_ttl, int64_t max_resolved_spans, int64_t max_table_bytes);

  FateMemory(const FateMemory&) = delete;
  FateMemory& operator=(const FateMemory&) = delete;

  // Remembers `key`'s fate (`fingerprint` = FateFingerprint(key)); a moved
  // fate wins over an unchanged one.
  void Record(const FateKey& key, uint64_t fingerprint, bool moved, const TraceId& new_trace, absl::Time now) {
    if (generation_start_ == absl::InfinitePast()) generation_start_ = now;
    if (max_resolved_spans_ <= 0 || !MakeRoom(moved, now)) return;
    if (moved) {
      moved_[current_].InsertOrAssign(key, fingerprint, new_trace);
      if (moved_filter_ != nullptr) moved_filter_->Add(fingerprint);
    }
    fates_[current_].Insert(fingerprint, moved);
    AfterInsert(now);
  }
  // Record of an unchanged fate, when the caller knows there is nothing else
  // to do (the resolver's inline common case). Requires Started().
  void RecordUnchanged(uint64_t fingerprint, absl::Time now) {
    if (!MakeRoom(false, now)) return;
    fates_[current_].Insert(fingerprint, false);
    AfterInsert(now);
  }
  // The remembered fate of `key`; false if none.
  bool Find(const FateKey& key, uint64_t fingerprint, Fate* fate) const;
  // True only when the fate is surely "unchanged" (a fingerprint test, no
  // exact lookup): the inline common case's question.
  bool KnownUnchanged(uint64_t fingerprint) const {
    if (fates_[current_].Find(fingerprint) != FateTable::kUnchanged) return false;
    const int older = 1 - current_;
    return moved_[older].empty() || fates_[older].Find(fingerprint) != FateTable::kMoved;
  }
  void Prefetch(uint64_t fingerprint) const {
    fates_[current_].Prefetch(fingerprint);
    moved_[current_].Prefetch(fingerprint);
  }
  // Whether fates are being remembered (a first fate set the clock).
  bool Started() const { return max_resolved_spans_ > 0 && generation_start_ != absl::InfinitePast(); }

  // The message routes of batch span `batch` (kept as long as its fate).
  void RecordRoutes(const FateKey& batch, std::vector<MessageRoute> routes, absl::Time now);
  // nullptr when none; valid until the next change.
  const std::vector<MessageRoute>* FindRoutes(const FateKey& batch) const;
  bool HasRoutes() const { return !routes_[0].empty() || !routes_[1].empty(); }

  // From now on also adds every moved fate to `filter` (null: none), and
  // rotates and clears it with the generations. It must be empty and
  // outlive the memory or be replaced.
  void ShareMovedFates(MovedFilter* filter) { moved_filter_ = filter; }

  // Forgets fates older than resolved_ttl (rotating the generations).
  void Expire(absl::Time now);

  // Bytes the fate tables have allocated now (slot capacity x slot size,
  // both generations).
  int64_t TableBytes() const { return GenerationBytes(0) + GenerationBytes(1); }
  int64_t PeakTableBytes() const { return peak_table_bytes_; }
  // Remembered fates (both generations; a span may count twice).
  int64_t Size() const { return static_cast<int64_t>(fates_[0].size() + fates_[1].size()); }

 private:
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
  void AfterInsert(absl::Time now) {
    if (static_cast<int64_t>(fates_[current_].size()) >= std::max<int64_t>(1, max_resolved_spans_ / 2)) {
      Rotate(now);
    }
  }
  int64_t GenerationBytes(int g) const {
    return static_cast<int64_t>(fates_[g].capacity() * FateTable::kSlotBytes +
                                moved_[g].capacity() * MovedTable::kSlotBytes);
  }
  void Rotate(absl::Time now);

  const absl::Duration resolved_ttl_;
  const int64_t max_resolved_spans_;
  const int64_t max_table_bytes_;

  // Two generations: new fates go to generation current_; a rotation (every
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
  // Batch spans' message routes, by generation like the fates.
  absl::flat_hash_map<FateKey, std::vector<MessageRoute>> routes_[2];
  int current_ = 0;
  MovedFilter* moved_filter_ = nullptr;
  absl::Time generation_start_ = absl::InfinitePast();
  int64_t peak_table_bytes_ = 0;
};

}  // namespace gateway
