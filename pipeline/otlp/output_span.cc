#include "pipeline/otlp/output_span.h"

#include <cstdlib>
#include <cstring>

#include "pipeline/otlp/trace_fields.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
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

}  // namespace gateway
