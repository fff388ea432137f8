#include "tests/scaleout/tier_processes.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/reliability/reliability_env.h"

namespace gateway::scaleout {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A fake's HTTP server on 127.0.0.1, port chosen by the kernel.
absl::StatusOr<std::unique_ptr<HttpServer>> StartLoopbackServer(HttpHandler& handler, int threads) {
  HttpServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.threads = threads;
  return StartHttpServer(options, handler);
}

// The value of "key":"digits" in the first log line with "msg":"listening".
int ListeningPort(const std::string& log, const std::string& key) {
  const size_t line = log.find("\"msg\":\"listening\"");
  if (line == std::string::npos) return 0;
  const size_t end = log.find('\n', line);
  if (end == std::string::npos) return 0;
  const std::string needle = "\"" + key + "\":\"";
  const size_t at = log.find(needle, line);
  if (at == std::string::npos || at > end) return 0;
  const size_t start = at + needle.size();
  int port = 0;
  if (!absl::SimpleAtoi(log.substr(start, log.find('"', start) - start), &port)) return 0;
  return port;
}

std::string Duration(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), "ms"); }

}  // namespace

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

// ---- GatewayReplica -------------------------------------------------------

std::string GatewayReplica::endpoint() const { return absl::StrCat(grpc_host_, ":", grpc_port_); }

std::string GatewayReplica::Log() const { return ReadFile(log_path_); }

