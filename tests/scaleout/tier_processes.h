// The processes of a two-tier deployment on 127.0.0.1, for the scale-out
// tests: OpenTelemetry Collector replicas with the loadbalancing exporter
// (tests/go/collector, built by scripts/install_deps.sh --test) in front of
// gateway replicas (the real otlp_gateway binary), and a fake AWS Cloud Map
// that the Collectors' aws_cloud_map resolver asks which gateways exist.
//
//   FakeCloudMap cloud_map = *FakeCloudMap::Start();
//   auto gw = *GatewayReplica::Start({.binary = ..., .name = "gw0", .dynatrace_url = dt->url()});
//   cloud_map->SetInstances({gw->endpoint()});
//   auto collector = *CollectorReplica::Start({.binary = *testing::OtelCollector::FindBinary(), .name = "col0",
//                                               .resolver_yaml = CloudMapResolverYaml(absl::Seconds(1)),
//                                               .env = cloud_map->CollectorEnv()});
//   ... send OTLP to collector->grpc_port() / http_port() ...
//   gw->process().Signal(SIGKILL);
//
// Every listener is on 127.0.0.1: gateways on port 0 (their "listening" log
// line gives the ports); Collectors on free ports picked just before they
// start (their config must name them), retried on another port if the
// Collector exits while starting.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/receivers/http_handler.h"
#include "gateway/receivers/http_server.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/child_process.h"

namespace gateway::scaleout {

// $TEST_TMPDIR, or /tmp outside Bazel.
std::string TestDir();

struct GatewayReplicaOptions {
  std::string binary;  // otlp_gateway
  std::string dir;     // where its config and log go
  std::string name;    // their file names
  std::string dynatrace_url;
  absl::Duration hold_window = absl::Seconds(1);
  // --drain-delay; zero leaves the flag out.
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration drain_timeout = absl::Seconds(5);
  // The OTLP/gRPC listener: host (any 127.x.y.z address) and port (0: any).
  // A DNS resolver hands out one port for every address it finds, as a
  // Kubernetes headless Service does, so replicas found that way share it.
  std::string grpc_host = "127.0.0.1";
  int grpc_port = 0;
};

class GatewayReplica {
 public:
  // Starts the binary and waits (up to 30 s) for its "listening" line.
  static absl::StatusOr<std::unique_ptr<GatewayReplica>> Start(const GatewayReplicaOptions& options);

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  int admin_port() const { return admin_port_; }
  // "<grpc host>:<grpc port>": what the Collectors' resolver hands out.
  std::string endpoint() const;
  testing::ChildProcess& process() { return *process_; }
  // Its stdout and stderr so far.
  std::string Log() const;

 private:
  std::unique_ptr<testing::ChildProcess> process_;
  std::string log_path_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  int admin_port_ = 0;
  std::string grpc_host_;
};

struct CollectorReplicaOptions {
  std::string binary;  // otelcol-gateway-test
  std::string dir;     // where its config and log go
  std::string name;    // their file names
  // The `resolver:` block of the loadbalancing exporter, indented for it
  // (CloudMapResolverYaml, StaticResolverYaml).
  std::string resolver_yaml;
  // Added to (and overriding) this process's environment.
  std::vector<std::string> env;
  // When set, the Collector runs in a user and mount namespace of its own
  // (`unshare`) where this file is /etc/hosts: what its DNS resolver finds
  // for a name, without a DNS server or a change to the machine. Rewrite it
  // in place (RewriteHostsFile), not by rename: it is bind-mounted.
  std::string hosts_file;
};

// The Collector configuration of the tier: OTLP in (gRPC and HTTP), batch,
// the loadbalancing exporter routing by trace id with its own queue and
// retry (so that what a replica refuses is routed again once the resolver
// has dropped it), the per-gateway OTLP exporters with a short retry and no
// queue of their own (docs/scale-out.md explains the choice).
std::string TierCollectorConfig(int grpc_port, int http_port, const std::string& resolver_yaml);

// resolver: aws_cloud_map, namespace "tier", service "gateway".
std::string CloudMapResolverYaml(absl::Duration interval);
// resolver: static, these host:port endpoints.
std::string StaticResolverYaml(const std::vector<std::string>& endpoints);
// resolver: dns, every address of `hostname`, all on `port` (the Kubernetes
// headless Service variant of deploy/kubernetes).
std::string DnsResolverYaml(const std::string& hostname, int port, absl::Duration interval);
// resolver: k8s, the EndpointSlices of Service `service` ("name.namespace"),
// every address on `port` (found through KUBECONFIG: FakeKubeApi).
std::string K8sResolverYaml(const std::string& service, int port);
// Writes `hostname` with these addresses, one line each, over `path` in
// place (same file, so a bind mount of it sees the change).
absl::Status RewriteHostsFile(const std::string& path, const std::string& hostname,
                              const std::vector<std::string>& addresses);

class CollectorReplica {
 public:
  // Writes the config, starts the Collector and waits (up to 60 s) until its
  // OTLP/HTTP receiver answers an empty traces request.
  static absl::StatusOr<std::unique_ptr<CollectorReplica>> Start(const CollectorReplicaOptions& options);

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  testing::ChildProcess& process() { return *process_; }
  // Its stdout and stderr so far.
  std::string Log() const;

