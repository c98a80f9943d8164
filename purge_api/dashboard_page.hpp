#pragma once
// GET /dashboard: the operator's fleet page (purge_api/dashboard.html, embedded at build time by
// purge_api/CMakeLists.txt into a generated .cpp, so there is no file to find at run time) and the
// headers it is served with. The page holds no data; it polls GET /v1/fleet with the token the
// operator gives it. Pure, thread-safe (computed once).
#include <string>
#include <string_view>

namespace cdn::purge_api {

// The page's HTML (one inline <style> and one inline <script>).
std::string_view dashboard_html() noexcept;

// Content-Security-Policy for the page: nothing by default; the inline style and script only by
// their sha256 (so nothing injected could run), fetches to the same origin only, no framing.
const std::string& dashboard_csp();

// The base64 sha256 of the first <tag>...</tag> element's content in html ("" when absent): the
// 'sha256-...' source CSP matches an inline element by.
std::string inline_sha256(std::string_view html, std::string_view tag);

}  // namespace cdn::purge_api
