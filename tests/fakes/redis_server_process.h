// A real redis-server (Debian's, from scripts/install_deps.sh --test) as a
// child process on 127.0.0.1 and a free port, for the fate store tests: it
// can be killed and started again on the same port, with a password, an ACL
// user, or TLS (certificates made with the openssl command).
//
//   RedisServerOptions options;
//   options.password = "s3cret";
//   absl::StatusOr<std::unique_ptr<RedisServerProcess>> redis = RedisServerProcess::Start(options);
//   std::string address = (*redis)->address();        // "127.0.0.1:<port>"
//   (*redis)->Kill();                                  // SIGKILL, reaped
//   ASSERT_TRUE((*redis)->Restart().ok());              // same port, empty
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/fakes/child_process.h"

namespace gateway::testing {

struct RedisServerOptions {
  // requirepass for the default user; empty: none.
  std::string password;
  // An ACL user allowed GET and SET on keys under `acl_key_pattern` (and
  // nothing else); empty: none.
  std::string acl_user;
  std::string acl_password;
  std::string acl_key_pattern = "otlpgw:*";
  // Serve TLS only (no plaintext port), with a certificate for 127.0.0.1 and
  // localhost signed by a CA made for the purpose (ca_file()).
  bool tls = false;
};

class RedisServerProcess final {
 public:
  // $GATEWAY_REDIS_SERVER, else redis-server on the PATH, else
  // /usr/bin/redis-server; NotFound (naming scripts/install_deps.sh --test)
  // if none runs.
  static absl::StatusOr<std::string> FindBinary();

  // Starts it and waits (up to 20 s) until the port accepts connections;
  // another port if it exits while starting (port taken).
  static absl::StatusOr<std::unique_ptr<RedisServerProcess>> Start(const RedisServerOptions& options);
  ~RedisServerProcess();  // SIGKILL

  RedisServerProcess(const RedisServerProcess&) = delete;
  RedisServerProcess& operator=(const RedisServerProcess&) = delete;

  int port() const { return port_; }
  std::string address() const;
  // The CA that signed the server's certificate (tls only).
  const std::string& ca_file() const { return ca_file_; }

  // SIGKILL and reap: the port refuses connections afterwards.
  void Kill();
  // Starts again on the same port (with nothing stored: no persistence).
  absl::Status Restart();
  // The server's log so far.
  std::string Log() const;

 private:
  RedisServerProcess() = default;
  absl::Status Spawn();
  absl::Status WaitReady(absl::Time deadline);

  std::string binary_;
  RedisServerOptions options_;
  std::string dir_;
  std::string log_path_;
  std::string ca_file_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

}  // namespace gateway::testing
