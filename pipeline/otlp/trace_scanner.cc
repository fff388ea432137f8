#include "pipeline/otlp/trace_scanner.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/trace_scanner_fast_path.h"
#include "pipeline/otlp/utf8_check.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

using trace_scanner_internal::FastSpanFields;
using trace_scanner_internal::NonZero;
using trace_scanner_internal::ReadSpanFieldsFast;

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
  Scanner(RequestBuffer* buffer, ScannedTraceRequest* out, bool check_utf8)
      : buffer_(buffer), out_(out), check_utf8_(check_utf8) {}

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
    const int64_t bad_ids = out_->rejected_spans;
    if (bad_ids > 0) out_->rejection_message = absl::StrCat(bad_ids, " span(s) rejected; first: ", first_rejection_);
    if (out_->invalid_utf8_spans > 0) {
      absl::StrAppend(&out_->rejection_message, bad_ids > 0 ? "; " : "", out_->invalid_utf8_spans,
                      " span(s) refused: invalid UTF-8 in ", first_utf8_field_, " of ", first_utf8_where_,
                      out_->invalid_utf8_spans > 1 ? " and others" : "");
      out_->rejected_spans += out_->invalid_utf8_spans;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status ScanResourceSpans(std::string_view message, Where where) {
    const auto resource_index = static_cast<uint32_t>(buffer_->resource_frames.size());
    buffer_->resource_frames.emplace_back();
    const Mark mark = MarkNow();
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
    if (check_utf8_) {
      if (const char* field = FindInvalidUtf8InResourceFrame(frame)) RefuseSince(mark, where, field);
    }
    buffer_->resource_frames[resource_index] = std::move(frame);
    return absl::OkStatus();
  }

  absl::Status ScanScopeSpans(std::string_view message, uint32_t resource_index, Where where) {
    const auto scope_index = static_cast<uint32_t>(buffer_->scope_frames.size());
    buffer_->scope_frames.emplace_back();
    buffer_->scope_resource.push_back(resource_index);
    const Mark mark = MarkNow();
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
          if (check_utf8_) [[unlikely]] CheckSpanUtf8(f.bytes, where);
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
    if (check_utf8_) {
      if (const char* field = FindInvalidUtf8InScopeFrame(frame)) RefuseSince(mark, where, field);
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

  // Where out_->spans, buffer_->links and link_fixups_ ended at one moment;
  // the spans scanned since are the last ones in each.
  struct Mark {
    size_t spans;
    size_t links;
    size_t fixups;
  };

  Mark MarkNow() const { return Mark{out_->spans.size(), buffer_->links.size(), link_fixups_.size()}; }

  // Refuses the span just scanned from `message`, if it was kept, when one
  // of its strings is not valid UTF-8. Out of line: the scan loop of the
  // usual request (no invalid UTF-8 anywhere) stays as small as it was.
  __attribute__((noinline)) void CheckSpanUtf8(std::string_view message, const Where& where) {
    if (out_->spans.empty() || out_->spans.back().message.data() != message.data()) return;  // not kept
    if (const char* field = FindInvalidUtf8InSpan(message)) RefuseSince(MarkOfLastSpan(), where, field);
  }

  // The mark just before the last span kept (the one being scanned).
  Mark MarkOfLastSpan() const {
    const size_t last = out_->spans.size() - 1;
    const bool has_fixup = !link_fixups_.empty() && link_fixups_.back().span == last;
    return Mark{last, links_begin_, link_fixups_.size() - (has_fixup ? 1 : 0)};
  }

  // Refuses the spans kept since `mark` (one span, or all spans of a scope
  // or resource whose own strings are not valid UTF-8), with their links.
  void RefuseSince(const Mark& mark, const Where& where, const char* field) {
    const auto count = static_cast<int64_t>(out_->spans.size() - mark.spans);
    if (count == 0) return;
    out_->spans.resize(mark.spans);
    buffer_->links.resize(mark.links);
    link_fixups_.resize(mark.fixups);
    if (out_->invalid_utf8_spans == 0) {
      first_utf8_field_ = field;
      first_utf8_where_ = where.ToString();
    }
    out_->invalid_utf8_spans += count;
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
  const bool check_utf8_;
  std::string first_rejection_;
  const char* first_utf8_field_ = nullptr;
  std::string first_utf8_where_;
};

#undef GATEWAY_EXPECT_TYPE

}  // namespace

absl::StatusOr<ScannedTraceRequest> ScanTraceRequest(std::string request, Utf8Check utf8) {
  auto buffer = std::make_shared<RequestBuffer>();
  buffer->bytes = std::move(request);
  ScannedTraceRequest result;
  result.buffer = buffer;
  // A typical span is a few hundred bytes; reserving avoids most regrowth.
  result.spans.reserve(std::min<size_t>(buffer->bytes.size() / 256 + 1, 1 << 16));
  Scanner scanner(buffer.get(), &result, utf8 == Utf8Check::kPerSpan);
  absl::Status status = scanner.Run();
  if (!status.ok()) return status;
  scanner.AttachLinks();
  return result;
}

}  // namespace gateway
