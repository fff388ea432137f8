// W3C trace and span ids as fixed-size byte arrays.
//
//   TraceId t;
//   if (TraceId::FromBytes(field_bytes, &t) && t.IsValid()) { ... t.Hex() ... }
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gateway {

template <size_t N>
struct OtelId {
  std::array<uint8_t, N> bytes{};

  static constexpr size_t kSize = N;

  // False when `data` is not exactly N bytes (the id is then left zero).
  static bool FromBytes(std::string_view data, OtelId* out) {
    if (data.size() != N) {
      *out = OtelId();
      return false;
    }
    std::memcpy(out->bytes.data(), data.data(), N);
    return true;
  }

  // Not all zero.
  bool IsValid() const {
    for (uint8_t b : bytes) {
      if (b != 0) return true;
    }
    return false;
  }

  std::string_view View() const { return {reinterpret_cast<const char*>(bytes.data()), N}; }

  // Lower-case hex, 2N characters.
  std::string Hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(2 * N, '0');
    for (size_t i = 0; i < N; ++i) {
      out[2 * i] = kDigits[bytes[i] >> 4];
      out[2 * i + 1] = kDigits[bytes[i] & 0xf];
    }
    return out;
  }

  friend bool operator==(const OtelId& a, const OtelId& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const OtelId& a, const OtelId& b) { return !(a == b); }
  friend bool operator<(const OtelId& a, const OtelId& b) { return a.bytes < b.bytes; }

  template <typename H>
  friend H AbslHashValue(H h, const OtelId& id) {
    return H::combine_contiguous(std::move(h), id.bytes.data(), N);
  }
};

using TraceId = OtelId<16>;
using SpanId = OtelId<8>;

// Span.flags bits (OTLP SpanFlags).
inline constexpr uint32_t kSpanFlagsTraceFlagsMask = 0x000000FF;
inline constexpr uint32_t kSpanFlagsHasIsRemote = 0x00000100;
inline constexpr uint32_t kSpanFlagsIsRemote = 0x00000200;

// Span.kind values.
enum class SpanKind : int32_t {
  kUnspecified = 0,
  kInternal = 1,
  kServer = 2,
  kClient = 3,
  kProducer = 4,
  kConsumer = 5,
};

}  // namespace gateway
