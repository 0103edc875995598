// The PostgreSQL store against the SQLite store, side by side on the same changes: the same
// envelopes byte for byte, and the same `find` answers (documents, order, bytes) for random
// filters, sorts, pages and owners over a few hundred random documents. The SQLite store is the
// reference: its push-down is itself checked against the plain filter (unit/store).
#include "../../unit/store/store_contract.hpp"
#include "../../unit/temp_file.hpp"
#include "pg_support.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <random>

namespace {

namespace bj = boost::json;
using sluice::store::write_request;

bj::value random_scalar(std::mt19937& rng) {
    switch (rng() % 12) {
        case 0:
            return bj::value(static_cast<std::int64_t>(rng() % 5));
        case 1:
            return bj::value(static_cast<double>(rng() % 5) + 0.5);
        case 2:
            return bj::value(std::string(1, static_cast<char>('a' + rng() % 3)));
        case 3:
            return bj::value(rng() % 2 == 0);
        case 4:
            return bj::value(nullptr);
        case 5:
            return bj::value(std::to_string(rng() % 5));  // "3": a string, not a number
        case 6:
            return bj::value(static_cast<double>(rng() % 3));  // 2.0: a double holding an integer
        case 7:
            return bj::value(std::int64_t(9007199254740993));  // beyond 2^53
        case 8:
            return bj::value(9007199254740992.0);
        case 9:
            return bj::value(std::string(rng() % 2 ? "Ab" : "\xc3\xa9"));  // byte order vs collation
        case 10:
            return bj::value(-static_cast<std::int64_t>(rng() % 3));
        default:
            return bj::value(static_cast<std::int64_t>(rng() % 3));
    }
}

bj::value random_value(std::mt19937& rng, int depth = 0) {
    switch (depth > 1 ? 0 : rng() % 6) {
        case 4: {
            bj::array a;
            for (unsigned i = rng() % 4; i > 0; --i) a.push_back(random_value(rng, depth + 1));
            return a;
        }
        case 5:
            return bj::object{{"x", random_scalar(rng)}, {"y", random_value(rng, depth + 1)}};
        default:
            return random_scalar(rng);
    }
}

const char* fields[] = {"n", "s", "t", "t.x", "a", "a.0", "a.x", "z", "id", "version"};

bj::value random_condition(std::mt19937& rng) {
    auto scalar = [&] { return random_scalar(rng); };
    auto list = [&] {
        bj::array a;
        for (unsigned i = 1 + rng() % 3; i > 0; --i) a.push_back(scalar());
        return a;
    };
    switch (rng() % 16) {
        case 0:
            return scalar();
        case 1:
            return bj::object{{"$eq", scalar()}};
        case 2:
            return bj::object{{"$ne", scalar()}};
        case 3:
            return bj::object{{"$gt", scalar()}};
        case 4:
            return bj::object{{"$gte", scalar()}, {"$lt", bj::value(static_cast<std::int64_t>(rng() % 6))}};
        case 5:
            return bj::object{{"$lte", scalar()}};
        case 6:
            return bj::object{{"$in", list()}};
        case 7:
            return bj::object{{"$nin", list()}};
        case 8:
            return bj::object{{"$exists", rng() % 2 == 0}};
        case 9:
            return bj::object{{"$type", rng() % 2 ? "number" : "string"}};
        case 10:
            return bj::object{{"$size", static_cast<std::int64_t>(rng() % 3)}};
        case 11:
            return bj::object{{"$elemMatch", bj::object{{"$gt", static_cast<std::int64_t>(rng() % 3)}}}};
        case 12:
            return bj::object{{"$regex", rng() % 2 ? "^a" : "b"}};
        case 13:
            return bj::object{{"$not", bj::object{{"$gt", static_cast<std::int64_t>(rng() % 4)}}}};
        case 14:
            return bj::object{{"in", list()}};  // the seed's bare alias
        default:
            return bj::object{{"$all", list()}};
    }
}

bj::object random_filter(std::mt19937& rng, int depth = 0) {
    bj::object f;
    for (unsigned i = 1 + rng() % 3; i > 0; --i) {
        if (depth == 0 && rng() % 6 == 0) {
            const char* op = rng() % 3 == 0 ? "$or" : (rng() % 2 ? "$and" : "$nor");
            f[op] = bj::array{random_filter(rng, 1), random_filter(rng, 1)};
        } else {
            f[fields[rng() % std::size(fields)]] = random_condition(rng);
        }
    }
    return f;
}

std::string text_of(const std::vector<bj::object>& docs) {
    std::string out;
    for (const auto& d : docs) out += bj::serialize(d) + "\n";
    return out;
}

std::string ids_of(const std::vector<bj::object>& docs) {
    std::string out;
    for (const auto& d : docs) out += std::string(d.at("id").as_string()) + " ";
    return out;
}

TEST(Differential, SameEnvelopesAndSameFindAnswersAsSqlite) {
    sluice::testing::temp_database file{"sluice_differential_"};
    auto sqlite = sluice::store::open_sqlite(file.path());
    auto postgres = sluice::testing::postgres_backend{}.open();
    // SLUICE_TEST_SEED explores other data; the default keeps runs repeatable.
    const char* seed = std::getenv("SLUICE_TEST_SEED");
    std::mt19937 rng(seed ? static_cast<unsigned>(std::strtoul(seed, nullptr, 10)) : 20261123u);
    const char* owners[] = {"alice", "bob", "carol"};
    auto both = [&](const std::vector<write_request>& batch) {
        auto a = sqlite->apply_batch(batch);
        auto b = postgres->apply_batch(batch);
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            ASSERT_EQ(bool(a[i].change), bool(b[i].change)) << batch[i].op;
            if (a[i].change) {
                EXPECT_EQ(bj::serialize(a[i].change->envelope), bj::serialize(b[i].change->envelope));
                EXPECT_EQ(a[i].change->duplicate, b[i].change->duplicate);
            } else {
                EXPECT_EQ(sluice::testing::failure_code(a[i]), sluice::testing::failure_code(b[i]))
                    << batch[i].op;
            }
        }
    };
    // 600 creates, then updates and deletes, so write order differs from id order.
    int op = 0;
    for (int round = 0; round < 6; ++round) {  // 600: more than one page of the PostgreSQL scan
        std::vector<write_request> batch;
        for (int i = 0; i < 100; ++i) {
            bj::object body;
            for (const char* f : {"n", "s", "t", "a"}) {
                if (rng() % 6) body[f] = random_value(rng);
            }
            auto r = sluice::testing::create_request("op" + std::to_string(op++),
                                                     "d" + std::to_string(round * 100 + i), "{}");
            r.body = std::move(body);
            r.actor = owners[rng() % 3];
            batch.push_back(std::move(r));
        }
        both(batch);
    }
    std::vector<write_request> changes;
    for (int i = 0; i < 150; ++i) {
        auto id = "d" + std::to_string(rng() % 620);  // some do not exist: not_found in both
        if (rng() % 5 == 0) {
            changes.push_back(sluice::testing::remove_request("op" + std::to_string(op++), id));
        } else {
            bj::array patch{bj::object{{"op", "add"}, {"path", "/n"}, {"value", random_value(rng)}}};
            auto r = sluice::testing::update_request("op" + std::to_string(op++), id, "[]");
            r.patch = std::move(patch);
            changes.push_back(std::move(r));
        }
        if (changes.size() == 30) {
            both(changes);
            changes.clear();
        }
    }
    // Redelivery of an earlier batch: duplicates in both, same recorded envelopes.
    both({sluice::testing::create_request("op3", "d3", "{}")});

