#include "tests/fakes/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace gateway::testing {
namespace {

// A descriptor closed when it goes out of scope.
class Fd final {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

bool SameTarget(const ChildOutput& a, const ChildOutput& b) {
  return a.kind == b.kind && (a.kind != ChildOutput::Kind::kFile || a.path == b.path);
}

// Pointers into `strings` with the terminating null, for posix_spawn.
std::vector<char*> NullTerminated(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides) {
  std::map<std::string, std::string> by_name;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) by_name[entry.substr(0, eq)] = entry;
  }
  for (const std::string& entry : overrides) by_name[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> env;
  for (auto& [name, entry] : by_name) env.push_back(std::move(entry));
  return env;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const ChildProcessOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("ChildProcess: empty argv");
  // Everything opened here is close-on-exec, so that only the copies dup2'd
  // onto 0-2 reach this child, and none reaches a child another thread
  // spawns meanwhile (a stray write end would hold off EOF on the pipe).
  Fd pipe_read, pipe_write;
  if (options.stdout_to.kind == ChildOutput::Kind::kPipe || options.stderr_to.kind == ChildOutput::Kind::kPipe) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
    pipe_read = Fd(fds[0]);
    pipe_write = Fd(fds[1]);
  }
  Fd stdout_file, stderr_file;
  auto target = [&](const ChildOutput& output, Fd& file) -> absl::StatusOr<int> {
    switch (output.kind) {
      case ChildOutput::Kind::kInherit:
        return -1;
      case ChildOutput::Kind::kPipe:
        return pipe_write.get();
      case ChildOutput::Kind::kFile:
        file = Fd(::open(output.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (file.get() < 0) {
          return absl::InternalError(absl::StrCat("cannot create ", output.path, ": ", std::strerror(errno)));
        }
        return file.get();
    }
    return -1;
  };
  absl::StatusOr<int> stdout_fd = target(options.stdout_to, stdout_file);
  if (!stdout_fd.ok()) return stdout_fd.status();
  absl::StatusOr<int> stderr_fd = SameTarget(options.stdout_to, options.stderr_to)
                                      ? stdout_fd
                                      : target(options.stderr_to, stderr_file);
  if (!stderr_fd.ok()) return stderr_fd.status();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_from_dev_null) posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (*stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, *stdout_fd, STDOUT_FILENO);
  if (*stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, *stderr_fd, STDERR_FILENO);
  std::vector<std::string> args = options.argv;
  std::vector<char*> argv = NullTerminated(args);
  std::vector<std::string> env_entries = options.env.value_or(std::vector<std::string>{});
  std::vector<char*> envp = NullTerminated(env_entries);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  const int rc = ::posix_spawn(&child->pid_, argv[0], &actions, nullptr, argv.data(),
                               options.env.has_value() ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    child->pid_ = -1;
    {
      MutexLock lock(&child->mu_);
      child->status_ = -1;  // nothing to kill or reap
    }
    return absl::InternalError(absl::StrCat("posix_spawn ", options.argv[0], ": ", std::strerror(rc)));
  }
  child->output_pipe_ = pipe_read.release();
  child->waiter_ = std::thread([c = child.get()] { c->ReapWhenExited(); });
  return child;
}

void ChildProcess::ReapWhenExited() {
  // WNOWAIT leaves the child a zombie, its pid still ours, until the reap
  // under mu_: Signal (also under mu_) cannot reach a recycled pid.
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  MutexLock lock(&mu_);
  int status = 0;
  status_ = rc == 0 && ::waitpid(pid_, &status, 0) == pid_ ? status : -1;
}

ChildProcess::~ChildProcess() {
  Signal(SIGKILL);
  if (waiter_.joinable()) waiter_.join();
  if (output_pipe_ >= 0) ::close(output_pipe_);
}

void ChildProcess::Signal(int sig) {
  MutexLock lock(&mu_);
  if (!status_.has_value()) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(absl::Time deadline) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return status_.has_value(); }, deadline);
  return status_;
}

bool ChildProcess::Running() {
  MutexLock lock(&mu_);
  return !status_.has_value();
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace gateway::testing
