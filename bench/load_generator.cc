// OTLP trace load generator: keeps --concurrency Export requests in flight
// against --target over gRPC (generic stub, callback API) or OTLP/HTTP
// protobuf (libcurl multi), from a pool of request bodies built before the
// clock starts, and reports throughput, latency and errors by code.
//
//   load_generator --target=127.0.0.1:4317 --protocol=grpc --concurrency=8
//       --duration=5s --spans_per_request=100 --consumer_share=0.2 --json
//
// Closed loop by default (each finished request starts the next); with
// --rate it is open loop: requests start on a fixed schedule, latency counts
// from the scheduled start, and a tick with no free slot is counted as
// "missed". UNAVAILABLE / RESOURCE_EXHAUSTED and HTTP 503 / 429 count as
// backpressure. With --gateway_pid it reads that process's CPU time before
// and after the run and its peak RSS (VmHWM) from /proc.
//
// The human table goes to stdout, or to stderr with --json, which prints one
// JSON object on stdout instead.
#include <curl/curl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/loadgen_flags.h"
#include "bench/loadgen_requests.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:4317", "host:port of the OTLP receiver.");
ABSL_FLAG(std::string, protocol, "grpc",
          "grpc, http (OTLP/HTTP protobuf) or http-json (OTLP/HTTP JSON: the same requests, ids in hex).");
ABSL_FLAG(std::string, http_path, "/v1/traces", "Request path for --protocol=http.");
ABSL_FLAG(int, concurrency, 4, "Requests in flight.");
ABSL_FLAG(int, connections, 1, "gRPC channels (HTTP/2 connections) the slots are spread over.");
ABSL_FLAG(int, http_threads, 1, "libcurl multi loops for --protocol=http.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long to send (at most --max_duration).");
ABSL_FLAG(absl::Duration, max_duration, absl::Seconds(300), "Hard upper bound of --duration.");
ABSL_FLAG(int64_t, requests, 0, "Stop after this many requests (0: run for --duration).");
ABSL_FLAG(double, rate, 0, "Open loop: requests per second (0: closed loop).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each request.");
ABSL_FLAG(int, spans_per_request, 100, "Spans in each request.");
ABSL_FLAG(int, span_bytes, 300, "Approximate serialized size of a span.");
ABSL_FLAG(int, attribute_bytes, 0,
          "0: spans are padded to span_bytes with one string attribute; N: with attributes of N-byte "
          "values (SDK-like spans).");
ABSL_FLAG(double, consumer_share, 0.1, "Fraction of spans that are CONSUMER spans linking to a producer.");
ABSL_FLAG(bool, out_of_order, false, "Send a consumer's children one request before the consumer.");
ABSL_FLAG(int, pool, 256, "Distinct request bodies generated before the run.");
ABSL_FLAG(bool, unique_ids, true, "Salt ids per pass over the pool so ids do not repeat.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the request pool.");
ABSL_FLAG(int, gateway_pid, 0, "Process whose CPU time and peak RSS to report (0: none).");
ABSL_FLAG(bool, json, false, "Print one JSON line on stdout (table on stderr).");
ABSL_FLAG(std::string, label, "", "Free text copied into the JSON line.");

namespace loadgen {
namespace {

using Clock = std::chrono::steady_clock;

// ---- /proc ---------------------------------------------------------------

// utime + stime of `pid` in seconds; -1 when unreadable.
double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> tokens;
  for (std::string t; fields >> t;) tokens.push_back(t);
  // tokens[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (tokens.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(tokens[11]) + std::stod(tokens[12])) / ticks;
}

// A "Vm...:  N kB" line of /proc/pid/status in MiB; -1 when unreadable.
double ProcessStatusMiB(int pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      return std::stod(line.substr(key.size() + 1)) / 1024.0;
    }
  }
  return -1;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---- the run ---------------------------------------------------------------

