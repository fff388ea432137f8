#include "pipeline/otlp/trace_wire.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

// ExportTraceServiceRequest / ResourceSpans / ScopeSpans.
constexpr uint32_t kRequestResourceSpans = 1;
constexpr uint32_t kResourceSpansResource = 1;
constexpr uint32_t kResourceSpansScopeSpans = 2;
constexpr uint32_t kResourceSpansSchemaUrl = 3;
constexpr uint32_t kScopeSpansScope = 1;
constexpr uint32_t kScopeSpansSpans = 2;
constexpr uint32_t kScopeSpansSchemaUrl = 3;

// Span.
constexpr uint32_t kSpanTraceId = 1;
constexpr uint32_t kSpanSpanId = 2;
constexpr uint32_t kSpanTraceState = 3;
constexpr uint32_t kSpanParentSpanId = 4;
constexpr uint32_t kSpanName = 5;
constexpr uint32_t kSpanKind = 6;
constexpr uint32_t kSpanStartTime = 7;
constexpr uint32_t kSpanEndTime = 8;
constexpr uint32_t kSpanAttributes = 9;
constexpr uint32_t kSpanDroppedAttributes = 10;
constexpr uint32_t kSpanEvents = 11;
constexpr uint32_t kSpanDroppedEvents = 12;
constexpr uint32_t kSpanLinks = 13;
constexpr uint32_t kSpanDroppedLinks = 14;
constexpr uint32_t kSpanStatus = 15;
constexpr uint32_t kSpanFlags = 16;

// Span.Link.
constexpr uint32_t kLinkTraceId = 1;
constexpr uint32_t kLinkSpanId = 2;
constexpr uint32_t kLinkTraceState = 3;
constexpr uint32_t kLinkAttributes = 4;
constexpr uint32_t kLinkDroppedAttributes = 5;
constexpr uint32_t kLinkFlags = 6;

// KeyValue / AnyValue.
constexpr uint32_t kKeyValueKey = 1;
constexpr uint32_t kKeyValueValue = 2;
constexpr uint32_t kAnyValueString = 1;
constexpr uint32_t kAnyValueBool = 2;
constexpr uint32_t kAnyValueInt = 3;

constexpr size_t kTraceIdFieldSize = 2 + TraceId::kSize;  // tag, length, value
constexpr size_t kSpanIdFieldSize = 2 + SpanId::kSize;
constexpr size_t kFixed32FieldSize = 2 + 4;  // field 16 takes a two-byte tag

const char* WireTypeName(WireType type) {
  switch (type) {
    case WireType::kVarint:
      return "varint";
    case WireType::kFixed64:
      return "fixed64";
    case WireType::kLengthDelimited:
      return "length-delimited";
    case WireType::kStartGroup:
      return "start-group";
    case WireType::kEndGroup:
      return "end-group";
    case WireType::kFixed32:
      return "fixed32";
  }
  return "unknown";
}

// Where in the request a problem is, rendered only when reporting one.
struct Where {
  int64_t resource = -1;
  int64_t scope = -1;
  int64_t span = -1;
  int64_t link = -1;

  std::string ToString() const {
    std::string out = "ExportTraceServiceRequest";
    if (resource >= 0) absl::StrAppend(&out, ".resource_spans[", resource, "]");
    if (scope >= 0) absl::StrAppend(&out, ".scope_spans[", scope, "]");
    if (span >= 0) absl::StrAppend(&out, ".spans[", span, "]");
    if (link >= 0) absl::StrAppend(&out, ".links[", link, "]");
    return out;
  }
};

absl::Status Malformed(const Where& where, size_t offset) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed protobuf in ", where.ToString(), " at byte ", offset,
                   " of that message (truncated, overlong varint, length past the end or "
                   "unsupported wire type)"));
}

absl::Status WrongType(const Where& where, const char* field, const WireField& f, WireType expected) {
  return absl::InvalidArgumentError(absl::StrCat("field ", f.number, " (", field, ") in ", where.ToString(),
                                                 " has wire type ", WireTypeName(f.type), ", expected ",
                                                 WireTypeName(expected)));
}

#define GATEWAY_EXPECT_TYPE(field_name, wire_type)                                  \
  do {                                                                              \
    if (f.type != (wire_type)) return WrongType(where, field_name, f, (wire_type)); \
  } while (false)

class Scanner {
 public:
  Scanner(RequestBuffer* buffer, ScannedTraceRequest* out) : buffer_(buffer), out_(out) {}

