// Drives the gateway binary in Lambda extension mode against a local stand-in
// of Lambda's Extensions and Telemetry APIs (tests/fakes/fake_lambda_api.h)
// and of Dynatrace (tests/fakes/fake_dynatrace.h), and measures:
//
//   * init: process start -> registered, -> OTLP/HTTP port accepting,
//     -> first event/next (init complete);
//   * per invoke: runtimeDone sent -> the extension's next event/next, for an
//     invoke that sent --spans spans (the flush: reparent, export, delivered);
//   * idle resident memory (VmRSS) after init and after the invokes;
//   * SHUTDOWN -> exit, and the exit code.
//
// By default the Dynatrace stand-in serves HTTPS, as Dynatrace does, with
// the test certificate for localhost (tests/gateway/testdata/README.md):
// the extension exports to https://localhost:PORT/api/v2/otlp and
// SSL_CERT_FILE names a bundle of that certificate followed by the system's
// CA bundle (--system_ca_bundle), so it verifies the stand-in for real and
// parses a bundle of the usual size. --dynatrace_tls=false: plain HTTP.
// Paths are relative to the working directory: the repository root, or the
// runfiles tree under `bazel run` / `bazel test`.
//
//   lambda_extension_bench --extension=bazel-bin/gateway/otlp_gateway --starts=5 --invokes=200 --spans=100
//   lambda_extension_bench --root=/tmp/layer-root --extension=/opt/extensions/otlp-reparent-gateway --check
//   # the arm64 layer under qemu-user:
//   lambda_extension_bench --root=/tmp/layer-root --emulator=/qemu-aarch64-static
//     --extension=/opt/extensions/otlp-reparent-gateway --check
//
// With --root the extension runs chrooted there (the process must be allowed
// to chroot: root, or inside `unshare --user --map-root-user`). With --check
// it also verifies, by span id, that every span of an invoke was at the
// Dynatrace stand-in when the next event was requested, and that the
// extension exits 0; it exits 1 otherwise. Prints one JSON object.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_dynatrace.h"
#include "tests/fakes/fake_lambda_api.h"

ABSL_FLAG(std::string, extension, "", "the extension executable (inside --root when given)");
ABSL_FLAG(std::string, root, "", "chroot into this directory before starting the extension");
ABSL_FLAG(std::string, emulator, "",
          "start the extension through this program (inside --root when given) as `EMULATOR EXTENSION`: "
          "a statically linked qemu-user for another architecture's extension where binfmt_misc is not set up");
ABSL_FLAG(int, starts, 1, "cold starts (process lifecycles)");
ABSL_FLAG(int, invokes, 20, "invokes per start");
ABSL_FLAG(int, spans, 100, "spans each invoke sends (one OTLP/HTTP request)");
ABSL_FLAG(bool, grpc, true, "keep the OTLP/gRPC receiver (false: receivers.grpc.enabled: false)");
ABSL_FLAG(bool, release_program_pages, true,
          "false: GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES=false (keep start-up code resident)");
ABSL_FLAG(bool, dynatrace_tls, true, "serve the Dynatrace stand-in over HTTPS (false: plain HTTP)");
ABSL_FLAG(std::string, tls_cert, "tests/gateway/testdata/localhost.crt",
          "the stand-in's certificate (PEM, for localhost); also the CA the extension trusts");
ABSL_FLAG(std::string, tls_key, "tests/gateway/testdata/localhost.key", "the stand-in's private key (PEM)");
ABSL_FLAG(std::string, system_ca_bundle, "/etc/ssl/certs/ca-certificates.crt",
          "appended to --tls_cert in the extension's SSL_CERT_FILE (empty: the test certificate alone)");
ABSL_FLAG(bool, check, false, "verify delivery before next and exit code 0; exit 1 otherwise");
ABSL_FLAG(std::string, smaps, "",
          "copy the extension's /proc/<pid>/smaps here when idle after the invokes (the last start's), to see "
          "which mappings the resident memory is in");

