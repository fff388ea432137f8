// A child process started with posix_spawn, for tests that run a real
// binary (the gateway, the OpenTelemetry Collector, redis-server): where its
// output goes, signals, a wait with a deadline, and SIGKILL when the object
// goes away with the child still running.
//
//   ChildProcessOptions options;
//   options.argv = {"/bin/sh", "-c", "echo ready; exec sleep 60"};
//   options.stdout_to = ChildOutput::File(absl::StrCat(dir, "/sh.log"));
//   options.stderr_to = options.stdout_to;  // the same file, one offset
//   absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(options);
//   (*child)->Signal(SIGTERM);
//   std::optional<int> status = (*child)->Wait(absl::Now() + absl::Seconds(10));
//   if (status.has_value() && WIFSIGNALED(*status)) ...
//
// The child is reaped by this object (a thread waits for it), so Wait sees
// the exit as it happens and Signal never reaches a recycled pid.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

// Where a child's stdout or stderr goes.
struct ChildOutput {
  enum class Kind { kInherit, kFile, kPipe };

  // This process's descriptor.
  static ChildOutput Inherit() { return {}; }
  // `path`, created or truncated.
  static ChildOutput File(std::string path) { return {Kind::kFile, std::move(path)}; }
  // A pipe whose read end is ChildProcess::output_pipe().
  static ChildOutput Pipe() { return {Kind::kPipe, ""}; }

  Kind kind = Kind::kInherit;
  std::string path;
};

struct ChildProcessOptions {
  // argv[0] is the program's path (no $PATH search).
  std::vector<std::string> argv;
  // "NAME=value" entries, the child's whole environment; unset: this
  // process's (environ). EnvironmentWith builds one from environ.
  std::optional<std::vector<std::string>> env;
  // When both name the same file, or both a pipe, they share it.
  ChildOutput stdout_to;
  ChildOutput stderr_to;
  // Otherwise stdin is inherited.
  bool stdin_from_dev_null = false;
};

// This process's environment with `overrides` ("NAME=value") added or
// replacing the entries of the same name.
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides);

class ChildProcess final {
 public:
  // Spawns options.argv[0]. An error if a file cannot be created or the
  // spawn fails (the program not found or not executable).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const ChildProcessOptions& options);
  // SIGKILL if still running; returns once the child is reaped.
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `sig`; does nothing once the child has been reaped.
  void Signal(int sig);
  // The wait status (WIFEXITED, WTERMSIG...) once the child has exited;
  // nullopt if it is still running at `deadline` (absl::InfinitePast(): do
  // not wait). Any thread; may be called again and returns the same status.
  std::optional<int> Wait(absl::Time deadline);
  bool Running();

  // The read end of the pipe that stdout and/or stderr go to (ChildOutput::
  // Pipe), -1 if none. Owned by this object, open until it is destroyed; EOF
  // once the child and anything it passed the pipe to have exited. Read it
  // from one thread.
  int output_pipe() const { return output_pipe_; }

 private:
  ChildProcess() = default;
  void ReapWhenExited();  // the waiter thread

  pid_t pid_ = -1;
  int output_pipe_ = -1;
  std::thread waiter_;
  Mutex mu_;
  // Set when the child is reaped; -1 if someone else reaped it.
  std::optional<int> status_ ABSL_GUARDED_BY(mu_);
};

// A port the kernel just handed out on 127.0.0.1 and released again, for a
// child that must be told its port on the command line (0 if none).
int FreePort();

}  // namespace gateway::testing
