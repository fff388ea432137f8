// Resident memory as a test sets it.
//
//   FakeResidentMemory memory;
//   memory.bytes = 63 << 20;
//   deps.resident_memory = &memory;
#pragma once

#include <atomic>
#include <cstdint>

#include "pipeline/ingest/resident_memory.h"

namespace gateway::testing {

class FakeResidentMemory final : public ResidentMemory {
 public:
  int64_t ResidentBytes() override { return bytes.load(); }
  std::atomic<int64_t> bytes{0};
};

}  // namespace gateway::testing
