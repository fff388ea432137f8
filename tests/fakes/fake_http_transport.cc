#include "tests/fakes/fake_http_transport.h"

#include <utility>

namespace gateway::testing {

void FakeHttpTransport::PushResponse(Response response) {
  MutexLock lock(&mu_);
  script_.push_back(std::move(response));
}

std::vector<FakeHttpTransport::Request> FakeHttpTransport::Requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

bool FakeHttpTransport::WaitForRequests(size_t n, absl::Duration timeout) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; }, timeout);
}

int64_t FakeHttpTransport::Aborted() const {
  MutexLock lock(&mu_);
  return aborted_;
}

void FakeHttpTransport::Start(uint64_t id, const std::string& url, std::string_view body) {
  MutexLock lock(&mu_);
  requests_.push_back({id, url, std::string(body)});
  Response response;
  if (!script_.empty()) {
    response = std::move(script_.front());
    script_.pop_front();
  }
  if (response.hang) {
    hanging_.push_back(id);
    return;
  }
  HttpCompletion done;
  done.id = id;
  done.error = response.error;
  done.error_message = std::move(response.error_message);
  if (response.error == TransportError::kNone) {
    done.status = response.status;
    done.retry_after = std::move(response.retry_after);
    done.body = std::move(response.body);
  }
  completed_.push_back(std::move(done));
}

void FakeHttpTransport::Perform(std::vector<HttpCompletion>* completed) {
  MutexLock lock(&mu_);
  for (HttpCompletion& done : completed_) completed->push_back(std::move(done));
  completed_.clear();
}

void FakeHttpTransport::Wait(absl::Duration timeout) {
  MutexLock lock(&mu_);
  mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return woken_ || !completed_.empty(); },
                       timeout);
  woken_ = false;
}

void FakeHttpTransport::Wakeup() {
  MutexLock lock(&mu_);
  woken_ = true;
}

std::vector<uint64_t> FakeHttpTransport::AbortAll() {
  MutexLock lock(&mu_);
  std::vector<uint64_t> ids = std::move(hanging_);
  hanging_.clear();
  aborted_ += static_cast<int64_t>(ids.size());
  return ids;
}

}  // namespace gateway::testing