absl::StatusOr<std::unique_ptr<GatewayReplica>> GatewayReplica::Start(const GatewayReplicaOptions& options) {
  const std::string config_path = absl::StrCat(options.dir, "/", options.name, ".yaml");
  std::ofstream(config_path) << "receivers:\n"
                                "  grpc: {endpoint: \""
                             << options.grpc_host << ":" << options.grpc_port
                             << "\"}\n"
                                "  http: {endpoint: 127.0.0.1:0}\n"
                                "admin: {endpoint: 127.0.0.1:0}\n"
                                "reparent: {hold_window: "
                             << Duration(options.hold_window)
                             << ", cross_process: true, wait_for_link_fate: false, shards: 1}\n"
                                "batch: {timeout: 50ms}\n"
                                "exporter:\n"
                                "  type: dynatrace\n"
                                "  dynatrace: {endpoint: \""
                             << options.dynatrace_url
                             << "\", api_token: test-token}\n"
                                "  timeout: 2s\n"
                                "  retry: {initial_interval: 20ms, max_interval: 200ms}\n"
                                "shutdown: {drain_timeout: "
                             << Duration(options.drain_timeout)
                             << "}\n"
                                "log: {level: info}\n";
  std::vector<std::string> argv = {options.binary, "--config=" + config_path};
  if (options.drain_delay > absl::ZeroDuration()) argv.push_back("--drain-delay=" + Duration(options.drain_delay));
  auto replica = std::make_unique<GatewayReplica>();
  replica->grpc_host_ = options.grpc_host;
  replica->log_path_ = absl::StrCat(options.dir, "/", options.name, ".log");
  testing::ChildProcessOptions spawn;
  spawn.argv = std::move(argv);
  spawn.stdout_to = testing::ChildOutput::File(replica->log_path_);
  spawn.stderr_to = spawn.stdout_to;
  spawn.stdin_from_dev_null = true;
  absl::StatusOr<std::unique_ptr<testing::ChildProcess>> process = testing::ChildProcess::Start(spawn);
  if (!process.ok()) return process.status();
  replica->process_ = *std::move(process);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int i = 0; i < 3000 && absl::Now() < deadline; ++i) {
    const std::string log = replica->Log();
    replica->grpc_port_ = ListeningPort(log, "grpc_port");
    replica->http_port_ = ListeningPort(log, "http_port");
    replica->admin_port_ = ListeningPort(log, "admin_port");
    if (replica->grpc_port_ > 0 && replica->http_port_ > 0 && replica->admin_port_ > 0) return replica;
    if (!replica->process_->Running()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::UnavailableError(
      absl::StrCat("gateway ", options.name, " did not start; its log:\n", replica->Log()));
}

// ---- CollectorReplica -----------------------------------------------------

std::string CollectorReplica::Log() const { return ReadFile(log_path_); }

std::string TierCollectorConfig(int grpc_port, int http_port, const std::string& resolver_yaml) {
  return absl::StrCat(
      "receivers:\n"
      "  otlp:\n"
      "    protocols:\n"
      "      grpc: {endpoint: \"127.0.0.1:", grpc_port,
      "\"}\n"
      "      http: {endpoint: \"127.0.0.1:", http_port,
      "\"}\n"
      "processors:\n"
      "  batch: {timeout: 50ms, send_batch_size: 1000}\n"
      "exporters:\n"
      "  load_balancing:\n"
      "    routing_key: traceID\n"
      // What a gateway refused or could not take comes back here and is
      // routed again with the resolver's current list.
      "    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 60s}\n"
      "    sending_queue: {enabled: true, num_consumers: 4, queue_size: 1000}\n"
      "    protocol:\n"
      "      otlp:\n"
      "        tls: {insecure: true}\n"
      "        compression: none\n"
      "        timeout: 2s\n"
      "        sending_queue: {enabled: false}\n"
      "        retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 1s}\n"
      "    resolver:\n",
      resolver_yaml,
      "service:\n"
      "  telemetry:\n"
      "    metrics: {level: none}\n"
      "  pipelines:\n"
      "    traces: {receivers: [otlp], processors: [batch], exporters: [load_balancing]}\n");
}

std::string CloudMapResolverYaml(absl::Duration interval) {
  return absl::StrCat(
      "      aws_cloud_map:\n"
      "        namespace: tier\n"
      "        service_name: gateway\n"
      "        interval: ",
      Duration(interval), "\n        timeout: 1s\n");
}

std::string StaticResolverYaml(const std::vector<std::string>& endpoints) {
  return absl::StrCat("      static:\n        hostnames: [", absl::StrJoin(endpoints, ", "), "]\n");
}

std::string DnsResolverYaml(const std::string& hostname, int port, absl::Duration interval) {
  return absl::StrCat("      dns:\n        hostname: ", hostname, "\n        port: \"", port,
                      "\"\n        interval: ", Duration(interval), "\n        timeout: 1s\n");
}

std::string K8sResolverYaml(const std::string& service, int port) {
  // The timeout bounds client-go's list and watch calls; FakeKubeApi's long
  // poll stays under it.
  return absl::StrCat("      k8s:\n        service: ", service, "\n        ports: [", port,
                      "]\n        timeout: 5s\n");
}

absl::Status RewriteHostsFile(const std::string& path, const std::string& hostname,
                              const std::vector<std::string>& addresses) {
  std::string text = "127.0.0.1 localhost\n";
  for (const std::string& address : addresses) absl::StrAppend(&text, address, " ", hostname, "\n");
  // std::ios::trunc keeps the inode: the Collector's namespace has this
  // very file bind-mounted over /etc/hosts.
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CollectorReplica>> CollectorReplica::Start(const CollectorReplicaOptions& options) {
  absl::Status last = absl::UnavailableError("not started");
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto replica = std::make_unique<CollectorReplica>();
    replica->grpc_port_ = testing::FreePort();
    replica->http_port_ = testing::FreePort();
    if (replica->grpc_port_ == 0 || replica->http_port_ == 0 || replica->grpc_port_ == replica->http_port_) continue;
    const std::string config_path = absl::StrCat(options.dir, "/", options.name, ".yaml");
    std::ofstream(config_path) << TierCollectorConfig(replica->grpc_port_, replica->http_port_,
                                                      options.resolver_yaml);
    replica->log_path_ = absl::StrCat(options.dir, "/", options.name, ".log");
    testing::ChildProcessOptions spawn;
    spawn.argv = {options.binary, "--config=" + config_path};
    if (!options.hosts_file.empty()) {
      // unshare execs the shell and the shell execs the Collector: the child
      // process is the Collector itself, signals included.
      spawn.argv.insert(spawn.argv.begin(), {"/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c",
                                             "mount --bind \"$0\" /etc/hosts && exec \"$@\"", options.hosts_file});
    }
    spawn.env = testing::EnvironmentWith(options.env);
    spawn.stdout_to = testing::ChildOutput::File(replica->log_path_);
    spawn.stderr_to = spawn.stdout_to;
    spawn.stdin_from_dev_null = true;
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> process = testing::ChildProcess::Start(spawn);
    if (!process.ok()) return process.status();
    replica->process_ = *std::move(process);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    for (int i = 0; i < 600 && absl::Now() < deadline && replica->process_->Running(); ++i) {
      const auto r = reliability::HttpPost(replica->http_port_, "/v1/traces", "application/x-protobuf", "",
                                                      "", absl::Seconds(2));
      if (r.status == 200) return replica;
      absl::SleepFor(absl::Milliseconds(100));
    }
    last = absl::UnavailableError(
        absl::StrCat("collector ", options.name, " did not start; its log:\n", replica->Log()));
    if (replica->process_->Running()) return last;  // still running, just not answering
  }
  return last;
}

// ---- FakeCloudMap ---------------------------------------------------------

absl::StatusOr<std::unique_ptr<FakeCloudMap>> FakeCloudMap::Start() {
  auto fake = std::unique_ptr<FakeCloudMap>(new FakeCloudMap());
  absl::StatusOr<std::unique_ptr<HttpServer>> server = StartLoopbackServer(*fake, /*threads=*/1);
  if (!server.ok()) return server.status();
  fake->server_ = *std::move(server);
  return fake;
}

FakeCloudMap::~FakeCloudMap() {
  if (server_) server_->Shutdown();
}

void FakeCloudMap::SetInstances(std::vector<std::string> endpoints) {
  MutexLock lock(&mu_);
  endpoints_ = std::move(endpoints);
}

std::vector<std::string> FakeCloudMap::CollectorEnv() const {
  return {absl::StrCat("HTTP_PROXY=http://127.0.0.1:", server_->port()),
          absl::StrCat("http_proxy=http://127.0.0.1:", server_->port()),
          "NO_PROXY=",
          "no_proxy=",
          "AWS_ENDPOINT_URL_SERVICEDISCOVERY=http://cloudmap.invalid",
          "AWS_REGION=us-east-1",
          "AWS_ACCESS_KEY_ID=test-not-a-key",
          "AWS_SECRET_ACCESS_KEY=test-not-a-secret",
          "AWS_EC2_METADATA_DISABLED=true",
          "AWS_CONFIG_FILE=/dev/null",
          "AWS_SHARED_CREDENTIALS_FILE=/dev/null"};
}

HttpResponse FakeCloudMap::Handle(HttpRequest request) {
  requests_.fetch_add(1);
  if (request.Header("x-amz-target") != "Route53AutoNaming_v20170314.DiscoverInstances") {
    return {400, "application/x-amz-json-1.1", "{\"__type\":\"UnknownOperationException\"}"};
  }
  std::vector<std::string> instances;
  {
    MutexLock lock(&mu_);
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      const std::string& endpoint = endpoints_[i];
      const size_t colon = endpoint.rfind(':');
      instances.push_back(absl::StrCat(
          "{\"InstanceId\":\"gateway-", i, "\",\"NamespaceName\":\"tier\",\"ServiceName\":\"gateway\","
          "\"HealthStatus\":\"HEALTHY\",\"Attributes\":{\"AWS_INSTANCE_IPV4\":\"",
          endpoint.substr(0, colon), "\",\"AWS_INSTANCE_PORT\":\"", endpoint.substr(colon + 1), "\"}}"));
    }
  }
  return {200, "application/x-amz-json-1.1", absl::StrCat("{\"Instances\":[", absl::StrJoin(instances, ","), "]}")};
}

