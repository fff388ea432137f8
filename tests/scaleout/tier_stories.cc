#include "tests/scaleout/tier_stories.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/trace_ids.h"
#include "tests/pipeline/reparent/reparent_oracle.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::scaleout {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

constexpr uint32_t kSampled = 0x01;
constexpr uint32_t kLocalParent = kSpanFlagsHasIsRemote | kSampled;
constexpr uint32_t kRemoteParent = kSpanFlagsHasIsRemote | kSpanFlagsIsRemote | kSampled;
constexpr absl::Duration kTick = absl::Milliseconds(20);

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string Bytes8(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

// Trace ids spread over the ring like real ones; span ids sequential.
class Ids {
 public:
  explicit Ids(uint64_t base) : base_(base << 40) {}
  std::string Trace() {
    const uint64_t n = base_ + ++traces_;
    return Bytes8(Mix(n)) + Bytes8(n);
  }
  std::string Span() { return Bytes8(base_ + ++spans_); }

 private:
  uint64_t base_;
  uint64_t traces_ = 0;
  uint64_t spans_ = 0;
};

ProtoSpan MakeSpan(const std::string& trace, const std::string& id, const std::string& parent, ProtoSpan::SpanKind kind,
                   const std::string& name, uint32_t flags) {
  ProtoSpan span;
  span.set_trace_id(trace);
  span.set_span_id(id);
  span.set_parent_span_id(parent);
  span.set_kind(kind);
  span.set_name(name);
  span.set_flags(flags);
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  span.set_start_time_unix_nano(now);
  span.set_end_time_unix_nano(now + 1'000'000);
  auto* attr = span.add_attributes();
  attr->set_key("messaging.system");
  attr->mutable_value()->set_string_value("aws_sqs");
  return span;
}

void Link(ProtoSpan* span, const ProtoSpan& to) {
  auto* link = span->add_links();
  link->set_trace_id(to.trace_id());
  link->set_span_id(to.span_id());
}

std::string Body(const std::vector<const StoryPart*>& parts) {
  ExportTraceServiceRequest request;
  std::map<std::string, opentelemetry::proto::trace::v1::ScopeSpans*> by_service;
  for (const StoryPart* part : parts) {
    auto& scope = by_service[part->service];
    if (scope == nullptr) {
      auto* rs = request.add_resource_spans();
      auto* attr = rs->mutable_resource()->add_attributes();
      attr->set_key("service.name");
      attr->mutable_value()->set_string_value(part->service);
      scope = rs->add_scope_spans();
      scope->mutable_scope()->set_name("tier-test");
    }
    for (const ProtoSpan& span : part->spans) *scope->add_spans() = span;
  }
  return request.SerializeAsString();
}

bool Send(int collector, const std::pair<int, int>& ports, const std::string& body) {
  if (collector == 0) {
    return reliability::HttpPost(ports.second, "/v1/traces", "application/x-protobuf", body, "", absl::Seconds(5))
               .status == 200;
  }
  return reliability::GrpcExportRaw(ports.first, reliability::kTraceExport, body, absl::Seconds(5)).ok();
}

uint32_t Crc32(const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

bool Equivalent(const ProtoSpan& a, const ProtoSpan& b) {
  return google::protobuf::util::MessageDifferencer::Equivalent(a, b);
}

std::string AttributeString(const ProtoSpan& span, const std::string& key) {
  for (const auto& kv : span.attributes()) {
    if (kv.key() == key) return kv.value().string_value();
  }
  return "";
}

}  // namespace

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kExact:
      return "exact";
    case Outcome::kUnmoved:
      return "unmoved";
    case Outcome::kMissing:
      return "missing";
    case Outcome::kWrong:
      return "wrong";
  }
  return "?";
}

// ---- plan ---------------------------------------------------------------

std::vector<ProtoSpan> StoryPlan::AllSpans() const {
  std::vector<ProtoSpan> all;
  for (const StoryPart& part : parts) all.insert(all.end(), part.spans.begin(), part.spans.end());
  return all;
}

