// Gives back to the kernel the pages of the program's code that start-up
// used and the invokes do not.
//
// A Lambda function is billed, and can be killed, on its sandbox's memory,
// and the extension lives in that sandbox. Starting the gateway touches code
// that never runs again (configuration, gRPC's and protobuf's start-up, the
// first connection); those clean pages of the executable and of its shared
// libraries stay resident and in the sandbox's page cache until memory runs
// short. ReleaseProgramPages asks the kernel to reclaim them now
// (madvise(MADV_PAGEOUT), Linux 5.4+) for every read-only segment of every
// loaded ELF object. Code that runs later comes back on its first use, from
// the page cache or the layer's file. Writable segments (data, relocated
// tables) are left alone: they are anonymous once written and the sandbox
// has no swap. Pages that another process also maps stay where they are.
//
//   absl::StatusOr<ReleasedProgramPages> released = ReleaseProgramPages();
//
// The extension calls it once, after the first invoke (so that neither the
// function's cold start nor its first response waits for it); see
// docs/lambda.md.
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

// Fails (FailedPrecondition) when the kernel refused every segment, as one
// that does not know MADV_PAGEOUT does; nothing else changes then.
absl::StatusOr<ReleasedProgramPages> ReleaseProgramPages();

}  // namespace gateway::lambda