namespace {

using gateway::testing::FakeDynatrace;
using gateway::testing::FakeLambdaApi;
namespace coltrace = opentelemetry::proto::collector::trace::v1;

constexpr char kToken[] = "dt0c01.LAMBDABENCH";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

long PostTraces(int port, const std::string& body) {
  CURL* easy = curl_easy_init();
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/v1/traces");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

std::string Id(uint64_t hi, uint64_t lo, size_t bytes) {
  std::string id(bytes, '\0');
  for (size_t i = 0; i < 8 && i < bytes; ++i) id[bytes - 1 - i] = static_cast<char>(lo >> (8 * i));
  if (bytes == 16) {
    for (size_t i = 0; i < 8; ++i) id[7 - i] = static_cast<char>(hi >> (8 * i));
  }
  return id;
}

// One invoke's spans, children first as an SDK sends them: the invocation
// (SERVER), an SQS consumer span linked to a producer in another trace
// (reparented), and `spans - 2` spans below the consumer (moved with it).
std::string InvokeRequest(uint64_t invoke, int spans, std::vector<std::string>* ids) {
  coltrace::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("bench-function");
  auto* ss = rs->add_scope_spans();
  const std::string trace = Id(invoke, 1, 16);
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  auto span_id = [invoke](uint64_t n) { return Id(0, (invoke << 20) | n, 8); };
  auto add = [&](uint64_t n, uint64_t parent, int kind, const std::string& name) {
    auto* s = ss->add_spans();
    s->set_trace_id(trace);
    s->set_span_id(span_id(n));
    if (parent != 0) s->set_parent_span_id(span_id(parent));
    s->set_kind(static_cast<opentelemetry::proto::trace::v1::Span::SpanKind>(kind));
    s->set_name(name);
    s->set_start_time_unix_nano(now - 1'000'000);
    s->set_end_time_unix_nano(now);
    auto* a = s->add_attributes();
    a->set_key("code.function");
    a->mutable_value()->set_string_value("handle");
    ids->push_back(s->span_id());
    return s;
  };
  for (int i = spans; i > 2; --i) add(static_cast<uint64_t>(i), i == 3 ? 2 : static_cast<uint64_t>(i - 1), 1, "work");
  auto* consumer = add(2, 1, 5, "process orders");
  auto* link = consumer->add_links();
  link->set_trace_id(Id(invoke, 2, 16));
  link->set_span_id(Id(0, invoke, 8));
  add(1, 0, 2, "bench-function");
  return request.SerializeAsString();
}

// A field of /proc/<pid>/status in KiB ("VmRSS:", "RssAnon:", "RssFile:").
int64_t StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (in >> key) {
    if (key == field) {
      int64_t kib = 0;
      in >> kib;
      return kib;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return -1;
}

// CPU time the process has used so far, all threads (schedstat: ns on CPU).
// Runs inside the Lambda API stand-in's register answer, so it lists the
// threads rather than probing thread ids (4096 probes took ~10 ms, which the
// extension then waited for).
double CpuMs(pid_t pid) {
  double ns = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "schedstat");
    double on_cpu = 0;
    if (in >> on_cpu) ns += on_cpu;
  }
  return ns / 1e6;
}

// Nearest-rank percentile.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p * static_cast<double>(v.size()));
  return v[static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1];
}

struct Run {
  std::vector<double> registered_ms, otlp_ready_ms, first_next_ms, invoke_ms, shutdown_ms;
  // The first invoke of each start: it opens the export connection, and
  // start-up pages are given back at its start and end
  // (GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES); its figure is also in invoke_ms.
  std::vector<double> first_invoke_ms;
  // The second: it runs again what the first invoke's end unmapped.
  std::vector<double> second_invoke_ms;
  // CPU the extension used until it registered, and until its first next.
  std::vector<double> registered_cpu_ms, first_next_cpu_ms;
  std::vector<int64_t> rss_after_init_kib, rss_after_invokes_kib, anon_after_invokes_kib, file_after_invokes_kib;
  int failures = 0;
  std::vector<std::string> errors;
};