StoryPlan MakeStoryPlan(int stories, absl::Duration spacing, uint64_t id_base) {
  StoryPlan plan;
  plan.stories = stories;
  plan.spacing = spacing;
  Ids ids(id_base);
  auto part = [&plan](int story, int due_ms, int collector, const std::string& service, std::vector<ProtoSpan> spans) {
    for (const ProtoSpan& s : spans) {
      plan.story_of_span[s.span_id()] = story;
      plan.trace_ids.insert(s.trace_id());
    }
    plan.parts.push_back({story, absl::Milliseconds(due_ms), collector, service, std::move(spans)});
  };
  for (int story = 0; story < stories; ++story) {
    if (story % 2 == 0) {
      const std::string p_trace = ids.Trace();
      const std::string c_trace = ids.Trace();
      ProtoSpan p = MakeSpan(p_trace, ids.Span(), "", ProtoSpan::SPAN_KIND_PRODUCER, "orders publish", kSampled);
      ProtoSpan c = MakeSpan(c_trace, ids.Span(), "", ProtoSpan::SPAN_KIND_CONSUMER, "orders process", kSampled);
      Link(&c, p);
      ProtoSpan c1 = MakeSpan(c_trace, ids.Span(), c.span_id(), ProtoSpan::SPAN_KIND_INTERNAL, "handle", kLocalParent);
      ProtoSpan c2 = MakeSpan(c_trace, ids.Span(), c1.span_id(), ProtoSpan::SPAN_KIND_CLIENT, "GET /stock", kLocalParent);
      ProtoSpan c3 = MakeSpan(c_trace, ids.Span(), c2.span_id(), ProtoSpan::SPAN_KIND_SERVER, "GET /stock",
                              kRemoteParent);
      ProtoSpan c4 = MakeSpan(c_trace, ids.Span(), c3.span_id(), ProtoSpan::SPAN_KIND_INTERNAL, "lookup", kLocalParent);
      part(story, 0, 0, "stock", {c4, c3});
      part(story, 150, 1, "worker", {c2, c1});
      part(story, 300, 0, "worker", {c});
      part(story, 350, 1, "shop", {p});
    } else {
      ProtoSpan p[3];
      for (ProtoSpan& producer : p) {
        producer = MakeSpan(ids.Trace(), ids.Span(), "", ProtoSpan::SPAN_KIND_PRODUCER, "orders publish", kSampled);
      }
      const std::string b_trace = ids.Trace();
      ProtoSpan b = MakeSpan(b_trace, ids.Span(), "", ProtoSpan::SPAN_KIND_CONSUMER, "orders process batch", kSampled);
      for (const ProtoSpan& producer : p) Link(&b, producer);
      ProtoSpan b1 = MakeSpan(b_trace, ids.Span(), b.span_id(), ProtoSpan::SPAN_KIND_CLIENT, "POST /ship", kLocalParent);
      ProtoSpan b2 = MakeSpan(b_trace, ids.Span(), b1.span_id(), ProtoSpan::SPAN_KIND_SERVER, "POST /ship",
                              kRemoteParent);
      part(story, 0, 1, "shipping", {b2});
      part(story, 100, 0, "worker", {b1});
      part(story, 250, 1, "worker", {b});
      part(story, 250, 1, "shop", {p[0]});
      part(story, 300, 0, "shop", {p[1], p[2]});
    }
  }
  std::stable_sort(plan.parts.begin(), plan.parts.end(), [&plan](const StoryPart& a, const StoryPart& b) {
    return plan.StoryStart(a.story) + a.due < plan.StoryStart(b.story) + b.due;
  });
  return plan;
}

// ---- sender -------------------------------------------------------------

StorySender::StorySender(const StoryPlan& plan, std::vector<std::pair<int, int>> collectors)
    : plan_(plan), collectors_(std::move(collectors)) {}