  absl::Status Run() {
    WireReader reader(buffer_->bytes);
    WireField f;
    Where where;
    int64_t resource_index = 0;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) return Malformed(where, f.begin);
      if (f.number != kRequestResourceSpans) continue;
      GATEWAY_EXPECT_TYPE("resource_spans", WireType::kLengthDelimited);
      where.resource = resource_index++;
      absl::Status status = ScanResourceSpans(f.bytes, where);
      if (!status.ok()) return status;
      where.resource = -1;
    }
    if (out_->rejected_spans > 0) {
      out_->rejection_message =
          absl::StrCat(out_->rejected_spans, " span(s) rejected; first: ", first_rejection_);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status ScanResourceSpans(std::string_view message, Where where) {
    const auto resource_index = static_cast<uint32_t>(buffer_->resource_frames.size());
    buffer_->resource_frames.emplace_back();
    WireReader reader(message);
    WireField f;
    std::string frame;
    int64_t scope_index = 0;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) return Malformed(where, f.begin);
      switch (f.number) {
        case kResourceSpansScopeSpans: {
          GATEWAY_EXPECT_TYPE("scope_spans", WireType::kLengthDelimited);
          where.scope = scope_index++;
          absl::Status status = ScanScopeSpans(f.bytes, resource_index, where);
          if (!status.ok()) return status;
          where.scope = -1;
          continue;
        }
        case kResourceSpansResource:
          GATEWAY_EXPECT_TYPE("resource", WireType::kLengthDelimited);
          break;
        case kResourceSpansSchemaUrl:
          GATEWAY_EXPECT_TYPE("schema_url", WireType::kLengthDelimited);
          break;
        default:
          break;
      }
      frame.append(message.data() + f.begin, f.end - f.begin);
    }
    buffer_->resource_frames[resource_index] = std::move(frame);
    return absl::OkStatus();
  }

  absl::Status ScanScopeSpans(std::string_view message, uint32_t resource_index, Where where) {
    const auto scope_index = static_cast<uint32_t>(buffer_->scope_frames.size());
    buffer_->scope_frames.emplace_back();
    buffer_->scope_resource.push_back(resource_index);
    WireReader reader(message);
    WireField f;
    std::string frame;
    int64_t span_index = 0;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) return Malformed(where, f.begin);
      switch (f.number) {
        case kScopeSpansSpans: {
          GATEWAY_EXPECT_TYPE("spans", WireType::kLengthDelimited);
          where.span = span_index++;
          if (!ScanSpanFast(f.bytes, scope_index)) {
            absl::Status status = ScanSpan(f.bytes, scope_index, where);
            if (!status.ok()) return status;
          }
          where.span = -1;
          continue;
        }
        case kScopeSpansScope:
          GATEWAY_EXPECT_TYPE("scope", WireType::kLengthDelimited);
          break;
        case kScopeSpansSchemaUrl:
          GATEWAY_EXPECT_TYPE("schema_url", WireType::kLengthDelimited);
          break;
        default:
          break;
      }
      frame.append(message.data() + f.begin, f.end - f.begin);
    }
    buffer_->scope_frames[scope_index] = std::move(frame);
    return absl::OkStatus();
  }

  // The common case of ScanSpan without its bookkeeping: one-byte tags (and
  // the two-byte tag of flags), lengths below 16 KiB, one-byte varints, ids
  // of the right length and not zero, at most kMaxFastLinks links. Returns
  // false, having added nothing, for anything else (other fields, wire types
  // or encodings, a bad link, a span to reject, malformed bytes); ScanSpan
  // then decides and reports exactly as before, so this path changes speed,
  // not results.
  bool ScanSpanFast(std::string_view message, uint32_t scope_index) {
    // The scan touches a span's head and tail and skips the middle (large
    // attribute values), which defeats the hardware prefetcher: keep every
    // line of the next kPrefetchAhead bytes requested.
    {
      const char* const limit = buffer_->bytes.data() + buffer_->bytes.size();
      const char* const want = message.data() + std::min<size_t>(message.size() + kPrefetchAhead,
                                                                  static_cast<size_t>(limit - message.data()));
      if (prefetched_ < message.data()) prefetched_ = message.data();
      for (; prefetched_ < want; prefetched_ += 64) __builtin_prefetch(prefetched_);
    }
    FastSpanFields fields;  // links[] is filled as the walk finds links
    const auto* const begin = reinterpret_cast<const uint8_t*>(message.data());
    if (!ReadSpanFieldsFast(begin, begin + message.size(), &fields)) return false;
    links_begin_ = buffer_->links.size();
    for (uint32_t i = 0; i < fields.link_count; ++i) {
      const std::string_view link(reinterpret_cast<const char*>(fields.links[i].data), fields.links[i].size);
      if (!ScanLink(link, Where(), &buffer_->links.emplace_back()).ok()) return Unscan();
    }
    // Built on the stack and moved into the vector's (fresh, cold) memory
    // in one pass.
    SpanRef span;
    span.buffer = buffer_;
    span.message = message;
    span.name = fields.name;
    span.scope_index = scope_index;
    std::memcpy(span.trace_id.bytes.data(), fields.trace_id, TraceId::kSize);
    std::memcpy(span.span_id.bytes.data(), fields.span_id, SpanId::kSize);
    if (fields.parent_span_id != nullptr) {
      std::memcpy(span.parent_span_id.bytes.data(), fields.parent_span_id, SpanId::kSize);
      span.has_parent = NonZero(fields.parent_span_id, SpanId::kSize);
    }
    span.flags = fields.flags;
    span.kind = fields.kind;
    span.end_time_unix_nano = fields.end_time;
    span.trace_id_offset = static_cast<uint32_t>(fields.trace_id - begin);
    out_->spans.push_back(std::move(span));
    NoteLinks();
    return true;
  }

  static constexpr uint32_t kMaxFastLinks = 16;

  // What ReadSpanFieldsFast finds: pointers into the span's bytes.
  struct FastSpanFields {
    const uint8_t* trace_id = nullptr;
    const uint8_t* span_id = nullptr;
    const uint8_t* parent_span_id = nullptr;
    std::string_view name;
    uint32_t flags = 0;
    SpanKind kind = SpanKind::kUnspecified;
    uint64_t end_time = 0;
    uint32_t link_count = 0;
    // Each link's message (value bytes): start and length. Only the first
    // link_count are set (no zero-fill of the rest per span).
    struct LinkBytes {
      const uint8_t* data;
      size_t size;
    } links[kMaxFastLinks];
  };

  // The field walk of ScanSpanFast: reads [p, end) into `out` and nothing
  // else (no calls, no writes outside `out`, so the walk's state stays in
  // registers). False when the span is not in the common encoding.
  static bool ReadSpanFieldsFast(const uint8_t* p, const uint8_t* const end, FastSpanFields* out) {
    const uint8_t* trace_id = nullptr;
    const uint8_t* span_id = nullptr;
    const uint8_t* parent_span_id = nullptr;
    uint32_t link_count = 0;
    while (p < end) {
      const uint8_t tag = *p++;
      switch (tag) {
        case MakeTag(kSpanTraceId, WireType::kLengthDelimited):
        case MakeTag(kSpanSpanId, WireType::kLengthDelimited):
        case MakeTag(kSpanTraceState, WireType::kLengthDelimited):
        case MakeTag(kSpanParentSpanId, WireType::kLengthDelimited):
        case MakeTag(kSpanName, WireType::kLengthDelimited):
        case MakeTag(kSpanAttributes, WireType::kLengthDelimited):
        case MakeTag(kSpanEvents, WireType::kLengthDelimited):
        case MakeTag(kSpanLinks, WireType::kLengthDelimited):
        case MakeTag(kSpanStatus, WireType::kLengthDelimited): {
          size_t length = 0;
          if (!ReadShortLength(&p, end, &length)) return false;
          switch (tag) {
            case MakeTag(kSpanTraceId, WireType::kLengthDelimited):
              if (length != TraceId::kSize) return false;
              trace_id = p;
              break;
            case MakeTag(kSpanSpanId, WireType::kLengthDelimited):
              if (length != SpanId::kSize) return false;
              span_id = p;
              break;
            case MakeTag(kSpanParentSpanId, WireType::kLengthDelimited):
              if (length != SpanId::kSize) return false;
              parent_span_id = p;
              break;
            case MakeTag(kSpanName, WireType::kLengthDelimited):
              out->name = std::string_view(reinterpret_cast<const char*>(p), length);
              break;
            case MakeTag(kSpanLinks, WireType::kLengthDelimited):
              if (link_count == kMaxFastLinks) return false;
              out->links[link_count++] = {p, length};
              break;
            default:
              break;
          }
          p += length;
          break;
        }
        case MakeTag(kSpanKind, WireType::kVarint):
          if (p == end || *p >= 0x80) return false;
          out->kind = static_cast<SpanKind>(static_cast<int32_t>(*p++));
          break;
        case MakeTag(kSpanDroppedAttributes, WireType::kVarint):
        case MakeTag(kSpanDroppedEvents, WireType::kVarint):
        case MakeTag(kSpanDroppedLinks, WireType::kVarint):
          if (p == end || *p >= 0x80) return false;
          ++p;
          break;
        case MakeTag(kSpanStartTime, WireType::kFixed64):
          if (end - p < 8) return false;
          p += 8;
          break;
        case MakeTag(kSpanEndTime, WireType::kFixed64): {
          if (end - p < 8) return false;
          uint64_t v;
          std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
          v = __builtin_bswap64(v);
#endif
          out->end_time = v;
          p += 8;
          break;
        }
        case MakeTag(kSpanFlags, WireType::kFixed32) & 0xff:
          // Field 16 takes two tag bytes: 0x85 0x01.
          if (end - p < 5 || *p != (MakeTag(kSpanFlags, WireType::kFixed32) >> 7)) return false;
          out->flags = static_cast<uint32_t>(p[1]) | static_cast<uint32_t>(p[2]) << 8 |
                       static_cast<uint32_t>(p[3]) << 16 | static_cast<uint32_t>(p[4]) << 24;
          p += 5;
          break;
        default:
          return false;
      }
    }
    if (trace_id == nullptr || span_id == nullptr || !NonZero(trace_id, TraceId::kSize) ||
        !NonZero(span_id, SpanId::kSize)) {
      return false;
    }
    out->trace_id = trace_id;
    out->span_id = span_id;
    out->parent_span_id = parent_span_id;
    out->link_count = link_count;
    return true;
  }

  // The fast path gives up before adding its span: only links to drop.
  bool Unscan() {
    buffer_->links.resize(links_begin_);
    return false;
  }

  // The span being scanned (the last in out_->spans) is left out, with the
  // links it added.
  void DropSpan() {
    out_->spans.pop_back();
    buffer_->links.resize(links_begin_);
  }

  // The span being scanned is kept: its links (added since links_begin_) are
  // attached once buffer_->links stops growing.
  void NoteLinks() {
    const size_t count = buffer_->links.size() - links_begin_;
    if (count != 0) link_fixups_.push_back(LinkFixup{out_->spans.size() - 1, links_begin_, count});
  }

 public:
  // Points each span's links into buffer->links (final now).
  void AttachLinks() {
    for (const LinkFixup& fixup : link_fixups_) {
      out_->spans[fixup.span].links = absl::MakeConstSpan(buffer_->links.data() + fixup.begin, fixup.count);
    }
  }

 private:

  // `size` is 8 or 16.
  static bool NonZero(const uint8_t* p, size_t size) {
    uint64_t a = 0;
    uint64_t b = 0;
    std::memcpy(&a, p, 8);
    if (size > 8) std::memcpy(&b, p + 8, 8);
    return (a | b) != 0;
  }

  absl::Status ScanSpan(std::string_view message, uint32_t scope_index, Where where) {
    SpanRef& span = out_->spans.emplace_back();
    links_begin_ = buffer_->links.size();
    WireReader reader(message);
    WireField f;
    std::string_view trace_id;
    std::string_view span_id;
    std::string_view parent_span_id;
    bool seen_trace_id = false;
    int64_t link_index = 0;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) {
        DropSpan();
        return Malformed(where, f.begin);
      }
      absl::Status status;
      switch (f.number) {
        case kSpanTraceId:
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, "trace_id", f, WireType::kLengthDelimited);
            break;
          }
          trace_id = f.bytes;
          seen_trace_id = true;
          span.trace_id_offset = static_cast<uint32_t>(f.bytes.data() - message.data());
          break;
        case kSpanSpanId:
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, "span_id", f, WireType::kLengthDelimited);
            break;
          }
          span_id = f.bytes;
          break;
        case kSpanParentSpanId:
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, "parent_span_id", f, WireType::kLengthDelimited);
            break;
          }
          parent_span_id = f.bytes;
          break;
        case kSpanName:
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, "name", f, WireType::kLengthDelimited);
            break;
          }
          span.name = f.bytes;
          break;
        case kSpanTraceState:
        case kSpanAttributes:
        case kSpanEvents:
        case kSpanStatus:
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, SpanFieldName(f.number), f, WireType::kLengthDelimited);
          }
          break;
        case kSpanKind:
          if (f.type != WireType::kVarint) {
            status = WrongType(where, "kind", f, WireType::kVarint);
            break;
          }
          span.kind = static_cast<SpanKind>(static_cast<int32_t>(f.scalar));
          break;
        case kSpanDroppedAttributes:
        case kSpanDroppedEvents:
        case kSpanDroppedLinks:
          if (f.type != WireType::kVarint) {
            status = WrongType(where, SpanFieldName(f.number), f, WireType::kVarint);
          }
          break;
        case kSpanStartTime:
          if (f.type != WireType::kFixed64) status = WrongType(where, "start_time_unix_nano", f, WireType::kFixed64);
          break;
        case kSpanEndTime:
          if (f.type != WireType::kFixed64) {
            status = WrongType(where, "end_time_unix_nano", f, WireType::kFixed64);
            break;
          }
          span.end_time_unix_nano = f.scalar;
          break;
        case kSpanFlags:
          if (f.type != WireType::kFixed32) {
            status = WrongType(where, "flags", f, WireType::kFixed32);
            break;
          }
          span.flags = static_cast<uint32_t>(f.scalar);
          break;
        case kSpanLinks: {
          if (f.type != WireType::kLengthDelimited) {
            status = WrongType(where, "links", f, WireType::kLengthDelimited);
            break;
          }
          where.link = link_index++;
          status = ScanLink(f.bytes, where, &buffer_->links.emplace_back());
          where.link = -1;
          break;
        }
        default:
          break;
      }
      if (!status.ok()) {
        DropSpan();
        return status;
      }
    }

    const char* problem = nullptr;
    if (!seen_trace_id || !TraceId::FromBytes(trace_id, &span.trace_id) || !span.trace_id.IsValid()) {
      problem = "trace_id must be 16 bytes and not all zero";
    } else if (!SpanId::FromBytes(span_id, &span.span_id) || !span.span_id.IsValid()) {
      problem = "span_id must be 8 bytes and not all zero";
    } else if (!parent_span_id.empty()) {
      if (!SpanId::FromBytes(parent_span_id, &span.parent_span_id)) {
        problem = "parent_span_id must be empty or 8 bytes";
      } else {
        // An all-zero parent id means "no parent", as in W3C trace context.
        span.has_parent = span.parent_span_id.IsValid();
      }
    }
    if (problem != nullptr) {
      if (out_->rejected_spans == 0) first_rejection_ = absl::StrCat(where.ToString(), ": ", problem);
      ++out_->rejected_spans;
      DropSpan();
      return absl::OkStatus();
    }
    span.buffer = buffer_;
    span.message = message;
    span.scope_index = scope_index;
    NoteLinks();
    return absl::OkStatus();
  }

  static absl::Status ScanLink(std::string_view message, const Where& where, LinkRef* link) {
    link->message = message;
    WireReader reader(message);
    WireField f;
    std::string_view trace_id;
    std::string_view span_id;
    while (!reader.done()) {
      if (!reader.ReadField(&f)) return Malformed(where, f.begin);
      switch (f.number) {
        case kLinkTraceId:
          GATEWAY_EXPECT_TYPE("trace_id", WireType::kLengthDelimited);
          trace_id = f.bytes;
          break;
        case kLinkSpanId:
          GATEWAY_EXPECT_TYPE("span_id", WireType::kLengthDelimited);
          span_id = f.bytes;
          break;
        case kLinkTraceState:
          GATEWAY_EXPECT_TYPE("trace_state", WireType::kLengthDelimited);
          link->trace_state = f.bytes;
          break;
        case kLinkAttributes:
          GATEWAY_EXPECT_TYPE("attributes", WireType::kLengthDelimited);
          break;
        case kLinkDroppedAttributes:
          GATEWAY_EXPECT_TYPE("dropped_attributes_count", WireType::kVarint);
          break;
        case kLinkFlags:
          GATEWAY_EXPECT_TYPE("flags", WireType::kFixed32);
          link->flags = static_cast<uint32_t>(f.scalar);
          break;
        default:
          break;
      }
    }
    const bool trace_ok = TraceId::FromBytes(trace_id, &link->trace_id) && link->trace_id.IsValid();
    const bool span_ok = SpanId::FromBytes(span_id, &link->span_id) && link->span_id.IsValid();
    link->valid = trace_ok && span_ok;
    return absl::OkStatus();
  }

  static const char* SpanFieldName(uint32_t number) {
    switch (number) {
      case kSpanTraceState:
        return "trace_state";
      case kSpanName:
        return "name";
      case kSpanAttributes:
        return "attributes";
      case kSpanEvents:
        return "events";
      case kSpanStatus:
        return "status";
      case kSpanDroppedAttributes:
        return "dropped_attributes_count";
      case kSpanDroppedEvents:
        return "dropped_events_count";
      case kSpanDroppedLinks:
        return "dropped_links_count";
      default:
        return "?";
    }
  }

  static constexpr size_t kPrefetchAhead = 2048;

  struct LinkFixup {
    size_t span;
    size_t begin;
    size_t count;
  };

  RequestBuffer* buffer_;
  // Index in buffer_->links of the first link of the span being scanned.
  size_t links_begin_ = 0;
  std::vector<LinkFixup> link_fixups_;
  // Bytes up to here have been prefetched (ScanSpanFast).
  const char* prefetched_ = nullptr;
  ScannedTraceRequest* out_;
  std::string first_rejection_;
};

