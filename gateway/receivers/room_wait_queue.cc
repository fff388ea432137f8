#include "gateway/receivers/room_wait_queue.h"

#include <utility>

#include <boost/system/error_code.hpp>

namespace gateway {

RoomWaitQueue::RoomWaitQueue(boost::asio::io_context& ioc, RoomWaitOptions options)
    : timer_(ioc), options_(options) {}

void RoomWaitQueue::Add(std::chrono::steady_clock::time_point until, HasRoom has_room, Resume resume) {
  waiting_.push_back({until, std::move(has_room), std::move(resume)});
  Arm();
}

void RoomWaitQueue::ResumeAll() {
  // A resume may Add again (a new request on the same connection): only the
  // ones waiting now are resumed.
  std::deque<Waiting> now = std::move(waiting_);
  waiting_.clear();
  for (Waiting& w : now) w.resume(false);
}

void RoomWaitQueue::Arm() {
  if (armed_ || waiting_.empty()) return;
  armed_ = true;
  timer_.expires_after(options_.poll);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    armed_ = false;
    if (ec) return;  // cancelled: the queue is being destroyed
    OnPoll();
  });
}

void RoomWaitQueue::OnPoll() {
  const auto now = std::chrono::steady_clock::now();
  size_t resumed = 0;
  // Oldest first while there is room; then those whose time is up.
  while (!waiting_.empty() && resumed < options_.max_resumes_per_poll && waiting_.front().has_room()) {
    Resume resume = std::move(waiting_.front().resume);
    waiting_.pop_front();
    ++resumed;
    resume(true);
  }
  std::deque<Waiting> kept;
  std::deque<Waiting> expired;
  for (Waiting& w : waiting_) (w.until <= now ? expired : kept).push_back(std::move(w));
  waiting_ = std::move(kept);
  for (Waiting& w : expired) w.resume(false);
  Arm();
}

}  // namespace gateway
