#include "bench/loadgen_requests.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "bench/loadgen_wire.h"
#include "google/protobuf/util/json_util.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace loadgen {
namespace {

uint8_t HexValue(char c) {
  return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::trace::v1::Span;

struct SpanContext {
  std::string trace_id;  // 16 bytes
  std::string span_id;   // 8 bytes
};

class SpanFactory {
 public:
  SpanFactory(const LoadShape& shape, uint64_t seed)
      : shape_(shape),
        rng_(seed),
        now_ns_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count())) {}

  std::string RandomBytes(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t word = rng_() | 1;  // never an all-zero (invalid) id
      std::memcpy(out.data() + i, &word, std::min<size_t>(8, n - i));
    }
    return out;
  }

  std::string NewTraceId() { return RandomBytes(16); }

  // A span of `kind` in `trace_id` under `parent_span_id` (empty: root).
  Span Make(const std::string& trace_id, const std::string& parent_span_id, Span::SpanKind kind,
            const char* name) {
    Span span;
    span.set_trace_id(trace_id);
    span.set_span_id(RandomBytes(8));
    if (!parent_span_id.empty()) span.set_parent_span_id(parent_span_id);
    span.set_name(name);
    span.set_kind(kind);
    const uint64_t start = now_ns_ + (rng_() % 1'000'000'000);
    span.set_start_time_unix_nano(start);
    span.set_end_time_unix_nano(start + 1'000'000 + rng_() % 50'000'000);
    auto* attr = span.add_attributes();
    attr->set_key("loadgen.seq");
    attr->mutable_value()->set_int_value(static_cast<int64_t>(seq_++));
    return span;
  }

  Span MakeConsumer(const SpanContext& producer) {
    Span span = Make(NewTraceId(), "", Span::SPAN_KIND_CONSUMER, "queue receive");
    auto* link = span.add_links();
    link->set_trace_id(producer.trace_id);
    link->set_span_id(producer.span_id);
    auto* attr = span.add_attributes();
    attr->set_key("messaging.system");
    attr->mutable_value()->set_string_value("aws_sqs");
    return span;
  }

  // Grows `span` towards shape.span_bytes with a string attribute, or with
  // attributes of shape.attribute_bytes each.
  void Pad(Span* span) {
    if (shape_.attribute_bytes > 0) {
      // KeyValue framing (2), key "app.attr.NN" (2 + 11), AnyValue framing (4).
      const int each = shape_.attribute_bytes + 19;
      for (int i = 0; static_cast<int>(span->ByteSizeLong()) + each <= shape_.span_bytes; ++i) {
        auto* attr = span->add_attributes();
        attr->set_key("app.attr." + std::to_string(10 + i % 90));
        std::string value(static_cast<size_t>(shape_.attribute_bytes), 'x');
        for (char& c : value) c = static_cast<char>('a' + rng_() % 26);
        attr->mutable_value()->set_string_value(std::move(value));
      }
      return;
    }
    const int current = static_cast<int>(span->ByteSizeLong());
    // KeyValue framing: tag+len of the KeyValue, key "pad", AnyValue framing.
    constexpr int kOverhead = 2 + 5 + 3 + 3;
    const int pad = shape_.span_bytes - current - kOverhead;
    if (pad <= 0) return;
    auto* attr = span->add_attributes();
    attr->set_key("pad");
    std::string value(static_cast<size_t>(pad), 'x');
    for (int i = 0; i < pad; i += 7) value[static_cast<size_t>(i)] = static_cast<char>('a' + rng_() % 26);
    attr->mutable_value()->set_string_value(std::move(value));
  }

 private:
  const LoadShape& shape_;
  std::mt19937_64 rng_;
  const uint64_t now_ns_;
  uint64_t seq_ = 0;
};

// The spans planned for one pool entry before they are serialized.
struct PlannedRequest {
  std::vector<Span> spans;
  std::vector<SpanContext> producers;
};

}  // namespace

int64_t RequestPool::TotalSpans() const {
  int64_t total = 0;
  for (int n : span_counts) total += n;
  return total;
}

int64_t RequestPool::TotalBytes() const {
  int64_t total = 0;
  for (const auto& b : bodies) total += static_cast<int64_t>(b.size());
  return total;
}

void RequestPool::Render(uint64_t send_index, std::string* out) const {
  const size_t index = static_cast<size_t>(send_index % bodies.size());
  const auto salt = static_cast<uint32_t>(send_index / bodies.size());
  const std::string& body = bodies[index];
  out->assign(body);
  if (salt == 0) return;
  char* data = out->data();
  auto salted = [salt](uint32_t word) {
    word ^= salt;
    return word == 0 ? 1 : word;  // keep the id valid (not all zero)
  };
  for (uint32_t offset : id_offsets[index]) {
    uint8_t bytes[4];
    if (json) {
      for (int i = 0; i < 4; ++i) {
        bytes[i] = static_cast<uint8_t>(HexValue(data[offset + 2 * i]) << 4 | HexValue(data[offset + 2 * i + 1]));
      }
    } else {
      std::memcpy(bytes, data + offset, 4);
    }
    uint32_t word;
    std::memcpy(&word, bytes, 4);
    word = salted(word);
    std::memcpy(bytes, &word, 4);
    if (json) {
      static constexpr char kDigits[] = "0123456789abcdef";
      for (int i = 0; i < 4; ++i) {
        data[offset + 2 * i] = kDigits[bytes[i] >> 4];
        data[offset + 2 * i + 1] = kDigits[bytes[i] & 0xf];
      }
    } else {
      std::memcpy(data + offset, bytes, 4);
    }
  }
}