#undef GATEWAY_EXPECT_TYPE

// AnyValue holding `value`, as value bytes.
size_t AnyValueSize(const ExtraAttribute& attribute) {
  switch (attribute.value.index()) {
    case 0:
      return LengthDelimitedSize(kAnyValueString, std::get<0>(attribute.value).size());
    case 1:
      return 2;
    default:
      return 1 + VarintSize(static_cast<uint64_t>(std::get<2>(attribute.value)));
  }
}

size_t KeyValueSize(const ExtraAttribute& attribute) {
  return LengthDelimitedSize(kKeyValueKey, attribute.key.size()) +
         LengthDelimitedSize(kKeyValueValue, AnyValueSize(attribute));
}

// Appends `attribute` as a KeyValue field `number` (tag, length, message).
void AppendKeyValueField(std::string* out, uint32_t number, const ExtraAttribute& attribute) {
  AppendTag(out, number, WireType::kLengthDelimited);
  AppendVarint(out, KeyValueSize(attribute));
  AppendLengthDelimited(out, kKeyValueKey, attribute.key);
  AppendTag(out, kKeyValueValue, WireType::kLengthDelimited);
  AppendVarint(out, AnyValueSize(attribute));
  // Oneof members are written even when they hold their default value: the
  // choice itself is information.
  switch (attribute.value.index()) {
    case 0:
      AppendLengthDelimited(out, kAnyValueString, std::get<0>(attribute.value));
      break;
    case 1:
      AppendTag(out, kAnyValueBool, WireType::kVarint);
      AppendVarint(out, std::get<1>(attribute.value) ? 1 : 0);
      break;
    default:
      AppendTag(out, kAnyValueInt, WireType::kVarint);
      AppendVarint(out, static_cast<uint64_t>(std::get<2>(attribute.value)));
      break;
  }
}