 private:
  std::unique_ptr<testing::ChildProcess> process_;
  std::string log_path_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

// AWS Cloud Map's DiscoverInstances, as the Collector's aws_cloud_map
// resolver calls it. The AWS SDK prefixes the service host with "data-", so
// the Collector reaches the fake as its HTTP proxy (CollectorEnv): the SDK
// asks for http://data-cloudmap.invalid/ through it, while the OTLP
// connections to 127.0.0.1 bypass proxies.
class FakeCloudMap final : public HttpHandler {
 public:
  static absl::StatusOr<std::unique_ptr<FakeCloudMap>> Start();
  ~FakeCloudMap() override;

  // The instances the next DiscoverInstances returns ("127.0.0.1:port").
  void SetInstances(std::vector<std::string> endpoints);
  int64_t Requests() const { return requests_.load(); }
  // Environment for a Collector: proxy, endpoint override, dummy credentials.
  std::vector<std::string> CollectorEnv() const;

  HttpResponse Handle(HttpRequest request) override;

 private:
  FakeCloudMap() = default;

  std::unique_ptr<HttpServer> server_;
  std::atomic<int64_t> requests_{0};
  mutable Mutex mu_;
  std::vector<std::string> endpoints_ ABSL_GUARDED_BY(mu_);
};

// The Kubernetes API as the Collector's `k8s` resolver uses it (client-go's
// informer on EndpointSlices): list, and watch by long poll, of one
// Service's slice in namespace "tier", whose addresses SetAddresses
// replaces (each change a new resourceVersion and a MODIFIED event). Plain
// HTTP, reached through the kubeconfig at KubeconfigPath().
//
// Threads: the server's; SetAddresses from any thread.
class FakeKubeApi final : public HttpHandler {
 public:
  static constexpr char kNamespace[] = "tier";
  static constexpr char kService[] = "otlp-gateway";

  // `dir`: where the kubeconfig goes.
  static absl::StatusOr<std::unique_ptr<FakeKubeApi>> Start(const std::string& dir);
  ~FakeKubeApi() override;

  // The slice's endpoints from now on ("127.0.0.2", ...), all on `port`.
  void SetAddresses(std::vector<std::string> addresses, int port);
  const std::string& KubeconfigPath() const { return kubeconfig_; }
  int64_t Requests() const { return requests_.load(); }

  HttpResponse Handle(HttpRequest request) override;

 private:
  FakeKubeApi() = default;
  // The slice as JSON at the current version.
  std::string SliceJson() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<HttpServer> server_;
  std::string kubeconfig_;
  std::atomic<int64_t> requests_{0};
  mutable Mutex mu_;
  int64_t version_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::string> addresses_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gateway::scaleout
