// Gives back to the kernel the pages of the program's code that start-up
// used and the invokes do not.
//
// A Lambda function is billed, and can be killed, on its sandbox's memory,
// and the extension lives in that sandbox. Starting the gateway touches code
// that never runs again (configuration, gRPC's and protobuf's start-up, the
// first connection); those clean pages of the executable and of its shared
// libraries stay resident and in the sandbox's page cache until memory runs
// short. ReleaseProgramPages drops them, for every read-only segment of every
// loaded ELF object, in one of two ways:
//
//   kReclaim  madvise(MADV_PAGEOUT), Linux 5.4+: out of the process, and
//             out of the page cache where the kernel can free them; code
//             that runs later may then be read back from the layer's file
//             (a major fault).
//   kUnmap    madvise(MADV_DONTNEED): out of the process only; the page
//             cache keeps what it has (reclaimable by the kernel), so code
//             that runs later comes back by a minor fault.
//
// Writable segments (data, relocated tables) are left alone: they are
// anonymous once written and the sandbox has no swap. Pages that another
// process also maps stay where they are (kReclaim).
//
//   absl::StatusOr<ReleasedProgramPages> released = ReleaseProgramPages(ProgramPageRelease::kReclaim);
//
// The extension reclaims when the first invoke begins (what init alone ran
// leaves the process and the cache, and the rest of that invoke brings back
// what the invokes run) and unmaps once it has ended (what only the first
// invoke ran, such as the TLS handshake, leaves the process; the second
// invoke finds its code in the page cache). See docs/lambda.md "Memory".
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"

namespace gateway::lambda {

struct ReleasedProgramPages {
  // Read-only segments advised, and their bytes.
  int segments = 0;
  size_t bytes = 0;
  // Segments the kernel refused (the vDSO is not file-backed).
  int refused_segments = 0;
};

enum class ProgramPageRelease {
  kReclaim,  // MADV_PAGEOUT: from the process and the page cache
  kUnmap,    // MADV_DONTNEED: from the process; the page cache keeps them
};

// Fails (FailedPrecondition) when the kernel refused every segment, as one
// that does not know MADV_PAGEOUT does; nothing else changes then.
absl::StatusOr<ReleasedProgramPages> ReleaseProgramPages(ProgramPageRelease how);

}  // namespace gateway::lambda