// The same as AppendKeyValueField, written at `p` (KeyValueSize bytes plus
// the tag and length reserved); returns the byte after it.
char* WriteKeyValueField(char* p, uint32_t number, const ExtraAttribute& attribute) {
  p = WriteTag(p, number, WireType::kLengthDelimited);
  p = WriteVarint(p, KeyValueSize(attribute));
  p = WriteLengthDelimited(p, kKeyValueKey, attribute.key);
  p = WriteTag(p, kKeyValueValue, WireType::kLengthDelimited);
  p = WriteVarint(p, AnyValueSize(attribute));
  switch (attribute.value.index()) {
    case 0:
      return WriteLengthDelimited(p, kAnyValueString, std::get<0>(attribute.value));
    case 1:
      p = WriteTag(p, kAnyValueBool, WireType::kVarint);
      return WriteVarint(p, std::get<1>(attribute.value) ? 1 : 0);
    default:
      p = WriteTag(p, kAnyValueInt, WireType::kVarint);
      return WriteVarint(p, static_cast<uint64_t>(std::get<2>(attribute.value)));
  }
}

char* WriteFixed32Field(char* p, uint32_t number, uint32_t value) {
  p = WriteTag(p, number, WireType::kFixed32);
  for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(value >> (8 * i));
  return p;
}

