// OutputSpan: a span on its way out of the engine (unchanged, patched,
// spliced or rewritten), or a run of unchanged spans copied in one piece, as
// EncodeTraceRequest (trace_encoder.h) takes it; and the run operations.
//
//   std::vector<OutputSpan> out;
//   AppendUnchanged(span, scanned.buffer, &out);              // joins a run if adjacent
//   OutputSpan& moved = out.emplace_back(OutputSpan::Unchanged(span, scanned.buffer));
//   moved.patched_trace_id = new_trace;                       // patched while encoded
//   OutputSpan head = TakeRunPrefix(&out[0], 100, 1 << 20);   // batch sizing
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// One span on its way out, or a run of unchanged spans that were
// consecutive in one received ScopeSpans (see `run`).
struct OutputSpan {
  // Keeps the frames (and, when unchanged, the span bytes) alive.
  std::shared_ptr<const RequestBuffer> buffer;
  uint32_t scope_index = 0;
  // Spliced only: bytes of `original` cut out, in all.
  uint32_t cut_bytes = 0;
  // The original bytes; used when `rewritten` is empty.
  std::string_view original;
  std::string rewritten;
  // The oldest end time of its span(s); 0 when none is known.
  uint64_t end_time_unix_nano = 0;
  // When set, `original` is span_count whole `spans` fields (tag, length,
  // message) exactly as received, back to back in one ScopeSpans, and
  // EncodeTraceRequest copies them in one piece. Unchanged spans only (no
  // `rewritten`, no patch). AppendUnchanged builds runs; TakeRunPrefix splits
  // them.
  bool run = false;
  // When set (SpliceRewrite: a rewritten target), the span's bytes are
  // `original` without cut_count byte ranges (cut(i): offsets into
  // `original`, ascending, disjoint; cut_bytes in all) followed by added(),
  // and EncodeTraceRequest writes them so, from the received bytes. The
  // ranges are kept after the added fields at the end of `rewritten`, which
  // keeps this struct small. Never with a run or a trace-id patch.
  bool spliced = false;
  uint8_t cut_count = 0;
  uint32_t span_count = 1;
  // When set, EncodeTraceRequest writes this id over the 16 bytes at
  // trace_id_offset of bytes() (what PatchTraceId would produce, without a
  // copy of the span): a descendant moved with its consumer.
  std::optional<TraceId> patched_trace_id;
  uint32_t trace_id_offset = 0;

  static constexpr size_t kMaxCuts = 8;
  static constexpr size_t kCutSize = 2 * sizeof(uint32_t);

  // The span's bytes, before the trace-id patch (if any). Not for a spliced
  // span (its bytes are in two places); size() is.
  std::string_view bytes() const { return rewritten.empty() ? original : std::string_view(rewritten); }
  // The size of the span's (run's) bytes.
  size_t size() const {
    return spliced ? original.size() - cut_bytes + rewritten.size() - kCutSize * cut_count : bytes().size();
  }
  // Spliced only: the fields written after the kept bytes, and the ranges cut.
  std::string_view added() const { return std::string_view(rewritten.data(), rewritten.size() - kCutSize * cut_count); }
  std::pair<uint32_t, uint32_t> cut(size_t i) const {
    uint32_t range[2];
    std::memcpy(range, rewritten.data() + rewritten.size() - kCutSize * (cut_count - i), kCutSize);
    return {range[0], range[1]};
  }

  // `buffer` is span.buffer's owner (ScannedTraceRequest::buffer).
  static OutputSpan Unchanged(const SpanRef& span, std::shared_ptr<const RequestBuffer> buffer) {
    OutputSpan out;
    out.buffer = std::move(buffer);
    out.scope_index = span.scope_index;
    out.original = span.message;
    out.end_time_unix_nano = span.end_time_unix_nano;
    return out;
  }
};

// Appends `span` to `out` unchanged: when the last output is unchanged and
// `span`'s field directly follows it in the same received ScopeSpans (both in
// the canonical encoding: a one-byte tag and a minimal length), the last
// output grows into a run instead of a new OutputSpan being added (no
// reference taken); otherwise the new OutputSpan takes a reference to
// `buffer`, span.buffer's owner.
void AppendUnchanged(const SpanRef& span, const std::shared_ptr<const RequestBuffer>& buffer,
                     std::vector<OutputSpan>* out);

// Splits off the first spans of a run: at most `max_spans` and at most
// `max_bytes` of fields (at least one span whatever `max_bytes`, none when
// max_spans is 0). `run` keeps the rest. Both parts keep the run's end time,
// which is then a lower bound. Undefined for an OutputSpan that is not a run.
OutputSpan TakeRunPrefix(OutputSpan* run, uint32_t max_spans, size_t max_bytes);

}  // namespace gateway
