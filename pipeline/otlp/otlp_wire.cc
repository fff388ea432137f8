#include "pipeline/otlp/otlp_wire.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/otlp/wire_format.h"

namespace gateway {
namespace {

// ---------------------------------------------------------------------------
// Navigation shared by counting and splitting.

constexpr uint32_t kRequestResources = 1;  // resource_spans / resource_metrics / resource_logs
constexpr uint32_t kResourceScopes = 2;    // scope_spans / scope_metrics / scope_logs
constexpr uint32_t kScopeItems = 2;        // spans / metrics / log_records
constexpr uint32_t kDataPoints = 1;        // data_points in every metric data message

bool IsMetricData(uint32_t number) { return number == 5 || number == 7 || number == 9 || number == 10 || number == 11; }

int64_t CountPoints(std::string_view metric) {
  // Metric.data is a oneof: as a protobuf decoder (and so the backend) sees
  // it, a later member replaces an earlier, different one, and repeats of the
  // same member merge.
  int64_t count = 0;
  uint32_t member = 0;
  WireReader reader(metric);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (!IsMetricData(f.number) || f.type != WireType::kLengthDelimited) continue;
    if (f.number != member) {
      member = f.number;
      count = 0;
    }
    WireReader data(f.bytes);
    WireField g;
    while (!data.done() && data.ReadField(&g)) {
      if (g.number == kDataPoints && g.type == WireType::kLengthDelimited) ++count;
    }
  }
  return count;
}

// Calls fn(field) for each length-delimited field `number` of `message`;
// stops at malformed bytes.
template <typename Fn>
void ForEachMessage(std::string_view message, uint32_t number, Fn&& fn) {
  WireReader reader(message);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (f.number == number && f.type == WireType::kLengthDelimited) fn(f.bytes);
  }
}

// Every field of `message` except the length-delimited occurrences of the
// numbers `is_child` accepts, with tags, in order; and the children.
template <typename IsChild>
std::string SplitFrame(std::string_view message, IsChild&& is_child,
                       std::vector<std::pair<uint32_t, std::string_view>>* children) {
  std::string frame;
  WireReader reader(message);
  WireField f;
  while (!reader.done() && reader.ReadField(&f)) {
    if (f.type == WireType::kLengthDelimited && is_child(f.number)) {
      children->emplace_back(f.number, f.bytes);
    } else {
      frame.append(message.data() + f.begin, f.end - f.begin);
    }
  }
  return frame;
}

// Greedy packer: leaves (spans, log records or data points) arrive in
// order with their containers; a part is closed when the next leaf would
// push it past a limit.
class Packer {
 public:
  Packer(bool metrics, size_t max_bytes, int64_t max_items)
      : metrics_(metrics), max_bytes_(max_bytes), max_items_(max_items) {}

  // Containers are identified by the address of their frame, which stays
  // put while their leaves are added.
  void Add(const std::string* resource, const std::string* scope, const std::string* metric,
           uint32_t data_number, const std::string* data, std::string_view leaf) {
    if (resource != resource_) {
      CloseResource();
    } else if (scope != scope_) {
      CloseScope();
    } else if (metrics_ && (metric != metric_ || data != data_)) {
      CloseMetric();
    }
    if (items_ > 0 && (SizeWith(resource, scope, metric, data_number, data, leaf.size()) > max_bytes_ ||
                       (max_items_ > 0 && items_ + 1 > max_items_))) {
      Flush();
    }
    resource_ = resource;
    scope_ = scope;
    metric_ = metric;
    data_ = data;
    data_number_ = data_number;
    if (metrics_) {
      AppendLengthDelimited(&points_, kDataPoints, leaf);
    } else {
      AppendLengthDelimited(&scope_body_, kScopeItems, leaf);
    }
    ++items_;
  }

  // The container whose frame was last passed to Add is complete; its frame
  // may go away after this call.
  void EndMetric() { CloseMetric(); }
  void EndScope() { CloseScope(); }
  void EndResource() { CloseResource(); }

  std::vector<std::string> Finish() {
    Flush();
    return std::move(parts_);
  }

 private:
  static size_t FrameSize(const std::string* frame) { return frame == nullptr ? 0 : frame->size(); }

  // The part's size if `leaf` were added now and everything closed.
  size_t SizeWith(const std::string* resource, const std::string* scope, const std::string* metric,
                  uint32_t data_number, const std::string* data, size_t leaf) const {
    size_t scope_inner;
    if (metrics_) {
      const size_t data_body = FrameSize(data) + points_.size() + LengthDelimitedSize(kDataPoints, leaf);
      const size_t metric_body = FrameSize(metric) + LengthDelimitedSize(data_number, data_body);
      scope_inner = scope_body_.size() + LengthDelimitedSize(kScopeItems, metric_body);
    } else {
      scope_inner = scope_body_.size() + LengthDelimitedSize(kScopeItems, leaf);
    }
    const size_t resource_inner =
        resource_body_.size() + LengthDelimitedSize(kResourceScopes, FrameSize(scope) + scope_inner);
    return part_.size() + LengthDelimitedSize(kRequestResources, FrameSize(resource) + resource_inner);
  }