// Steps over one field at `p` (before `end`) exactly as
// WireReader::ReadField would read it: sets its number and returns the byte
// after it, or nullptr when ReadField would fail.
const uint8_t* SkipField(const uint8_t* p, const uint8_t* end, uint32_t* number) {
  uint32_t tag = 0;
  for (int i = 0;; ++i) {
    if (p == end || i == 5) return nullptr;
    const uint8_t byte = *p++;
    tag |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
    if (byte < 0x80) break;
  }
  *number = tag >> 3;
  if (*number == 0) return nullptr;
  switch (static_cast<WireType>(tag & 7)) {
    case WireType::kVarint:
      return SkipVarint(&p, end) ? p : nullptr;
    case WireType::kFixed64:
      return end - p < 8 ? nullptr : p + 8;
    case WireType::kFixed32:
      return end - p < 4 ? nullptr : p + 4;
    case WireType::kLengthDelimited: {
      uint32_t length = 0;
      for (int i = 0;; ++i) {
        if (p == end) return nullptr;
        const uint8_t byte = *p++;
        if (i == 4) {
          if (byte >= 8) return nullptr;  // 2 GiB and more, as WireReader
          length |= static_cast<uint32_t>(byte) << 28;
          break;
        }
        length |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
        if (byte < 0x80) break;
      }
      return static_cast<size_t>(end - p) < length ? nullptr : p + length;
    }
    default:
      return nullptr;
  }
}

size_t AttributesSize(const std::vector<ExtraAttribute>& attributes, uint32_t number) {
  size_t size = 0;
  for (const ExtraAttribute& attribute : attributes) size += LengthDelimitedSize(number, KeyValueSize(attribute));
  return size;
}

void AppendFixed32Field(std::string* out, uint32_t number, uint32_t value) {
  AppendTag(out, number, WireType::kFixed32);
  AppendFixed32(out, value);
}

const std::string& EmptyFrame() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

const std::string& ScopeFrameOf(const OutputSpan& span) {
  if (span.buffer == nullptr || span.scope_index >= span.buffer->scope_frames.size()) return EmptyFrame();
  return span.buffer->scope_frames[span.scope_index];
}

const std::string& ResourceFrameOf(const OutputSpan& span) {
  if (span.buffer == nullptr || span.scope_index >= span.buffer->scope_resource.size()) return EmptyFrame();
  const uint32_t resource = span.buffer->scope_resource[span.scope_index];
  if (resource >= span.buffer->resource_frames.size()) return EmptyFrame();
  return span.buffer->resource_frames[resource];
}

}  // namespace

absl::StatusOr<ScannedTraceRequest> ScanTraceRequest(std::string request) {
  auto buffer = std::make_shared<RequestBuffer>();
  buffer->bytes = std::move(request);
  ScannedTraceRequest result;
  result.buffer = buffer;
  // A typical span is a few hundred bytes; reserving avoids most regrowth.
  result.spans.reserve(std::min<size_t>(buffer->bytes.size() / 256 + 1, 1 << 16));
  Scanner scanner(buffer.get(), &result);
  absl::Status status = scanner.Run();
  if (!status.ok()) return status;
  scanner.AttachLinks();
  return result;
}