struct Options {
  std::string target;
  int concurrency = 1;
  int connections = 1;
  int http_threads = 1;
  std::string http_path;
  Clock::duration duration{};
  int64_t max_requests = 0;
  double rate = 0;
  std::chrono::milliseconds timeout{};
  bool unique_ids = true;
};

// What one slot (one request in flight at a time) saw. Only the slot's own
// completion touches it, so it needs no lock; merged after the run.
struct SlotStats {
  int64_t requests = 0;
  int64_t ok = 0;
  int64_t spans_ok = 0;
  int64_t bytes_ok = 0;
  int64_t backpressure = 0;
  std::map<std::string, int64_t> errors;
  std::vector<uint32_t> latency_us;  // successful requests
  std::vector<uint32_t> error_latency_us;

  void Merge(const SlotStats& other) {
    requests += other.requests;
    ok += other.ok;
    spans_ok += other.spans_ok;
    bytes_ok += other.bytes_ok;
    backpressure += other.backpressure;
    for (const auto& [code, n] : other.errors) errors[code] += n;
    latency_us.insert(latency_us.end(), other.latency_us.begin(), other.latency_us.end());
    error_latency_us.insert(error_latency_us.end(), other.error_latency_us.begin(), other.error_latency_us.end());
  }
};

uint32_t MicrosSince(Clock::time_point start) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX));
}

// Hands out send numbers until the run is over, and open-loop start times.
class Schedule {
 public:
  Schedule(const Options& options, Clock::time_point start)
      : options_(options), start_(start), end_(start + options.duration) {}

  // The next send number, or false when the run is over.
  bool Next(uint64_t* index) {
    if (stopped_.load(std::memory_order_relaxed) || Clock::now() >= end_) return false;
    const uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (options_.max_requests > 0 && i >= static_cast<uint64_t>(options_.max_requests)) return false;
    *index = i;
    return true;
  }

  // Scheduled start of open-loop tick `k`.
  Clock::time_point TickTime(uint64_t k) const {
    return start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(k) / options_.rate));
  }

  void Stop() { stopped_.store(true, std::memory_order_relaxed); }
  bool Over() const { return stopped_.load(std::memory_order_relaxed) || Clock::now() >= end_; }
  Clock::time_point end() const { return end_; }

 private:
  const Options& options_;
  const Clock::time_point start_;
  const Clock::time_point end_;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> stopped_{false};
};

