#pragma once
/// An HTTP/1.1 client for one webhook URL (DESIGN.md §8, §9): a POST of a JSON body at a time,
/// on a kept-alive connection.
#include <sluice/callout/child_process.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::callout {

/// The problem with `url` as a webhook address (only `http://host[:port]/path` is), or empty.
std::string url_problem(const std::string& url);

class http_client {
public:
    /// `url` must have no `url_problem`.
    explicit http_client(const std::string& url);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    struct response {
        unsigned status = 0;
        std::string body;
        std::string retry_after;  ///< the `Retry-After` header, if any
    };
    /// POSTs `body` as `application/json` with the extra `headers`; the response of any status.
    /// Throws `failure` ("POST URL: connect: ...", "... timed out after N ms") when none comes
    /// within `timeout`. A kept-alive connection the server had closed is retried once, fresh.
    response post(const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
                  std::chrono::milliseconds timeout);

    /// Closes the connection; not while a `post` runs.
    void close();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::callout
