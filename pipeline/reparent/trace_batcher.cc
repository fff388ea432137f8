#include "pipeline/reparent/trace_batcher.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "pipeline/otlp/trace_encoder.h"

namespace gateway {
namespace {

// Tag plus a length prefix of up to 5 bytes, for each of ResourceSpans and
// ScopeSpans.
constexpr size_t kFrameOverhead = 2 * 6;

}  // namespace

TraceBatcher::TraceBatcher(const TraceBatcherOptions& options, Exporter& exporter, MemoryBudget* budget)
    : options_(options), exporter_(exporter), budget_(budget) {}

size_t TraceBatcher::AddedBytes(const OutputSpan& span) const {
  size_t added = EncodedSpanSize(span);
  const RequestBuffer* buffer = span.buffer.get();
  if (buffer != nullptr && span.scope_index < buffer->scope_frames.size() &&
      !frames_.contains(std::make_pair(buffer, span.scope_index))) {
    added += kFrameOverhead + buffer->scope_frames[span.scope_index].size();
    const uint32_t resource = span.scope_index < buffer->scope_resource.size()
                                  ? buffer->scope_resource[span.scope_index]
                                  : std::numeric_limits<uint32_t>::max();
    if (resource < buffer->resource_frames.size()) added += buffer->resource_frames[resource].size();
  }
  return added;
}

void TraceBatcher::Add(OutputSpan span, absl::Time now) {
  while (span.run && span.span_count > 1) {
    const size_t added = AddedBytes(span);
    const int64_t room_spans = options_.max_spans - span_count_;
    if (room_spans >= span.span_count && bytes_ + added <= options_.max_bytes) break;
    // The fields that fit next to the frames (if those are new) and what
    // the batch holds already.
    const size_t frames = added - EncodedSpanSize(span);
    const size_t used = bytes_ + frames;
    const size_t room_bytes = options_.max_bytes > used ? options_.max_bytes - used : 0;
    if (room_spans <= 0) {
      if (spans_.empty()) break;  // max_spans <= 0: one run per batch.
      Flush();
      continue;
    }
    // At least one span; if even that does not fit, AddWhole starts a new
    // batch with it.
    OutputSpan head = TakeRunPrefix(&span, static_cast<uint32_t>(std::min<int64_t>(room_spans, span.span_count)),
                                    room_bytes);
    AddWhole(std::move(head), now);
  }
  if (span.span_count == 0) return;
  AddWhole(std::move(span), now);
}

void TraceBatcher::AddWhole(OutputSpan span, absl::Time now) {
  const size_t added = AddedBytes(span);
  if (!spans_.empty() && bytes_ + added > options_.max_bytes) {
    Flush();
    return AddWhole(std::move(span), now);
  }
  const RequestBuffer* buffer = span.buffer.get();
  frames_.insert(std::make_pair(buffer, span.scope_index));
  if (spans_.empty()) first_added_ = now;
  bytes_ += added;
  span_count_ += span.span_count;
  spans_.push_back(std::move(span));
  if (span_count_ >= options_.max_spans || bytes_ >= options_.max_bytes) Flush();
}

void TraceBatcher::FlushIfDue(absl::Time now) {
  if (!spans_.empty() && now >= Deadline()) Flush();
}

absl::Time TraceBatcher::Deadline() const {
  return spans_.empty() ? absl::InfiniteFuture() : first_added_ + options_.max_delay;
}

void TraceBatcher::Flush() {
  if (spans_.empty()) return;
  ExportRequest request;
  request.signal = Signal::kTraces;
  request.body = EncodeTraceRequest(spans_);
  request.items = span_count_;
  uint64_t oldest = std::numeric_limits<uint64_t>::max();
  // Persistent-queue acknowledgements of the requests these spans came from;
  // consecutive spans mostly share a buffer, so a last-seen check dedupes.
  std::vector<std::shared_ptr<void>> completions;
  const void* last_completion = nullptr;
  // End times in the future (a skewed client clock) never keep a batch
  // young: its age counts at the latest from its first span's arrival.
  if (first_added_ != absl::InfiniteFuture()) {
    oldest = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixNanos(first_added_)));
  }
  for (const OutputSpan& span : spans_) {
    if (span.end_time_unix_nano != 0) oldest = std::min(oldest, span.end_time_unix_nano);
    if (span.buffer != nullptr && span.buffer->completion != nullptr &&
        span.buffer->completion.get() != last_completion) {
      last_completion = span.buffer->completion.get();
      completions.push_back(span.buffer->completion);
    }
  }
  request.oldest_item_time = oldest == std::numeric_limits<uint64_t>::max()
                                 ? absl::InfinitePast()
                                 : absl::FromUnixNanos(static_cast<int64_t>(oldest));
  // The encoded body is in memory until the exporter is done with it; it is
  // carried whatever the limit (it was admitted as the requests it came from,
  // which are released when their buffers go with spans_ below).
  MemoryBudget* budget = budget_;
  const int64_t body_bytes = static_cast<int64_t>(request.body.size());
  if (budget != nullptr) budget->ForceAdmit(body_bytes);
  request.on_done = [budget, body_bytes, completions = std::move(completions)](ExportResult) mutable {
    if (budget != nullptr) budget->Release(body_bytes);
    completions.clear();
  };
  spans_.clear();
  frames_.clear();
  span_count_ = 0;
  bytes_ = 0;
  first_added_ = absl::InfiniteFuture();
  ++requests_exported_;
  exporter_.Export(std::move(request));
}

}  // namespace gateway
