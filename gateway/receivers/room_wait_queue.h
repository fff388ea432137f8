// The requests of one HTTP I/O thread that wait, their bodies still unread,
// for room in the memory budget (HttpHandler::RoomWait).
//
// A request refused for a full budget is sent again by its client after a
// second or more; one that waits a little is usually accepted the first
// time, since room comes back as exports finish. While it waits its body
// stays in the socket, so TCP slows the client down and the gateway holds
// only the headers. Every `poll` while any request waits, the queue resumes
// requests from the oldest while each one's `has_room` says yes (at most
// `max_resumes_per_poll`, since a resumed request takes its room only as its
// body arrives), and any whose time is up.
//
//   RoomWaitQueue waits(ioc, {});
//   waits.Add(now + wait, [session] { return session->HasRoom(); },
//             [session](bool room) { session->AfterHeaders(); });
//   ...
//   waits.ResumeAll();  // the server is stopping
//
// Not thread-safe: one producer and one consumer, the io_context's own
// thread, which runs every `resume` (never from inside Add).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/functional/any_invocable.h"

namespace gateway {

struct RoomWaitOptions {
  std::chrono::steady_clock::duration poll = std::chrono::milliseconds(1);
  size_t max_resumes_per_poll = 8;
};

class RoomWaitQueue final {
 public:
  // `room`: whether room came (false: the time ran out, or ResumeAll).
  using Resume = absl::AnyInvocable<void(bool room)>;

  using HasRoom = absl::AnyInvocable<bool()>;

  RoomWaitQueue(boost::asio::io_context& ioc, RoomWaitOptions options);
  RoomWaitQueue(const RoomWaitQueue&) = delete;
  RoomWaitQueue& operator=(const RoomWaitQueue&) = delete;

  // `resume` runs once, on the io_context's thread, at a later poll, once
  // `has_room` says yes (asked while this request is first in line) or at
  // `until`.
  void Add(std::chrono::steady_clock::time_point until, HasRoom has_room, Resume resume);
  // Resumes every waiting request now, oldest first, with room = false;
  // later Adds wait as before.
  void ResumeAll();
  size_t size() const { return waiting_.size(); }

 private:
  struct Waiting {
    std::chrono::steady_clock::time_point until;
    HasRoom has_room;
    Resume resume;
  };

  void Arm();
  void OnPoll();

  boost::asio::steady_timer timer_;
  const RoomWaitOptions options_;
  std::deque<Waiting> waiting_;
  bool armed_ = false;
};

}  // namespace gateway