    sluice::store::find_options all;
    all.limit = 100000;
    auto everything = sqlite->find("a", "m", all);
    ASSERT_GT(everything.size(), 500u);
    ASSERT_EQ(text_of(postgres->find("a", "m", all)), text_of(everything));

    int compared = 0, nonempty = 0;
    for (int i = 0; i < 400; ++i) {
        auto query = random_filter(rng);
        std::optional<sluice::json::filter> filter;
        try {
            filter = sluice::json::filter::compile(bj::value(query));
        } catch (const sluice::error&) {
            continue;  // e.g. a $regex on a number: rejected at compile time, nothing to compare
        }
        sluice::store::find_options o;
        o.filter = &*filter;
        o.limit = rng() % 3 == 0 ? 100000 : 1 + rng() % 20;
        o.offset = rng() % 3 == 0 ? rng() % 10 : 0;
        if (rng() % 2) o.sort.emplace_back(fields[rng() % std::size(fields)], rng() % 2 ? 1 : -1);
        if (rng() % 3 == 0) o.sort.emplace_back("s", 1);
        if (rng() % 5 == 0) o.owner = owners[rng() % 3];
        auto expected = sqlite->find("a", "m", o);
        auto got = postgres->find("a", "m", o);
        EXPECT_EQ(text_of(got), text_of(expected))
            << bj::serialize(query) << " offset " << o.offset << " limit " << o.limit << " sort "
            << o.sort.size() << " ids: " << ids_of(got) << " expected " << ids_of(expected);
        if (o.sort.empty()) {  // and both are the plain filter's answer
            std::vector<bj::object> truth;
            std::size_t skipped = 0;
            for (const auto& d : everything) {
                if (truth.size() == o.limit) break;
                if (o.owner && d.at("owner").as_string() != *o.owner) continue;
                if (!filter->matches(bj::value(d))) continue;
                if (skipped++ < o.offset) continue;
                truth.push_back(d);
            }
            EXPECT_EQ(ids_of(got), ids_of(truth)) << bj::serialize(query);
        }
        ++compared;
        nonempty += !expected.empty();
    }
    EXPECT_GT(compared, 300);
    EXPECT_GT(nonempty, 100);  // the filters select something, not only nothing
}

}  // namespace

