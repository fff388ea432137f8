// A pool of serialized ExportTraceServiceRequest bodies for the load
// generator, built before the clock starts, plus a cheap per-send id rewrite
// so that a pool sent over and over still carries fresh trace and span ids.
//
//   LoadShape shape;
//   shape.spans_per_request = 100;
//   shape.consumer_share = 0.2;
//   RequestPool pool = BuildRequestPool(shape, /*pool_size=*/256, /*seed=*/1);
//   std::string body;
//   pool.Render(send_index, &body);   // pool.bodies[send_index % size], ids
//                                     // salted with send_index / size
//
// Shape of one request: ordinary traces (a SERVER root and INTERNAL
// children), PRODUCER spans, and CONSUMER spans that start their own trace
// and carry a link to a producer span of another trace (the producers of the
// previous request in the pool), each with up to two INTERNAL children. With
// out_of_order the children of a consumer travel one request earlier than
// the consumer itself, so the gateway sees them before their parent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

struct LoadShape {
  // Spans per request (the consumer children of out_of_order may move a few
  // between neighbouring requests; the pool average is exact).
  int spans_per_request = 100;
  // Approximate serialized size of one span; padding goes into a string
  // attribute. Spans are never smaller than their fixed fields.
  int span_bytes = 300;
  // 0: the padding is one string attribute. N > 0: the padding is
  // attributes whose values are N bytes each (SDK-like spans: many short
  // attributes rather than one long one).
  int attribute_bytes = 0;
  // Fraction of the spans that are CONSUMER spans linking to a producer.
  double consumer_share = 0.1;
  // Children of a consumer are sent one request before the consumer.
  bool out_of_order = false;
  // Resource-level service.name.
  std::string service_name = "loadgen";
};

struct RequestPool {
  // Serialized opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.
  std::vector<std::string> bodies;
  // Spans in bodies[i].
  std::vector<int> span_counts;
  // Offsets in bodies[i] of every trace id and span id (including parent
  // span ids and link ids); Render() salts their first four bytes.
  std::vector<std::vector<uint32_t>> id_offsets;
  // Bodies are OTLP/JSON (ToOtlpJsonPool): id_offsets point at each id's
  // first hex digit, and Render() salts the first four bytes it spells.
  bool json = false;

  size_t size() const { return bodies.size(); }
  int64_t TotalSpans() const;
  int64_t TotalBytes() const;

  // Writes the body of send number `send_index` into `*out`: the pool entry
  // send_index % size() with every id's first four bytes XORed with the round
  // number send_index / size(). All ids of a round share the salt, so links,
  // parents and the out-of-order split stay consistent within a round.
  void Render(uint64_t send_index, std::string* out) const;
};

// Ids and shape are deterministic for a given (shape, pool_size, seed);
// timestamps start at the current time. pool_size >= 1.
RequestPool BuildRequestPool(const LoadShape& shape, int pool_size, uint64_t seed);

// The same requests as OTLP/JSON (for application/json): libprotobuf's
// proto3 JSON rendering (lowerCamelCase keys, enums as numbers) with every
// id written as hex instead of base64, as OTLP/JSON wants. A send renders
// the same ids as the protobuf pool's send of that index.
RequestPool ToOtlpJsonPool(const RequestPool& pool);

// Rewrites proto3 JSON's base64 traceId / spanId / parentSpanId values as
// hex; appends the offset of each id's first hex digit in the result to
// `offsets` when it is not null.
std::string HexIdsInProto3Json(const std::string& json, std::vector<uint32_t>* offsets);

}  // namespace loadgen
