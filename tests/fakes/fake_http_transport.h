// An in-memory HttpTransport: records every POST and answers it at once with
// the next scripted response (200 with an empty body when none is left), or
// keeps it in flight until aborted.
//
//   auto transport = std::make_unique<FakeHttpTransport>();
//   FakeHttpTransport* fake = transport.get();   // valid while its owner lives
//   fake->PushResponse({.status = 503, .retry_after = "7"});
//   exporter = NewOtlpHttpExporter(options, registry, clock, std::move(transport));
//   ASSERT_TRUE(fake->WaitForRequests(2, absl::Seconds(5)));
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/base/sync.h"
#include "pipeline/export/http_transport.h"

namespace gateway::testing {

class FakeHttpTransport final : public HttpTransport {
 public:
  struct Response {
    TransportError error = TransportError::kNone;
    std::string error_message;
    long status = 200;
    std::string retry_after;
    std::string body;
    // Never completes: stays in flight until AbortAll.
    bool hang = false;
  };

  struct Request {
    uint64_t id = 0;
    std::string url;
    std::string body;  // the bytes as given to Start
  };

  // Answers the next request not yet answered. Thread-safe.
  void PushResponse(Response response);

  // Every request started so far, in order. Thread-safe.
  std::vector<Request> Requests() const;

  // True once `n` requests have been started, false after `timeout` (real
  // time). Thread-safe.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;

  // Transfers dropped by AbortAll so far. Thread-safe.
  int64_t Aborted() const;

  // HttpTransport.
  void Start(uint64_t id, const std::string& url, std::string_view body) override;
  void Perform(std::vector<HttpCompletion>* completed) override;
  void Wait(absl::Duration timeout) override;
  void Wakeup() override;
  std::vector<uint64_t> AbortAll() override;

 private:
  mutable Mutex mu_;
  std::deque<Response> script_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpCompletion> completed_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> hanging_ ABSL_GUARDED_BY(mu_);
  int64_t aborted_ ABSL_GUARDED_BY(mu_) = 0;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gateway::testing
