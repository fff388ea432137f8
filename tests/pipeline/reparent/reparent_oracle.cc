// ReparentOffline: docs/reparenting.md applied to all spans at once. Every
// span (and per-message span) is decided as soon as what it depends on is
// decided, until nothing moves; then, as the engine does when it stops
// waiting: when it waits for link fates, a cycle of waits is broken at its least
// member waiting for a link target; a span waiting for a link target at the
// end of a chain of waits is placed without it; what still waits for a
// parent goes out unchanged.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/reparent/trace_resolver.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway::testing {
namespace {

using KeyValues = google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>;
using Key = std::pair<std::string, std::string>;  // (trace id, span id)

constexpr uint32_t kRemoteBits = kSpanFlagsHasIsRemote | kSpanFlagsIsRemote;

bool ValidId(const std::string& bytes, size_t size) {
  return bytes.size() == size && bytes != std::string(size, '\0');
}

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

void AddString(KeyValues* attrs, const std::string& key, const std::string& value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

// The first attribute `key`: whether there is one, and its string value.
const opentelemetry::proto::common::v1::KeyValue* First(const KeyValues& attrs, const std::string& key) {
  for (const auto& kv : attrs) {
    if (kv.key() == key) return &kv;
  }
  return nullptr;
}

bool StringAttribute(const KeyValues& attrs, const std::string& key, std::string* value) {
  const auto* kv = First(attrs, key);
  if (kv == nullptr || !kv->has_value() || kv->value().value_case() != kv->value().kStringValue) return false;
  *value = kv->value().string_value();
  return true;
}

class Oracle {
 public:
  Oracle(const std::vector<ProtoSpan>& spans, const ReparentOptions& options, const OracleArrival& arrival)
      : spans_(spans), options_(options), arrival_(arrival) {}

  std::vector<ProtoSpan> Run() {
    for (size_t i = 0; i < spans_.size(); ++i) {
      Node n;
      n.span = static_cast<int>(i);
      n.chosen = ChooseLink(spans_[i], &n.eligible);
      AddNode(std::move(n), Key{spans_[i].trace_id(), spans_[i].span_id()});
    }
    FindAnchors();
    for (;;) {
      while (Step()) {
      }
      if (std::all_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.decided; })) break;
      if (options_.WaitsForLinkFate() && BreakCycles()) continue;
      if (ForceDeepestLinkWaits()) continue;
      // What still waits has a parent that never came: unchanged.
      for (Node& n : nodes_) {
        if (!n.decided && !n.message_span) Emit(n, Unchanged(n), false, "");
      }
    }
    return std::move(out_);
  }

 private:
  struct Node {
    int span = -1;  // the span; for a per-message span, its batch span
    bool message_span = false;
    std::string id;  // a per-message span's id
    int chosen = -1;  // target: its chosen link; per-message span: its link
    int eligible = 0;
    int anchor_child = -1;  // an invocation: the node of its target child
    bool anchored = false;  // a target an invocation takes along
    bool forced = false;  // decided without its link target's fate
    bool decided = false;
    bool moved = false;
    std::string trace;
    std::string batch_trace;
  };

  const ProtoSpan& SpanOf(const Node& n) const { return spans_[n.span]; }
  std::string IdOf(const Node& n) const { return n.message_span ? n.id : SpanOf(n).span_id(); }
  Key KeyOf(const Node& n) const { return Key{SpanOf(n).trace_id(), IdOf(n)}; }

  void AddNode(Node n, const Key& key) {
    by_key_.emplace(key, static_cast<int>(nodes_.size()));
    nodes_.push_back(std::move(n));
  }

  int Find(const Key& key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? -1 : it->second;
  }

  bool Eligible(const ProtoSpan& s, const ProtoSpan::Link& link) const {
    if (!ValidId(link.trace_id(), 16) || !ValidId(link.span_id(), 8) || link.trace_id() == s.trace_id()) return false;
    if ((link.flags() & kSpanFlagsHasIsRemote) != 0 && (s.flags() & 1) != 0 && (link.flags() & 1) == 0) return false;
    if (First(link.attributes(), kAttrOriginalParent) != nullptr) return false;
    if (First(link.attributes(), kAttrBatchSpan) != nullptr) return false;
    std::string source;
    return !(StringAttribute(link.attributes(), kAttrLinkSource, &source) && source == kLinkSourceXrayEnv);
  }

  int ChooseLink(const ProtoSpan& s, int* eligible) const {
    *eligible = 0;
    const auto& kinds = options_.target_kinds;
    if (std::find(kinds.begin(), kinds.end(), static_cast<SpanKind>(s.kind())) == kinds.end()) return -1;
    int chosen = -1;
    for (int i = 0; i < s.links_size(); ++i) {
      if (!Eligible(s, s.links(i))) continue;
      ++*eligible;
      if (options_.link_choice == LinkChoice::kLast || chosen < 0) chosen = i;
    }
    return chosen;
  }

