// Private to http_server.cc: one HTTP I/O thread's state, and what its
// sessions see of the server.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/http_server.h"
#include "gateway/receivers/room_wait_queue.h"

namespace gateway::http_server_internal {

// A connection, as its I/O thread's worker sees it.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // On the session's I/O thread: the server is stopping.
  virtual void OnServerShutdown() = 0;
};

// What a session needs of its server. Implemented by HttpServer::Impl; any
// thread may call it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual const HttpServerOptions& options() const = 0;
  virtual HttpHandler& handler() = 0;
  virtual bool stopping() const = 0;
  virtual void SessionStarted() = 0;
  virtual void SessionEnded() = 0;
  virtual void RoomWaitStarted() = 0;
  virtual void RoomWaitEnded() = 0;
  // A body was cut off for arriving too slowly.
  virtual void NoteSlowBody(const std::string& remote, size_t bytes) = 0;
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
