#include "pipeline/metrics/series_key.h"

#include <cstring>

namespace gateway::metrics {
namespace {

constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;

uint64_t Mix(uint64_t k) {
  k *= kMul;
  k ^= k >> 47;
  return k * kMul;
}

// MurmurHash64A's structure with a caller-chosen seed.
uint64_t Hash64(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed ^ (bytes.size() * kMul);
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    h ^= Mix(k);
    h *= kMul;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    h ^= tail;
    h *= kMul;
  }
  h ^= h >> 47;
  h *= kMul;
  h ^= h >> 47;
  return h;
}

}  // namespace

SeriesKey Fingerprint128(std::string_view bytes) {
  return SeriesKey{Hash64(bytes, 0x243f6a8885a308d3ULL), Hash64(bytes, 0x13198a2e03707344ULL)};
}

uint64_t Fingerprint64(std::string_view bytes) { return Hash64(bytes, 0xa4093822299f31d0ULL); }

void KeyBuilder::U64(uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  buffer_.append(b, 8);
}

void KeyBuilder::String(std::string_view s) {
  U64(s.size());
  buffer_.append(s.data(), s.size());
}

}  // namespace gateway::metrics
