// The hash tables behind the resolver's memory of span fates (what happened
// to a span that went out: unchanged, or moved to another trace).
//
// FateTable holds one 64-bit fingerprint per span with a "moved" mark, so the
// table every span touches stays small; MovedTable holds the exact key and
// new trace of the (few) moved spans. Both use open addressing with linear
// probing and stay at most half full: the owner checks Full() and calls Grow
// before inserting, and bounds them by dropping whole tables (Clear, Empty).
//
//   FateTable fates;
//   const FateKey key{span.trace_id, span.span_id};
//   const uint64_t fingerprint = FateFingerprint(key);
//   if (fates.Full()) fates.Grow(fates.capacity() == 0 ? FateTable::kInitialCapacity : 2 * fates.capacity());
//   fates.Insert(fingerprint, /*moved=*/false);
//   fates.Find(fingerprint);  // FateTable::kUnchanged
//
// Not thread-safe: one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// (trace id, span id) as three words: equality and hashing without memcmp
// calls on the hot path.
struct FateKey {
  uint64_t trace_hi = 0;
  uint64_t trace_lo = 0;
  uint64_t span = 0;
  FateKey(const TraceId& t, const SpanId& s) {
    std::memcpy(&trace_hi, t.bytes.data(), 8);
    std::memcpy(&trace_lo, t.bytes.data() + 8, 8);
    std::memcpy(&span, s.bytes.data(), 8);
  }
  friend bool operator==(const FateKey& a, const FateKey& b) {
    return a.span == b.span && a.trace_lo == b.trace_lo && a.trace_hi == b.trace_hi;
  }
  template <typename H>
  friend H AbslHashValue(H h, const FateKey& k) {
    return H::combine(std::move(h), k.span, k.trace_lo, k.trace_hi);
  }
};

// Requests the cache line at `p`. GCC 12 drops a __builtin_prefetch whose
// address it reaches through an array member indexed at run time (as
// FateMemory's generations are), so on x86 the instruction is written out.
inline void PrefetchLine(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

// The 64-bit fingerprint both tables are addressed by: a mix of all three
// words of `key`, so structured ids spread as well as random ones.
inline uint64_t FateFingerprint(const FateKey& key) {
  // splitmix64-style mixing of the three words; ids are mostly random
  // already, the mixing guards against structured ones.
  auto mix = [](uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  };
  // The words are combined with distinct odd multipliers (injective on
  // each word, so ids that differ in few bits do not cancel), then mixed.
  return mix(key.span + key.trace_lo * 0x9e3779b97f4a7c15ULL + key.trace_hi * 0xc2b2ae3d27d4eb4fULL);
}

// An open-addressing set of 64-bit key fingerprints, each with a "moved"
// mark (bit 0): one 8-byte slot per fate, linear probing, at most half
// full, so an insert or lookup touches one cache line in the common case.
// Fingerprints that differ only in bit 0 are the same entry.
class FateTable {
 public:
  enum Found : int { kAbsent = 0, kUnchanged = 1, kMoved = 2 };

  static constexpr size_t kSlotBytes = sizeof(uint64_t);
  static constexpr size_t kInitialCapacity = 1024;

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  // One more entry would pass half full: Grow first.
  bool Full() const { return 2 * (size_ + 1) > slots_.size(); }
  // Marks `fingerprint` as seen; `moved` sticks once set. Not Full().
  void Insert(uint64_t fingerprint, bool moved);
  Found Find(uint64_t fingerprint) const;
  void Prefetch(uint64_t fingerprint) const {
    if (!slots_.empty()) PrefetchLine(&slots_[Home(fingerprint)]);
  }
  // Moves the entries to `capacity` slots (a power of two, more than
  // twice size()).
  void Grow(size_t capacity);
  // Forgets every fate and gives the memory back.
  void Clear();
  // Forgets every fate and keeps the slots, zeroed, for the fates to come.
  void Empty();

 private:
  static uint64_t Stored(uint64_t fingerprint) {
    const uint64_t key = fingerprint & ~uint64_t{1};
    return key == 0 ? 2 : key;
  }
  size_t Home(uint64_t fingerprint) const { return static_cast<size_t>(fingerprint >> 1) & mask_; }

  // 0: empty; otherwise Stored(fingerprint) | moved.
  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Exact fates of moved spans: key -> new trace, open addressing on the
// key's fingerprint (FateFingerprint of the key), linear probing, at most
// half full. A zero span id marks an empty slot, so keys must have a
// non-zero span id (the scanner never lets a zero one through).
class MovedTable {
 public:
  struct Slot {
    FateKey key{TraceId(), SpanId()};
    TraceId new_trace;
  };
  static constexpr size_t kSlotBytes = sizeof(Slot);
  static constexpr size_t kInitialCapacity = 256;

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  bool empty() const { return size_ == 0; }
  bool Full() const { return 2 * (size_ + 1) > slots_.size(); }
  // Not Full(). `fingerprint` is FateFingerprint(key).
  void InsertOrAssign(const FateKey& key, uint64_t fingerprint, const TraceId& new_trace);
  // nullptr when absent. Valid until the next change to the table.
  const TraceId* Find(const FateKey& key, uint64_t fingerprint) const;
  void Prefetch(uint64_t fingerprint) const {
    if (!slots_.empty()) PrefetchLine(&slots_[Home(fingerprint)]);
  }
  // As FateTable::Grow.
  void Grow(size_t capacity);
  // As FateTable::Clear.
  void Clear();
  // As FateTable::Empty.
  void Empty();

 private:
  size_t Home(uint64_t fingerprint) const { return static_cast<size_t>(fingerprint >> 1) & mask_; }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace gateway
