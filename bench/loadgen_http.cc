#include "bench/loadgen_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace loadgen {
namespace {

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

// One libcurl multi loop driving `slots` transfers on its own thread.
class HttpLoop {
 public:
  HttpLoop(const RunOptions& options, const RequestPool& pool, int slots, double rate)
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
  // the grace period after the end ran out (then false). On its own thread.
  bool Run(Schedule& schedule) {
    const SteadyClock::time_point give_up = schedule.end() + options_.timeout + std::chrono::seconds(5);
    int busy = 0;
    if (rate_ <= 0) {
      for (auto& slot : slots_) {
        uint64_t index;
        if (!schedule.Next(&index)) break;
        Start(&slot, index, SteadyClock::now());
        ++busy;
      }
    }
    uint64_t tick = 0;
    bool ticking = rate_ > 0;
    while (true) {
      const SteadyClock::time_point now = SteadyClock::now();
      if (now >= give_up) return false;
      int poll_ms = 10;
      if (ticking) {
        // Start every tick that is due; a tick with no free slot is missed.
        while (true) {
          const SteadyClock::time_point at = TickTime(schedule, tick);
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
          Start(slot, index, SteadyClock::now());
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
    SteadyClock::time_point start;
    int spans = 0;
    SlotStats stats;
  };

  SteadyClock::time_point TickTime(const Schedule& schedule, uint64_t k) const {
    // This loop's share of the rate, offset so loops interleave.
    return schedule.end() - options_.duration +
           std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(static_cast<double>(k) / rate_));
  }

  Slot* FreeSlot() {
    for (auto& slot : slots_) {
      if (!slot.busy) return &slot;
    }
    return nullptr;
  }

  void Start(Slot* slot, uint64_t index, SteadyClock::time_point start) {
    slot->spans = RenderSend(pool_, options_.unique_ids, index, &slot->body);
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

  const RunOptions& options_;
  const RequestPool& pool_;
  const double rate_;
  std::string url_;
  curl_slist* headers_ = nullptr;
  CURLM* multi_ = nullptr;
  std::vector<Slot> slots_;
  int64_t missed_ticks_ = 0;
};

// The loops, run side by side.
class HttpDriver final : public LoadDriver {
 public:
  HttpDriver(const RunOptions& options, const RequestPool& pool) {
    for (int t = 0; t < options.http_threads; ++t) {
      const int slots = options.concurrency / options.http_threads + (t < options.concurrency % options.http_threads);
      loops_.push_back(std::make_unique<HttpLoop>(options, pool, slots, options.rate / options.http_threads));
    }
  }

  // Connections open with the first requests.
  bool Connect(SteadyClock::time_point) override { return true; }

  bool Run(Schedule& schedule) override {
    std::vector<std::thread> threads;
    std::atomic<bool> all_finished{true};
    for (auto& loop : loops_) {
      threads.emplace_back([&, l = loop.get()] {
        if (!l->Run(schedule)) all_finished = false;
      });
    }
    for (auto& t : threads) t.join();
    return all_finished;
  }

  SlotStats Stats() const override {
    SlotStats stats;
    for (const auto& loop : loops_) stats.Merge(loop->Stats());
    return stats;
  }

 private:
  std::vector<std::unique_ptr<HttpLoop>> loops_;
};

}  // namespace

std::unique_ptr<LoadDriver> NewHttpDriver(const RunOptions& options, const RequestPool& pool) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return std::make_unique<HttpDriver>(options, pool);
}

}  // namespace loadgen
