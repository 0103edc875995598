# The libraries Sluice's modules link: read by this build and by projects that build against it
# (cmake/SluiceConfig.cmake.in).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL 15 REQUIRED)
find_package(SQLiteCpp 3 REQUIRED CONFIG)
find_package(rabbitmq-c 0.11 REQUIRED CONFIG)
find_package(spdlog 1.10 REQUIRED CONFIG)
find_package(CLI11 2 REQUIRED CONFIG)
find_package(tomlplusplus 3 REQUIRED CONFIG)
find_package(prometheus-cpp REQUIRED CONFIG)
find_package(nlohmann_json 3.11 REQUIRED CONFIG)
find_package(cpp-jwt REQUIRED CONFIG)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis>=0.14)  # PkgConfig::HIREDIS
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto>=2)  # PkgConfig::MOSQUITTO
