// An Exporter that prints what it is given instead of sending it: the
// gateway's default when no export target is configured, and a debugging aid.
//
//   std::unique_ptr<Exporter> exporter = NewDebugExporter(std::cout);
//   exporter->Export(std::move(request));
//
// One line per span:
//   span service=checkout name="publish" trace=<32 hex> span=<16 hex>
//        parent=<16 hex or -> [reparented original_trace=<hex>] [fanout_of=<hex>]
// ("reparented"/"fanout_of" come from the gateway.reparent.* attributes the
// engine adds to the consumer spans it rewrites; descendants moved along with
// a consumer carry no mark). One line per metrics or logs request:
//   metrics services=a,b metrics=3 data_points=12
//   logs services=a log_records=7
#pragma once

#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "pipeline/export/exporter.h"
#include "pipeline/base/signal.h"

namespace gateway {

// Prints to `out`, which must outlive the exporter. Export writes and calls
// on_done (kDelivered; kRejected when the body does not parse) on the calling
// thread before returning; calls are serialized.
std::unique_ptr<Exporter> NewDebugExporter(std::ostream& out);
// Same, writing to a stdio stream (e.g. stdout), flushed after each request.
std::unique_ptr<Exporter> NewDebugExporter(FILE* out);

// The lines NewDebugExporter prints for one request (each ending in '\n');
// empty if `body` does not parse.
std::string DescribeExportRequest(Signal signal, std::string_view body);

}  // namespace gateway