namespace {

// What RewriteSpan changes in a span's bytes: the fields to drop, as byte
// ranges of the message (ascending), and the size of the fields written
// after the kept bytes.
struct RewritePlan {
  absl::InlinedVector<std::pair<size_t, size_t>, 8> dropped;
  size_t dropped_bytes = 0;
  size_t added = 0;
};

RewritePlan PlanRewrite(std::string_view message, const SpanRewrite& rewrite) {
  RewritePlan plan;
  if (rewrite.trace_id.has_value()) plan.added += kTraceIdFieldSize;
  if (rewrite.parent_span_id.has_value()) plan.added += kSpanIdFieldSize;
  if (rewrite.trace_state.has_value() && !rewrite.trace_state->empty()) {
    plan.added += LengthDelimitedSize(kSpanTraceState, rewrite.trace_state->size());
  }
  if (rewrite.flags.has_value()) plan.added += kFixed32FieldSize;
  for (const std::string& link : rewrite.extra_links) plan.added += LengthDelimitedSize(kSpanLinks, link.size());
  plan.added += AttributesSize(rewrite.extra_attributes, kSpanAttributes);

  // A replaced field ends a run of kept fields.
  const auto* const begin = reinterpret_cast<const uint8_t*>(message.data());
  const uint8_t* const end = begin + message.size();
  const uint8_t* p = begin;
  int link_index = -1;
  while (p < end) {
    uint32_t number = 0;
    const uint8_t* const next = SkipField(p, end, &number);
    if (next == nullptr) break;  // Not for scanned spans; the rest is copied as is.
    bool drop = false;
    switch (number) {
      case kSpanTraceId:
        drop = rewrite.trace_id.has_value();
        break;
      case kSpanParentSpanId:
        drop = rewrite.parent_span_id.has_value();
        break;
      case kSpanTraceState:
        drop = rewrite.trace_state.has_value();
        break;
      case kSpanFlags:
        drop = rewrite.flags.has_value();
        break;
      case kSpanLinks:
        ++link_index;
        drop = link_index == rewrite.remove_link;
        break;
      default:
        break;
    }
    if (drop) {
      plan.dropped.emplace_back(static_cast<size_t>(p - begin), static_cast<size_t>(next - begin));
      plan.dropped_bytes += static_cast<size_t>(next - p);
    }
    p = next;
  }
  return plan;
}

// The replacing and added fields, plan.added bytes.
char* WriteAddedFields(char* w, const SpanRewrite& rewrite) {
  if (rewrite.trace_id.has_value()) w = WriteLengthDelimited(w, kSpanTraceId, rewrite.trace_id->View());
  if (rewrite.parent_span_id.has_value()) {
    w = WriteLengthDelimited(w, kSpanParentSpanId, rewrite.parent_span_id->View());
  }
  if (rewrite.trace_state.has_value() && !rewrite.trace_state->empty()) {
    w = WriteLengthDelimited(w, kSpanTraceState, *rewrite.trace_state);
  }
  if (rewrite.flags.has_value()) w = WriteFixed32Field(w, kSpanFlags, *rewrite.flags);
  for (const std::string& link : rewrite.extra_links) w = WriteLengthDelimited(w, kSpanLinks, link);
  for (const ExtraAttribute& attribute : rewrite.extra_attributes) {
    w = WriteKeyValueField(w, kSpanAttributes, attribute);
  }
  return w;
}

}  // namespace

std::string RewriteSpan(const SpanRef& span, const SpanRewrite& rewrite) {
  const std::string_view message = span.message;
  const RewritePlan plan = PlanRewrite(message, rewrite);
  // Written in place into the exact size: one allocation, no per-field
  // append calls.
  std::string out(message.size() - plan.dropped_bytes + plan.added, '\0');
  char* w = out.data();
  size_t run_begin = 0;
  for (const auto& [from, to] : plan.dropped) {
    w = WriteBytes(w, message.substr(run_begin, from - run_begin));
    run_begin = to;
  }
  w = WriteBytes(w, message.substr(run_begin));
  w = WriteAddedFields(w, rewrite);
  // The sizes above are exact; a mismatch would be a bug in this function.
  if (w != out.data() + out.size()) std::abort();
  return out;
}

void SpliceRewrite(const SpanRef& span, const SpanRewrite& rewrite, OutputSpan* out) {
  const RewritePlan plan = PlanRewrite(span.message, rewrite);
  out->original = span.message;
  if (plan.dropped.size() > OutputSpan::kMaxCuts) {
    // Fields repeated on the wire: the whole span is written here instead.
    out->rewritten = RewriteSpan(span, rewrite);
    return;
  }
  const size_t cuts = plan.dropped.size();
  out->rewritten.resize(plan.added + OutputSpan::kCutSize * cuts);
  char* w = WriteAddedFields(out->rewritten.data(), rewrite);
  if (w != out->rewritten.data() + plan.added) std::abort();
  for (const auto& [from, to] : plan.dropped) {
    const uint32_t range[2] = {static_cast<uint32_t>(from), static_cast<uint32_t>(to)};
    std::memcpy(w, range, OutputSpan::kCutSize);
    w += OutputSpan::kCutSize;
  }
  out->spliced = true;
  out->cut_count = static_cast<uint8_t>(cuts);
  out->cut_bytes = static_cast<uint32_t>(plan.dropped_bytes);
}

std::string PatchTraceId(const SpanRef& span, const TraceId& trace_id) {
  std::string out(span.message);
  if (static_cast<size_t>(span.trace_id_offset) + TraceId::kSize <= out.size()) {
    std::memcpy(out.data() + span.trace_id_offset, trace_id.bytes.data(), TraceId::kSize);
  }
  return out;
}