  void CloseMetric() {
    if (metric_ == nullptr) return;
    if (!points_.empty()) {
      std::string data_body = *data_;
      data_body += points_;
      std::string metric_body = *metric_;
      AppendLengthDelimited(&metric_body, data_number_, data_body);
      AppendLengthDelimited(&scope_body_, kScopeItems, metric_body);
    }
    points_.clear();
    metric_ = nullptr;
    data_ = nullptr;
  }

  void CloseScope() {
    CloseMetric();
    if (scope_ == nullptr) return;
    if (!scope_body_.empty()) {
      std::string body = *scope_;
      body += scope_body_;
      AppendLengthDelimited(&resource_body_, kResourceScopes, body);
    }
    scope_body_.clear();
    scope_ = nullptr;
  }

  void CloseResource() {
    CloseScope();
    if (resource_ == nullptr) return;
    if (!resource_body_.empty()) {
      std::string body = *resource_;
      body += resource_body_;
      AppendLengthDelimited(&part_, kRequestResources, body);
    }
    resource_body_.clear();
    resource_ = nullptr;
  }

  void Flush() {
    CloseResource();
    if (items_ > 0) parts_.push_back(std::move(part_));
    part_.clear();
    items_ = 0;
  }

  const bool metrics_;
  const size_t max_bytes_;
  const int64_t max_items_;

  const std::string* resource_ = nullptr;
  const std::string* scope_ = nullptr;
  const std::string* metric_ = nullptr;
  const std::string* data_ = nullptr;
  uint32_t data_number_ = 0;

  std::string points_;         // data point fields of the open metric
  std::string scope_body_;     // item fields of the open scope
  std::string resource_body_;  // scope fields of the open resource
  std::string part_;           // resource fields of closed resources
  int64_t items_ = 0;
  std::vector<std::string> parts_;
};

}  // namespace

int64_t CountItems(Signal signal, std::string_view body) {
  int64_t count = 0;
  ForEachMessage(body, kRequestResources, [&](std::string_view resource) {
    ForEachMessage(resource, kResourceScopes, [&](std::string_view scope) {
      ForEachMessage(scope, kScopeItems, [&](std::string_view item) {
        count += signal == Signal::kMetrics ? CountPoints(item) : 1;
      });
    });
  });
  return count;
}

std::vector<std::string> SplitExportRequest(Signal signal, std::string_view body, size_t max_bytes,
                                            int64_t max_items) {
  if (body.size() <= max_bytes && (max_items <= 0 || CountItems(signal, body) <= max_items)) {
    return {std::string(body)};
  }
  const bool metrics = signal == Signal::kMetrics;
  Packer packer(metrics, max_bytes, max_items);
  auto is_scopes = [](uint32_t n) { return n == kResourceScopes; };
  auto is_items = [](uint32_t n) { return n == kScopeItems; };
  auto is_points = [](uint32_t n) { return n == kDataPoints; };
  std::vector<std::pair<uint32_t, std::string_view>> scopes;
  std::vector<std::pair<uint32_t, std::string_view>> items;
  std::vector<std::pair<uint32_t, std::string_view>> data_fields;
  std::vector<std::pair<uint32_t, std::string_view>> points;
  ForEachMessage(body, kRequestResources, [&](std::string_view resource) {
    scopes.clear();
    const std::string resource_frame = SplitFrame(resource, is_scopes, &scopes);
    for (const auto& [unused_number, scope] : scopes) {
      items.clear();
      const std::string scope_frame = SplitFrame(scope, is_items, &items);
      for (const auto& [unused_item_number, item] : items) {
        if (!metrics) {
          packer.Add(&resource_frame, &scope_frame, nullptr, 0, nullptr, item);
          continue;
        }
        data_fields.clear();
        const std::string metric_frame = SplitFrame(item, IsMetricData, &data_fields);
        // Metric.data is a oneof: only the last run of one member survives
        // decoding (see CountPoints), so only its points are carried.
        size_t first_kept = data_fields.size();
        while (first_kept > 0 && data_fields[first_kept - 1].first == data_fields.back().first) --first_kept;
        for (size_t i = first_kept; i < data_fields.size(); ++i) {
          const auto& [data_number, data] = data_fields[i];
          points.clear();
          const std::string data_frame = SplitFrame(data, is_points, &points);
          for (const auto& [unused_point_number, point] : points) {
            packer.Add(&resource_frame, &scope_frame, &metric_frame, data_number, &data_frame, point);
          }
          packer.EndMetric();
        }
      }
      packer.EndScope();
    }
    packer.EndResource();
  });
  return packer.Finish();
}

}  // namespace gateway
