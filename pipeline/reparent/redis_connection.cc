#include "pipeline/reparent/redis_connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hiredis/hiredis.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "openssl/x509v3.h"

namespace gateway {

class RedisTlsContext {
 public:
  explicit RedisTlsContext(SSL_CTX* ctx, std::string server_name) : ctx_(ctx), server_name_(std::move(server_name)) {}
  ~RedisTlsContext() { SSL_CTX_free(ctx_); }
  SSL_CTX* ctx() const { return ctx_; }
  const std::string& server_name() const { return server_name_; }

 private:
  SSL_CTX* const ctx_;
  const std::string server_name_;
};

namespace {

// The first queued OpenSSL error as text, and the queue cleared.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Waits for `events` on `fd` until `deadline`: OK when ready.
absl::Status WaitFd(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("redis: timed out");
    pollfd p{fd, events, 0};
    const int timeout_ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60'000));
    const int rc = ::poll(&p, 1, timeout_ms);
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) return absl::UnavailableError(absl::StrCat("redis: poll: ", std::strerror(errno)));
  }
}

// Into `out`, reusing its string's capacity.
void Convert(const redisReply* r, RedisReply* out) {
  out->integer = 0;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out->type = RedisReply::Type::kString;
      out->text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out->type = RedisReply::Type::kStatus;
      out->text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out->type = RedisReply::Type::kInteger;
      out->integer = r->integer;
      out->text.clear();
      break;
    case REDIS_REPLY_NIL:
      out->type = RedisReply::Type::kNil;
      out->text.clear();
      break;
    case REDIS_REPLY_ERROR:
      out->type = RedisReply::Type::kError;
      out->text.assign(r->str, r->len);
      break;
    default:
      out->type = RedisReply::Type::kError;
      out->text = "unexpected reply type";
      break;
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<RedisTlsContext>> NewRedisTlsContext(const RedisTlsOptions& options) {
  if (!options.enabled) return std::shared_ptr<RedisTlsContext>();
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("redis tls: cert_file and key_file must be set together");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("redis tls: ", OpenSslError()));
  auto context = std::make_shared<RedisTlsContext>(ctx, options.server_name);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return absl::InternalError(absl::StrCat("redis tls: system trust store: ", OpenSslError()));
    }
  } else if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("redis tls: ca_file ", options.ca_file, ": ", OpenSslError()));
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis tls: cert_file ", options.cert_file, ": ", OpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("redis tls: key_file ", options.key_file, ": ", OpenSslError()));
    }
  }
  return context;
}

void AppendRedisCommand(std::initializer_list<std::string_view> args, std::string* out) {
  // RESP: *<argc>\r\n then $<length>\r\n<bytes>\r\n per argument, written in
  // place (hiredis's redisFormatCommandArgv mallocs a copy per command).
  char number[24];
  auto append_header = [&](char kind, size_t n) {
    char* end = number + sizeof(number);
    char* p = end;
    *--p = '\n';
    *--p = '\r';
    do {
      *--p = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    *--p = kind;
    out->append(p, static_cast<size_t>(end - p));
  };
  append_header('*', args.size());
  for (std::string_view arg : args) {
    append_header('$', arg.size());
    out->append(arg.data(), arg.size());
    out->append("\r\n", 2);
  }
}

struct RedisConnection::Impl {
  int fd = -1;
  SSL* ssl = nullptr;
  redisReader* reader = nullptr;

  ~Impl() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
    if (reader != nullptr) redisReaderFree(reader);
  }

  absl::Status Handshake(RedisTlsContext& tls, const std::string& host, absl::Time deadline);
  absl::Status WriteAll(std::string_view data, absl::Time deadline);
  // Reads what is available (waiting for some until `deadline`) into `buf`.
  absl::StatusOr<size_t> ReadSome(char* buf, size_t size, absl::Time deadline);
};

absl::Status RedisConnection::Impl::Handshake(RedisTlsContext& tls, const std::string& host, absl::Time deadline) {
  ssl = SSL_new(tls.ctx());
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    return absl::InternalError(absl::StrCat("redis tls: ", OpenSslError()));
  }
  const std::string& name = tls.server_name().empty() ? host : tls.server_name();
  in6_addr ip6;
  in_addr ip4;
  const bool is_ip = inet_pton(AF_INET, name.c_str(), &ip4) == 1 || inet_pton(AF_INET6, name.c_str(), &ip6) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
  for (int i = 0; i < 1000; ++i) {
    const int rc = SSL_connect(ssl);
    if (rc == 1) return absl::OkStatus();
    const int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      const absl::Status waited = WaitFd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
      if (!waited.ok()) return waited;
      continue;
    }
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return absl::UnavailableError(
          absl::StrCat("redis tls: certificate of ", name, ": ", X509_verify_cert_error_string(verify)));
    }
    return absl::UnavailableError(absl::StrCat("redis tls: handshake with ", name, ": ", OpenSslError()));
  }
  return absl::UnavailableError("redis tls: handshake did not finish");
}