void EncodeLink(const TraceId& trace_id, const SpanId& span_id, std::string_view trace_state, uint32_t flags,
                const std::vector<ExtraAttribute>& attributes, std::string* out) {
  const size_t size = kTraceIdFieldSize + kSpanIdFieldSize +
                      (trace_state.empty() ? 0 : LengthDelimitedSize(kLinkTraceState, trace_state.size())) +
                      AttributesSize(attributes, kLinkAttributes) + (flags != 0 ? 1 + 4 : 0);
  out->resize(size);
  char* w = out->data();
  w = WriteLengthDelimited(w, kLinkTraceId, trace_id.View());
  w = WriteLengthDelimited(w, kLinkSpanId, span_id.View());
  if (!trace_state.empty()) w = WriteLengthDelimited(w, kLinkTraceState, trace_state);
  for (const ExtraAttribute& attribute : attributes) w = WriteKeyValueField(w, kLinkAttributes, attribute);
  if (flags != 0) w = WriteFixed32Field(w, kLinkFlags, flags);
  if (w != out->data() + out->size()) std::abort();
}

std::string EncodeLink(const TraceId& trace_id, const SpanId& span_id, std::string_view trace_state,
                       uint32_t flags, const std::vector<ExtraAttribute>& attributes) {
  std::string out;
  EncodeLink(trace_id, span_id, trace_state, flags, attributes, &out);
  return out;
}

std::string BuildFanoutSpan(const SpanRef& original, const LinkRef& link, const SpanId& span_id,
                            const std::vector<ExtraAttribute>& extra) {
  std::string out;
  out.reserve(original.message.size() + link.message.size() + AttributesSize(extra, kSpanAttributes) + 64);
  AppendLengthDelimited(&out, kSpanTraceId, link.trace_id.View());
  AppendLengthDelimited(&out, kSpanSpanId, span_id.View());
  if (!link.trace_state.empty()) AppendLengthDelimited(&out, kSpanTraceState, link.trace_state);
  AppendLengthDelimited(&out, kSpanParentSpanId, link.span_id.View());
  AppendTag(&out, kSpanKind, WireType::kVarint);
  AppendVarint(&out, static_cast<uint64_t>(SpanKind::kConsumer));
  AppendFixed32Field(&out, kSpanFlags,
                     (link.flags & kSpanFlagsTraceFlagsMask) | kSpanFlagsHasIsRemote | kSpanFlagsIsRemote);

  // Name, times, attributes and status, every occurrence in order so that
  // "last one wins" and message merging resolve as they did in the original.
  WireReader reader(original.message);
  WireField f;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) break;
    switch (f.number) {
      case kSpanName:
      case kSpanStartTime:
      case kSpanEndTime:
      case kSpanAttributes:
      case kSpanStatus:
        out.append(original.message.data() + f.begin, f.end - f.begin);
        break;
      default:
        break;
    }
  }
  // Link.attributes and Span.attributes are both KeyValue: re-tag.
  WireReader link_reader(link.message);
  while (!link_reader.done()) {
    if (!link_reader.ReadField(&f)) break;
    if (f.number == kLinkAttributes && f.type == WireType::kLengthDelimited) {
      AppendLengthDelimited(&out, kSpanAttributes, f.bytes);
    }
  }
  for (const ExtraAttribute& attribute : extra) AppendKeyValueField(&out, kSpanAttributes, attribute);
  return out;
}

size_t EncodedSpanSize(const OutputSpan& span) {
  return span.run ? span.original.size() : LengthDelimitedSize(kScopeSpansSpans, span.size());
}

namespace {

// The canonical tag and length of a `spans` field holding `message`, if the
// bytes right before `message` are exactly that (they are inside the
// ScopeSpans, since `message` is such a field's value); else 0. A longer
// (non-minimal) tag or length ends in a zero byte after a continuation byte,
// so it never matches the canonical bytes.
size_t CanonicalSpanPrefix(std::string_view message) {
  const size_t size = message.size();
  const auto* const p = reinterpret_cast<const uint8_t*>(message.data());
  constexpr uint8_t kTag = MakeTag(kScopeSpansSpans, WireType::kLengthDelimited);
  if (size < 0x80) return p[-2] == kTag && p[-1] == size ? 2 : 0;
  if (size < 0x4000) return p[-3] == kTag && p[-2] == ((size & 0x7f) | 0x80) && p[-1] == (size >> 7) ? 3 : 0;
  if (size >= (size_t{1} << 28)) return 0;
  char expected[5];
  expected[0] = static_cast<char>(MakeTag(kScopeSpansSpans, WireType::kLengthDelimited));
  const size_t prefix = static_cast<size_t>(WriteVarint(expected + 1, size) - expected);
  return std::memcmp(message.data() - prefix, expected, prefix) == 0 ? prefix : 0;
}

}  // namespace

void AppendUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                     std::vector<OutputSpan>* out) {
  if (!out->empty()) {
    OutputSpan& last = out->back();
    if (last.buffer.get() == span.buffer && last.scope_index == span.scope_index && last.rewritten.empty() &&
        !last.spliced && !last.patched_trace_id.has_value()) {
      const char* const last_end = last.original.data() + last.original.size();
      const size_t prefix = CanonicalSpanPrefix(span.message);
      if (prefix != 0 && span.message.data() - prefix == last_end) {
        bool ok = last.run;
        if (!ok) {
          const size_t last_prefix = CanonicalSpanPrefix(last.original);
          if (last_prefix != 0) {
            last.original = std::string_view(last.original.data() - last_prefix, last.original.size() + last_prefix);
            last.run = true;
            ok = true;
          }
        }
        if (ok) {
          last.original = std::string_view(last.original.data(), static_cast<size_t>(span.message.data() + span.message.size() - last.original.data()));
          ++last.span_count;
          if (span.end_time_unix_nano != 0 &&
              (last.end_time_unix_nano == 0 || span.end_time_unix_nano < last.end_time_unix_nano)) {
            last.end_time_unix_nano = span.end_time_unix_nano;
          }
          return;
        }
      }
    }
  }
  out->push_back(OutputSpan::Unchanged(span, buffer));
}

