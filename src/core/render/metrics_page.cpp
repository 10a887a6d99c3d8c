#include "core/render/metrics_page.h"

#include <cstdio>
#include <string>

namespace magic_link {
namespace {

using metrics::Count;

// One family after another; `name` without the `_total` a counter's samples carry.
class Exposition {
 public:
  explicit Exposition(MetricsFormat format) : openmetrics_(format == MetricsFormat::openmetrics) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    const std::string full =
        std::string(name) + (type == "counter" && !openmetrics_ ? "_total" : "");
    text_ += "# HELP " + full + " " + std::string(help) + "\n";
    text_ += "# TYPE " + full + " " + std::string(type) + "\n";
  }

  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    text_ += std::string(name);
    if (!labels.empty()) text_ += "{" + std::string(labels) + "}";
    text_ += " " + std::string(value) + "\n";
  }

  template <size_t N>
  void counters(std::string_view name, std::string_view help, std::string_view label,
                const std::array<std::string_view, N>& names, const std::array<Count, N>& counts) {
    family(name, "counter", help);
    for (size_t i = 0; i < N; ++i) {
      sample(std::string(name) + "_total",
             std::string(label) + "=\"" + std::string(names[i]) + "\"",
             std::to_string(counts[i].load(std::memory_order_relaxed)));
    }
  }

  std::string finish() { return openmetrics_ ? text_ + "# EOF\n" : text_; }

 private:
  bool openmetrics_;
  std::string text_;
};

// Seconds from microseconds, in the shortest form that keeps every digit ("1.0", "0.0025").
std::string seconds(std::uint64_t micros) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%llu.%06llu",
                static_cast<unsigned long long>(micros / 1000000),
                static_cast<unsigned long long>(micros % 1000000));
  std::string text = buffer;
  while (text.back() == '0' && text[text.size() - 2] != '.') text.pop_back();
  return text;
}

std::string backend_label(size_t backend) {
  return "backend=\"" + std::string(backend_name(static_cast<Backend>(backend))) + "\"";
}

}  // namespace

MetricsFormat metrics_format(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos
             ? MetricsFormat::openmetrics
             : MetricsFormat::prometheus;
}

Response metrics_page(const metrics::Registry& registry, MetricsFormat format) {
  Exposition out(format);
  out.counters("magic_link_link_requests", "Link requests, by what became of them.", "outcome",
               metrics::kLinkRequestNames, registry.link_requests);
  out.counters("magic_link_redemptions", "Link redemptions (API and verify page), by outcome.",
               "outcome", metrics::kRedemptionNames, registry.redemptions);
  out.counters("magic_link_gate_decisions", "Requests the session gate let through or refused.",
               "decision", metrics::kGateNames, registry.gate);
  out.counters("magic_link_mail",
               "Login mails sent, given up, set to retry; delivered, bounced and complained "
               "about as the mail service reported (webhooks).",
               "result", metrics::kMailNames, registry.mail);

  out.family("magic_link_outbox_depth", "gauge", "Mails waiting in the outbox (last look).");
  const auto depth = registry.outbox_depth.load(std::memory_order_relaxed);
  if (depth >= 0) out.sample("magic_link_outbox_depth", "", std::to_string(depth));

  // Calls are the histogram's count, read once, so every figure of a backend agrees.
  std::array<std::uint64_t, metrics::kBackends> calls{};
  std::array<std::array<std::uint64_t, metrics::kBucketBounds.size() + 1>, metrics::kBackends>
      buckets{};
  for (size_t b = 0; b < calls.size(); ++b) {
    for (size_t i = 0; i < buckets[b].size(); ++i) {
      buckets[b][i] = registry.backends[b].buckets[i].load(std::memory_order_relaxed);
      calls[b] += buckets[b][i];
    }
  }
  out.family("magic_link_backend_calls", "counter", "Calls to each backend.");
  for (size_t b = 0; b < calls.size(); ++b) {
    out.sample("magic_link_backend_calls_total", backend_label(b), std::to_string(calls[b]));
  }
  out.family("magic_link_backend_failures", "counter",
             "Failed backend calls (down, too slow, bad answer, or every connection busy).");
  for (size_t b = 0; b < calls.size(); ++b) {
    out.sample("magic_link_backend_failures_total", backend_label(b),
               std::to_string(registry.backends[b].failures.load(std::memory_order_relaxed)));
  }
  const std::string histogram = "magic_link_backend_call_duration_seconds";
  out.family(histogram, "histogram", "How long backend calls took.");
  for (size_t b = 0; b < calls.size(); ++b) {
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets[b].size(); ++i) {
      cumulative += buckets[b][i];
      const std::string le =
          i < metrics::kBucketBounds.size() ? seconds(metrics::kBucketBounds[i]) : "+Inf";
      out.sample(histogram + "_bucket", backend_label(b) + ",le=\"" + le + "\"",
                 std::to_string(cumulative));
    }
    out.sample(histogram + "_sum", backend_label(b),
               seconds(registry.backends[b].micros_sum.load(std::memory_order_relaxed)));
    out.sample(histogram + "_count", backend_label(b), std::to_string(calls[b]));
  }
  return {200,
          format == MetricsFormat::openmetrics
              ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
              : "text/plain; version=0.0.4; charset=utf-8",
          out.finish(),
          {{"Cache-Control", "no-store"}}};
}

}  // namespace magic_link
