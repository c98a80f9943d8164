#include "edge/cache/freshness.hpp"

#include "common/http_util.hpp"
#include "edge/cache/vary.hpp"

#include <algorithm>

namespace cdn::edge::cache {

using std::chrono::duration_cast;

const char* to_string(StoreVerdict v) noexcept {
    switch (v) {
        case StoreVerdict::store: return "stored";
        case StoreVerdict::method: return "method";
        case StoreVerdict::status: return "status";
        case StoreVerdict::no_store: return "no-store";
        case StoreVerdict::private_: return "private";
        case StoreVerdict::authorization: return "authorization";
        case StoreVerdict::set_cookie: return "set-cookie";
        case StoreVerdict::vary: return "vary";
        case StoreVerdict::no_lifetime: return "no-lifetime";
    }
    return "?";
}

bool heuristically_cacheable(unsigned status) noexcept {
    switch (status) {
        case 200:
        case 203:
        case 204:
        case 206:
        case 300:
        case 301:
        case 308:
        case 404:
        case 405:
        case 410:
        case 414:
        case 501: return true;
        default: return false;
    }
}

bool negatively_cacheable(unsigned status) noexcept {
    return status == 404 || status == 405 || status == 410 || status == 414 || status == 501;
}

namespace {

Seconds jittered(Seconds s, const FreshnessPolicy& policy, double random01) noexcept {
    const double keep = 1.0 - std::clamp(policy.jitter, 0.0, 1.0) * std::clamp(random01, 0.0, 1.0);
    return Seconds(static_cast<std::int64_t>(static_cast<double>(s.count()) * keep));
}

}  // namespace

Lifetime freshness_lifetime(const ResponseFacts& r, TimePoint response_time,
                            const FreshnessPolicy& policy, double random01) noexcept {
    if (r.cc.s_maxage) return {Seconds(*r.cc.s_maxage), false};
    if (r.cc.max_age) return {Seconds(*r.cc.max_age), false};
    if (r.cc.invalid_max_age) return {Seconds(0), false};
    const TimePoint date = r.date.value_or(response_time);
    if (r.has_expires) {
        if (!r.expires) return {Seconds(0), false};
        return {std::max(Seconds(0), duration_cast<Seconds>(*r.expires - date)), false};
    }
    if ((heuristically_cacheable(r.status) || r.cc.public_) && r.last_modified &&
        *r.last_modified < date) {
        const auto since = duration_cast<Seconds>(date - *r.last_modified);
        const auto h = Seconds(static_cast<std::int64_t>(static_cast<double>(since.count()) *
                                                         policy.heuristic_fraction));
        return {jittered(std::min(h, policy.heuristic_max), policy, random01), true};
    }
    if (negatively_cacheable(r.status) && policy.negative_ttl > Seconds(0))
        return {jittered(policy.negative_ttl, policy, random01), true};
    return {Seconds(0), false};
}

Seconds corrected_initial_age(const ResponseFacts& r, TimePoint request_time,
                              TimePoint response_time) noexcept {
    const Seconds apparent_age =
        r.date ? std::max(Seconds(0), duration_cast<Seconds>(response_time - *r.date)) : Seconds(0);
    const Seconds response_delay =
        std::max(Seconds(0), duration_cast<Seconds>(response_time - request_time));
    const Seconds corrected_age_value = Seconds(r.age.value_or(0)) + response_delay;
    return std::max(apparent_age, corrected_age_value);
}

StoreVerdict storability(const RequestFacts& req, const ResponseFacts& res, TimePoint response_time,
                         const FreshnessPolicy& policy) noexcept {
    if (!req.method_cacheable) return StoreVerdict::method;
    if (res.status < 200 || res.status == 206 || res.status == 304 || res.status > 599)
        return StoreVerdict::status;
    if (req.cc.no_store || res.cc.no_store) return StoreVerdict::no_store;
    if (res.cc.private_) return StoreVerdict::private_;
    if (req.has_authorization && !res.cc.public_ && !res.cc.s_maxage && !res.cc.must_revalidate)
        return StoreVerdict::authorization;
    if (res.has_set_cookie && !res.cc.public_) return StoreVerdict::set_cookie;
    if (parse_vary(res.vary).star) return StoreVerdict::vary;
    const bool explicitly_cacheable = res.cc.public_ || res.cc.max_age || res.cc.s_maxage ||
                                      res.has_expires || res.cc.invalid_max_age;
    if (!explicitly_cacheable && !heuristically_cacheable(res.status)) return StoreVerdict::status;
    // Worth storing only if it can be served fresh for a while or revalidated later.
    const Lifetime life = freshness_lifetime(res, response_time, policy);
    const bool validator = res.has_etag || res.last_modified.has_value();
    if (life.value <= Seconds(0) && !validator) return StoreVerdict::no_lifetime;
    return StoreVerdict::store;
}

storage::ObjectMeta make_meta(const ResponseFacts& r, TimePoint request_time,
                              TimePoint response_time, const FreshnessPolicy& policy,
                              double random01) {
    storage::ObjectMeta m;
    m.response_time = response_time;
    m.initial_age = storage::to_secs32(corrected_initial_age(r, request_time, response_time));
    const Lifetime life = freshness_lifetime(r, response_time, policy, random01);
    m.lifetime = storage::to_secs32(life.value);
    m.heuristic = life.heuristic;
    m.no_cache = r.cc.no_cache;
    m.cdn_fields = r.has_cdn_fields;
    m.must_revalidate = r.cc.must_revalidate || r.cc.proxy_revalidate || r.cc.s_maxage.has_value();
    m.stale_while_revalidate = storage::to_secs32(Seconds(r.cc.stale_while_revalidate.value_or(0)));
    m.stale_if_error = storage::to_secs32(Seconds(r.cc.stale_if_error.value_or(0)));
    return m;
}

Seconds current_age(const storage::ObjectMeta& m, TimePoint now) noexcept {
    const Seconds resident = std::max(Seconds(0), duration_cast<Seconds>(now - m.response_time));
    return m.initial_age + resident;
}

std::int64_t ttl_left(const storage::ObjectMeta& m, TimePoint now) noexcept {
    return (m.lifetime - current_age(m, now)).count();
}

bool usable_without_validation(const storage::ObjectMeta& m, TimePoint now) noexcept {
    return !m.no_cache && ttl_left(m, now) > 0;
}

Use decide_use(const storage::ObjectMeta& m, TimePoint now) noexcept {
    if (usable_without_validation(m, now)) return Use::fresh;
    const std::int64_t staleness = -ttl_left(m, now);
    if (!m.no_cache && !m.must_revalidate && staleness < m.stale_while_revalidate.count())
        return Use::stale_while_revalidate;
    return Use::revalidate;
}

Use decide_use(const storage::ObjectMeta& m, TimePoint now, const CacheControl& request,
               bool* stale_ok) noexcept {
    *stale_ok = false;
    if (request.no_cache) return Use::revalidate;
    if (request.max_age && current_age(m, now).count() > *request.max_age) return Use::revalidate;
    if (request.invalid_max_age) return Use::revalidate;  // max-age=junk: treat as 0
    const Use use = decide_use(m, now);
    if (use == Use::fresh) {
        if (request.min_fresh && ttl_left(m, now) < *request.min_fresh) return Use::revalidate;
        return use;
    }
    if (request.max_stale && !m.no_cache && !m.must_revalidate &&
        -ttl_left(m, now) <= *request.max_stale) {
        *stale_ok = true;
        return Use::fresh;
    }
    return use;
}

bool may_serve_stale_on_error(const storage::ObjectMeta& m, TimePoint now,
                              const FreshnessPolicy& policy) noexcept {
    if (m.no_cache || m.must_revalidate) return false;
    const std::int64_t staleness = -ttl_left(m, now);
    return staleness <= std::max(Seconds(m.stale_if_error), policy.grace).count();
}

bool is_origin_error_status(unsigned status) noexcept {
    return status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace cdn::edge::cache
