#include "pipeline/otlp/trace_encoder.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/otlp/extra_attribute.h"
#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

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

size_t EncodedSpanSize(const OutputSpan& span) {
  return span.run ? span.original.size() : LengthDelimitedSize(kScopeSpansSpans, span.size());
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
