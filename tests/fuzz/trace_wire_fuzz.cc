// Differential fuzzing of the zero-copy trace scanner and writers against
// libprotobuf (the generated OTLP classes).
//
//  - libprotobuf parses the input strictly (no groups, no known field with
//    the wrong wire type: see proto_oracle.h) => ScanTraceRequest accepts it,
//    and rejects exactly the spans whose ids are malformed.
//  - ScanTraceRequest accepts and libprotobuf parses => EncodeTraceRequest of
//    the unchanged spans parses and holds the same spans under the same
//    resources and scopes (as a multiset: equal frames are merged).
//  - For every accepted span that libprotobuf parses, PatchTraceId and
//    RewriteSpan outputs parse and carry exactly the requested changes.
//
// Input: the serialized ExportTraceServiceRequest, as a client sends it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_rewriter.h"
#include "pipeline/otlp/trace_scanner.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_oracle.h"

namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::ResourceSpans;
using ::opentelemetry::proto::trace::v1::ScopeSpans;
using ::opentelemetry::proto::trace::v1::Span;

bool AllZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// The scanner's id rule, on a parsed span.
bool SpanIdsWellFormed(const Span& span) {
  if (span.trace_id().size() != 16 || AllZero(span.trace_id())) return false;
  if (span.span_id().size() != 8 || AllZero(span.span_id())) return false;
  return span.parent_span_id().empty() || span.parent_span_id().size() == 8;
}

// (resource frame, scope frame, span) triples, re-serialized by libprotobuf,
// sorted: the request's content independent of grouping and order.
using Triple = std::tuple<std::string, std::string, std::string>;

