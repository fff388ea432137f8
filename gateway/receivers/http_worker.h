// Private to http_server.cc: one HTTP I/O thread's state.
#pragma once

#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "gateway/receivers/room_wait_queue.h"

namespace gateway::http_server_internal {

// A connection, as its I/O thread's worker sees it.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // On the session's I/O thread: the server is stopping.
  virtual void OnServerShutdown() = 0;
};

// One I/O thread's state. Only its own thread touches `sessions` and
// `room_waits` (and, after the thread is joined, the destructor).
struct Worker {
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  // Destroyed before `sessions`: destroying it destroys pending handlers
  // and with them sessions.
  boost::asio::io_context ioc{1};
  // Requests waiting for the handler's room; destroyed first (it holds
  // sessions, and its timer belongs to `ioc`).
  std::optional<RoomWaitQueue> room_waits;
  std::thread thread;
};

}  // namespace gateway::http_server_internal
