// The store contract (store_contract.hpp) against the SQLite store.
#include "../temp_file.hpp"
#include "store_contract.hpp"

namespace {

struct sqlite_backend {
    sluice::testing::temp_database db{"sluice_store_"};
    std::unique_ptr<sluice::store::store> open() { return sluice::store::open_sqlite(db.path()); }
};

}  // namespace

namespace sluice::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<sqlite_backend>);
}  // namespace sluice::testing
