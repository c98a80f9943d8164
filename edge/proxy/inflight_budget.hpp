#pragma once
// Memory for response bodies in flight: bodies being filled from the origin and read by clients
// (the leader and collapsed waiters), held outside the cache's own budget until the last reader
// is done. A fill takes a reservation before it holds any byte; when none is to be had the
// response streams from the origin straight to its one client instead (bounded by socket buffers),
// so slow readers of many large objects cannot take the process past cache + budget.
// Thread-safe (one atomic counter); reservations may be released on any worker.
#include <atomic>
#include <cstdint>
#include <optional>

namespace cdn::edge::proxy {

class InflightBudget {
  public:
    explicit InflightBudget(std::uint64_t limit) : limit_(limit) {}
    InflightBudget(const InflightBudget&) = delete;
    InflightBudget& operator=(const InflightBudget&) = delete;

    // Bytes held against the budget; released (whatever they grew to) when destroyed.
    class Reservation {
      public:
        Reservation() = default;
        Reservation(Reservation&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) {
            o.budget_ = nullptr;
            o.bytes_ = 0;
        }
        Reservation& operator=(Reservation&& o) noexcept {
            if (this != &o) {
                release();
                budget_ = o.budget_;
                bytes_ = o.bytes_;
                o.budget_ = nullptr;
                o.bytes_ = 0;
            }
            return *this;
        }
        Reservation(const Reservation&) = delete;
        Reservation& operator=(const Reservation&) = delete;
        ~Reservation() { release(); }

        // Adjusts what is held to n bytes (a body of unknown length grows as it arrives; this
        // is not refused: admission was decided when the reservation was taken).
        void resize(std::uint64_t n) {
            if (!budget_) return;
            if (n > bytes_)
                budget_->used_.fetch_add(n - bytes_, std::memory_order_relaxed);
            else
                budget_->used_.fetch_sub(bytes_ - n, std::memory_order_relaxed);
            bytes_ = n;
        }
        std::uint64_t bytes() const { return bytes_; }

      private:
        friend class InflightBudget;
        Reservation(InflightBudget* b, std::uint64_t n) : budget_(b), bytes_(n) {}
        void release() {
            if (budget_) budget_->used_.fetch_sub(bytes_, std::memory_order_relaxed);
            budget_ = nullptr;
            bytes_ = 0;
        }
        InflightBudget* budget_ = nullptr;
        std::uint64_t bytes_ = 0;
    };

    // n bytes (0 for a body of unknown length, which then grows), or nullopt when the budget
    // cannot take them: for n > 0 when used + n would pass the limit, for n == 0 when the budget
    // is already spent.
    std::optional<Reservation> try_reserve(std::uint64_t n) {
        std::uint64_t used = used_.load(std::memory_order_relaxed);
        for (;;) {
            if (n == 0 ? used >= limit_ : (n > limit_ || used > limit_ - n)) return std::nullopt;
            if (used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed))
                return Reservation(this, n);
        }
    }

    std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
    std::uint64_t limit() const { return limit_; }

  private:
    std::uint64_t limit_;
    std::atomic<std::uint64_t> used_{0};
};

}  // namespace cdn::edge::proxy