// Counts slots that have a request in flight and lets the main thread wait
// for all of them to finish.
class InFlight {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++active_;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) cv_.notify_all();
  }
  // True when nothing is in flight before `deadline`.
  bool WaitIdle(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return active_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

bool IsBackpressureGrpc(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

// ---- gRPC -------------------------------------------------------------------

const std::string kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

class GrpcDriver {
 public:
  GrpcDriver(const Options& options, const RequestPool& pool) : options_(options), pool_(pool) {
    for (int c = 0; c < std::max(1, options.connections); ++c) {
      grpc::ChannelArguments args;
      // Separate subchannels, hence separate connections, per channel.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("loadgen.channel", c);
      args.SetMaxSendMessageSize(-1);
      auto channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
      channels_.push_back(channel);
      stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
    }
    slots_.resize(static_cast<size_t>(options.concurrency));
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i].stub = stubs_[i % stubs_.size()].get();
  }

  // Connects every channel; false if one does not connect by `deadline`.
  bool Connect(Clock::time_point deadline) {
    const auto system_deadline =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                               deadline - Clock::now());
    for (auto& channel : channels_) {
      if (!channel->WaitForConnected(system_deadline)) return false;
    }
    return true;
  }

  // Runs until the schedule is over and every request has finished (or the
  // grace period after the end ran out: then false).
  bool Run(Schedule& schedule) {
    schedule_ = &schedule;
    if (options_.rate > 0) {
      for (auto& slot : slots_) free_.push_back(&slot);
      RunOpenLoop();
    } else {
      for (auto& slot : slots_) {
        uint64_t index;
        if (!schedule.Next(&index)) break;
        in_flight_.Add();
        Start(&slot, index, Clock::now());
      }
    }
    return in_flight_.WaitIdle(schedule.end() + options_.timeout + std::chrono::seconds(5));
  }

  SlotStats Stats() const {
    SlotStats total;
    for (const auto& slot : slots_) total.Merge(slot.stats);
    total.errors["missed_ticks"] += missed_ticks_;
    if (total.errors["missed_ticks"] == 0) total.errors.erase("missed_ticks");
    return total;
  }

 private:
  struct Slot {
    grpc::GenericStub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    std::string body;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    Clock::time_point start;
    int spans = 0;
    SlotStats stats;
  };

  void RunOpenLoop() {
    for (uint64_t tick = 0;; ++tick) {
      const Clock::time_point at = schedule_->TickTime(tick);
      if (at >= schedule_->end()) break;
      std::this_thread::sleep_until(at);
      uint64_t index;
      if (!schedule_->Next(&index)) break;
      Slot* slot = nullptr;
      {
        std::lock_guard<std::mutex> lock(free_mu_);
        if (!free_.empty()) {
          slot = free_.back();
          free_.pop_back();
        }
      }
      if (slot == nullptr) {
        ++missed_ticks_;
        continue;
      }
      in_flight_.Add();
      Start(slot, index, at);
    }
  }

  void Start(Slot* slot, uint64_t index, Clock::time_point start) {
    const size_t entry = static_cast<size_t>(index % pool_.size());
    slot->spans = pool_.span_counts[entry];
    if (options_.unique_ids) {
      pool_.Render(index, &slot->body);
    } else {
      slot->body = pool_.bodies[entry];
    }
    grpc::Slice slice(slot->body);
    slot->request = grpc::ByteBuffer(&slice, 1);
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
    slot->start = start;
    slot->stub->UnaryCall(slot->context.get(), kExportMethod, grpc::StubOptions(), &slot->request, &slot->response,
                          [this, slot](grpc::Status status) { OnDone(slot, status); });
  }

  void OnDone(Slot* slot, const grpc::Status& status) {
    const uint32_t latency = MicrosSince(slot->start);
    SlotStats& stats = slot->stats;
    ++stats.requests;
    if (status.ok()) {
      ++stats.ok;
      stats.spans_ok += slot->spans;
      stats.bytes_ok += static_cast<int64_t>(slot->body.size());
      stats.latency_us.push_back(latency);
    } else {
      ++stats.errors[absl::StrCat("grpc_", GrpcCodeName(status.error_code()))];
      if (IsBackpressureGrpc(status.error_code())) ++stats.backpressure;
      stats.error_latency_us.push_back(latency);
    }
    if (options_.rate > 0) {
      {
        std::lock_guard<std::mutex> lock(free_mu_);
        free_.push_back(slot);
      }
      in_flight_.Done();
      return;
    }
    uint64_t index;
    if (schedule_->Next(&index)) {
      Start(slot, index, Clock::now());
    } else {
      in_flight_.Done();
    }
  }

  const Options& options_;
  const RequestPool& pool_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<Slot> slots_;
  Schedule* schedule_ = nullptr;
  InFlight in_flight_;
  std::mutex free_mu_;
  std::vector<Slot*> free_;
  int64_t missed_ticks_ = 0;  // pacer thread only
};

// ---- HTTP -------------------------------------------------------------------

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