StorySender::~StorySender() { Join(); }

void StorySender::Start() {
  start_ = absl::Now();
  thread_ = std::thread([this] { Run(); });
}

void StorySender::Join() {
  if (thread_.joinable()) thread_.join();
}

absl::Time StorySender::SentAt(const std::string& span_id) const {
  auto it = sent_at_.find(span_id);
  return it == sent_at_.end() ? absl::InfiniteFuture() : it->second;
}

void StorySender::Run() {
  size_t next = 0;
  std::vector<std::vector<const StoryPart*>> pending(collectors_.size());
  std::vector<int> attempts(collectors_.size(), 0);
  const size_t max_ticks = static_cast<size_t>((plan_.StoryStart(plan_.stories) + absl::Seconds(30)) / kTick);
  for (size_t tick = 0; tick < max_ticks; ++tick) {
    const absl::Time now = absl::Now();
    while (next < plan_.parts.size() && start_ + plan_.StoryStart(plan_.parts[next].story) + plan_.parts[next].due <= now) {
      pending[plan_.parts[next].collector].push_back(&plan_.parts[next]);
      ++next;
    }
    bool any_pending = false;
    for (size_t c = 0; c < collectors_.size(); ++c) {
      if (pending[c].empty()) continue;
      for (const StoryPart* part : pending[c]) {
        for (const ProtoSpan& span : part->spans) sent_at_.emplace(span.span_id(), now);
      }
      ++requests_;
      if (Send(static_cast<int>(c), collectors_[c], Body(pending[c])) || ++attempts[c] >= 50) {
        pending[c].clear();
        attempts[c] = 0;
      } else {
        ++refused_;
      }
      any_pending |= !pending[c].empty();
    }
    if (next >= plan_.parts.size() && !any_pending) return;
    absl::SleepFor(std::max(absl::ZeroDuration(), now + kTick - absl::Now()));
  }
}

std::map<std::string, std::string> SendProbes(const std::set<std::string>& trace_ids, int http_port,
                                              uint64_t id_base) {
  std::map<std::string, std::string> probes;
  Ids ids(id_base);
  StoryPart part;
  part.service = "probe";
  auto flush = [&]() {
    if (part.spans.empty()) return true;
    const bool ok = Send(0, {0, http_port}, Body({&part}));
    part.spans.clear();
    return ok;
  };
  for (const std::string& trace : trace_ids) {
    ProtoSpan probe = MakeSpan(trace, ids.Span(), "", ProtoSpan::SPAN_KIND_INTERNAL, "probe", kSampled);
    probes[probe.span_id()] = trace;
    part.spans.push_back(std::move(probe));
    if (part.spans.size() == 500 && !flush()) return {};
  }
  if (!flush()) return {};
  return probes;
}

// ---- ring ---------------------------------------------------------------

CollectorRing::CollectorRing(std::vector<std::string> endpoints) {
  constexpr uint32_t kPositions = 131071;
  constexpr int kPoints = 200;
  constexpr int kProbeLimit = 10;
  struct Candidate {
    uint32_t pos;
    uint32_t hash;
    std::string endpoint;
  };
  std::vector<Candidate> candidates;
  for (const std::string& endpoint : endpoints) {
    for (int i = 0; i < kPoints; ++i) {
      std::string key = endpoint;
      const uint32_t n = static_cast<uint32_t>(i);
      const char le[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                          static_cast<char>((n >> 16) & 0xff), static_cast<char>(n >> 24)};
      key.append(le, 4);
      const uint32_t hash = Crc32(key);
      candidates.push_back({hash % kPositions, hash, endpoint});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.pos, a.hash, a.endpoint) < std::tie(b.pos, b.hash, b.endpoint);
  });
  std::set<uint32_t> used;
  for (const Candidate& c : candidates) {
    uint32_t pos = c.pos;
    int probed = 0;
    while (used.count(pos) && probed < kProbeLimit) {
      pos = (pos + 1) % kPositions;
      ++probed;
    }
    if (probed >= kProbeLimit) continue;
    used.insert(pos);
    items_.emplace_back(pos, c.endpoint);
  }
  std::sort(items_.begin(), items_.end());
}

