#include "tests/pipeline/reparent/random_forest.h"

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace gateway::testing {

Forest RandomForest(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  Forest f;
  f.options.link_choice = coin(0.5) ? LinkChoice::kFirst : LinkChoice::kLast;
  f.options.fanout = coin(0.7);
  f.options.max_fanout_links = pick(0, 3);
  f.options.record_original = coin(0.7);
  f.options.cross_process = coin(0.5);
  if (f.options.cross_process) f.options.wait_for_link_fate = coin(0.7);
  if (coin(0.3)) f.options.target_kinds = {SpanKind::kConsumer, SpanKind::kServer};

  const ProtoSpan::SpanKind kinds[] = {ProtoSpan::SPAN_KIND_INTERNAL, ProtoSpan::SPAN_KIND_SERVER,
                                       ProtoSpan::SPAN_KIND_CLIENT, ProtoSpan::SPAN_KIND_PRODUCER,
                                       ProtoSpan::SPAN_KIND_CONSUMER, ProtoSpan::SPAN_KIND_CONSUMER};
  const uint32_t flag_choices[] = {0x101, 0x101, 0x301, 0x001, 0x000, 0x100};
  const uint32_t link_flag_choices[] = {0x101, 0x001, 0x100, 0x301, 0x300, 0x000};
  const int traces = pick(1, 6);
  uint64_t next_span = seed * 1000 + 1;
  // Message ids come from a small pool so that children can carry a link's.
  auto message_id = [&] { return "m-" + std::to_string(pick(0, 5)); };
  std::vector<std::vector<int>> by_trace(traces);
  for (int t = 0; t < traces; ++t) {
    const std::string trace_id = testing::TraceIdBytes(seed * 16 + t + 1);
    const int n = pick(1, 12);
    for (int i = 0; i < n; ++i) {
      ProtoSpan s;
      s.set_trace_id(trace_id);
      s.set_span_id(testing::SpanIdBytes(next_span++));
      const int r = pick(0, 9);
      if (!by_trace[t].empty() && r < 7) {
        const auto& siblings = by_trace[t];
        s.set_parent_span_id(f.spans[siblings[pick(0, static_cast<int>(siblings.size()) - 1)]].span_id());
      } else if (r == 7) {
        s.set_parent_span_id(testing::SpanIdBytes(900'000'000 + next_span));  // never arrives
      }
      s.set_kind(kinds[pick(0, 5)]);
      s.set_flags(flag_choices[pick(0, 5)]);
      s.set_name("op-" + std::to_string(pick(0, 99)));
      s.set_start_time_unix_nano(1'700'000'000'000'000'000ULL + next_span);
      s.set_end_time_unix_nano(1'700'000'001'000'000'000ULL + next_span);
      auto* kv = s.add_attributes();
      kv->set_key("k");
      kv->mutable_value()->set_int_value(pick(0, 1000));
      if (coin(0.4)) {
        auto* messaging = s.add_attributes();
        messaging->set_key(coin(0.5) ? "messaging.system" : "messaging.batch.message_count");
        messaging->mutable_value()->set_string_value("v");
      }
      // Handlers of a batch's messages carry the message id.
      if (coin(0.3)) {
        auto* id = s.add_attributes();
        id->set_key("messaging.message.id");
        id->mutable_value()->set_string_value(message_id());
      }
      // Invocations of functions run by messages.
      if (s.parent_span_id().empty() && s.kind() == ProtoSpan::SPAN_KIND_SERVER && coin(0.6)) {
        auto* trigger = s.add_attributes();
        trigger->set_key("faas.trigger");
        trigger->mutable_value()->set_string_value(coin(0.8) ? "pubsub" : "http");
      }
      if (coin(0.3)) s.mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
      by_trace[t].push_back(static_cast<int>(f.spans.size()));
      f.spans.push_back(std::move(s));
    }
  }
  // Links point to spans anywhere (own trace included), to unknown spans,
  // or are invalid; some are marked as not a parent.
  for (ProtoSpan& s : f.spans) {
    const int links = pick(0, 3);
    for (int l = 0; l < links; ++l) {
      auto* link = s.add_links();
      const int r = pick(0, 9);
      if (r == 0) {
        link->set_trace_id(std::string(16, '\0'));
        link->set_span_id(testing::SpanIdBytes(1));
      } else if (r == 1) {
        link->set_trace_id(testing::TraceIdBytes(seed * 16 + 15));
        link->set_span_id(std::string(8, '\0'));
      } else if (r == 2) {
        link->set_trace_id(testing::TraceIdBytes(777'000 + pick(0, 3)));
        link->set_span_id(testing::SpanIdBytes(pick(1, 5)));
      } else {
        const ProtoSpan& target = f.spans[pick(0, static_cast<int>(f.spans.size()) - 1)];
        link->set_trace_id(target.trace_id());
        link->set_span_id(target.span_id());
      }
      if (coin(0.3)) link->set_trace_state("vendor=" + std::to_string(pick(0, 9)));
      link->set_flags(link_flag_choices[pick(0, 5)]);
      if (coin(0.3)) {
        auto* kv = link->add_attributes();
        kv->set_key("messaging.batch.index");
        kv->mutable_value()->set_int_value(l);
      }
      if (coin(0.7)) {
        auto* kv = link->add_attributes();
        kv->set_key("messaging.message.id");
        kv->mutable_value()->set_string_value(message_id());
      }
      if (coin(0.05)) {
        auto* kv = link->add_attributes();
        kv->set_key("source");
        kv->mutable_value()->set_string_value("x-ray-env");
      } else if (coin(0.05)) {
        auto* kv = link->add_attributes();
        kv->set_key("gateway.reparent.original_parent");
        kv->mutable_value()->set_bool_value(true);
      }
    }
  }
  // Handlers of a batch: children of a span with links often carry the
  // message id of one of its links.
  std::map<std::pair<std::string, std::string>, const ProtoSpan*> by_key;
  for (const ProtoSpan& s : f.spans) by_key[{s.trace_id(), s.span_id()}] = &s;
  for (ProtoSpan& s : f.spans) {
    auto parent = by_key.find({s.trace_id(), s.parent_span_id()});
    if (parent == by_key.end() || parent->second->links_size() == 0 || !coin(0.9)) continue;
    std::vector<std::string> ids;
    for (const auto& link : parent->second->links()) {
      for (const auto& kv : link.attributes()) {
        if (kv.key() == "messaging.message.id") ids.push_back(kv.value().string_value());
      }
    }
    if (!ids.empty()) {
      auto* id = s.add_attributes();
      id->set_key("messaging.message.id");
      id->mutable_value()->set_string_value(ids[pick(0, static_cast<int>(ids.size()) - 1)]);
      // An earlier one, if any, is the one that counts.
      if (coin(0.7)) s.mutable_attributes()->SwapElements(0, s.attributes_size() - 1);
    }
  }
  // Chains: the first span of a trace often consumes from a span of the
  // trace before it (which may itself have moved).
  for (int t = 1; t < traces; ++t) {
    if (!coin(0.6)) continue;
    ProtoSpan& consumer = f.spans[by_trace[t][0]];
    const auto& previous = by_trace[t - 1];
    const ProtoSpan& producer = f.spans[previous[pick(0, static_cast<int>(previous.size()) - 1)]];
    consumer.set_kind(ProtoSpan::SPAN_KIND_CONSUMER);
    auto* link = consumer.mutable_links()->Add();
    link->set_trace_id(producer.trace_id());
    link->set_span_id(producer.span_id());
    link->set_flags(0x101);
    if (coin(0.5)) consumer.mutable_links()->SwapElements(0, consumer.links_size() - 1);
  }
  return f;
}

}  // namespace gateway::testing
