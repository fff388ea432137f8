// The load generator's OTLP/HTTP sender: `http_threads` libcurl multi loops,
// each on its own thread driving its share of the slots (and of the open-loop
// rate). Bodies go out as application/x-protobuf, or application/json for a
// JSON pool; HTTP 503 and 429 count as backpressure.
//
//   std::unique_ptr<LoadDriver> driver = NewHttpDriver(options, pool);
#pragma once

#include <memory>

#include "bench/loadgen_requests.h"
#include "bench/loadgen_run.h"

namespace loadgen {

// Initializes libcurl. `options` and `pool` must outlive the driver.
std::unique_ptr<LoadDriver> NewHttpDriver(const RunOptions& options, const RequestPool& pool);

}  // namespace loadgen