const std::string& CollectorRing::EndpointFor(const std::string& trace_id) const {
  const uint32_t pos = Crc32(trace_id) % 131071;
  auto it = std::lower_bound(items_.begin(), items_.end(), pos,
                             [](const std::pair<uint32_t, std::string>& item, uint32_t p) { return item.first < p; });
  if (it == items_.end()) it = items_.begin();
  return it->second;
}

// ---- verdict ------------------------------------------------------------

std::map<std::string, std::vector<ReceivedCopy>> ReceivedCopies(
    const std::vector<const testing::FakeDynatrace*>& fakes) {
  std::map<std::string, std::vector<ReceivedCopy>> copies;
  for (size_t i = 0; i < fakes.size(); ++i) {
    if (fakes[i] == nullptr) continue;
    for (const auto& rs : fakes[i]->ReceivedSpans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const ProtoSpan& span : ss.spans()) copies[span.span_id()].push_back({static_cast<int>(i), span});
      }
    }
  }
  return copies;
}

TierVerdict Classify(const StoryPlan& plan, const ReparentOptions& options,
                     const std::map<std::string, std::vector<ReceivedCopy>>& received,
                     const std::set<std::string>& ignored_ids) {
  const std::vector<ProtoSpan> sent = plan.AllSpans();
  std::map<std::string, const ProtoSpan*> sent_by_id;
  std::map<std::string, const ProtoSpan*> sent_by_hex;
  for (const ProtoSpan& s : sent) {
    sent_by_id[s.span_id()] = &s;
    sent_by_hex[Hex(s.span_id())] = &s;
  }
  TierVerdict verdict;
  std::set<std::string> expected_ids;
  for (const ProtoSpan& expected : testing::ReparentOffline(sent, options)) {
    SpanVerdict v;
    v.span_id = expected.span_id();
    expected_ids.insert(v.span_id);
    const ProtoSpan* original = nullptr;
    if (auto it = sent_by_id.find(v.span_id); it != sent_by_id.end()) {
      original = it->second;
      v.origin_trace = original->trace_id();
      v.story = plan.story_of_span.at(v.span_id);
      v.source_span_id = v.span_id;
    } else {
      v.fanout = true;
      const ProtoSpan* consumer = sent_by_hex.at(AttributeString(expected, "gateway.reparent.fanout_of_span_id"));
      v.origin_trace = consumer->trace_id();
      v.story = plan.story_of_span.at(consumer->span_id());
      v.source_span_id = consumer->span_id();
    }
    auto it = received.find(v.span_id);
    if (it == received.end() || it->second.empty()) {
      v.outcome = Outcome::kMissing;
    } else {
      v.copies = static_cast<int>(it->second.size());
      bool all_exact = true;
      bool any_wrong = false;
      for (const ReceivedCopy& copy : it->second) {
        v.replicas.insert(copy.replica);
        if (Equivalent(copy.span, expected)) continue;
        all_exact = false;
        if (original == nullptr || !Equivalent(copy.span, *original)) any_wrong = true;
      }
      v.outcome = any_wrong ? Outcome::kWrong : all_exact ? Outcome::kExact : Outcome::kUnmoved;
      if (v.copies > 1) {
        ++verdict.duplicated_spans;
        verdict.extra_copies += v.copies - 1;
      }
    }
    ++verdict.counts[v.outcome];
    verdict.spans.push_back(std::move(v));
  }
  for (const auto& [id, copies] : received) {
    if (!expected_ids.count(id) && !ignored_ids.count(id)) verdict.unexpected_ids.push_back(Hex(id));
  }
  return verdict;
}

}  // namespace gateway::scaleout