void Fail(Run* run, std::string message) {
  ++run->failures;
  std::cerr << "lambda_extension_bench: " << message << "\n";
  run->errors.push_back(std::move(message));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One cold start: spawn, init, invokes, SHUTDOWN.
void OneStart(int start, Run* run) {
  const bool tls = absl::GetFlag(FLAGS_dynatrace_tls);
  FakeDynatrace::Options dt_options{.token = kToken};
  if (tls) {
    dt_options.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
    dt_options.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  }
  absl::StatusOr<std::unique_ptr<FakeDynatrace>> dt = FakeDynatrace::Start(dt_options);
  if (!dt.ok()) return Fail(run, absl::StrCat("cannot start the Dynatrace stand-in: ", dt.status().ToString()));
  absl::StatusOr<std::unique_ptr<FakeLambdaApi>> api = FakeLambdaApi::Start({});
  if (!api.ok()) return Fail(run, absl::StrCat("cannot start the Lambda API stand-in: ", api.status().ToString()));
  gateway::Mutex mu;
  std::map<int, absl::Time> next_at;
  // --check: the ids of the invoke in progress (set before its runtimeDone),
  // and how many of them were not at the stand-in at each next event/next.
  std::vector<std::string> pending;
  std::map<int, size_t> missing_at_next;
  std::atomic<pid_t> child{0};
  std::atomic<double> cpu_at_register{-1};
  std::map<int, double> cpu_at_next;
  const bool check = absl::GetFlag(FLAGS_check);
  // Span ids at the stand-in so far; read incrementally, on the API
  // stand-in's thread (one next call at a time).
  std::set<std::string> delivered;
  size_t delivered_cursor = 0;
  (*api)->set_on_next([&](int call, absl::Time at) {
    if (check) {
      for (const auto& rs : (*dt)->ReceivedSpansSince(&delivered_cursor)) {
        for (const auto& ss : rs.scope_spans()) {
          for (const auto& s : ss.spans()) delivered.insert(s.span_id());
        }
      }
    }
    const double cpu = call == 1 && child.load() > 0 ? CpuMs(child.load()) : -1;
    gateway::MutexLock lock(&mu);
    cpu_at_next[call] = cpu;
    next_at[call] = at;
    size_t missing = 0;
    for (const std::string& id : pending) missing += delivered.contains(id) ? 0 : 1;
    missing_at_next[call] = missing;
  });

  const int http_port = FreePort();
  (*api)->set_on_register([&] {
    if (child.load() > 0) cpu_at_register.store(CpuMs(child.load()));
  });
  const std::string root = absl::GetFlag(FLAGS_root);
  const std::string config_path = root.empty() ? absl::StrCat("/tmp/lambda_bench_", getpid(), ".yaml")
                                               : "/tmp/lambda_extension_bench.yaml";
  const std::string ca_path = root.empty() ? absl::StrCat("/tmp/lambda_bench_", getpid(), "_ca.pem")
                                           : "/tmp/lambda_extension_bench_ca.pem";
  if (tls) {
    std::string bundle = ReadFile(absl::GetFlag(FLAGS_tls_cert));
    if (const std::string system = absl::GetFlag(FLAGS_system_ca_bundle); !system.empty()) {
      const std::string more = ReadFile(system);
      if (more.empty()) return Fail(run, absl::StrCat("cannot read --system_ca_bundle=", system));
      absl::StrAppend(&bundle, "\n", more);
    }
    std::ofstream(root + ca_path) << bundle;
  }
  {
    std::ofstream config(root + config_path);
    config << "receivers:\n  grpc:\n    enabled: " << (absl::GetFlag(FLAGS_grpc) ? "true" : "false")
           << "\n    endpoint: 127.0.0.1:" << FreePort() << "\n  http:\n    endpoint: 127.0.0.1:"
           << http_port << "\nadmin:\n  endpoint: 127.0.0.1:" << FreePort() << "\n";
  }
  std::vector<std::string> env = {
      absl::StrCat("AWS_LAMBDA_RUNTIME_API=", (*api)->address()),
      absl::StrCat("DT_ENDPOINT=", (*dt)->url()),
      absl::StrCat("DT_API_TOKEN=", kToken),
      absl::StrCat("GATEWAY_CONFIG_FILE=", config_path),
      "GATEWAY_LAMBDA_TELEMETRY_PORT=0",
      "GATEWAY_LAMBDA_TELEMETRY_HOST=127.0.0.1",
      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
      "GATEWAY_LOG_LEVEL=warn",
      absl::StrCat("GATEWAY_LAMBDA_RELEASE_PROGRAM_PAGES=", absl::GetFlag(FLAGS_release_program_pages) ? "true" : "false"),
  };
  if (tls) env.push_back(absl::StrCat("SSL_CERT_FILE=", ca_path));
  const std::string extension = absl::GetFlag(FLAGS_extension);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string emulator = absl::GetFlag(FLAGS_emulator);
  std::string argv0 = extension;
  // qemu-user gives the program it runs the argv[0] it was given, so the
  // extension still registers under its own file name.
  std::vector<char*> argv;
  if (!emulator.empty()) argv.push_back(emulator.data());
  argv.push_back(argv0.data());
  argv.push_back(nullptr);

  const absl::Time spawned = absl::Now();
  const pid_t pid = fork();
  child.store(pid);
  if (pid == 0) {
    if (!root.empty() && (chroot(root.c_str()) != 0 || chdir("/") != 0)) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  auto wait_exit = [&](absl::Time deadline) -> int {
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      absl::SleepFor(absl::Milliseconds(1));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  };

  // Init: the OTLP port accepting, then the first event/next.
  const absl::Time init_deadline = absl::Now() + absl::Seconds(20);
  absl::Time otlp_ready = absl::InfinitePast();
  while (absl::Now() < init_deadline) {
    if (Accepts(http_port)) {
      otlp_ready = absl::Now();
      break;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return Fail(run, "the extension exited during init");
    absl::SleepFor(absl::Microseconds(100));
  }
  if (otlp_ready == absl::InfinitePast() || !(*api)->WaitForNextCalls(1, init_deadline)) {
    wait_exit(absl::Now());
    return Fail(run, "init did not finish in 20 s");
  }
  run->registered_ms.push_back(absl::ToDoubleMilliseconds((*api)->registered_at() - spawned));
  run->otlp_ready_ms.push_back(absl::ToDoubleMilliseconds(otlp_ready - spawned));
  {
    gateway::MutexLock lock(&mu);
    run->first_next_ms.push_back(absl::ToDoubleMilliseconds(next_at[1] - spawned));
    run->first_next_cpu_ms.push_back(cpu_at_next[1]);
  }
  run->registered_cpu_ms.push_back(cpu_at_register.load());
  absl::SleepFor(absl::Milliseconds(200));  // settle: idle
  run->rss_after_init_kib.push_back(StatusKib(pid, "VmRSS:"));

  const int invokes = absl::GetFlag(FLAGS_invokes);
  for (int k = 1; k <= invokes; ++k) {
    const std::string id = absl::StrCat("bench-", start, "-", k);
    (*api)->PushInvoke(id, absl::Now() + absl::Seconds(30));
    std::vector<std::string> ids;
    const std::string body = InvokeRequest(static_cast<uint64_t>(start) * 100000 + k, absl::GetFlag(FLAGS_spans), &ids);
    if (PostTraces(http_port, body) != 200) return Fail(run, absl::StrCat("invoke ", k, ": OTLP POST failed"));
    {
      gateway::MutexLock lock(&mu);
      pending = std::move(ids);
    }
    const absl::Time done = absl::Now();
    if ((*api)->SendRuntimeDone(id) != 200) return Fail(run, absl::StrCat("invoke ", k, ": runtimeDone POST failed"));
    if (!(*api)->WaitForNextCalls(k + 1, absl::Now() + absl::Seconds(20))) {
      wait_exit(absl::Now());
      return Fail(run, absl::StrCat("invoke ", k, ": no next event/next"));
    }
    gateway::MutexLock lock(&mu);
    run->invoke_ms.push_back(absl::ToDoubleMilliseconds(next_at[k + 1] - done));
    if (k == 1) run->first_invoke_ms.push_back(run->invoke_ms.back());
    if (k == 2) run->second_invoke_ms.push_back(run->invoke_ms.back());
    if (check && missing_at_next[k + 1] > 0) {
      Fail(run, absl::StrCat("invoke ", k, ": ", missing_at_next[k + 1],
                             " spans not at Dynatrace when the next event was requested"));
    }
  }
  absl::SleepFor(absl::Milliseconds(200));
  run->rss_after_invokes_kib.push_back(StatusKib(pid, "VmRSS:"));
  run->anon_after_invokes_kib.push_back(StatusKib(pid, "RssAnon:"));
  run->file_after_invokes_kib.push_back(StatusKib(pid, "RssFile:"));
  if (const std::string smaps = absl::GetFlag(FLAGS_smaps); !smaps.empty()) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/smaps"));
    std::ofstream(smaps) << in.rdbuf();
  }

  const absl::Time shutdown = absl::Now();
  (*api)->PushShutdown(shutdown + absl::Seconds(2));
  const int code = wait_exit(shutdown + absl::Seconds(5));
  run->shutdown_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - shutdown));
  if (code != 0) Fail(run, absl::StrCat("the extension exited with ", code, " after SHUTDOWN"));
  if (!(*api)->errors().empty()) Fail(run, "the extension reported an error to Lambda");
  if (root.empty()) {
    std::remove(config_path.c_str());
    if (tls) std::remove(ca_path.c_str());
  }
}