std::string HexIdsInProto3Json(const std::string& json, std::vector<uint32_t>* offsets) {
  // One pass: every id key ends in `Id":"`. (Text inside a JSON string
  // cannot hold that: its quotes are escaped.)
  constexpr absl::string_view kSuffix = "Id\":\"";
  const absl::string_view text(json);
  std::string out;
  out.reserve(json.size() + json.size() / 4);
  size_t copied = 0;
  for (size_t at = text.find(kSuffix); at != absl::string_view::npos; at = text.find(kSuffix, at)) {
    const absl::string_view before = text.substr(0, at);
    const size_t value = at + kSuffix.size();
    if (!absl::EndsWith(before, "\"trace") && !absl::EndsWith(before, "\"span") &&
        !absl::EndsWith(before, "\"parentSpan")) {
      at = value;
      continue;
    }
    const size_t end = text.find('"', value);
    std::string bytes;
    absl::Base64Unescape(text.substr(value, end - value), &bytes);
    out.append(json, copied, value - copied);
    if (offsets != nullptr) offsets->push_back(static_cast<uint32_t>(out.size()));
    out += absl::BytesToHexString(bytes);
    copied = end;
    at = end;
  }
  out.append(json, copied, std::string::npos);
  return out;
}

RequestPool ToOtlpJsonPool(const RequestPool& pool) {
  RequestPool json;
  json.json = true;
  json.span_counts = pool.span_counts;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_enums_as_ints = true;
  for (const std::string& body : pool.bodies) {
    ExportTraceServiceRequest request;
    request.ParseFromString(body);
    std::string proto3_json;
    (void)google::protobuf::util::MessageToJsonString(request, &proto3_json, options);
    std::vector<uint32_t>& offsets = json.id_offsets.emplace_back();
    json.bodies.push_back(HexIdsInProto3Json(proto3_json, &offsets));
  }
  return json;
}

RequestPool BuildRequestPool(const LoadShape& shape, int pool_size, uint64_t seed) {
  pool_size = std::max(pool_size, 1);
  const int n = std::max(shape.spans_per_request, 1);
  const double share = std::clamp(shape.consumer_share, 0.0, 1.0);
  int consumers = static_cast<int>(std::lround(share * n));
  if (share > 0 && consumers == 0) consumers = 1;
  consumers = std::min(consumers, n);
  const int rest = n - consumers;
  const int producers = std::min(consumers, rest);
  const int children_per_consumer = consumers == 0 ? 0 : std::min(2, (rest - producers) / consumers);
  const int filler = rest - producers - children_per_consumer * consumers;

  SpanFactory factory(shape, seed);
  std::vector<PlannedRequest> planned(static_cast<size_t>(pool_size));

  // Producers first, so every consumer can link to the previous entry's.
  for (auto& request : planned) {
    for (int i = 0; i < producers; ++i) {
      const std::string trace = factory.NewTraceId();
      Span span = factory.Make(trace, "", Span::SPAN_KIND_PRODUCER, "queue send");
      request.producers.push_back({span.trace_id(), span.span_id()});
      request.spans.push_back(std::move(span));
    }
  }
  for (int r = 0; r < pool_size; ++r) {
    auto& request = planned[static_cast<size_t>(r)];
    const auto& previous = planned[static_cast<size_t>((r + pool_size - 1) % pool_size)];
    // Where the consumer's children go: one entry earlier when out of order.
    // Entry 0 keeps its own: the last entry goes out a round (salt) earlier.
    auto& children_home = shape.out_of_order && r > 0 ? planned[static_cast<size_t>(r - 1)] : request;
    for (int c = 0; c < consumers; ++c) {
      SpanContext producer;
      if (!previous.producers.empty()) {
        producer = previous.producers[static_cast<size_t>(c) % previous.producers.size()];
      } else {
        producer = {factory.NewTraceId(), factory.RandomBytes(8)};  // producer never seen
      }
      Span consumer = factory.MakeConsumer(producer);
      for (int k = 0; k < children_per_consumer; ++k) {
        children_home.spans.push_back(
            factory.Make(consumer.trace_id(), consumer.span_id(), Span::SPAN_KIND_INTERNAL, "process message"));
      }
      request.spans.push_back(std::move(consumer));
    }
    // Ordinary traces: a SERVER root with up to four INTERNAL children.
    for (int left = filler; left > 0;) {
      const std::string trace = factory.NewTraceId();
      Span root = factory.Make(trace, "", Span::SPAN_KIND_SERVER, "GET /api/orders");
      const std::string root_id = root.span_id();
      request.spans.push_back(std::move(root));
      --left;
      for (int k = 0; k < 4 && left > 0; ++k, --left) {
        request.spans.push_back(factory.Make(trace, root_id, Span::SPAN_KIND_INTERNAL, "db query"));
      }
    }
  }

  RequestPool pool;
  pool.bodies.reserve(planned.size());
  for (auto& request : planned) {
    ExportTraceServiceRequest message;
    auto* resource_spans = message.add_resource_spans();
    auto* attr = resource_spans->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value(shape.service_name);
    auto* scope_spans = resource_spans->add_scope_spans();
    scope_spans->mutable_scope()->set_name("loadgen");
    for (auto& span : request.spans) {
      factory.Pad(&span);
      *scope_spans->add_spans() = std::move(span);
    }
    std::string body = message.SerializeAsString();
    std::vector<uint32_t> offsets;
    FindIdOffsets(body, &offsets);
    pool.span_counts.push_back(static_cast<int>(request.spans.size()));
    pool.bodies.push_back(std::move(body));
    pool.id_offsets.push_back(std::move(offsets));
  }
  return pool;
}

}  // namespace loadgen
