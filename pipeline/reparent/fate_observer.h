// The resolver's hook for the fate store: told where spans of chosen kinds
// went as their fates are decided, so they can be published for gateways
// that see the consumers linking to them (fate_store_gate.h).
//
//   class Publisher final : public FateObserver {
//     void OnFate(const SpanRef& span, const TraceId& new_trace) override { ... }
//   };
//   resolver.ObserveFates(&publisher, {SpanKind::kProducer});
#pragma once

#include "pipeline/otlp/span_ref.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

class FateObserver {
 public:
  virtual ~FateObserver() = default;

  // `span` went out in `new_trace` (its own trace_id when unchanged). Called
  // on the resolver's thread while it decides; must not block. `span` is
  // valid only during the call.
  virtual void OnFate(const SpanRef& span, const TraceId& new_trace) = 0;
};

}  // namespace gateway