std::vector<Triple> Flatten(const ExportTraceServiceRequest& request, bool well_formed_only, int64_t* dropped) {
  std::vector<Triple> out;
  for (const ResourceSpans& rs : request.resource_spans()) {
    ResourceSpans frame = rs;
    frame.clear_scope_spans();
    const std::string resource = frame.SerializeAsString();
    for (const ScopeSpans& ss : rs.scope_spans()) {
      ScopeSpans scope_frame = ss;
      scope_frame.clear_spans();
      const std::string scope = scope_frame.SerializeAsString();
      for (const Span& span : ss.spans()) {
        if (well_formed_only && !SpanIdsWellFormed(span)) {
          ++*dropped;
          continue;
        }
        out.emplace_back(resource, scope, span.SerializeAsString());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void CheckWriters(const gateway::SpanRef& ref) {
  Span original;
  if (!original.ParseFromArray(ref.message.data(), static_cast<int>(ref.message.size()))) return;

  gateway::TraceId new_trace;
  for (size_t i = 0; i < new_trace.bytes.size(); ++i) new_trace.bytes[i] = static_cast<uint8_t>(0xA0 + i);
  gateway::SpanId new_parent;
  for (size_t i = 0; i < new_parent.bytes.size(); ++i) new_parent.bytes[i] = static_cast<uint8_t>(0x10 + i);

  {
    Span patched;
    const std::string bytes = gateway::PatchTraceId(ref, new_trace);
    FUZZ_CHECK(patched.ParseFromString(bytes), "PatchTraceId output does not parse");
    FUZZ_CHECK(patched.trace_id() == std::string(new_trace.View()), "PatchTraceId did not set the trace id");
    patched.set_trace_id(original.trace_id());
    FUZZ_CHECK(patched.SerializeAsString() == original.SerializeAsString(), "PatchTraceId changed more");
  }

  gateway::SpanRewrite rewrite;
  rewrite.trace_id = new_trace;
  rewrite.parent_span_id = new_parent;
  rewrite.trace_state = "fuzz=1";
  rewrite.flags = 0x301;
  if (!ref.links.empty()) rewrite.remove_link = 0;
  rewrite.extra_links.push_back(gateway::EncodeLink(new_trace, new_parent, "k=v", 1, {{"fuzz.link", true}}));
  rewrite.extra_attributes.push_back({"fuzz.attr", std::string("x")});
  rewrite.extra_attributes.push_back({"fuzz.int", int64_t{-7}});

  Span rewritten;
  const std::string bytes = gateway::RewriteSpan(ref, rewrite);
  FUZZ_CHECK(rewritten.ParseFromString(bytes), "RewriteSpan output does not parse");
  FUZZ_CHECK(rewritten.trace_id() == std::string(new_trace.View()), "RewriteSpan trace_id");
  FUZZ_CHECK(rewritten.parent_span_id() == std::string(new_parent.View()), "RewriteSpan parent_span_id");
  FUZZ_CHECK(rewritten.trace_state() == "fuzz=1", "RewriteSpan trace_state");
  FUZZ_CHECK(rewritten.flags() == 0x301, "RewriteSpan flags");
  const int expected_links = original.links_size() - (ref.links.empty() ? 0 : 1) + 1;
  FUZZ_CHECK(rewritten.links_size() == expected_links, "RewriteSpan link count");
  FUZZ_CHECK(rewritten.attributes_size() == original.attributes_size() + 2, "RewriteSpan attribute count");
  FUZZ_CHECK(rewritten.span_id() == original.span_id(), "RewriteSpan changed span_id");
  FUZZ_CHECK(rewritten.name() == original.name(), "RewriteSpan changed name");

  if (!ref.links.empty()) {
    gateway::MessageSpanFields fields;
    fields.span_id.bytes[0] = 0x42;
    fields.trace_id.bytes[0] = 0x43;
    fields.flags = 0x301;
    fields.batch_link = gateway::EncodeLink(fields.trace_id, ref.span_id, "", 0x01, {{"fuzz.batch", true}});
    fields.extra = {{"fuzz.fanout", true}};
    Span message_span;
    const std::string bytes = gateway::BuildMessageSpan(ref, ref.links[0], fields);
    FUZZ_CHECK(message_span.ParseFromString(bytes), "BuildMessageSpan output does not parse");
    FUZZ_CHECK(message_span.span_id() == std::string(fields.span_id.View()), "BuildMessageSpan span_id");
    FUZZ_CHECK(message_span.links_size() == 1, "BuildMessageSpan link back to the batch span");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = gateway::fuzz::QuietLibprotobuf();
  (void)quiet;
  std::string input(reinterpret_cast<const char*>(data), size);
  ExportTraceServiceRequest parsed;
  const bool libprotobuf_ok = parsed.ParseFromString(input);
  const bool strict = libprotobuf_ok && gateway::fuzz::ParsedStrictly(parsed);

  // The validator's fast paths (scopes of spans, spans, plain attributes)
  // give the schema-table check's verdict, message and UTF-8 note.
  {
    gateway::ValidationNotes fast_notes;
    gateway::ValidationNotes slow_notes;
    const absl::Status fast = gateway::ValidateExportRequest(gateway::Signal::kTraces, input, &fast_notes);
    FUZZ_CHECK(fast == gateway::otlp_wire_internal::ValidateWithoutFastPath(gateway::Signal::kTraces, input,
                                                                             &slow_notes),
               "the validator's fast path and its schema-table check differ");
    FUZZ_CHECK(!fast.ok() || fast_notes.invalid_utf8 == slow_notes.invalid_utf8,
               "the validator's fast path and its schema-table check note UTF-8 differently");
  }

  absl::StatusOr<gateway::ScannedTraceRequest> scanned = gateway::ScanTraceRequest(input);
  if (!scanned.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(scanned.status()), "error other than InvalidArgument");
    FUZZ_CHECK(!strict, "libprotobuf parses a request the scanner rejects");
    return 0;
  }
  FUZZ_CHECK(scanned->rejected_spans >= 0, "negative rejected_spans");
  // The pipeline skips the per-span search when the validator found no
  // invalid UTF-8: the search must then find none either.
  gateway::ValidationNotes notes;
  if (gateway::ValidateExportRequest(gateway::Signal::kTraces, input, &notes).ok() && !notes.invalid_utf8) {
    FUZZ_CHECK(scanned->invalid_utf8_spans == 0, "a span refused for UTF-8 the validator did not see");
  }
  FUZZ_CHECK((scanned->rejected_spans > 0) == !scanned->rejection_message.empty(),
             "rejection message iff rejected spans");
  for (const gateway::SpanRef& span : scanned->spans) {
    FUZZ_CHECK(span.buffer != nullptr, "accepted span without buffer");
    FUZZ_CHECK(span.trace_id.IsValid() && span.span_id.IsValid(), "accepted span with a zero id");
    FUZZ_CHECK(span.scope_index < span.buffer->scope_frames.size(), "scope index out of range");
    FUZZ_CHECK(span.trace_id_offset + 16 <= span.message.size(), "trace_id_offset out of range");
  }

  std::vector<gateway::OutputSpan> outputs;
  outputs.reserve(scanned->spans.size());
  for (const gateway::SpanRef& span : scanned->spans) outputs.push_back(gateway::OutputSpan::Unchanged(span, scanned->buffer));
  const std::string encoded = gateway::EncodeTraceRequest(outputs);
  for (const gateway::OutputSpan& out : outputs) {
    FUZZ_CHECK(gateway::EncodedSpanSize(out) >= out.bytes().size(), "EncodedSpanSize below the span size");
  }

  if (!libprotobuf_ok) return 0;  // e.g. invalid UTF-8 in a string field.
  // libprotobuf refuses invalid UTF-8 in every string field the scanner's
  // per-span search reads, so no span of a parsed request is refused for it
  // (the span count below holds only the id rule).
  FUZZ_CHECK(scanned->invalid_utf8_spans == 0, "a span refused for UTF-8 that libprotobuf parses");

  ExportTraceServiceRequest reencoded;
  FUZZ_CHECK(reencoded.ParseFromString(encoded), "EncodeTraceRequest output does not parse");
  int64_t dropped = 0;
  const std::vector<Triple> expected = Flatten(parsed, /*well_formed_only=*/true, &dropped);
  int64_t none = 0;
  const std::vector<Triple> actual = Flatten(reencoded, /*well_formed_only=*/false, &none);
  FUZZ_CHECK(dropped == scanned->rejected_spans, "rejected span count differs from the id rule");
  FUZZ_CHECK(static_cast<int64_t>(scanned->spans.size()) == static_cast<int64_t>(expected.size()),
             "accepted span count differs from libprotobuf");
  FUZZ_CHECK(expected == actual, "re-encoded request differs from the input minus rejected spans");

  for (const gateway::SpanRef& span : scanned->spans) CheckWriters(span);
  return 0;
}