namespace {

// A batch with a document PostgreSQL refuses goes the careful way (change by change, each in a
// savepoint): its other slots must still answer exactly what the SQLite store answers.
TEST(Differential, TheChangeByChangePathAnswersAsSqliteToo) {
    sluice::testing::temp_database file{"sluice_differential_careful_"};
    auto sqlite = sluice::store::open_sqlite(file.path());
    auto postgres = sluice::testing::postgres_backend{}.open();
    std::mt19937 rng(99);
    for (int round = 0; round < 10; ++round) {
        std::vector<write_request> batch;
        for (int i = 0; i < 30; ++i) {
            auto id = "d" + std::to_string(rng() % 8);
            auto op = "op" + std::to_string(rng() % 200);  // some ops come again: duplicates
            switch (rng() % 4) {
                case 0:
                    batch.push_back(sluice::testing::create_request(op, id, R"({"n":0})"));
                    break;
                case 1:
                    batch.push_back(sluice::testing::remove_request(op, id));
                    break;
                default: {
                    auto r = sluice::testing::update_request(op, id, "[]");
                    r.patch = bj::array{bj::object{{"op", "incr"}, {"path", "/n"}, {"value", 1}}};
                    batch.push_back(std::move(r));
                }
            }
        }
        auto expected = sqlite->apply_batch(batch);
        auto refused = sluice::testing::create_request("bad" + std::to_string(round), "bad", "{}");
        refused.body["text"] = std::string("\0", 1);
        batch.insert(batch.begin() + static_cast<std::ptrdiff_t>(rng() % batch.size()), refused);
        auto got = postgres->apply_batch(batch);
        ASSERT_EQ(got.size(), expected.size() + 1);
        std::size_t k = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
            if (batch[i].op == refused.op) {
                EXPECT_EQ(sluice::testing::failure_code(got[i]), "invalid_input");
                continue;
            }
            const auto& e = expected[k++];
            ASSERT_EQ(bool(got[i].change), bool(e.change)) << batch[i].op;
            if (e.change) {
                EXPECT_EQ(bj::serialize(got[i].change->envelope), bj::serialize(e.change->envelope));
                EXPECT_EQ(got[i].change->duplicate, e.change->duplicate) << batch[i].op;
            } else {
                EXPECT_EQ(sluice::testing::failure_code(got[i]), sluice::testing::failure_code(e))
                    << batch[i].op;
            }
        }
    }
    sluice::store::find_options all;
    all.limit = 1000;
    EXPECT_EQ(text_of(postgres->find("a", "m", all)), text_of(sqlite->find("a", "m", all)));
}

}  // namespace
