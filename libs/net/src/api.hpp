#pragma once
// The HTTP routes and the operations WebSocket messages share, free of Beast so that this logic
// compiles quickly and the transport TU stays small.
#include <sluice/core/error.hpp>
#include <sluice/net/context.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace sluice::net {

struct http_request {
    std::string method;
    std::string target;         ///< path and query
    std::string authorization;  ///< the Authorization header
    std::string body;
};

struct http_response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
};

/// Throws with a code that maps to an HTTP status (see `status_of`).
class api {
public:
    /// Runs a function after a delay (on the server's event loop): bounds `?wait=1`.
    using scheduler = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

    api(context& ctx, scheduler schedule) : ctx_(ctx), schedule_(std::move(schedule)) {}

    /// Answers through `respond`, at once or later from another thread (`?wait=1`).
    void handle(const http_request& request, std::function<void(http_response)> respond);

    auth::claims authenticate(std::string_view token) const;
    /// `{model, id?, user?, filter?}` → `{channel, items}`; subscribes the claims' device.
    boost::json::object subscribe(const auth::claims& who, const boost::json::value& request);
    /// Removes the device's subscription; false when it had none on `channel`.
    bool unsubscribe(const auth::claims& who, const std::string& channel);

    static unsigned status_of(errc code);
    static http_response error_response(errc code, const std::string& message);
    static http_response error_response(std::string_view code, const std::string& message);

private:
    http_response health();
    http_response logout(const http_request& request);
    void create(const std::string& app, const std::string& model, const auth::claims& who, const http_request& request,
                bool wait, const std::function<void(http_response)>& respond);
    http_response query(const std::string& app, const std::string& model, const auth::claims& who,
                        const http_request& request);
    /// GET, PATCH or DELETE of one document.
    void document(const std::string& app, const std::string& model, const std::string& id, const auth::claims& who,
                  const http_request& request, bool wait, const std::function<void(http_response)>& respond);
    void submit(store::write_request change, bool wait, unsigned wait_status, std::function<void(http_response)> respond);

    context& ctx_;
    scheduler schedule_;
};

}  // namespace sluice::net
