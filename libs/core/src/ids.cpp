#include <sluice/core/ids.hpp>

#include <chrono>
#include <random>

namespace sluice {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string make_ulid() {
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto time = static_cast<std::uint64_t>(now_ms());
    std::string out(26, '0');
    for (int i = 9; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = alphabet[time & 31];
        time >>= 5;
    }
    std::uint64_t hi = rng(), lo = rng();
    for (int i = 10; i < 26; ++i) {
        std::uint64_t& word = i < 18 ? hi : lo;
        out[static_cast<std::size_t>(i)] = alphabet[word & 31];
        word >>= 5;
    }
    return out;
}

}  // namespace sluice
