#include "gateway/admin/admin_handler.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gateway/receivers/receiver_common.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"

namespace gateway {
namespace {

constexpr absl::Duration kSampleSpacing = absl::Seconds(1);
// Bound on kept samples whatever the clock does (one per second over the
// window, plus slack).
constexpr size_t kMaxSamples = 128;

constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kPrometheus[] = "text/plain; version=0.0.4";

// Replaces invalid UTF-8 with U+FFFD, so that span names sent by
// applications cannot make the JSON invalid.
std::string ValidUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;  // no overlong forms
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(in[i + 1]);
      ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string HtmlEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string JsonString(std::string_view s) { return absl::StrCat("\"", JsonEscape(ValidUtf8(s)), "\""); }

std::string UtcTimestamp(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

std::string RateText(double rate) { return rate < 0 ? "n/a" : absl::StrFormat("%.1f", rate); }
std::string RateJson(double rate) { return rate < 0 ? "null" : absl::StrFormat("%.3f", rate); }

HttpResponse NoStore(HttpResponse response) {
  response.headers.emplace_back("cache-control", "no-store");
  response.headers.emplace_back("x-content-type-options", "nosniff");
  return response;
}

}  // namespace

AdminHandler::AdminHandler(MetricsRegistry& registry, const Clock& clock, std::string effective_config,
                           AdminProbes probes, std::vector<std::string> secrets, std::string status_token)
    : registry_(registry),
      clock_(clock),
      effective_config_(std::move(effective_config)),
      probes_(std::move(probes)),
      secrets_([&secrets] {
        std::erase_if(secrets, [](const std::string& s) { return s.empty(); });
        return std::move(secrets);
      }()),
      status_token_(std::move(status_token)),
      started_(clock.Now()),
      requests_ok_(registry.GetCounter("gateway_admin_requests_total", "Requests to the admin endpoints",
                                       {{"outcome", "ok"}})),
      requests_not_found_(registry.GetCounter("gateway_admin_requests_total", "Requests to the admin endpoints",
                                              {{"outcome", "not_found"}})),
      requests_forbidden_(registry.GetCounter("gateway_admin_requests_total", "Requests to the admin endpoints",
                                              {{"outcome", "forbidden"}})),
      requests_bad_method_(registry.GetCounter("gateway_admin_requests_total",
                                               "Requests to the admin endpoints",
                                               {{"outcome", "method_not_allowed"}})) {}

HttpResponse AdminHandler::Handle(HttpRequest request) {
  const bool head = request.method == "HEAD";
  if (request.method != "GET" && !head) {
    requests_bad_method_->Add();
    HttpResponse response{405, kText, "method not allowed\n", {{"allow", "GET, HEAD"}}};
    return response;
  }
  HttpResponse response;
  if (request.path == "/healthz") {
    response = Healthz();
  } else if (request.path == "/readyz") {
    response = Readyz();
  } else if (request.path == "/metrics") {
    response = Metrics();
  } else if ((request.path == "/status" || request.path == "/status.json") && !StatusAllowed(request)) {
    requests_forbidden_->Add();
    return HttpResponse{403, kText,
                        "/status is served on loopback, or with \"Authorization: Bearer <admin.status_token>\"\n",
                        {}};
  } else if (request.path == "/status") {
    response = StatusHtml();
  } else if (request.path == "/status.json") {
    response = StatusJson();
  } else {
    requests_not_found_->Add();
    return HttpResponse{404, kText, "not found\n", {}};
  }
  requests_ok_->Add();
  response.body = Scrub(std::move(response.body));
  if (head) response.body.clear();
  return response;
}

bool AdminHandler::StatusAllowed(const HttpRequest& request) const {
  const std::string& remote = request.remote_address;
  if (remote.rfind("127.", 0) == 0 || remote.rfind("::1:", 0) == 0 || remote.rfind("::ffff:127.", 0) == 0) {
    return true;
  }
  return !status_token_.empty() && BearerTokenMatches(request.Header("authorization"), status_token_);
}

HttpResponse AdminHandler::Healthz() {
  bool live = !probes_.live || probes_.live();
  return NoStore(live ? HttpResponse{200, kText, "ok\n", {}} : HttpResponse{503, kText, "not live\n", {}});
}

Readiness AdminHandler::CurrentReadiness() {
  Readiness r = probes_.ready ? probes_.ready() : Readiness{};
  if (!r.ready && r.reason.empty()) r.reason = "not ready";
  return r;
}

HttpResponse AdminHandler::Readyz() {
  Readiness r = CurrentReadiness();
  if (r.ready) return NoStore({200, kText, "ready\n", {}});
  return NoStore({503, kText, absl::StrCat("not ready: ", Scrub(ValidUtf8(r.reason)), "\n"), {}});
}

HttpResponse AdminHandler::Metrics() { return NoStore({200, kPrometheus, registry_.RenderPrometheus(), {}}); }

std::vector<DecisionRow> AdminHandler::Decisions() {
  std::vector<DecisionRow> decisions;
  if (probes_.recent_decisions) decisions = probes_.recent_decisions();
  if (decisions.size() > kMaxDecisionsShown) decisions.resize(kMaxDecisionsShown);
  for (DecisionRow& d : decisions) {
    for (std::string* field : {&d.original_trace_id, &d.new_trace_id, &d.span_id, &d.span_name}) {
      *field = Scrub(ValidUtf8(*field));
    }
  }
  return decisions;
}

ThroughputRates AdminHandler::SampleThroughput() {
  const absl::Time now = clock_.Now();
  ThroughputRates rates;
  rates.totals = probes_.throughput ? probes_.throughput() : ThroughputTotals{};
  MutexLock lock(&mu_);
  // Keep the newest sample at or before the window's start as the baseline.
  while (samples_.size() >= 2 && samples_[1].time <= now - kRateWindow) samples_.pop_front();
  while (samples_.size() > kMaxSamples) samples_.pop_front();
  if (!samples_.empty() && now > samples_.front().time) {
    const Sample& base = samples_.front();
    rates.window = now - base.time;
    const double seconds = absl::ToDoubleSeconds(rates.window);
    auto rate = [seconds](int64_t later, int64_t earlier) {
      return later >= earlier ? static_cast<double>(later - earlier) / seconds : 0.0;
    };
    rates.received_per_s = rate(rates.totals.spans_received, base.totals.spans_received);
    rates.reparented_per_s = rate(rates.totals.spans_reparented, base.totals.spans_reparented);
    rates.exported_per_s = rate(rates.totals.spans_exported, base.totals.spans_exported);
  }
  if (samples_.empty() || now - samples_.back().time >= kSampleSpacing || now < samples_.back().time) {
    samples_.push_back({now, rates.totals});
  }
  return rates;
}

HttpResponse AdminHandler::StatusHtml() {
  const absl::Time now = clock_.Now();
  const bool live = !probes_.live || probes_.live();
  const Readiness ready = CurrentReadiness();
  const ThroughputRates rates = SampleThroughput();
  const std::vector<DecisionRow> decisions = Decisions();

  std::string html;
  absl::StrAppend(&html,
                  "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta http-equiv=\"refresh\" content=\"10\">"
                  "<title>otlp-reparent-gateway status</title>\n<style>"
                  "body{font-family:sans-serif;margin:1.5em;color:#222}"
                  "table{border-collapse:collapse;margin-bottom:1.5em}"
                  "th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}"
                  "th{background:#f0f0f0}"
                  "td.n{text-align:right;font-variant-numeric:tabular-nums}"
                  "td.arrow{border-left:none;border-right:none;padding:.3em .1em;color:#666}"
                  // "monospace,monospace" keeps code at the body's size (a lone
                  // "monospace" drops browsers to 13px).
                  "code,pre{font-family:monospace,monospace;font-size:.9em}"
                  "pre{background:#f4f4f4;padding:1em;overflow:auto;max-height:40em}"
                  ".ok{color:#070}.bad{color:#b00}.muted{color:#777;font-style:italic}"
                  "</style></head>\n<body>\n<h1>otlp-reparent-gateway</h1>\n");
  absl::StrAppend(&html, "<p>Now <time id=\"now\">", UtcTimestamp(now), "</time>, up ",
                  HtmlEscape(absl::FormatDuration(absl::Trunc(now - started_, absl::Seconds(1)))),
                  ".</p>\n<table id=\"health\"><tr><th>Live</th><td class=\"", live ? "ok\">yes" : "bad\">no",
                  "</td></tr><tr><th>Ready</th><td class=\"",
                  ready.ready ? "ok\">yes" : absl::StrCat("bad\">no: ", HtmlEscape(Scrub(ValidUtf8(ready.reason)))),
                  "</td></tr></table>\n");

  const std::string window = rates.received_per_s < 0
                                 ? std::string("no earlier sample yet; reload for rates")
                                 : absl::StrCat("over the last ", absl::StrFormat("%.0f", absl::ToDoubleSeconds(rates.window)), " s");
  absl::StrAppend(&html, "<h2>Throughput</h2>\n<p>Spans per second, ", HtmlEscape(window),
                  ".</p>\n<table id=\"throughput\"><tr><th></th><th>spans/s</th><th>total</th></tr>\n");
  for (const auto& [label, rate, total] :
       {std::tuple<const char*, double, int64_t>{"received", rates.received_per_s, rates.totals.spans_received},
        {"reparented", rates.reparented_per_s, rates.totals.spans_reparented},
        {"exported", rates.exported_per_s, rates.totals.spans_exported}}) {
    absl::StrAppend(&html, "<tr><th>", label, "</th><td class=\"n\">", RateText(rate), "</td><td class=\"n\">",
                    total, "</td></tr>\n");
  }
  absl::StrAppend(&html, "</table>\n");

  absl::StrAppend(&html, "<h2>Latest reparent decisions</h2>\n");
  if (decisions.empty()) {
    absl::StrAppend(&html, "<p id=\"decisions-empty\">None yet.</p>\n");
  } else {
    absl::StrAppend(&html,
                    "<p>Consumer spans given their linked producer span as parent, most recent first.</p>\n"
                    "<table id=\"decisions\"><tr><th>time (UTC)</th><th>span</th><th>span id</th>"
                    "<th>original trace</th><th></th><th>new trace (the producer&#39;s)</th></tr>\n");
    for (const DecisionRow& d : decisions) {
      const std::string name =
          d.span_name.empty() ? "<span class=\"muted\">not recorded</span>" : HtmlEscape(d.span_name);
      absl::StrAppend(&html, "<tr><td>", UtcTimestamp(d.time), "</td><td>", name, "</td><td><code>",
                      HtmlEscape(d.span_id), "</code></td><td><code>", HtmlEscape(d.original_trace_id),
                      "</code></td><td class=\"arrow\">&rarr;</td><td><code>", HtmlEscape(d.new_trace_id),
                      "</code></td></tr>\n");
    }
    absl::StrAppend(&html, "</table>\n");
  }
  if (probes_.fate_store) {
    absl::StrAppend(&html, "<h2>Fate store</h2>\n<table id=\"fate-store\">\n");
    for (const auto& [label, value] : probes_.fate_store()) {
      absl::StrAppend(&html, "<tr><th>", HtmlEscape(label), "</th><td>", HtmlEscape(Scrub(ValidUtf8(value))),
                      "</td></tr>\n");
    }
    absl::StrAppend(&html, "</table>\n");
  }
  absl::StrAppend(&html, "<h2>Configuration in effect</h2>\n<pre id=\"config\">",
                  HtmlEscape(Scrub(ValidUtf8(effective_config_))),
                  "</pre>\n<p><a href=\"/status.json\">status.json</a> &middot; <a href=\"/metrics\">metrics</a> "
                  "&middot; <a href=\"/readyz\">readyz</a></p>\n</body></html>\n");
  HttpResponse response = NoStore({200, kHtml, std::move(html), {}});
  response.headers.emplace_back("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'");
  return response;
}

HttpResponse AdminHandler::StatusJson() {
  const absl::Time now = clock_.Now();
  const bool live = !probes_.live || probes_.live();
  const Readiness ready = CurrentReadiness();
  const ThroughputRates rates = SampleThroughput();
  const std::vector<DecisionRow> decisions = Decisions();

  std::string json;
  absl::StrAppend(&json, "{\"time\":", JsonString(UtcTimestamp(now)),
                  ",\"uptime_s\":", absl::ToInt64Seconds(now - started_), ",\"live\":", live ? "true" : "false",
                  ",\"ready\":", ready.ready ? "true" : "false",
                  ",\"ready_reason\":", JsonString(Scrub(ValidUtf8(ready.reason))));
  absl::StrAppend(&json, ",\"throughput\":{\"window_s\":", absl::StrFormat("%.3f", absl::ToDoubleSeconds(rates.window)),
                  ",\"received_per_s\":", RateJson(rates.received_per_s),
                  ",\"reparented_per_s\":", RateJson(rates.reparented_per_s),
                  ",\"exported_per_s\":", RateJson(rates.exported_per_s),
                  ",\"received_total\":", rates.totals.spans_received,
                  ",\"reparented_total\":", rates.totals.spans_reparented,
                  ",\"exported_total\":", rates.totals.spans_exported, "}");
  absl::StrAppend(&json, ",\"recent_decisions\":[");
  for (size_t i = 0; i < decisions.size(); ++i) {
    const DecisionRow& d = decisions[i];
    absl::StrAppend(&json, i == 0 ? "" : ",", "{\"time\":", JsonString(UtcTimestamp(d.time)),
                    ",\"span_name\":", JsonString(d.span_name), ",\"span_id\":", JsonString(d.span_id),
                    ",\"original_trace_id\":", JsonString(d.original_trace_id),
                    ",\"new_trace_id\":", JsonString(d.new_trace_id), "}");
  }
  absl::StrAppend(&json, "]");
  if (probes_.fate_store) {
    absl::StrAppend(&json, ",\"fate_store\":{");
    bool first = true;
    for (const auto& [label, value] : probes_.fate_store()) {
      absl::StrAppend(&json, first ? "" : ",", JsonString(label), ":", JsonString(Scrub(ValidUtf8(value))));
      first = false;
    }
    absl::StrAppend(&json, "}");
  }
  absl::StrAppend(&json, ",\"config\":", JsonString(Scrub(effective_config_)), "}\n");
  return NoStore({200, kJson, std::move(json), {}});
}

std::string AdminHandler::Scrub(std::string text) const {
  for (const std::string& secret : secrets_) {
    if (text.find(secret) != std::string::npos) {
      text = absl::StrReplaceAll(text, {{secret, "REDACTED"}});
    }
  }
  return text;
}

}  // namespace gateway
