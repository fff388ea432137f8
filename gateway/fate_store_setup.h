// The fate store the configuration asks for (reparent.fate_store), as a
// started FateStoreClient for the engine, and its rows for /status.
//
//   GATEWAY_ASSIGN_OR_RETURN(std::unique_ptr<FateStoreClient> client,
//                            StartFateStore(config.fate_store, registry, clock));
//   engine = NewShardedTraceEngine(..., client.get());   // null: no store
//   ...
//   engine->Shutdown();
//   if (client) client->Shutdown();
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/fate_store_config.h"
#include "pipeline/base/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/reparent/fate_store_client.h"

namespace gateway {

// Null when config.type is kNone. Errors: an unreadable TLS file, a
// malformed address. The store itself is not contacted here: the gateway
// starts (and works as without a store) while it is unreachable.
absl::StatusOr<std::unique_ptr<FateStoreClient>> StartFateStore(const FateStoreConfig& config,
                                                                 MetricsRegistry& metrics, const Clock& clock);

// Label and value rows for the status page.
std::vector<std::pair<std::string, std::string>> FateStoreStatusRows(const FateStoreClient& client);

}  // namespace gateway
