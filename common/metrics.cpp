#include "common/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace cdn {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
    std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double v) noexcept {
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
    counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    if (v > 0) sum_micro_.fetch_add(static_cast<std::uint64_t>(v * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const noexcept {
    return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Type type) {
    for (auto& f : families_) {
        if (f->name == name) {
            if (f->type != type) throw std::logic_error("metric " + name + " registered twice");
            return *f;
        }
    }
    families_.push_back(std::make_unique<Family>(Family{name, help, type, {}}));
    return *families_.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
    Counter& c = counters_.emplace_back();
    family(name, help, Type::counter)
        .entries.push_back(Entry{labels, &c, nullptr, nullptr, {}, {}});
    return c;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const std::string& labels) {
    Gauge& g = gauges_.emplace_back();
    family(name, help, Type::gauge).entries.push_back(Entry{labels, nullptr, &g, nullptr, {}, {}});
    return g;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      std::vector<double> bounds, const std::string& labels) {
    Histogram& h = histograms_.emplace_back(std::move(bounds));
    family(name, help, Type::histogram)
        .entries.push_back(Entry{labels, nullptr, nullptr, &h, {}, {}});
    return h;
}

void MetricsRegistry::gauge_fn(const std::string& name, const std::string& help,
                               std::function<double()> fn, const std::string& labels) {
    family(name, help, Type::gauge)
        .entries.push_back(Entry{labels, nullptr, nullptr, nullptr, std::move(fn), {}});
}

void MetricsRegistry::counter_fn(const std::string& name, const std::string& help,
                                 std::function<double()> fn, const std::string& labels) {
    family(name, help, Type::counter)
        .entries.push_back(Entry{labels, nullptr, nullptr, nullptr, std::move(fn), {}});
}

void MetricsRegistry::gauge_samples_fn(const std::string& name, const std::string& help,
                                       std::function<Samples()> fn) {
    Entry e;
    e.samples = std::move(fn);
    family(name, help, Type::gauge).entries.push_back(std::move(e));
}

void MetricsRegistry::remove(const std::string& name, const std::string& labels) {
    for (auto& f : families_) {
        if (f->name != name) continue;
        std::erase_if(f->entries, [&](const Entry& e) { return e.labels == labels; });
    }
}

std::string MetricsRegistry::render() const {
    fmt::memory_buffer out;
    auto braces = [](const std::string& labels) {
        return labels.empty() ? std::string() : "{" + labels + "}";
    };
    for (const auto& f : families_) {
        const char* type = f->type == Type::counter ? "counter"
                           : f->type == Type::gauge ? "gauge"
                                                    : "histogram";
        fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f->name, f->help,
                       f->name, type);
        for (const Entry& e : f->entries) {
            if (e.counter) {
                fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, braces(e.labels),
                               e.counter->value());
            } else if (e.gauge) {
                fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, braces(e.labels),
                               e.gauge->value());
            } else if (e.fn) {
                fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, braces(e.labels),
                               e.fn());
            } else if (e.samples) {
                for (const auto& [labels, value] : e.samples())
                    fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, braces(labels),
                                   value);
            } else if (e.histogram) {
                const Histogram& h = *e.histogram;
                const std::string sep = e.labels.empty() ? "" : e.labels + ",";
                std::uint64_t cumulative = 0;
                for (std::size_t i = 0; i < h.bounds().size(); ++i) {
                    cumulative += h.bucket(i);
                    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"{}\"}} {}\n",
                                   f->name, sep, h.bounds()[i], cumulative);
                }
                cumulative += h.bucket(h.bounds().size());
                fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"+Inf\"}} {}\n", f->name,
                               sep, cumulative);
                fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", f->name,
                               braces(e.labels), h.sum(), f->name, braces(e.labels), h.count());
            }
        }
    }
    return fmt::to_string(out);
}

std::vector<double> latency_buckets_seconds() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
            0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace cdn
