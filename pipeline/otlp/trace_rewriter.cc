#include "pipeline/otlp/trace_rewriter.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

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

namespace {

// The key of a KeyValue (value bytes); empty when it has none or is malformed.
std::string_view KeyValueKey(std::string_view key_value) {
  WireReader reader(key_value);
  WireField f;
  std::string_view key;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) return {};
    if (f.number == kKeyValueKey && f.type == WireType::kLengthDelimited) key = f.bytes;
  }
  return key;
}

bool IsMessageAttribute(std::string_view key) {
  constexpr std::string_view kMessaging = "messaging.";
  constexpr std::string_view kBatch = "messaging.batch.";
  return key.substr(0, kMessaging.size()) == kMessaging && key.substr(0, kBatch.size()) != kBatch;
}

}  // namespace

std::string BuildMessageSpan(const SpanRef& batch, const LinkRef& link, const MessageSpanFields& fields) {
  std::string out;
  out.reserve(batch.name.size() + link.message.size() + fields.batch_link.size() +
              AttributesSize(fields.extra, kSpanAttributes) + 256);
  AppendLengthDelimited(&out, kSpanTraceId, fields.trace_id.View());
  AppendLengthDelimited(&out, kSpanSpanId, fields.span_id.View());
  if (!link.trace_state.empty()) AppendLengthDelimited(&out, kSpanTraceState, link.trace_state);
  AppendLengthDelimited(&out, kSpanParentSpanId, link.span_id.View());
  AppendTag(&out, kSpanKind, WireType::kVarint);
  AppendVarint(&out, static_cast<uint64_t>(SpanKind::kConsumer));
  AppendTag(&out, kSpanStartTime, WireType::kFixed64);
  AppendFixed64(&out, fields.time_unix_nano);
  AppendTag(&out, kSpanEndTime, WireType::kFixed64);
  AppendFixed64(&out, fields.time_unix_nano);

  // The name (every occurrence, so that the last one wins as in the batch
  // span) and the batch's messaging attributes that hold for each message.
  WireReader reader(batch.message);
  WireField f;
  while (!reader.done()) {
    if (!reader.ReadField(&f)) break;
    if (f.number == kSpanName) {
      out.append(batch.message.data() + f.begin, f.end - f.begin);
    } else if (f.number == kSpanAttributes && f.type == WireType::kLengthDelimited &&
               IsMessageAttribute(KeyValueKey(f.bytes))) {
      out.append(batch.message.data() + f.begin, f.end - f.begin);
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
  for (const ExtraAttribute& attribute : fields.extra) AppendKeyValueField(&out, kSpanAttributes, attribute);
  if (!fields.batch_link.empty()) AppendLengthDelimited(&out, kSpanLinks, fields.batch_link);
  AppendFixed32Field(&out, kSpanFlags, fields.flags);
  return out;
}

}  // namespace gateway
