#include "tests/fakes/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace gateway::testing {
namespace {

class ChildProcessTest : public ::testing::Test {
 protected:
  static std::unique_ptr<ChildProcess> Shell(const std::string& script, ChildProcessOptions options = {}) {
    options.argv = {"/bin/sh", "-c", script};
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(options);
    EXPECT_TRUE(child.ok()) << child.status();
    return child.ok() ? *std::move(child) : nullptr;
  }

  static std::string Path(const std::string& name) {
    const char* dir = std::getenv("TEST_TMPDIR");
    return absl::StrCat(dir != nullptr ? dir : "/tmp", "/child_process_test_", ::getpid(), "_", name);
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Everything up to EOF.
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  static absl::Time Soon() { return absl::Now() + absl::Seconds(20); }
};

TEST_F(ChildProcessTest, ReportsTheExitStatus) {
  std::unique_ptr<ChildProcess> child = Shell("exit 3");
  ASSERT_NE(child, nullptr);
  const std::optional<int> status = child->Wait(Soon());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_FALSE(child->Running());
  EXPECT_EQ(child->Wait(absl::InfinitePast()), status) << "the same status again";
  child->Signal(SIGKILL);  // reaped: nothing to signal
  EXPECT_EQ(child->Wait(absl::InfinitePast()), status);
}

TEST_F(ChildProcessTest, WritesStdoutAndStderrToOneFile) {
  ChildProcessOptions options;
  options.stdout_to = ChildOutput::File(Path("both.log"));
  options.stderr_to = options.stdout_to;
  std::unique_ptr<ChildProcess> child = Shell("echo out; echo err >&2; echo out2", options);
  ASSERT_NE(child, nullptr);
  const std::optional<int> status = child->Wait(Soon());
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_EQ(ReadFile(Path("both.log")), "out\nerr\nout2\n");
  EXPECT_EQ(child->output_pipe(), -1);
}

TEST_F(ChildProcessTest, TruncatesTheFileAndKeepsTheStreamsApartWhenAsked) {
  std::ofstream(Path("out.log")) << "left over from before\n";
  ChildProcessOptions options;
  options.stdout_to = ChildOutput::File(Path("out.log"));
  options.stderr_to = ChildOutput::File(Path("err.log"));
  std::unique_ptr<ChildProcess> child = Shell("echo out; echo err >&2", options);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->Wait(Soon()).has_value());
  EXPECT_EQ(ReadFile(Path("out.log")), "out\n");
  EXPECT_EQ(ReadFile(Path("err.log")), "err\n");
}

TEST_F(ChildProcessTest, SendsOutputThroughAPipeUntilEof) {
  ChildProcessOptions options;
  options.stdout_to = ChildOutput::Pipe();
  options.stderr_to = ChildOutput::Pipe();
  options.env = EnvironmentWith({"CHILD_PROCESS_TEST_GREETING=hello"});
  std::unique_ptr<ChildProcess> child = Shell("echo \"$CHILD_PROCESS_TEST_GREETING\"; echo err >&2", options);
  ASSERT_NE(child, nullptr);
  ASSERT_GE(child->output_pipe(), 0);
  EXPECT_EQ(ReadAll(child->output_pipe()), "hello\nerr\n");
  const std::optional<int> status = child->Wait(Soon());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(ChildProcessTest, GivesTheChildOnlyTheEnvironmentItIsGiven) {
  ChildProcessOptions options;
  options.stdout_to = ChildOutput::Pipe();
  options.env = std::vector<std::string>{"ONLY=1"};
  std::unique_ptr<ChildProcess> child = Shell("echo \"$ONLY ${TEST_TMPDIR-unset}\"", options);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(ReadAll(child->output_pipe()), "1 unset\n");
}

TEST_F(ChildProcessTest, ReadsStdinFromDevNullWhenAsked) {
  ChildProcessOptions options;
  options.stdout_to = ChildOutput::Pipe();
  options.stdin_from_dev_null = true;
  std::unique_ptr<ChildProcess> child = Shell("cat; echo done", options);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(ReadAll(child->output_pipe()), "done\n");
}

TEST_F(ChildProcessTest, WaitsForTheExitThatASignalCauses) {
  std::unique_ptr<ChildProcess> child = Shell("exec sleep 60");
  ASSERT_NE(child, nullptr);
  EXPECT_TRUE(child->Running());
  child->Signal(SIGTERM);
  const std::optional<int> status = child->Wait(Soon());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
}

TEST_F(ChildProcessTest, ReturnsPromptlyWhenTheDeadlinePasses) {
  std::unique_ptr<ChildProcess> child = Shell("exec sleep 60");
  ASSERT_NE(child, nullptr);
  const absl::Time started = absl::Now();
  EXPECT_EQ(child->Wait(absl::InfinitePast()), std::nullopt);
  EXPECT_EQ(child->Wait(started + absl::Milliseconds(200)), std::nullopt);
  const absl::Duration waited = absl::Now() - started;
  EXPECT_GE(waited, absl::Milliseconds(200));
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_TRUE(child->Running());
}

TEST_F(ChildProcessTest, DestructorKillsARunningChild) {
  std::unique_ptr<ChildProcess> child = Shell("exec sleep 60");
  ASSERT_NE(child, nullptr);
  const pid_t pid = child->pid();
  ASSERT_EQ(::kill(pid, 0), 0);
  const absl::Time started = absl::Now();
  child.reset();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  // Killed and reaped: the pid is gone.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(ChildProcessTest, RefusesAProgramThatDoesNotExist) {
  ChildProcessOptions options;
  options.argv = {Path("no-such-program")};
  EXPECT_FALSE(ChildProcess::Start(options).ok());
  options.argv = {};
  EXPECT_FALSE(ChildProcess::Start(options).ok());
}

TEST_F(ChildProcessTest, RefusesAnOutputFileItCannotCreate) {
  ChildProcessOptions options;
  options.argv = {"/bin/true"};
  options.stdout_to = ChildOutput::File(Path("no-such-dir/out.log"));
  EXPECT_FALSE(ChildProcess::Start(options).ok());
}

}  // namespace
}  // namespace gateway::testing
