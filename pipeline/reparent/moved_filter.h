// A shard's moved fates as other shards may read them without asking: a
// Bloom filter of the fingerprints (FateFingerprint) of the spans its
// FateMemory remembers as moved, in the same two generations, so that it
// forgets what the memory forgets.
//
//   MovedFilter filter(MovedFilter::BytesFor(entries_per_generation));
//   filter.Add(FateFingerprint(key));            // the owner, as it records
//   filter.MayContain(FateFingerprint(key));     // anyone: false = surely not moved
//   filter.Rotate();                             // the owner, with the memory
//
// Threads: one writer (the owning shard's worker: Add, Rotate, Clear), any
// number of readers (MayContain) at the same time. Words are relaxed
// atomics; a reader sees what the writer added before a release store the
// reader has acquired (the engine's per-shard watermark, which is how a
// reader knows which spans the owner has decided). A reader racing a Rotate
// or Clear may miss fates being forgotten at that moment, as the owner
// itself would.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace gateway {

class MovedFilter final {
 public:
  // Bytes of one generation for `entries` moved fates: one byte (8 bits)
  // per entry, a power of two, at least one 64-byte line. About 4 % false
  // positives per generation when full (a false positive costs the reader a
  // question to the owner, never a wrong answer).
  static size_t BytesFor(int64_t entries) {
    size_t bytes = 64;
    while (bytes < static_cast<size_t>(entries > 0 ? entries : 1)) bytes *= 2;
    return bytes;
  }

  // `bytes_per_generation`: a power of two, at least 8 (BytesFor).
  explicit MovedFilter(size_t bytes_per_generation)
      : words_(bytes_per_generation / 8),
        generations_{std::make_unique<std::atomic<uint64_t>[]>(words_),
                     std::make_unique<std::atomic<uint64_t>[]>(words_)} {}  // zeroed

  MovedFilter(const MovedFilter&) = delete;
  MovedFilter& operator=(const MovedFilter&) = delete;

  // Writer: `fingerprint` moved (current generation).
  void Add(uint64_t fingerprint) {
    const uint64_t h = Mix(fingerprint);
    std::atomic<uint64_t>& word = generations_[current_][Word(h)];
    word.store(word.load(std::memory_order_relaxed) | Bits(h), std::memory_order_relaxed);
  }

  // Any thread: false when `fingerprint` is surely in neither generation.
  bool MayContain(uint64_t fingerprint) const {
    const uint64_t h = Mix(fingerprint);
    const uint64_t bits = Bits(h);
    const size_t word = Word(h);
    return (generations_[0][word].load(std::memory_order_relaxed) & bits) == bits ||
           (generations_[1][word].load(std::memory_order_relaxed) & bits) == bits;
  }

  // Writer: the older generation is forgotten and becomes the current one
  // (FateMemory::Rotate's order).
  void Rotate() {
    current_ = 1 - current_;
    Zero(current_);
  }

  // Writer: both generations forgotten.
  void Clear() {
    Zero(0);
    Zero(1);
  }

  // Bytes of both generations.
  int64_t Bytes() const { return static_cast<int64_t>(2 * words_ * sizeof(uint64_t)); }

 private:
  static uint64_t Mix(uint64_t fingerprint) {
    // The fate tables index by the fingerprint's low bits; the filter uses
    // a remix so that its positions do not follow theirs.
    uint64_t x = fingerprint * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
  }
  // A blocked filter: the three bits of a fingerprint lie in one word (one
  // cache miss per generation).
  size_t Word(uint64_t h) const { return static_cast<size_t>(h >> 32) & (words_ - 1); }
  static uint64_t Bits(uint64_t h) {
    return (uint64_t{1} << (h & 63)) | (uint64_t{1} << ((h >> 6) & 63)) | (uint64_t{1} << ((h >> 12) & 63));
  }
  void Zero(int generation) {
    for (size_t i = 0; i < words_; ++i) generations_[generation][i].store(0, std::memory_order_relaxed);
  }

  const size_t words_;
  std::unique_ptr<std::atomic<uint64_t>[]> generations_[2];
  // Writer only.
  int current_ = 0;
};

}  // namespace gateway
