// The load generator's gRPC sender: the generic stub's callback API, the
// slots spread over `connections` channels (each its own HTTP/2
// connection). UNAVAILABLE and RESOURCE_EXHAUSTED count as backpressure.
//
//   std::unique_ptr<LoadDriver> driver = NewGrpcDriver(options, pool);
#pragma once

#include <memory>

#include "bench/loadgen_requests.h"
#include "bench/loadgen_run.h"

namespace loadgen {

// `options` and `pool` must outlive the driver.
std::unique_ptr<LoadDriver> NewGrpcDriver(const RunOptions& options, const RequestPool& pool);

}  // namespace loadgen
