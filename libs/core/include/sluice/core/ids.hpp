#pragma once
/// Identifiers Sluice assigns.
#include <cstdint>
#include <string>

namespace sluice {

/// A ULID (26 Crockford base-32 characters: 48-bit millisecond time, 80 random bits). Sorts by
/// creation time; used for change `op`s and generated document ids. Thread-safe.
std::string make_ulid();

/// Milliseconds since the Unix epoch.
std::int64_t now_ms();

}  // namespace sluice
