#pragma once
// Counters, gauges and histograms rendered as Prometheus text (exposition format 0.0.4).
// Metrics are created at start-up through MetricsRegistry (not thread-safe while registering);
// updating a metric afterwards is lock-free and safe from any thread.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cdn {

class Counter {
  public:
    void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

class Gauge {
  public:
    void set(std::int64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(std::int64_t d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
    std::int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::int64_t> v_{0};
};

// Fixed upper bounds (in the metric's unit, e.g. seconds).
class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v) noexcept;
    const std::vector<double>& bounds() const { return bounds_; }
    std::uint64_t bucket(std::size_t i) const noexcept {
        return counts_[i].load(std::memory_order_relaxed);
    }
    std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    double sum() const noexcept;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per bound (non-cumulative)
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_micro_{0};  // sum * 1e6, so it can be atomic
};

class MetricsRegistry {
  public:
    // labels: Prometheus label pairs without braces, e.g. R"(outcome="hit")"; may be empty.
    Counter& counter(const std::string& name, const std::string& help,
                     const std::string& labels = "");
    Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = "");
    Histogram& histogram(const std::string& name, const std::string& help,
                         std::vector<double> bounds, const std::string& labels = "");
    // A gauge computed when scraped (e.g. bytes held by the cache).
    void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn,
                  const std::string& labels = "");
    // A counter read when scraped from a value its owner keeps (e.g. an atomic in a store).
    void counter_fn(const std::string& name, const std::string& help, std::function<double()> fn,
                    const std::string& labels = "");

    // Gauge samples computed when scraped, labels and all: for a set that changes while the
    // process runs (the origins of a reloaded config). Each pair is (labels, value).
    using Samples = std::vector<std::pair<std::string, double>>;
    void gauge_samples_fn(const std::string& name, const std::string& help,
                          std::function<Samples()> fn);

    // Stops rendering the series `name`{labels} (something that went away, e.g. an edge dropped
    // from geodns' fleet on reload). References handed out for it stay valid. Same threading
    // rule as registering.
    void remove(const std::string& name, const std::string& labels);

    std::string render() const;

  private:
    enum class Type { counter, gauge, histogram };
    struct Entry {
        std::string labels;
        Counter* counter = nullptr;
        Gauge* gauge = nullptr;
        Histogram* histogram = nullptr;
        std::function<double()> fn;
        std::function<Samples()> samples;
    };
    struct Family {
        std::string name, help;
        Type type;
        std::vector<Entry> entries;
    };
    Family& family(const std::string& name, const std::string& help, Type type);

    std::vector<std::unique_ptr<Family>> families_;
    std::deque<Counter> counters_;
    std::deque<Gauge> gauges_;
    std::deque<Histogram> histograms_;
};

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets_seconds();

}  // namespace cdn