  bool ParentIsRemote(const ProtoSpan& s) const {
    if ((s.flags() & kSpanFlagsHasIsRemote) != 0) return (s.flags() & kSpanFlagsIsRemote) != 0;
    return s.kind() == ProtoSpan::SPAN_KIND_SERVER || s.kind() == ProtoSpan::SPAN_KIND_CONSUMER;
  }

  bool FollowsParent(const ProtoSpan& s) const {
    return !s.parent_span_id().empty() && (options_.cross_process || !ParentIsRemote(s));
  }

  std::pair<int, int> When(int span) const {
    auto it = arrival_.when.find(spans_[span].span_id());
    return it == arrival_.when.end() ? std::pair<int, int>{0, span} : it->second;
  }

  // An invocation (root SERVER span, faas.trigger = pubsub, not a target)
  // takes along the first target child that came before it in its request
  // and says its parent is local.
  void FindAnchors() {
    for (size_t t = 0; t < spans_.size(); ++t) {
      const ProtoSpan& s = spans_[t];
      if (nodes_[t].chosen < 0 || s.parent_span_id().empty() || (s.flags() & kRemoteBits) != kSpanFlagsHasIsRemote) {
        continue;
      }
      const int p = Find(Key{s.trace_id(), s.parent_span_id()});
      if (p < 0) continue;
      const ProtoSpan& parent = spans_[p];
      std::string trigger;
      if (!parent.parent_span_id().empty() || parent.kind() != ProtoSpan::SPAN_KIND_SERVER || nodes_[p].chosen >= 0 ||
          !StringAttribute(parent.attributes(), kAttrFaasTrigger, &trigger) || trigger != "pubsub") {
        continue;
      }
      const auto tw = When(static_cast<int>(t));
      const auto pw = When(p);
      if (tw.first != pw.first || tw.second > pw.second) continue;
      Node& anchor = nodes_[p];
      if (anchor.anchor_child < 0 || When(anchor.anchor_child).second > tw.second) anchor.anchor_child = static_cast<int>(t);
    }
    for (Node& n : nodes_) {
      if (n.anchor_child >= 0) nodes_[n.anchor_child].anchored = true;
    }
  }

  // The trace a target or per-message span goes to; false while it waits.
  bool ResolveLink(const Node& n, std::string* trace) const {
    const ProtoSpan::Link& link = SpanOf(n).links(n.chosen);
    *trace = link.trace_id();
    if (n.forced) return true;
    if (arrival_.link_known && !arrival_.link_known(IdOf(n), link.trace_id())) return true;
    const int target = Find(Key{link.trace_id(), link.span_id()});
    if (target < 0) return true;
    if (!nodes_[target].decided) return false;
    if (nodes_[target].moved) *trace = nodes_[target].trace;
    return true;
  }

  // What node `i` waits for (-1: nothing decided here), and whether that is a link target.
  int WaitsFor(int i, bool* link_wait) const {
    const Node& n = nodes_[i];
    const ProtoSpan& s = SpanOf(n);
    *link_wait = false;
    if (n.message_span || n.chosen >= 0) {
      *link_wait = true;
      if (arrival_.link_known && !arrival_.link_known(IdOf(n), s.links(n.chosen).trace_id())) return -1;
      return Find(Key{s.links(n.chosen).trace_id(), s.links(n.chosen).span_id()});
    }
    if (n.anchor_child >= 0) return n.anchor_child;
    if (!FollowsParent(s)) return -1;
    const int parent = Find(Key{s.trace_id(), s.parent_span_id()});
    if (parent < 0 || !nodes_[parent].decided) return parent;
    return RouteOf(i);
  }

  // The per-message span node a child of a batch span goes under, or -1.
  int RouteOf(int i) const {
    const ProtoSpan& s = SpanOf(nodes_[i]);
    const int parent = Find(Key{s.trace_id(), s.parent_span_id()});
    if (parent < 0 || !nodes_[parent].moved) return -1;
    auto routes = routes_.find(Key{s.trace_id(), s.parent_span_id()});
    std::string message_id;
    if (routes == routes_.end() || !StringAttribute(s.attributes(), kAttrMessageId, &message_id)) return -1;
    for (const auto& [id, message_span] : routes->second) {
      if (id == message_id) return Find(Key{s.trace_id(), message_span});
    }
    return -1;
  }