OutputSpan TakeRunPrefix(OutputSpan* run, uint32_t max_spans, size_t max_bytes) {
  OutputSpan head;
  head.buffer = run->buffer;
  head.scope_index = run->scope_index;
  head.end_time_unix_nano = run->end_time_unix_nano;
  head.run = true;
  head.span_count = 0;
  const std::string_view bytes = run->original;
  size_t taken = 0;
  while (head.span_count < max_spans && head.span_count < run->span_count) {
    // Runs hold canonical fields only: a one-byte tag, then the length.
    WireReader reader(bytes.substr(taken));
    WireField f;
    if (!reader.ReadField(&f)) std::abort();  // A run is made of whole fields; a bug otherwise.
    if (head.span_count > 0 && taken + f.end > max_bytes) break;
    taken += f.end;
    ++head.span_count;
  }
  head.original = bytes.substr(0, taken);
  run->original = bytes.substr(taken);
  run->span_count -= head.span_count;
  return head;
}

std::string EncodeTraceRequest(absl::Span<const OutputSpan> spans) {
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  struct ScopeGroup {
    std::string_view frame;
    uint32_t first = kNone;
    uint32_t last = kNone;
    size_t body = 0;
  };
  struct ResourceGroup {
    std::string_view frame;
    std::vector<uint32_t> scopes;
    size_t body = 0;
  };
  std::vector<ResourceGroup> resources;
  std::vector<ScopeGroup> scopes;
  std::vector<uint32_t> next(spans.size(), kNone);

  // Frames are usually shared by pointer (spans of one received request);
  // content equality joins frames of different requests.
  absl::flat_hash_map<const std::string*, uint32_t> scope_by_pointer;
  absl::flat_hash_map<const std::string*, uint32_t> resource_by_pointer;
  absl::flat_hash_map<absl::string_view, uint32_t> resource_by_content;
  absl::flat_hash_map<std::pair<uint32_t, absl::string_view>, uint32_t> scope_by_content;
  const std::string* last_scope_frame = nullptr;
  uint32_t last_scope_group = 0;

  for (uint32_t i = 0; i < spans.size(); ++i) {
    const OutputSpan& span = spans[i];
    const std::string* scope_frame = &ScopeFrameOf(span);
    uint32_t group;
    if (scope_frame == last_scope_frame) {
      group = last_scope_group;
    } else if (auto it = scope_by_pointer.find(scope_frame); it != scope_by_pointer.end()) {
      group = it->second;
    } else {
      const std::string* resource_frame = &ResourceFrameOf(span);
      uint32_t resource;
      if (auto rit = resource_by_pointer.find(resource_frame); rit != resource_by_pointer.end()) {
        resource = rit->second;
      } else {
        auto [cit, inserted] =
            resource_by_content.try_emplace(ToAbsl(*resource_frame), static_cast<uint32_t>(resources.size()));
        if (inserted) resources.push_back(ResourceGroup{*resource_frame, {}, 0});
        resource = cit->second;
        resource_by_pointer.emplace(resource_frame, resource);
      }
      auto [sit, inserted] = scope_by_content.try_emplace(std::make_pair(resource, ToAbsl(*scope_frame)),
                                                          static_cast<uint32_t>(scopes.size()));
      if (inserted) {
        scopes.push_back(ScopeGroup{*scope_frame, kNone, kNone, scope_frame->size()});
        resources[resource].scopes.push_back(sit->second);
      }
      group = sit->second;
      scope_by_pointer.emplace(scope_frame, group);
    }
    last_scope_frame = scope_frame;
    last_scope_group = group;

    ScopeGroup& scope = scopes[group];
    if (scope.first == kNone) {
      scope.first = i;
    } else {
      next[scope.last] = i;
    }
    scope.last = i;
    scope.body += EncodedSpanSize(span);
  }

  size_t total = 0;
  for (ResourceGroup& resource : resources) {
    resource.body = resource.frame.size();
    for (uint32_t s : resource.scopes) resource.body += LengthDelimitedSize(kResourceSpansScopeSpans, scopes[s].body);
    total += LengthDelimitedSize(kRequestResourceSpans, resource.body);
  }

  // Appended into reserved space rather than written over a zero-filled
  // string: the bytes are touched once.
  std::string out;
  out.reserve(total);
  for (const ResourceGroup& resource : resources) {
    AppendTag(&out, kRequestResourceSpans, WireType::kLengthDelimited);
    AppendVarint(&out, resource.body);
    out.append(resource.frame.data(), resource.frame.size());
    for (uint32_t s : resource.scopes) {
      const ScopeGroup& scope = scopes[s];
      AppendTag(&out, kResourceSpansScopeSpans, WireType::kLengthDelimited);
      AppendVarint(&out, scope.body);
      out.append(scope.frame.data(), scope.frame.size());
      for (uint32_t i = scope.first; i != kNone; i = next[i]) {
        const OutputSpan& span = spans[i];
        if (span.spliced) {
          // The received bytes without the cut fields, then the new fields.
          AppendTag(&out, kScopeSpansSpans, WireType::kLengthDelimited);
          AppendVarint(&out, span.size());
          size_t kept = 0;
          for (uint8_t c = 0; c < span.cut_count; ++c) {
            const auto [from, to] = span.cut(c);
            out.append(span.original.data() + kept, from - kept);
            kept = to;
          }
          out.append(span.original.data() + kept, span.original.size() - kept);
          const std::string_view added = span.added();
          out.append(added.data(), added.size());
          continue;
        }
        const std::string_view bytes = span.bytes();
        if (span.run) {
          out.append(bytes.data(), bytes.size());
          continue;
        }
        AppendTag(&out, kScopeSpansSpans, WireType::kLengthDelimited);
        AppendVarint(&out, bytes.size());
        const size_t at = out.size();
        out.append(bytes.data(), bytes.size());
        if (span.patched_trace_id.has_value() &&
            static_cast<size_t>(span.trace_id_offset) + TraceId::kSize <= bytes.size()) {
          std::memcpy(out.data() + at + span.trace_id_offset, span.patched_trace_id->bytes.data(), TraceId::kSize);
        }
      }
    }
  }
  // The sizes above are exact; a mismatch would be a bug in this function.
  if (out.size() != total) std::abort();
  return out;
}

}  // namespace gateway
