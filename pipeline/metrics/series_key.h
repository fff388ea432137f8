// The identity of a metric series as a 128-bit fingerprint, and the byte
// string it is taken over.
//
// A series is what the Collector's cumulativetodelta tracks separately:
// resource attributes, scope (name, version, attributes), metric name, unit,
// type, monotonicity, the point's value type, its attributes and its start
// time. KeyBuilder writes those in a canonical form (attributes sorted by
// key) so that the same series gives the same bytes whatever order an SDK
// lists its attributes in; the table keeps only the fingerprint.
//
//   KeyBuilder b;
//   b.String(metric.name());
//   b.U64(point.start_time_unix_nano());
//   SeriesKey key = b.Fingerprint();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gateway::metrics {

struct SeriesKey {
  uint64_t hi = 0;
  uint64_t lo = 0;

  friend bool operator==(const SeriesKey& a, const SeriesKey& b) { return a.hi == b.hi && a.lo == b.lo; }
  template <typename H>
  friend H AbslHashValue(H h, const SeriesKey& k) {
    return H::combine(std::move(h), k.hi, k.lo);
  }
};

// Two independent 64-bit hashes of `bytes` (seeded murmur-style mixing over
// 8-byte words). Stable across processes and runs.
SeriesKey Fingerprint128(std::string_view bytes);

// 64-bit fingerprint, for histogram bucket bounds.
uint64_t Fingerprint64(std::string_view bytes);

// Appends length-prefixed fields to a reusable buffer.
class KeyBuilder final {
 public:
  void Clear() { buffer_.clear(); }
  void Byte(uint8_t b) { buffer_.push_back(static_cast<char>(b)); }
  void U64(uint64_t v);
  // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
  void String(std::string_view s);
  void Key(const SeriesKey& k) {
    U64(k.hi);
    U64(k.lo);
  }
  std::string_view bytes() const { return buffer_; }
  SeriesKey Fingerprint() const { return Fingerprint128(buffer_); }

 private:
  std::string buffer_;
};

}  // namespace gateway::metrics