// One libcurl multi loop driving `slots` transfers on its own thread.
class HttpLoop {
 public:
  HttpLoop(const Options& options, const RequestPool& pool, int slots, double rate)
      : options_(options), pool_(pool), rate_(rate), slots_(static_cast<size_t>(slots)) {
    url_ = absl::StrCat("http://", options.target, options.http_path);
    headers_ = curl_slist_append(headers_, pool.json ? "Content-Type: application/json"
                                                     : "Content-Type: application/x-protobuf");
    headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
    multi_ = curl_multi_init();
    for (auto& slot : slots_) {
      slot.easy = curl_easy_init();
      curl_easy_setopt(slot.easy, CURLOPT_URL, url_.c_str());
      curl_easy_setopt(slot.easy, CURLOPT_HTTPHEADER, headers_);
      curl_easy_setopt(slot.easy, CURLOPT_POST, 1L);
      curl_easy_setopt(slot.easy, CURLOPT_WRITEFUNCTION, &DiscardBody);
      curl_easy_setopt(slot.easy, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(slot.easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(slot.easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
      curl_easy_setopt(slot.easy, CURLOPT_PRIVATE, &slot);
    }
  }

  ~HttpLoop() {
    for (auto& slot : slots_) {
      if (slot.busy) curl_multi_remove_handle(multi_, slot.easy);
      curl_easy_cleanup(slot.easy);
    }
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }

  // Returns when the schedule is over and every transfer has finished, or
  // the grace period after the end ran out (then false).
  bool Run(Schedule& schedule) {
    const Clock::time_point give_up = schedule.end() + options_.timeout + std::chrono::seconds(5);
    int busy = 0;
    if (rate_ <= 0) {
      for (auto& slot : slots_) {
        uint64_t index;
        if (!schedule.Next(&index)) break;
        Start(&slot, index, Clock::now());
        ++busy;
      }
    }
    uint64_t tick = 0;
    bool ticking = rate_ > 0;
    while (true) {
      const Clock::time_point now = Clock::now();
      if (now >= give_up) return false;
      int poll_ms = 10;
      if (ticking) {
        // Start every tick that is due; a tick with no free slot is missed.
        while (true) {
          const Clock::time_point at = TickTime(schedule, tick);
          if (at >= schedule.end()) {
            ticking = false;
            break;
          }
          if (at > now) {
            poll_ms = static_cast<int>(std::clamp<int64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count(), 0, 10));
            break;
          }
          ++tick;
          uint64_t index;
          if (!schedule.Next(&index)) {
            ticking = false;
            break;
          }
          Slot* slot = FreeSlot();
          if (slot == nullptr) {
            ++missed_ticks_;
            continue;
          }
          Start(slot, index, at);
          ++busy;
        }
      }
      if (busy == 0 && !ticking) return true;
      int running = 0;
      curl_multi_perform(multi_, &running);
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Slot* slot = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&slot));
        const CURLcode result = msg->data.result;
        Finish(slot, result);
        uint64_t index;
        if (rate_ <= 0 && schedule.Next(&index)) {
          Start(slot, index, Clock::now());
        } else {
          --busy;
        }
      }
      if (busy == 0 && !ticking) return true;
      curl_multi_poll(multi_, nullptr, 0, poll_ms, nullptr);
    }
  }

  SlotStats Stats() const {
    SlotStats total;
    for (const auto& slot : slots_) total.Merge(slot.stats);
    if (missed_ticks_ > 0) total.errors["missed_ticks"] += missed_ticks_;
    return total;
  }

 private:
  struct Slot {
    CURL* easy = nullptr;
    bool busy = false;
    std::string body;
    Clock::time_point start;
    int spans = 0;
    SlotStats stats;
  };

  Clock::time_point TickTime(const Schedule& schedule, uint64_t k) const {
    // This loop's share of the rate, offset so loops interleave.
    return schedule.end() - options_.duration +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(k) / rate_));
  }

  Slot* FreeSlot() {
    for (auto& slot : slots_) {
      if (!slot.busy) return &slot;
    }
    return nullptr;
  }

  void Start(Slot* slot, uint64_t index, Clock::time_point start) {
    const size_t entry = static_cast<size_t>(index % pool_.size());
    slot->spans = pool_.span_counts[entry];
    if (options_.unique_ids) {
      pool_.Render(index, &slot->body);
    } else {
      slot->body = pool_.bodies[entry];
    }
    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, slot->body.data());
    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(slot->body.size()));
    slot->start = start;
    slot->busy = true;
    curl_multi_add_handle(multi_, slot->easy);
  }

  void Finish(Slot* slot, CURLcode result) {
    const uint32_t latency = MicrosSince(slot->start);
    curl_multi_remove_handle(multi_, slot->easy);
    slot->busy = false;
    SlotStats& stats = slot->stats;
    ++stats.requests;
    long code = 0;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &code);
    if (result != CURLE_OK) {
      ++stats.errors[absl::StrCat("curl_", curl_easy_strerror(result))];
      stats.error_latency_us.push_back(latency);
    } else if (code >= 200 && code < 300) {
      ++stats.ok;
      stats.spans_ok += slot->spans;
      stats.bytes_ok += static_cast<int64_t>(slot->body.size());
      stats.latency_us.push_back(latency);
    } else {
      ++stats.errors[absl::StrCat("http_", code)];
      if (code == 503 || code == 429) ++stats.backpressure;
      stats.error_latency_us.push_back(latency);
    }
  }

  const Options& options_;
  const RequestPool& pool_;
  const double rate_;
  std::string url_;
  curl_slist* headers_ = nullptr;
  CURLM* multi_ = nullptr;
  std::vector<Slot> slots_;
  int64_t missed_ticks_ = 0;
};