namespace {

// The value of `key` in a query string ("a=1&b=2"), or "".
std::string QueryValue(const std::string& query, const std::string& key) {
  for (const absl::string_view part : absl::StrSplit(query, '&')) {
    const size_t eq = part.find('=');
    if (eq != absl::string_view::npos && part.substr(0, eq) == key) return std::string(part.substr(eq + 1));
  }
  return "";
}

// How long a watch waits for a change. The response (headers included)
// goes out only then, so client-go times the watch from its end: one that
// ends with no event looks to its reflector like a "very short watch",
// which it backs off from. So a watch without a change ends with a
// bookmark.
constexpr absl::Duration kWatchPoll = absl::Milliseconds(500);

// A watch event that only says the watch is at `version`; `initial_end`:
// the end of a watch list's initial events.
std::string Bookmark(int64_t version, bool initial_end) {
  return absl::StrCat(
      "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\","
      "\"metadata\":{\"resourceVersion\":\"", version, "\"",
      initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "", "}}}\n");
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeKubeApi>> FakeKubeApi::Start(const std::string& dir) {
  auto fake = std::unique_ptr<FakeKubeApi>(new FakeKubeApi());
  // A watch holds its I/O thread for up to kWatchPoll: one per Collector,
  // and room for their lists.
  absl::StatusOr<std::unique_ptr<HttpServer>> server = StartLoopbackServer(*fake, /*threads=*/4);
  if (!server.ok()) return server.status();
  fake->server_ = *std::move(server);
  fake->kubeconfig_ = absl::StrCat(dir, "/kubeconfig");
  std::ofstream(fake->kubeconfig_) << absl::StrCat(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:",
      fake->server_->port(),
      "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\n"
      "users:\n- name: fake\n  user:\n    token: test-not-a-token\n");
  return fake;
}

FakeKubeApi::~FakeKubeApi() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_) server_->Shutdown();
}

