// The persistent queue's on-disk framing (persistent_queue.h describes it):
// segment header and record constants, little-endian helpers, the record
// CRC and the record parser. Used by persistent_queue.cc only (a private
// header of its library), not an API.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/base/signal.h"

namespace gateway::wal_format {

inline constexpr uint32_t kMagic = 0x51574c47;  // "GLWQ" little-endian
inline constexpr size_t kHeaderBytes = 24;
// A segment file starts with magic u32 | version u32 | salt u64. The salt,
// random per file, seeds every record's CRC: a request whose payload holds
// bytes framed as a record (a client can send any bytes) never passes for
// one when recovery resynchronizes after a corrupt or torn record, since
// the client cannot know the salt. A file that starts with a record valid
// without a salt was written before this header existed and is read so.
inline constexpr uint32_t kSegmentMagic = 0x47534c47;  // "GLSG" little-endian
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 16;
inline constexpr uint8_t kTypeData = 1;
inline constexpr uint8_t kTypeAck = 2;
inline constexpr uint32_t kMaxPayload = 1u << 30;
inline constexpr std::string_view kPrefix = "segment-";
inline constexpr std::string_view kSuffix = ".wal";

inline void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// `salt`: the segment's (nullptr: a file without a segment header).
inline uint32_t RecordCrc(const char* salt, const char* header, std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  if (salt != nullptr) crc = crc32(crc, reinterpret_cast<const Bytef*>(salt), 8);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header + 4), 4);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header + 12), kHeaderBytes - 12);
  // zlib takes uInt lengths; payloads are < 1 GiB.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}


// Framed size of a record with `payload_bytes` of payload.
inline int64_t Framed(uint32_t payload_bytes) { return static_cast<int64_t>(kHeaderBytes) + payload_bytes; }

// A parsed record at `pos` of `data`, or false if none is valid there.
struct Parsed {
  uint8_t type = 0;
  Signal signal = Signal::kTraces;
  uint64_t id = 0;
  std::string_view payload;
  size_t size = 0;
};

inline bool ParseRecord(std::string_view data, size_t pos, const char* salt, Parsed* out) {
  if (data.size() - pos < kHeaderBytes) return false;
  const char* h = data.data() + pos;
  if (Get32(h) != kMagic) return false;
  const uint32_t length = Get32(h + 4);
  if (length > kMaxPayload || length > data.size() - pos - kHeaderBytes) return false;
  std::string_view payload(h + kHeaderBytes, length);
  if (Get32(h + 8) != RecordCrc(salt, h, payload)) return false;
  const uint8_t type = static_cast<uint8_t>(h[12]);
  const uint8_t signal = static_cast<uint8_t>(h[13]);
  if ((type != kTypeData && type != kTypeAck) || signal >= kSignalCount) return false;
  if (type == kTypeAck && length % 8 != 0) return false;
  out->type = type;
  out->signal = static_cast<Signal>(signal);
  out->id = Get64(h + 16);
  out->payload = payload;
  out->size = kHeaderBytes + length;
  return true;
}

}  // namespace gateway::wal_format