std::string Stats(const std::vector<double>& v) {
  return absl::StrCat("{\"p50\":", Percentile(v, 0.5), ",\"p99\":", Percentile(v, 0.99),
                      ",\"max\":", v.empty() ? 0 : *std::max_element(v.begin(), v.end()), ",\"n\":", v.size(), "}");
}

std::string Kib(const std::vector<int64_t>& v) {
  return absl::StrCat("{\"max\":", v.empty() ? 0 : *std::max_element(v.begin(), v.end()),
                      ",\"min\":", v.empty() ? 0 : *std::min_element(v.begin(), v.end()), "}");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_extension).empty()) {
    std::cerr << "usage: lambda_extension_bench --extension=PATH [--root=DIR] [--starts=N] [--invokes=N] "
                 "[--spans=N] [--dynatrace_tls=true|false] [--check]\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Run run;
  for (int start = 1; start <= absl::GetFlag(FLAGS_starts); ++start) OneStart(start, &run);
  std::cout << "{\"starts\":" << absl::GetFlag(FLAGS_starts) << ",\"invokes_per_start\":" << absl::GetFlag(FLAGS_invokes)
            << ",\"spans_per_invoke\":" << absl::GetFlag(FLAGS_spans)
            << ",\"dynatrace_tls\":" << (absl::GetFlag(FLAGS_dynatrace_tls) ? "true" : "false")
            << ",\n \"init_registered_ms\":" << Stats(run.registered_ms)
            << ",\n \"init_otlp_ready_ms\":" << Stats(run.otlp_ready_ms)
            << ",\n \"init_first_next_ms\":" << Stats(run.first_next_ms)
            << ",\n \"init_cpu_to_registered_ms\":" << Stats(run.registered_cpu_ms)
            << ",\n \"init_cpu_to_first_next_ms\":" << Stats(run.first_next_cpu_ms)
            << ",\n \"runtime_done_to_next_ms\":" << Stats(run.invoke_ms)
            << ",\n \"first_invoke_runtime_done_to_next_ms\":" << Stats(run.first_invoke_ms)
            << ",\n \"second_invoke_runtime_done_to_next_ms\":" << Stats(run.second_invoke_ms)
            << ",\n \"shutdown_to_exit_ms\":" << Stats(run.shutdown_ms)
            << ",\n \"idle_rss_after_init_kib\":" << Kib(run.rss_after_init_kib)
            << ",\n \"idle_rss_after_invokes_kib\":" << Kib(run.rss_after_invokes_kib)
            << ",\n \"idle_rss_anon_after_invokes_kib\":" << Kib(run.anon_after_invokes_kib)
            << ",\n \"idle_rss_file_after_invokes_kib\":" << Kib(run.file_after_invokes_kib)
            << ",\n \"failures\":" << run.failures << "}\n";
  curl_global_cleanup();
  return run.failures == 0 ? 0 : 1;
}