// ---- report -----------------------------------------------------------------

double PercentileMs(std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i] / 1000.0;
}

std::string JsonNumber(double v) { return absl::StrFormat("%.6g", v); }

int Main() {
  const std::string protocol = absl::GetFlag(FLAGS_protocol);
  if (protocol != "grpc" && protocol != "http" && protocol != "http-json") {
    std::fprintf(stderr, "load_generator: --protocol must be grpc, http or http-json\n");
    return 2;
  }
  Options options;
  options.target = absl::GetFlag(FLAGS_target);
  options.concurrency = std::clamp(absl::GetFlag(FLAGS_concurrency), 1, 4096);
  options.connections = std::clamp(absl::GetFlag(FLAGS_connections), 1, options.concurrency);
  options.http_threads = std::clamp(absl::GetFlag(FLAGS_http_threads), 1, options.concurrency);
  options.http_path = absl::GetFlag(FLAGS_http_path);
  const absl::Duration duration = std::min(absl::GetFlag(FLAGS_duration), absl::GetFlag(FLAGS_max_duration));
  options.duration = absl::ToChronoNanoseconds(duration);
  options.max_requests = absl::GetFlag(FLAGS_requests);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.timeout = absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_timeout));
  options.unique_ids = absl::GetFlag(FLAGS_unique_ids);

  LoadShape shape;
  shape.spans_per_request = std::clamp(absl::GetFlag(FLAGS_spans_per_request), 1, 100000);
  shape.span_bytes = std::clamp(absl::GetFlag(FLAGS_span_bytes), 0, 1 << 20);
  shape.attribute_bytes = std::clamp(absl::GetFlag(FLAGS_attribute_bytes), 0, 1 << 16);
  shape.consumer_share = absl::GetFlag(FLAGS_consumer_share);
  shape.out_of_order = absl::GetFlag(FLAGS_out_of_order);
  RequestPool pool =
      BuildRequestPool(shape, std::clamp(absl::GetFlag(FLAGS_pool), 1, 1 << 16), absl::GetFlag(FLAGS_seed));
  if (protocol == "http-json") pool = ToOtlpJsonPool(pool);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<GrpcDriver> grpc_driver;
  std::vector<std::unique_ptr<HttpLoop>> http_loops;
  if (protocol == "grpc") {
    grpc_driver = std::make_unique<GrpcDriver>(options, pool);
    if (!grpc_driver->Connect(Clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "load_generator: cannot connect to %s\n", options.target.c_str());
      return 1;
    }
  } else {
    for (int t = 0; t < options.http_threads; ++t) {
      const int slots = options.concurrency / options.http_threads + (t < options.concurrency % options.http_threads);
      http_loops.push_back(std::make_unique<HttpLoop>(options, pool, slots, options.rate / options.http_threads));
    }
  }

  const int gateway_pid = absl::GetFlag(FLAGS_gateway_pid);
  const double gateway_cpu_before = gateway_pid > 0 ? ProcessCpuSeconds(gateway_pid) : -1;
  const double self_cpu_before = SelfCpuSeconds();
  const Clock::time_point start = Clock::now();
  Schedule schedule(options, start);
  bool finished = true;
  if (grpc_driver != nullptr) {
    finished = grpc_driver->Run(schedule);
  } else {
    std::vector<std::thread> threads;
    std::atomic<bool> all_finished{true};
    for (auto& loop : http_loops) {
      threads.emplace_back([&, l = loop.get()] {
        if (!l->Run(schedule)) all_finished = false;
      });
    }
    for (auto& t : threads) t.join();
    finished = all_finished;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double self_cpu = SelfCpuSeconds() - self_cpu_before;
  const double gateway_cpu_after = gateway_pid > 0 ? ProcessCpuSeconds(gateway_pid) : -1;
  const double gateway_cpu = gateway_cpu_before >= 0 && gateway_cpu_after >= 0 ? gateway_cpu_after - gateway_cpu_before
                                                                               : -1;
  const double gateway_rss = gateway_pid > 0 ? ProcessStatusMiB(gateway_pid, "VmHWM") : -1;
  const double gateway_rss_now = gateway_pid > 0 ? ProcessStatusMiB(gateway_pid, "VmRSS") : -1;

  SlotStats stats;
  if (grpc_driver != nullptr) {
    stats = grpc_driver->Stats();
  } else {
    for (const auto& loop : http_loops) stats.Merge(loop->Stats());
  }
  if (!finished) stats.errors["unfinished_at_exit"] += 1;
  std::vector<uint32_t>& latencies = stats.latency_us.empty() ? stats.error_latency_us : stats.latency_us;
  std::sort(latencies.begin(), latencies.end());
  const double p50 = PercentileMs(latencies, 0.50);
  const double p90 = PercentileMs(latencies, 0.90);
  const double p99 = PercentileMs(latencies, 0.99);
  const double max = latencies.empty() ? 0 : latencies.back() / 1000.0;
  int64_t errors = 0;
  for (const auto& [code, n] : stats.errors) {
    if (code != "missed_ticks") errors += n;
  }
  const double rps = stats.ok / elapsed;
  const double sps = stats.spans_ok / elapsed;
  const double mbps = stats.bytes_ok / elapsed / 1e6;
  const double cpu_per_million = gateway_cpu >= 0 && stats.spans_ok > 0 ? gateway_cpu / (stats.spans_ok / 1e6) : -1;

  std::string table;
  absl::StrAppendFormat(&table, "target            %s (%s), concurrency %d, %d connection(s)%s\n", options.target,
                        protocol, options.concurrency, protocol == "grpc" ? options.connections : options.concurrency,
                        options.rate > 0 ? absl::StrFormat(", open loop %.0f req/s", options.rate) : "");
  absl::StrAppendFormat(&table, "request shape     %d spans x ~%d B, consumer share %.2f%s; pool %d bodies, %.1f KB avg\n",
                        shape.spans_per_request, shape.span_bytes, shape.consumer_share,
                        shape.out_of_order ? ", out of order" : "", static_cast<int>(pool.size()),
                        pool.TotalBytes() / 1024.0 / static_cast<double>(pool.size()));
  absl::StrAppendFormat(&table, "elapsed           %.2f s\n", elapsed);
  absl::StrAppendFormat(&table, "requests          %d sent, %d ok, %d errors (%d backpressure)\n", stats.requests,
                        stats.ok, errors, stats.backpressure);
  absl::StrAppendFormat(&table, "throughput        %.0f req/s, %.0f spans/s, %.1f MB/s\n", rps, sps, mbps);
  absl::StrAppendFormat(&table, "latency (ms)      p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, max);
  for (const auto& [code, n] : stats.errors) absl::StrAppendFormat(&table, "  %-26s %d\n", code, n);
  absl::StrAppendFormat(&table, "load generator    %.2f CPU s\n", self_cpu);
  if (gateway_pid > 0) {
    absl::StrAppendFormat(&table, "gateway pid %d    %.2f CPU s, %.2f CPU s per million spans, max RSS %.1f MiB\n",
                          gateway_pid, gateway_cpu, cpu_per_million, gateway_rss);
  }

  std::string json = "{";
  absl::StrAppend(&json, "\"label\":\"", absl::GetFlag(FLAGS_label), "\",\"protocol\":\"", protocol,
                  "\",\"target\":\"", options.target, "\",\"concurrency\":", options.concurrency,
                  ",\"connections\":", protocol == "grpc" ? options.connections : options.concurrency,
                  ",\"rate\":", JsonNumber(options.rate), ",\"spans_per_request\":", shape.spans_per_request,
                  ",\"span_bytes\":", shape.span_bytes,
                  ",\"attribute_bytes\":", shape.attribute_bytes,
                  ",\"consumer_share\":", JsonNumber(shape.consumer_share),
                  ",\"out_of_order\":", shape.out_of_order ? "true" : "false");
  absl::StrAppend(&json, ",\"elapsed_s\":", JsonNumber(elapsed), ",\"requests\":", stats.requests,
                  ",\"requests_ok\":", stats.ok, ",\"spans_ok\":", stats.spans_ok, ",\"bytes_ok\":", stats.bytes_ok,
                  ",\"errors\":", errors, ",\"backpressure\":", stats.backpressure);
  absl::StrAppend(&json, ",\"requests_per_s\":", JsonNumber(rps), ",\"spans_per_s\":", JsonNumber(sps),
                  ",\"mb_per_s\":", JsonNumber(mbps), ",\"latency_ms\":{\"p50\":", JsonNumber(p50),
                  ",\"p90\":", JsonNumber(p90), ",\"p99\":", JsonNumber(p99), ",\"max\":", JsonNumber(max), "}");
  absl::StrAppend(&json, ",\"errors_by_code\":{");
  bool first = true;
  for (const auto& [code, n] : stats.errors) {
    absl::StrAppend(&json, first ? "" : ",", "\"", code, "\":", n);
    first = false;
  }
  absl::StrAppend(&json, "},\"loadgen_cpu_s\":", JsonNumber(self_cpu));
  if (gateway_pid > 0) {
    absl::StrAppend(&json, ",\"gateway_pid\":", gateway_pid, ",\"gateway_cpu_s\":", JsonNumber(gateway_cpu),
                    ",\"gateway_cpu_s_per_million_spans\":", JsonNumber(cpu_per_million),
                    ",\"gateway_max_rss_mib\":", JsonNumber(gateway_rss),
                    ",\"gateway_rss_mib\":", JsonNumber(gateway_rss_now));
  }
  absl::StrAppend(&json, "}");

  if (absl::GetFlag(FLAGS_json)) {
    std::fputs(table.c_str(), stderr);
    std::printf("%s\n", json.c_str());
  } else {
    std::fputs(table.c_str(), stdout);
  }
  std::fflush(stdout);
  // Skip destructors: a request still stuck past the grace period would hold
  // gRPC's shutdown; everything has been reported.
  std::quick_exit(finished ? 0 : 3);
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("OTLP trace load generator (gRPC or HTTP/protobuf).");
  std::vector<std::string> storage;
  std::vector<char*> args = loadgen::NormalizeFlagNames(argc, argv, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  return loadgen::Main();
}