void FakeKubeApi::SetAddresses(std::vector<std::string> addresses, int port) {
  MutexLock lock(&mu_);
  addresses_ = std::move(addresses);
  port_ = port;
  ++version_;
}

std::string FakeKubeApi::SliceJson() const {
  std::vector<std::string> endpoints;
  for (const std::string& address : addresses_) {
    endpoints.push_back(absl::StrCat("{\"addresses\":[\"", address, "\"],\"conditions\":{\"ready\":true}}"));
  }
  return absl::StrCat("{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{\"name\":\"",
                      kService, "-fake\",\"namespace\":\"", kNamespace, "\",\"resourceVersion\":\"", version_,
                      "\",\"labels\":{\"kubernetes.io/service-name\":\"", kService,
                      "\"}},\"addressType\":\"IPv4\",\"endpoints\":[", absl::StrJoin(endpoints, ","),
                      "],\"ports\":[{\"name\":\"otlp-grpc\",\"port\":", port_, ",\"protocol\":\"TCP\"}]}");
}

HttpResponse FakeKubeApi::Handle(HttpRequest request) {
  requests_.fetch_add(1);
  const std::string path = absl::StrCat("/apis/discovery.k8s.io/v1/namespaces/", kNamespace, "/endpointslices");
  if (request.method != "GET" || request.path != path) {
    return {404, "application/json", "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":404}"};
  }
  const std::string watch = QueryValue(request.query, "watch");
  MutexLock lock(&mu_);
  if (watch != "true" && watch != "1") {
    return {200, "application/json",
            absl::StrCat("{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{"
                         "\"resourceVersion\":\"", version_, "\"},\"items\":[", SliceJson(), "]}")};
  }
  if (QueryValue(request.query, "sendInitialEvents") == "true") {
    // A watch list (client-go's WatchListClient): the slice, the bookmark
    // that ends the initial events, and a plain one for the rest of the
    // watch, which the reflector goes on reading (without an event it would
    // be a "very short watch").
    return {200, "application/json",
            absl::StrCat("{\"type\":\"ADDED\",\"object\":", SliceJson(), "}\n", Bookmark(version_, true),
                         Bookmark(version_, false))};
  }
  int64_t since = 0;
  if (!absl::SimpleAtoi(QueryValue(request.query, "resourceVersion"), &since)) since = 0;
  mu_.AwaitWithTimeout([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ > since || stopping_; },
                       kWatchPoll);
  if (version_ <= since) {
    return {200, "application/json", Bookmark(version_, false)};
  }
  return {200, "application/json", absl::StrCat("{\"type\":\"MODIFIED\",\"object\":", SliceJson(), "}\n")};
}

}  // namespace gateway::scaleout
