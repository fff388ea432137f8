// A blocking raw-socket HTTP/1.1 client for server tests: it sends exactly
// the bytes a test writes (half headers, chunked bodies, lies in
// Content-Length) and reads one response with a deadline.
//
//   RawHttpClient client(port);
//   client.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
//   RawHttpResponse r = client.ReadResponse();
//   EXPECT_EQ(r.status, 200);
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gateway::testing {

struct RawHttpResponse {
  int status = 0;  // 0: no (complete) response before the deadline or close
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return "";
  }
};

class RawHttpClient {
 public:
  explicit RawHttpClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawHttpClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  bool connected() const { return connected_; }

  // Closes the connection now.
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Hands the connection's descriptor to the caller, who closes it.
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // False if the peer closed or reset the connection.
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed, or until close).
  RawHttpResponse ReadResponse(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    RawHttpResponse response;
    size_t header_end;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return response;
    }
    std::string head = pending_.substr(0, header_end);
    pending_.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    size_t sp = status_line.find(' ');
    int status = 0;
    if (sp == std::string::npos || !absl::SimpleAtoi(status_line.substr(sp + 1, 3), &status)) return response;
    size_t content_length = 0;
    bool has_length = false;
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = absl::AsciiStrToLower(line.substr(0, colon));
        std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
        if (name == "content-length") has_length = absl::SimpleAtoi(value, &content_length);
        response.headers.emplace_back(std::move(name), std::move(value));
      }
      pos = end + 2;
    }
    if (status == 100) {  // interim; the caller reads the final one next
      response.status = 100;
      return response;
    }
    if (has_length) {
      while (pending_.size() < content_length) {
        if (!Fill(deadline)) return response;
      }
      response.body = pending_.substr(0, content_length);
      pending_.erase(0, content_length);
    } else {
      while (Fill(deadline)) {
      }
      response.body = std::move(pending_);
      pending_.clear();
    }
    response.status = status;
    return response;
  }

  // True if the server closes the connection (EOF or reset) before `timeout`.
  bool WaitForClose(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (poll(&p, 1, ms < 0 ? 0 : ms) <= 0) return false;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool Fill(absl::Time deadline) {
    pollfd p{fd_, POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return false;
    if (poll(&p, 1, ms) <= 0) return false;
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

}  // namespace gateway::testing
