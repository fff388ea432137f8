#include "gateway/receivers/tcp_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/host_port.h"
#include "pipeline/base/thread_name.h"

namespace gateway {

ListenSocket::ListenSocket(ListenSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), family_(other.family_), port_(other.port_) {}

ListenSocket& ListenSocket::operator=(ListenSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    port_ = other.port_;
  }
  return *this;
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) ::close(fd_);
}

int ListenSocket::Release() { return std::exchange(fd_, -1); }

absl::StatusOr<ListenSocket> ListenTcp(const std::string& address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(parsed.status().message(), " in ", address));
  const std::string host = parsed->host.empty() ? "0.0.0.0" : parsed->host;
  const std::string port_text = absl::StrCat(parsed->port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad host in ", address, ": ", ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(found, ::freeaddrinfo);
  // A name with both: its IPv4 address, which is what clients told
  // "localhost" try first or only.
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      found = a;
      break;
    }
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket for ", address, ": ", std::strerror(errno)));
  ListenSocket socket(fd, found->ai_family, 0);
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return absl::UnavailableError(absl::StrCat("getsockname for ", address, ": ", std::strerror(errno)));
  }
  const int bound_port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return ListenSocket(socket.Release(), found->ai_family, bound_port);
}

absl::Duration AcceptBackoff::OnFailure(std::string_view error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  delay_ = std::clamp(delay_ * 2, absl::Milliseconds(10), absl::Seconds(1));
  if (int64_t suppressed = 0; log_.Allow(&suppressed)) {
    LogWarn(log_message_, {{"error", std::string(error)},
                           {"retry_in_ms", absl::StrCat(absl::ToInt64Milliseconds(delay_))},
                           {"suppressed", absl::StrCat(suppressed)}});
  }
  return delay_;
}

absl::StatusOr<std::unique_ptr<FdAcceptor>> FdAcceptor::Start(ListenSocket socket, std::string failure_log_message,
                                                              OnConnection on_connection, std::string thread_name) {
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return absl::UnavailableError(absl::StrCat("eventfd: ", std::strerror(errno)));
  std::unique_ptr<FdAcceptor> acceptor(
      new FdAcceptor(std::move(socket), wake_fd, std::move(failure_log_message), std::move(on_connection)));
  acceptor->thread_ = std::thread([raw = acceptor.get()] { raw->Run(); });
  SetThreadName(acceptor->thread_, thread_name);
  return acceptor;
}

FdAcceptor::FdAcceptor(ListenSocket socket, int wake_fd, std::string failure_log_message,
                       OnConnection on_connection)
    : socket_(std::move(socket)),
      wake_fd_(wake_fd),
      on_connection_(std::move(on_connection)),
      backoff_(std::move(failure_log_message)) {}

FdAcceptor::~FdAcceptor() {
  Stop();
  ::close(wake_fd_);
}

void FdAcceptor::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  socket_ = ListenSocket();
}

namespace {

// accept4() errors that concern only the connection being accepted (see
// accept(2)): the next accept may well succeed at once.
bool ConnectionOnlyError(int error) {
  switch (error) {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

void FdAcceptor::Run() {
  while (true) {
    pollfd fds[2] = {{socket_.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      backoff_.OnFailure(absl::StrCat("poll: ", std::strerror(errno)));
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (ConnectionOnlyError(error)) continue;
      // Out of descriptors (or memory): wait, but wake for Stop().
      const absl::Duration pause = backoff_.OnFailure(std::strerror(error));
      pollfd wake{wake_fd_, POLLIN, 0};
      if (::poll(&wake, 1, static_cast<int>(absl::ToInt64Milliseconds(pause))) > 0) return;
      continue;
    }
    backoff_.OnSuccess();
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    on_connection_(fd);
  }
}

}  // namespace gateway