  bool Step() {
    bool progress = false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].decided && TryDecide(static_cast<int>(i))) progress = true;
    }
    return progress;
  }

  bool TryDecide(int i) {
    Node& n = nodes_[i];
    const ProtoSpan& s = SpanOf(n);
    std::string trace;
    if (n.message_span) {
      if (!ResolveLink(n, &trace)) return false;
      Emit(n, MessageSpan(n, trace), true, trace);
      return true;
    }
    if (n.chosen >= 0) {
      if (!ResolveLink(n, &trace)) return false;
      ProtoSpan out = s;
      if (n.anchored) {
        out.set_trace_id(trace);
      } else {
        out = Reparented(s, s.links(n.chosen).span_id(), s.links(n.chosen).trace_state(), trace, n.chosen);
      }
      MakeMessageSpans(i, trace);
      Emit(nodes_[i], out, true, trace);
      return true;
    }
    if (n.anchor_child >= 0) {
      const Node& child = nodes_[n.anchor_child];
      if (!child.decided) return false;
      const ProtoSpan::Link& link = SpanOf(child).links(child.chosen);
      Emit(n, Reparented(s, link.span_id(), link.trace_state(), child.trace, -1), true, child.trace);
      return true;
    }
    if (!FollowsParent(s)) {
      Emit(n, s, false, "");
      return true;
    }
    const int parent = Find(Key{s.trace_id(), s.parent_span_id()});
    if (parent < 0 || !nodes_[parent].decided) return false;
    const int route = RouteOf(i);
    if (route >= 0) {
      if (!nodes_[route].decided) return false;
      ProtoSpan out = s;
      out.set_trace_id(nodes_[route].trace);
      out.set_parent_span_id(nodes_[route].id);
      if (options_.record_original) {
        AddString(out.mutable_attributes(), kAttrOriginalTraceId, Hex(s.trace_id()));
        AddString(out.mutable_attributes(), kAttrOriginalParentSpanId, Hex(s.parent_span_id()));
      }
      Emit(n, out, true, nodes_[route].trace);
      return true;
    }
    ProtoSpan out = s;
    if (nodes_[parent].moved) out.set_trace_id(nodes_[parent].trace);
    Emit(n, out, nodes_[parent].moved, nodes_[parent].trace);
    return true;
  }

  ProtoSpan Unchanged(const Node& n) const { return SpanOf(n); }

  void Emit(Node& n, ProtoSpan span, bool moved, const std::string& trace) {
    n.decided = true;
    n.moved = moved;
    n.trace = moved ? trace : "";
    out_.push_back(std::move(span));
  }

  ProtoSpan Reparented(const ProtoSpan& s, const std::string& parent, const std::string& trace_state,
                       const std::string& trace, int remove_link) const {
    ProtoSpan r = s;
    r.set_trace_id(trace);
    r.set_parent_span_id(parent);
    r.set_trace_state(trace_state);
    r.set_flags((s.flags() & kSpanFlagsTraceFlagsMask) | kRemoteBits);
    if (remove_link >= 0) r.mutable_links()->DeleteSubrange(remove_link, 1);
    const bool has_parent = !s.parent_span_id().empty();
    if (has_parent) {
      auto* old = r.add_links();
      old->set_trace_id(s.trace_id());
      old->set_span_id(s.parent_span_id());
      old->set_flags(s.flags());
      auto* kv = old->add_attributes();
      kv->set_key(kAttrOriginalParent);
      kv->mutable_value()->set_bool_value(true);
    }
    if (options_.record_original) {
      AddString(r.mutable_attributes(), kAttrOriginalTraceId, Hex(s.trace_id()));
      if (has_parent) AddString(r.mutable_attributes(), kAttrOriginalParentSpanId, Hex(s.parent_span_id()));
    }
    return r;
  }

  // One per-message span per link target of a batch (at least two eligible
  // links), in link order, at most max_fanout_links; routes by message id.
  void MakeMessageSpans(int batch, const std::string& batch_trace) {
    const ProtoSpan& s = spans_[nodes_[batch].span];
    if (!options_.fanout || options_.max_fanout_links <= 0 || nodes_[batch].eligible < 2) return;
    std::vector<std::string> made;
    std::vector<std::pair<std::string, std::string>> routes;
    for (int l = 0; l < s.links_size(); ++l) {
      const ProtoSpan::Link& link = s.links(l);
      if (!Eligible(s, link)) continue;
      TraceId ot, lt;
      SpanId os, ls;
      TraceId::FromBytes(s.trace_id(), &ot);
      SpanId::FromBytes(s.span_id(), &os);
      TraceId::FromBytes(link.trace_id(), &lt);
      SpanId::FromBytes(link.span_id(), &ls);
      const std::string id(FanoutSpanId(ot, os, lt, ls).View());
      const bool seen = std::find(made.begin(), made.end(), id) != made.end();
      if (!seen && static_cast<int>(made.size()) >= options_.max_fanout_links) continue;
      std::string message_id;
      if (StringAttribute(link.attributes(), kAttrMessageId, &message_id)) routes.emplace_back(message_id, id);
      if (seen) continue;
      made.push_back(id);
      Node n;
      n.span = nodes_[batch].span;
      n.message_span = true;
      n.id = id;
      n.chosen = l;
      n.batch_trace = batch_trace;
      AddNode(std::move(n), Key{s.trace_id(), id});
    }
    if (!routes.empty()) routes_[Key{s.trace_id(), s.span_id()}] = std::move(routes);
  }

  ProtoSpan MessageSpan(const Node& n, const std::string& trace) const {
    const ProtoSpan& s = SpanOf(n);
    const ProtoSpan::Link& link = s.links(n.chosen);
    ProtoSpan f;
    f.set_trace_id(trace);
    f.set_span_id(n.id);
    f.set_trace_state(link.trace_state());
    f.set_parent_span_id(link.span_id());
    f.set_kind(ProtoSpan::SPAN_KIND_CONSUMER);
    f.set_flags((link.flags() & kSpanFlagsTraceFlagsMask) | kRemoteBits);
    f.set_name(s.name());
    f.set_start_time_unix_nano(s.start_time_unix_nano());
    f.set_end_time_unix_nano(s.start_time_unix_nano());
    for (const auto& kv : s.attributes()) {
      if (kv.key().rfind("messaging.", 0) == 0 && kv.key().rfind("messaging.batch.", 0) != 0) *f.add_attributes() = kv;
    }
    for (const auto& kv : link.attributes()) *f.add_attributes() = kv;
    AddString(f.mutable_attributes(), kAttrFanoutOfTraceId, Hex(n.batch_trace));
    AddString(f.mutable_attributes(), kAttrFanoutOfSpanId, Hex(s.span_id()));
    auto* back = f.add_links();
    back->set_trace_id(n.batch_trace);
    back->set_span_id(s.span_id());
    back->set_flags(s.flags() & kSpanFlagsTraceFlagsMask);
    auto* kv = back->add_attributes();
    kv->set_key(kAttrBatchSpan);
    kv->mutable_value()->set_bool_value(true);
    return f;
  }

  // Cycles of waits through a link target: each is broken at its member
  // with the least (trace id, span id) that waits for a link target.
  bool BreakCycles() {
    bool broke = false;
    std::vector<int> state(nodes_.size(), 0);  // 0 new, 1 on the current path, 2 done
    for (size_t start = 0; start < nodes_.size(); ++start) {
      if (nodes_[start].decided || state[start] != 0) continue;
      std::vector<int> path;
      int i = static_cast<int>(start);
      while (i >= 0 && !nodes_[i].decided && state[i] == 0) {
        state[i] = 1;
        path.push_back(i);
        bool link_wait;
        i = WaitsFor(i, &link_wait);
      }
      if (i >= 0 && !nodes_[i].decided && state[i] == 1) {
        int best = -1;
        for (auto it = std::find(path.begin(), path.end(), i); it != path.end(); ++it) {
          bool link_wait;
          WaitsFor(*it, &link_wait);
          if (!link_wait) continue;
          if (best < 0 || KeyOf(nodes_[*it]) < KeyOf(nodes_[best])) best = *it;
        }
        if (best >= 0) {
          nodes_[best].forced = true;
          broke = true;
        }
      }
      for (int p : path) state[p] = 2;
    }
    return broke;
  }

  // A link wait at the end of a chain of waits (no other link wait after
  // it) is decided without its link target.
  bool ForceDeepestLinkWaits() {
    bool forced = false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      bool link_wait;
      int next = nodes_[i].decided ? -1 : WaitsFor(static_cast<int>(i), &link_wait);
      if (nodes_[i].decided || !link_wait || nodes_[i].forced) continue;
      bool deeper = false;
      for (size_t steps = 0; next >= 0 && !nodes_[next].decided && steps <= nodes_.size(); ++steps) {
        bool next_link;
        const int after = WaitsFor(next, &next_link);
        if (next_link) {
          deeper = true;
          break;
        }
        next = after;
      }
      if (!deeper) {
        nodes_[i].forced = true;
        forced = true;
      }
    }
    return forced;
  }

  const std::vector<ProtoSpan>& spans_;
  const ReparentOptions& options_;
  const OracleArrival& arrival_;
  std::vector<Node> nodes_;
  std::map<Key, int> by_key_;
  // Batch span -> (message id, per-message span id), in link order.
  std::map<Key, std::vector<std::pair<std::string, std::string>>> routes_;
  std::vector<ProtoSpan> out_;
};

}  // namespace

std::vector<ProtoSpan> ReparentOffline(const std::vector<ProtoSpan>& spans, const ReparentOptions& options,
                                       const OracleArrival& arrival) {
  return Oracle(spans, options, arrival).Run();
}

}  // namespace gateway::testing
