#pragma once
// A database file path unique to the running test, removed (with SQLite's -wal and -shm) before
// and after it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace sluice::testing {

class temp_database {
public:
    explicit temp_database(const char* prefix)
        : path_(std::filesystem::temp_directory_path() /
                (std::string(prefix) + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db")) {
        remove();
    }
    ~temp_database() { remove(); }
    const std::filesystem::path& path() const { return path_; }

private:
    void remove() {
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_.string() + suffix);
    }
    std::filesystem::path path_;
};

}  // namespace sluice::testing
