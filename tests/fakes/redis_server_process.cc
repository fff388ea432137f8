#include "tests/fakes/redis_server_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gateway::testing {
namespace {

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Runs a shell command (fixed text of ours, paths under the temp dir).
absl::Status Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  if (rc != 0) return absl::InternalError(absl::StrCat("failed (", rc, "): ", command));
  return absl::OkStatus();
}

// A CA and a server certificate for 127.0.0.1 and localhost, under `dir`.
absl::Status MakeCertificates(const std::string& dir) {
  const std::string q = "'" + dir + "'";
  return Shell(absl::StrCat(
      "cd ", q, " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fate-store-test-ca ",
      "-keyout ca.key -out ca.crt 2>/dev/null && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost ",
      "-keyout server.key -out server.csr 2>/dev/null && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ",
      "san.ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 ",
      "-extfile san.ext -out server.crt 2>/dev/null"));
}

}  // namespace

absl::StatusOr<std::string> RedisServerProcess::FindBinary() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GATEWAY_REDIS_SERVER"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) candidates.push_back(dir + "/redis-server");
  }
  candidates.push_back("/usr/bin/redis-server");
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return absl::NotFoundError("redis-server is not installed: run scripts/install_deps.sh --test");
}

absl::StatusOr<std::unique_ptr<RedisServerProcess>> RedisServerProcess::Start(const RedisServerOptions& options) {
  static int instance = 0;
  absl::StatusOr<std::string> binary = FindBinary();
  if (!binary.ok()) return binary.status();
  auto redis = std::unique_ptr<RedisServerProcess>(new RedisServerProcess());
  redis->binary_ = *binary;
  redis->options_ = options;
  redis->dir_ = absl::StrCat(TempDir(), "/redis-", ::getpid(), "-", instance++);
  std::filesystem::create_directories(redis->dir_);
  redis->log_path_ = redis->dir_ + "/redis.log";
  if (options.tls) {
    if (absl::Status made = MakeCertificates(redis->dir_); !made.ok()) return made;
    redis->ca_file_ = redis->dir_ + "/ca.crt";
  }
  absl::Status last = absl::UnknownError("not started");
  for (int attempt = 0; attempt < 5; ++attempt) {
    redis->port_ = FreePort();
    last = redis->Spawn();
    if (last.ok()) last = redis->WaitReady(absl::Now() + absl::Seconds(20));
    if (last.ok()) return redis;
    redis->Kill();
  }
  return absl::Status(last.code(), absl::StrCat(last.message(), "; redis log:\n", redis->Log()));
}

absl::Status RedisServerProcess::Spawn() {
  const std::string port = absl::StrCat(port_);
  std::vector<std::string> args = {binary_, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                    "--daemonize", "no", "--dir", dir_, "--logfile", log_path_};
  if (options_.tls) {
    for (std::string a : {"--port", "0", "--tls-port"}) args.push_back(a);
    args.push_back(port);
    for (std::string a : {"--tls-cert-file", "/server.crt", "--tls-key-file", "/server.key", "--tls-ca-cert-file",
                          "/ca.crt"}) {
      args.push_back(a.front() == '/' ? dir_ + a : a);
    }
    args.push_back("--tls-auth-clients");
    args.push_back("no");
  } else {
    args.push_back("--port");
    args.push_back(port);
  }
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  if (!options_.acl_user.empty()) {
    for (std::string a : {std::string("--user"), options_.acl_user, std::string("on"), ">" + options_.acl_password,
                          "~" + options_.acl_key_pattern, std::string("+get"), std::string("+set"),
                          std::string("+ping")}) {
      args.push_back(a);
    }
  }
  ChildProcessOptions options;
  options.argv = std::move(args);
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(options);
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status RedisServerProcess::WaitReady(absl::Time deadline) {
  while (absl::Now() < deadline) {
    if (process_ == nullptr || !process_->Running()) {
      return absl::UnavailableError("redis-server exited while starting");
    }
    if (Accepts(port_)) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("redis-server did not accept connections in time");
}

void RedisServerProcess::Kill() {
  process_.reset();  // SIGKILL and reap
}

absl::Status RedisServerProcess::Restart() {
  Kill();
  absl::Status spawned = Spawn();
  if (!spawned.ok()) return spawned;
  return WaitReady(absl::Now() + absl::Seconds(20));
}

RedisServerProcess::~RedisServerProcess() { Kill(); }

std::string RedisServerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string RedisServerProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace gateway::testing
