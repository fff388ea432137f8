// The reparenting engine's data path against libprotobuf on the same
// realistic requests (bench/request_generator.h: 500 spans of ~600 bytes,
// 5 resources x 2 scopes, 10% CONSUMER spans with a link, 10 spans per
// trace, so a consumer that is a trace root takes 9 descendants with it),
// in two shapes of span (the benchmarks' argument `conventions`):
//   0: a few attributes plus one long padding string per span, the easiest
//      case for libprotobuf (one allocation and copy for most of the bytes);
//   1: the attributes SDKs record (semantic conventions of HTTP server,
//      database client and SQS consumer spans, then short application
//      attributes): 10-12 short values per span.
//
//   BM_ScanResolveEncode: ScanTraceRequest (taking ownership of the body), a
//     long-lived TraceResolver deciding every span as a shard worker does
//     (ProcessRequest: recording fates, holding and resolving children,
//     rewriting consumers, moving descendants), and EncodeTraceRequest of
//     everything that came out.
//   BM_ValidateScanResolveEncode: the same after ValidateExportRequest (the
//     receivers' full check of every request, attributes and UTF-8 of every
//     string included, as GatewayPipeline::IngestTraces calls it).
//   BM_Validate: that check alone.
//   BM_ScanEncodeOnly: the same without the resolver (every span unchanged).
//   BM_LibprotobufParseSerialize: ParseFromString + SerializeAsString of the
//     same bodies, no reparenting at all (a lower bound for a decode-based
//     engine).
//
// The process runs with the allocator settings the gateway's main sets
// (pipeline/base/allocator.h), for all three.
//
// docs/performance-engine.md has the figures and the command.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/request_generator.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/allocator.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_resolver.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_scanner.h"

