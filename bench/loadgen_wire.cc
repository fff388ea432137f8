#include "bench/loadgen_wire.h"

#include <cstddef>

namespace loadgen {
namespace {

// Field numbers along the path ExportTraceServiceRequest.resource_spans(1)
// -> ResourceSpans.scope_spans(2) -> ScopeSpans.spans(2) -> Span, and in
// Span: trace_id(1), span_id(2), parent_span_id(4), links(13); in
// Span.Link: trace_id(1), span_id(2).
constexpr uint32_t kResourceSpans = 1;
constexpr uint32_t kScopeSpans = 2;
constexpr uint32_t kSpans = 2;
constexpr uint32_t kTraceId = 1;
constexpr uint32_t kSpanId = 2;
constexpr uint32_t kParentSpanId = 4;
constexpr uint32_t kLinks = 13;

constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kFixed32 = 5;

bool ReadVarint(const char*& p, const char* end, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*p++);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

// Calls fn(field, payload) for each length-delimited field of the message in
// [p, end) and skips the others. False on malformed input or when fn does.
template <typename Fn>
bool ForEachLengthDelimited(std::string_view message, Fn&& fn) {
  const char* p = message.data();
  const char* const end = p + message.size();
  while (p < end) {
    uint64_t tag = 0;
    if (!ReadVarint(p, end, &tag)) return false;
    const auto field = static_cast<uint32_t>(tag >> 3);
    switch (static_cast<int>(tag & 7)) {
      case kVarint: {
        uint64_t ignored = 0;
        if (!ReadVarint(p, end, &ignored)) return false;
        break;
      }
      case kFixed64:
        if (end - p < 8) return false;
        p += 8;
        break;
      case kFixed32:
        if (end - p < 4) return false;
        p += 4;
        break;
      case kLengthDelimited: {
        uint64_t length = 0;
        if (!ReadVarint(p, end, &length)) return false;
        if (length > static_cast<uint64_t>(end - p)) return false;
        if (!fn(field, std::string_view(p, static_cast<size_t>(length)))) return false;
        p += length;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// Walks every serialized Span of the request.
template <typename Fn>
bool ForEachSpan(std::string_view body, Fn&& fn) {
  return ForEachLengthDelimited(body, [&](uint32_t field, std::string_view resource_spans) {
    if (field != kResourceSpans) return true;
    return ForEachLengthDelimited(resource_spans, [&](uint32_t field2, std::string_view scope_spans) {
      if (field2 != kScopeSpans) return true;
      return ForEachLengthDelimited(scope_spans, [&](uint32_t field3, std::string_view span) {
        if (field3 != kSpans) return true;
        return fn(span);
      });
    });
  });
}

}  // namespace

int64_t CountTraceSpans(std::string_view body) {
  int64_t spans = 0;
  const bool ok = ForEachSpan(body, [&](std::string_view) {
    ++spans;
    return true;
  });
  return ok ? spans : -1;
}

bool FindIdOffsets(std::string_view body, std::vector<uint32_t>* offsets) {
  const char* const base = body.data();
  auto record = [&](std::string_view id, size_t expected) {
    if (id.size() == expected) offsets->push_back(static_cast<uint32_t>(id.data() - base));
  };
  return ForEachSpan(body, [&](std::string_view span) {
    return ForEachLengthDelimited(span, [&](uint32_t field, std::string_view value) {
      switch (field) {
        case kTraceId:
          record(value, 16);
          break;
        case kSpanId:
        case kParentSpanId:
          record(value, 8);
          break;
        case kLinks:
          return ForEachLengthDelimited(value, [&](uint32_t link_field, std::string_view link_value) {
            if (link_field == kTraceId) record(link_value, 16);
            if (link_field == kSpanId) record(link_value, 8);
            return true;
          });
        default:
          break;
      }
      return true;
    });
  });
}

}  // namespace loadgen
