// The status page's body: the counters in Prometheus' text format (0.0.4), or OpenMetrics 1.0
// for a scraper that asks for it.
#pragma once

#include "core/metrics/metrics.h"
#include "core/render/response.h"

namespace magic_link {

enum class MetricsFormat { prometheus, openmetrics };

// OpenMetrics when `accept` (the Accept header) names it, as Prometheus' scraper does.
MetricsFormat metrics_format(std::string_view accept);

Response metrics_page(const metrics::Registry& registry, MetricsFormat format);

}  // namespace magic_link
