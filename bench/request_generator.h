// Synthetic OTLP trace requests for benchmarks and load generation.
//
//   TraceRequestShape shape;          // 500 spans of ~600 bytes, 5 resources
//   shape.consumer_fraction = 0.1;    // 10% CONSUMER spans linking a producer
//   shape.attributes = TraceRequestShape::Attributes::kSemanticConventions;
//   std::string body = MakeTraceRequest(shape, /*seed=*/42);
//
// The same shape and seed always give the same bytes.
#pragma once

#include <cstdint>
#include <string>

namespace gateway {

struct TraceRequestShape {
  int resources = 5;
  int scopes_per_resource = 2;
  // Total spans, spread evenly over resources and scopes.
  int spans = 500;
  // Approximate serialized size of one span (attributes are padded to it).
  int span_bytes = 600;
  // Share of spans that are CONSUMER spans with one link to a producer span.
  double consumer_fraction = 0.1;
  // Spans per trace; each trace is a root and children of it.
  int spans_per_trace = 10;
  // How a span reaches span_bytes.
  enum class Attributes {
    // A few attributes plus one padding attribute holding the rest (a single
    // long string value).
    kOnePadding,
    // Semantic-convention attributes of the span's kind (HTTP server,
    // database client, SQS consumer: 8-10 each, short values), then short
    // application attributes until span_bytes: what SDK spans carry.
    kSemanticConventions,
  };
  Attributes attributes = Attributes::kOnePadding;
};

// A serialized ExportTraceServiceRequest of that shape.
std::string MakeTraceRequest(const TraceRequestShape& shape, uint64_t seed);

}  // namespace gateway
