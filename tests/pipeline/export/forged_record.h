// Bytes framed as one persistent-queue record (persistent_queue.h's record
// layout) with the CRC of a file without a salt: what a client that knows the
// format, but not a segment file's salt, can put inside a payload; also how
// files written before segment headers existed look.
//
//   std::string bytes = testing::ForgedRecord(testing::kForgedAck, Signal::kTraces, 0, testing::LittleEndian(id, 8));
#pragma once

#include <cstdint>
#include <string>

#include <zlib.h>

#include "pipeline/base/signal.h"

namespace gateway::testing {

inline constexpr uint8_t kForgedData = 1;
inline constexpr uint8_t kForgedAck = 2;

// The low `bytes` bytes of `v`, little-endian.
inline std::string LittleEndian(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}

inline std::string ForgedRecord(uint8_t type, Signal signal, uint64_t id, const std::string& payload) {
  std::string header = LittleEndian(0x51574c47, 4) + LittleEndian(payload.size(), 4) + LittleEndian(0, 4) +
                       std::string(1, static_cast<char>(type)) + std::string(1, static_cast<char>(signal)) +
                       LittleEndian(0, 2) + LittleEndian(id, 8);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header.data() + 4), 4);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header.data() + 12), 12);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  header.replace(8, 4, LittleEndian(crc, 4));
  return header + payload;
}

}  // namespace gateway::testing