namespace gateway {
namespace {

// As otlp_gateway's main does, before the benchmarks run.
const bool kAllocatorTuned = TuneAllocatorForThroughput();

// Distinct requests cycled through; ids repeat only every kBodies requests,
// so the resolver's tables stay at a steady size (kBodies * 500 fates).
constexpr int kBodies = 32;

// The benchmarks' argument: how spans reach their ~600 bytes
// (TraceRequestShape::Attributes).
std::vector<std::string> MakeBodies(TraceRequestShape::Attributes attributes) {
  TraceRequestShape shape;
  shape.attributes = attributes;
  std::vector<std::string> all;
  for (int i = 0; i < kBodies; ++i) all.push_back(MakeTraceRequest(shape, 1000 + i));
  return all;
}

const std::vector<std::string>& Bodies(const benchmark::State& state) {
  static const auto* const kPadded = new std::vector<std::string>(MakeBodies(TraceRequestShape::Attributes::kOnePadding));
  static const auto* const kConventions =
      new std::vector<std::string>(MakeBodies(TraceRequestShape::Attributes::kSemanticConventions));
  return state.range(0) == 0 ? *kPadded : *kConventions;
}

int64_t TotalBytes(const benchmark::State& state) {
  int64_t bytes = 0;
  for (const std::string& b : Bodies(state)) bytes += static_cast<int64_t>(b.size());
  return bytes;
}

// Arg 0: one padding attribute per span; arg 1: semantic-convention
// attributes (see TraceRequestShape::Attributes).
void Shapes(benchmark::internal::Benchmark* b) { b->ArgName("conventions")->Arg(0)->Arg(1); }

// `validate`: ValidateExportRequest first, as the receivers run it on every
// request before the engine sees it.
void ScanResolveEncode(benchmark::State& state, bool validate) {
  const std::vector<std::string>& bodies = Bodies(state);
  ReparentOptions options;
  int64_t spans = 0;
  int64_t reparented = 0;
  int64_t moved = 0;
  int64_t out_bytes = 0;
  std::vector<OutputSpan> out;
  // One long-lived resolver, as in a shard worker: remembered fates and held
  // spans carry over between requests; time moves 1 ms per request.
  TraceResolver resolver(options);
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  std::vector<std::string> received;
  for (auto _ : state) {
    // The engine takes ownership of the received body; the copies that stand
    // for the receiver's buffers are made outside the timed region.
    state.PauseTiming();
    received = bodies;
    state.ResumeTiming();
    const TraceResolverStats before = resolver.stats();
    for (std::string& body : received) {
      // As GatewayPipeline::IngestTraces: the validator checks every string
      // for UTF-8 on the way, and only its finding makes the scanner search
      // span by span.
      ValidationNotes notes;
      if (validate && !ValidateExportRequest(Signal::kTraces, body, &notes).ok()) {
        state.SkipWithError("invalid");
        return;
      }
      absl::StatusOr<ScannedTraceRequest> scanned =
          ScanTraceRequest(std::move(body), notes.invalid_utf8 ? Utf8Check::kPerSpan : Utf8Check::kSkip);
      if (!scanned.ok()) {
        state.SkipWithError("scan failed");
        return;
      }
      out.clear();
      resolver.ProcessRequest(scanned->buffer, scanned->spans, now, &out);
      resolver.Expire(now, &out);
      std::string encoded = EncodeTraceRequest(out);
      benchmark::DoNotOptimize(encoded.data());
      out_bytes = static_cast<int64_t>(encoded.size());
      now += absl::Milliseconds(1);
    }
    spans = resolver.stats().processed - before.processed;
    reparented = resolver.stats().reparented - before.reparented;
    moved = resolver.stats().descendants_moved - before.descendants_moved;
  }
  state.SetBytesProcessed(state.iterations() * TotalBytes(state));
  state.SetItemsProcessed(state.iterations() * spans);
  state.counters["reparented_per_round"] = static_cast<double>(reparented);
  state.counters["moved_per_round"] = static_cast<double>(moved);
  state.counters["spans_per_round"] = static_cast<double>(spans);
  state.counters["fates_remembered"] = static_cast<double>(resolver.ResolvedSpans());
  state.counters["held"] = static_cast<double>(resolver.HeldSpans());
  state.counters["allocator_tuned"] = kAllocatorTuned ? 1 : 0;
  benchmark::DoNotOptimize(out_bytes);
}

void BM_ScanResolveEncode(benchmark::State& state) { ScanResolveEncode(state, /*validate=*/false); }
BENCHMARK(BM_ScanResolveEncode)->Apply(Shapes);

// The receivers' validation included: what a trace request costs from the
// received bytes to the export body.
void BM_ValidateScanResolveEncode(benchmark::State& state) { ScanResolveEncode(state, /*validate=*/true); }
BENCHMARK(BM_ValidateScanResolveEncode)->Apply(Shapes);

// ValidateExportRequest alone, with the UTF-8 notes the pipeline asks for:
// what BM_ValidateScanResolveEncode adds to BM_ScanResolveEncode, without
// the engine's noise around it.
void BM_Validate(benchmark::State& state) {
  const std::vector<std::string>& bodies = Bodies(state);
  for (auto _ : state) {
    for (const std::string& body : bodies) {
      ValidationNotes notes;
      if (!ValidateExportRequest(Signal::kTraces, body, &notes).ok() || notes.invalid_utf8) {
        state.SkipWithError("invalid");
        return;
      }
    }
  }
  state.SetBytesProcessed(state.iterations() * TotalBytes(state));
}
BENCHMARK(BM_Validate)->Apply(Shapes);

// The same scan and encode with every span passed through unchanged (as
// runs, AppendUnchanged): what the resolver adds is the difference to
// BM_ScanResolveEncode.
void BM_ScanEncodeOnly(benchmark::State& state) {
  const std::vector<std::string>& bodies = Bodies(state);
  int64_t spans = 0;
  std::vector<OutputSpan> out;
  std::vector<std::string> received;
  for (auto _ : state) {
    state.PauseTiming();
    received = bodies;
    state.ResumeTiming();
    spans = 0;
    for (std::string& body : received) {
      absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(std::move(body), Utf8Check::kSkip);
      if (!scanned.ok()) {
        state.SkipWithError("scan failed");
        return;
      }
      out.clear();
      spans += static_cast<int64_t>(scanned->spans.size());
      for (const SpanRef& span : scanned->spans) AppendUnchanged(span, scanned->buffer, &out);
      std::string encoded = EncodeTraceRequest(out);
      benchmark::DoNotOptimize(encoded.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * TotalBytes(state));
  state.SetItemsProcessed(state.iterations() * spans);
  // Received bytes per span, frames included.
  state.counters["request_bytes_per_span"] = spans > 0 ? static_cast<double>(TotalBytes(state)) / spans : 0;
}
BENCHMARK(BM_ScanEncodeOnly)->Apply(Shapes);

void BM_LibprotobufParseSerialize(benchmark::State& state) {
  const std::vector<std::string>& bodies = Bodies(state);
  int64_t spans = 0;
  for (auto _ : state) {
    spans = 0;
    for (const std::string& body : bodies) {
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
      if (!request.ParseFromString(body)) {
        state.SkipWithError("parse failed");
        return;
      }
      for (const auto& rs : request.resource_spans()) {
        for (const auto& ss : rs.scope_spans()) spans += ss.spans_size();
      }
      // A fresh output string per request, as the engine's encoder makes.
      std::string encoded = request.SerializeAsString();
      benchmark::DoNotOptimize(encoded.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * TotalBytes(state));
  state.SetItemsProcessed(state.iterations() * spans);
}
BENCHMARK(BM_LibprotobufParseSerialize)->Apply(Shapes);

}  // namespace
}  // namespace gateway
