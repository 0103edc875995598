// The store contract (tests/unit/store/store_contract.hpp), the same cases the SQLite store
// passes, against PostgreSQL.
#include "../../unit/store/store_contract.hpp"
#include "pg_support.hpp"

namespace sluice::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreContract, ::testing::Types<postgres_backend>);
}  // namespace sluice::testing
