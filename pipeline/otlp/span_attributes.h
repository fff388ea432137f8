// Attributes and times of a scanned span or link, read from its received
// bytes on demand. The scanner skips attributes (most spans never need
// them); the engine asks here for the few it decides by: a link's
// `messaging.message.id` or marker, a span's `faas.trigger`.
//
//   std::string_view id;
//   if (LinkStringAttribute(span.links[0], "messaging.message.id", &id)) Route(id);
//   if (LinkHasAttribute(link, "gateway.reparent.original_parent")) continue;
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/types/span.h"
#include "pipeline/otlp/span_ref.h"

namespace gateway {

// The value of the first attribute `key` of `span` (of `link`) when it is a
// string; false when there is none, or it is not a string, or the bytes
// before it are malformed.
bool SpanStringAttribute(const SpanRef& span, std::string_view key, std::string_view* value);
bool LinkStringAttribute(const LinkRef& link, std::string_view key, std::string_view* value);

// Whether `link` has an attribute `key`, whatever its value.
bool LinkHasAttribute(const LinkRef& link, std::string_view key);

// One walk over `link`'s attributes for several keys: bit i of the result
// is set when the link has an attribute keys[i] (the first one counts), and
// values[i] is then its string value (empty when it is not a string).
// At most 32 keys; `values` has room for keys.size().
uint32_t FindLinkAttributes(const LinkRef& link, absl::Span<const std::string_view> keys, std::string_view* values);

// Span.start_time_unix_nano (the last occurrence); 0 when absent.
uint64_t SpanStartTime(const SpanRef& span);

}  // namespace gateway