absl::Status RedisConnection::Impl::WriteAll(std::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    if (ssl != nullptr) {
      const int n = SSL_write(ssl, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        const absl::Status waited = WaitFd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (!waited.ok()) return waited;
        continue;
      }
      return absl::UnavailableError(absl::StrCat("redis: write: ", OpenSslError()));
    }
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const absl::Status waited = WaitFd(fd, POLLOUT, deadline);
      if (!waited.ok()) return waited;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("redis: write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> RedisConnection::Impl::ReadSome(char* buf, size_t size, absl::Time deadline) {
  while (true) {
    if (ssl != nullptr) {
      const int n = SSL_read(ssl, buf, static_cast<int>(size));
      if (n > 0) return static_cast<size_t>(n);
      const int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        const absl::Status waited = WaitFd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (!waited.ok()) return waited;
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN) return absl::UnavailableError("redis: connection closed");
      return absl::UnavailableError(absl::StrCat("redis: read: ", OpenSslError()));
    }
    const ssize_t n = ::recv(fd, buf, size, 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return absl::UnavailableError("redis: connection closed");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      const absl::Status waited = WaitFd(fd, POLLIN, deadline);
      if (!waited.ok()) return waited;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("redis: read: ", std::strerror(errno)));
  }
}

RedisConnection::RedisConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisConnection::~RedisConnection() = default;

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(const std::string& host, int port,
                                                                          RedisTlsContext* tls, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string service = absl::StrCat(port);
  const int gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
  if (gai != 0) {
    return absl::UnavailableError(absl::StrCat("redis: cannot resolve ", host, ": ", gai_strerror(gai)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("redis: no address for ", host));
  auto impl = std::make_unique<Impl>();
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      absl::Status waited = WaitFd(fd, POLLOUT, deadline);
      int error = 0;
      socklen_t length = sizeof(error);
      if (waited.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
        rc = 0;
      } else {
        last = waited.ok() ? absl::UnavailableError(absl::StrCat("redis: connect to ", host, ":", port, ": ",
                                                                 std::strerror(error)))
                           : waited;
      }
    } else if (rc != 0) {
      last = absl::UnavailableError(absl::StrCat("redis: connect to ", host, ":", port, ": ", std::strerror(errno)));
    }
    if (rc == 0) {
      impl->fd = fd;
      break;
    }
    ::close(fd);
  }
  ::freeaddrinfo(addresses);
  if (impl->fd < 0) return last;
  const int one = 1;
  ::setsockopt(impl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (tls != nullptr) {
    const absl::Status handshake = impl->Handshake(*tls, host, deadline);
    if (!handshake.ok()) return handshake;
  }
  impl->reader = redisReaderCreate();
  if (impl->reader == nullptr) return absl::ResourceExhaustedError("redis: out of memory");
  return std::unique_ptr<RedisConnection>(new RedisConnection(std::move(impl)));
}

absl::Status RedisConnection::Exchange(std::string_view request, size_t replies, absl::Time deadline,
                                       std::vector<RedisReply>* out) {
  // Resized, not cleared: the elements' strings keep their capacity.
  out->resize(replies);
  if (absl::Status written = impl_->WriteAll(request, deadline); !written.ok()) return written;
  char buf[16 << 10];
  size_t read = 0;
  while (read < replies) {
    void* reply = nullptr;
    if (redisReaderGetReply(impl_->reader, &reply) != REDIS_OK) {
      return absl::InternalError("redis: malformed reply");
    }
    if (reply != nullptr) {
      Convert(static_cast<const redisReply*>(reply), &(*out)[read++]);
      freeReplyObject(reply);
      continue;
    }
    absl::StatusOr<size_t> n = impl_->ReadSome(buf, sizeof(buf), deadline);
    if (!n.ok()) return n.status();
    if (redisReaderFeed(impl_->reader, buf, *n) != REDIS_OK) return absl::InternalError("redis: malformed reply");
  }
  return absl::OkStatus();
}

}  // namespace gateway
