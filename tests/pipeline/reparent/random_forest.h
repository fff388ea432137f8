// Random span forests for the reparenting property tests: a few traces of
// spans with random parents, kinds, flags and attributes, random links
// (to spans anywhere, unknown spans, invalid ids, links marked as not a
// parent), batch handlers carrying their message's id, invocations, and
// chains of consumers and producers across traces; with random options.
//
//   testing::Forest forest = testing::RandomForest(seed);
//   ... forest.spans through the engine with forest.options ...
#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/reparent/reparent_options.h"
#include "tests/pipeline/reparent/reparent_oracle.h"

namespace gateway::testing {

struct Forest {
  std::vector<ProtoSpan> spans;
  ReparentOptions options;
};

// Deterministic in `seed`; ids of different seeds do not collide.
Forest RandomForest(uint64_t seed);

}  // namespace gateway::testing
