// Minimal protobuf wire walking for the bench tools: count the spans of a
// serialized ExportTraceServiceRequest and locate its id fields without
// parsing it into messages.
//
//   int64_t spans = loadgen::CountTraceSpans(body);   // -1 if malformed
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace loadgen {

// Spans in a serialized ExportTraceServiceRequest, or -1 when the bytes are
// not well-formed protobuf along the resource_spans/scope_spans/spans path.
int64_t CountTraceSpans(std::string_view body);

// Offsets of every 16-byte trace id and 8-byte span id (span, parent, link)
// in a serialized ExportTraceServiceRequest. False when malformed.
bool FindIdOffsets(std::string_view body, std::vector<uint32_t>* offsets);

}  // namespace loadgen
