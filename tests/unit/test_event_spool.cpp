// The audit spool (core/rules/event_spool.hpp): the record format (round trip, a damaged record, a record
// cut short), the bound, opening it safely (symbolic link, foreign directory, second user), and EventWriter
// spilling to it and replaying it in order, exactly once.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/base/errors.hpp"
#include "core/rules/event.hpp"
#include "core/rules/event_spool.hpp"
#include "core/rules/event_writer.hpp"
#include "tests/support/memory_store.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace relay;

namespace {

constexpr std::uint64_t kBig = 1 << 20;

Event event(int n) {
    Event e;
    e.at = from_unix(1767225600) + std::chrono::microseconds(n);
    e.node = "mx1";
    e.stage = Stage::end_of_message;
    e.authority_id = 40 + n;
    e.login = "user" + std::to_string(n) + "@example.com";  // one account each: no folding
    e.client_address = "192.0.2.7";
    e.sender = "s@example.com";
    e.recipient_count = 3;
    e.size = 12345;
    e.verdict = Verdict::reject;
    e.reason = Reason::rate_limited;
    e.queue_id = "Q" + std::to_string(n);
    e.detail = "limit 100/h";
    e.repeat_count = 2;
    e.key = new_event_key();
    return e;
}

std::vector<Event> events(int from, int to) {
    std::vector<Event> out;
    for (int i = from; i < to; ++i) out.push_back(event(i));
    return out;
}

std::vector<std::string> queue_ids(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& e : events) out.push_back(e.queue_id);
    return out;
}

std::vector<std::string> names(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back("Q" + std::to_string(i));
    return out;
}

std::vector<Event> read_all(EventSpool& spool) {
    std::vector<Event> out;
    while (!spool.empty()) {
        EventSpool::Batch b = spool.read(100);
        out.insert(out.end(), b.events.begin(), b.events.end());
        spool.consumed(b);
    }
    return out;
}

std::uintmax_t file_size(const std::string& path) { return std::filesystem::file_size(path); }

// Overwrites one byte of the file at offset.
void poke(const std::string& path, std::uintmax_t offset, char byte) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(byte);
}

// Stores the events, then loses the answer: what a COMMIT whose reply never came looks like.
class LostCommitStore : public MemoryStore {
public:
    int lose_answers = 0;
    void record_events(const std::vector<Event>& events) override {
        MemoryStore::record_events(events);
        if (lose_answers > 0) {
            --lose_answers;
            throw StoreTransientError("test: the answer to COMMIT was lost");
        }
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(event_spool)

BOOST_AUTO_TEST_CASE(a_record_keeps_every_field) {
    const Event in = event(7);
    const std::string record = encode_spool_record(in);
    const SpoolRecord out = decode_spool_record(record);
    BOOST_REQUIRE(out.status == SpoolRecord::Status::complete);
    BOOST_TEST(out.length == record.size());
    const Event& e = out.event;
    BOOST_TEST(e.key == in.key);
    BOOST_TEST((e.at == in.at));
    BOOST_TEST(e.node == in.node);
    BOOST_TEST(to_string(e.stage) == to_string(in.stage));
    BOOST_TEST(e.authority_id == in.authority_id);
    BOOST_TEST(e.login == in.login);
    BOOST_TEST(e.client_address == in.client_address);
    BOOST_TEST(e.sender == in.sender);
    BOOST_TEST(e.recipient_count == in.recipient_count);
    BOOST_TEST(e.size == in.size);
    BOOST_TEST(to_string(e.verdict) == to_string(in.verdict));
    BOOST_TEST(to_string(e.reason) == to_string(in.reason));
    BOOST_TEST(e.queue_id == in.queue_id);
    BOOST_TEST(e.detail == in.detail);
    BOOST_TEST(e.repeat_count == in.repeat_count);
}

BOOST_AUTO_TEST_CASE(a_short_or_changed_record_is_not_taken) {
    const std::string record = encode_spool_record(event(1));
    for (std::size_t n = 0; n < record.size(); ++n) {
        BOOST_TEST((decode_spool_record(std::string_view(record).substr(0, n)).status == SpoolRecord::Status::need_more),
                   "prefix of " << n << " bytes");
    }
    for (std::size_t at = 0; at < record.size(); ++at) {
        std::string changed = record;
        changed[at] = static_cast<char>(changed[at] ^ 0x20);
        const SpoolRecord r = decode_spool_record(changed);
        // A changed length may only ask for more bytes; anything else must be caught, never decoded.
        BOOST_TEST((r.status != SpoolRecord::Status::complete), "byte " << at << " changed, still decoded");
    }
}

BOOST_AUTO_TEST_CASE(replay_returns_the_events_in_the_order_they_were_spooled) {
    test::TempDir dir;
    auto spool = EventSpool::open(dir.path, "d.audit-spool", kBig);
    BOOST_TEST(spool->append(events(0, 150)) == 150u);
    BOOST_TEST(spool->append(events(150, 320)) == 170u);
    BOOST_TEST(queue_ids(read_all(*spool)) == names(0, 320), boost::test_tools::per_element());
    BOOST_TEST(spool->empty());
    BOOST_TEST(file_size(dir.path + "/d.audit-spool") == 0u);  // emptied once replayed
}

BOOST_AUTO_TEST_CASE(a_damaged_record_is_skipped_and_nothing_else_is_lost) {
    test::TempDir dir;
    const std::string path = dir.path + "/d.audit-spool";
    auto spool = EventSpool::open(dir.path, "d.audit-spool", kBig);
    spool->append(events(0, 3));
    const std::size_t one = encode_spool_record(event(0)).size();
    poke(path, one + kSpoolHeaderBytes + 20, 'X');  // inside the second record's payload
    BOOST_TEST(queue_ids(read_all(*spool)) == (std::vector<std::string>{"Q0", "Q2"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_record_cut_short_by_a_kill_is_skipped_and_later_records_are_kept) {
    test::TempDir dir;
    const std::string path = dir.path + "/d.audit-spool";
    {
        auto spool = EventSpool::open(dir.path, "d.audit-spool", kBig);
        spool->append(events(0, 2));
    }
    std::filesystem::resize_file(path, file_size(path) - 7);  // the daemon died while writing Q1
    auto spool = EventSpool::open(dir.path, "d.audit-spool", kBig);  // the next start appends behind it
    spool->append(events(2, 4));
    BOOST_TEST(queue_ids(read_all(*spool)) == (std::vector<std::string>{"Q0", "Q2", "Q3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_file_never_grows_beyond_its_bound) {
    test::TempDir dir;
    const std::size_t one = encode_spool_record(event(0)).size();
    auto spool = EventSpool::open(dir.path, "d.audit-spool", one * 5 + one / 2);
    BOOST_TEST(spool->append(events(0, 3)) == 3u);
    BOOST_TEST(spool->append(events(3, 10)) == 2u);  // room for two more whole records only
    BOOST_TEST(spool->append(events(10, 11)) == 0u);
    BOOST_TEST(file_size(dir.path + "/d.audit-spool") <= one * 5 + one / 2);
    BOOST_TEST(queue_ids(read_all(*spool)) == names(0, 5), boost::test_tools::per_element());
    BOOST_TEST(spool->append(events(20, 21)) == 1u);  // emptied by the replay: room again
}

BOOST_AUTO_TEST_CASE(the_file_is_private_and_a_symbolic_link_is_never_followed) {
    test::TempDir dir;
    {
        auto spool = EventSpool::open(dir.path, "d.audit-spool", kBig);
        struct stat st {};
        BOOST_REQUIRE(::stat((dir.path + "/d.audit-spool").c_str(), &st) == 0);
        BOOST_TEST((st.st_mode & 07777) == 0600u);
    }
    const std::string target = dir.path + "/target";
    std::ofstream(target) << "not ours";
    BOOST_REQUIRE(::symlink(target.c_str(), (dir.path + "/link.audit-spool").c_str()) == 0);
    BOOST_CHECK_THROW(EventSpool::open(dir.path, "link.audit-spool", kBig), SpoolError);
    std::ifstream in(target);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST(content == "not ours");
    BOOST_REQUIRE(::link(target.c_str(), (dir.path + "/hard.audit-spool").c_str()) == 0);
    BOOST_CHECK_THROW(EventSpool::open(dir.path, "hard.audit-spool", kBig), SpoolError);  // two links
}

BOOST_AUTO_TEST_CASE(a_directory_others_may_write_is_refused) {
    test::TempDir dir;
    BOOST_REQUIRE(::chmod(dir.path.c_str(), 0777) == 0);
    BOOST_CHECK_THROW(EventSpool::open(dir.path, "d.audit-spool", kBig), SpoolError);
    BOOST_TEST(!std::filesystem::exists(dir.path + "/d.audit-spool"));
    BOOST_CHECK_THROW(EventSpool::open(dir.path + "/missing", "d.audit-spool", kBig), SpoolError);
}

BOOST_AUTO_TEST_CASE(a_second_process_on_the_same_spool_is_refused) {
    test::TempDir dir;
    auto first = EventSpool::open(dir.path, "d.audit-spool", kBig);
    BOOST_CHECK_THROW(EventSpool::open(dir.path, "d.audit-spool", kBig), SpoolError);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(event_writer_spool)

BOOST_AUTO_TEST_CASE(an_outage_spills_to_the_spool_and_the_spool_is_replayed_first_in_order) {
    test::TempDir dir;
    MemoryStore store;
    EventWriter writer(store);
    writer.use_spool(EventSpool::open(dir.path, "d.audit-spool", kBig));
    store.set_failing(true);
    for (const Event& e : events(0, 600)) writer.submit(e);
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    writer.spill();
    BOOST_TEST(writer.figures().queued == 0u);
    BOOST_TEST(writer.figures().spool_bytes == file_size(dir.path + "/d.audit-spool"));
    BOOST_TEST(writer.figures().spool_bytes > 0u);
    for (const Event& e : events(600, 700)) writer.submit(e);  // queued in memory, newer than the spool
    store.set_failing(false);
    writer.flush();
    BOOST_TEST(queue_ids(store.events()) == names(0, 700), boost::test_tools::per_element());
    BOOST_TEST(writer.figures().spool_bytes == 0u);
    BOOST_TEST(file_size(dir.path + "/d.audit-spool") == 0u);
    BOOST_TEST(writer.drops().spool_full == 0u);
}

BOOST_AUTO_TEST_CASE(a_lost_commit_answer_during_replay_stores_each_event_once) {
    test::TempDir dir;
    LostCommitStore store;
    EventWriter writer(store);
    writer.use_spool(EventSpool::open(dir.path, "d.audit-spool", kBig));
    for (const Event& e : events(0, 700)) writer.submit(e);
    writer.spill();
    store.lose_answers = 1;  // the first replay batch is stored, but the daemon does not learn it
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    writer.flush();  // replays that batch again: its keys are stored already
    BOOST_TEST(queue_ids(store.events()) == names(0, 700), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_lost_commit_answer_for_queued_events_stores_each_event_once) {
    LostCommitStore store;
    EventWriter writer(store);
    for (const Event& e : events(0, 300)) writer.submit(e);
    store.lose_answers = 1;
    BOOST_CHECK_THROW(writer.flush(), StoreTransientError);
    writer.flush();
    BOOST_TEST(queue_ids(store.events()) == names(0, 300), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(events_beyond_the_bound_are_dropped_and_counted) {
    test::TempDir dir;
    MemoryStore store;
    EventWriter writer(store);
    const std::size_t one = encode_spool_record(event(0)).size();
    writer.use_spool(EventSpool::open(dir.path, "d.audit-spool", one * 10));
    for (const Event& e : events(0, 25)) writer.submit(e);
    writer.spill();
    BOOST_TEST(writer.drops().spool_full == 15u * 2);  // 15 rows of repeat_count 2 did not fit
    writer.flush();
    BOOST_TEST(queue_ids(store.events()) == names(0, 10), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(what_a_stopped_writer_spooled_the_next_one_replays) {
    test::TempDir dir;
    MemoryStore store;
    store.set_failing(true);
    {
        EventWriter writer(store);
        writer.use_spool(EventSpool::open(dir.path, "d.audit-spool", kBig));
        writer.start();
        for (const Event& e : events(0, 50)) writer.submit(e);
        writer.stop();  // the database does not answer: the queue goes to the spool
        BOOST_TEST(writer.drops().not_writable == 0u);
    }
    BOOST_TEST(file_size(dir.path + "/d.audit-spool") > 0u);
    store.set_failing(false);
    EventWriter next(store);
    next.use_spool(EventSpool::open(dir.path, "d.audit-spool", kBig));
    next.flush();
    BOOST_TEST(queue_ids(store.events()) == names(0, 50), boost::test_tools::per_element());
    BOOST_TEST(file_size(dir.path + "/d.audit-spool") == 0u);
}

BOOST_AUTO_TEST_CASE(every_queued_event_gets_its_own_key) {
    MemoryStore store;
    EventWriter writer(store);
    for (int i = 0; i < 100; ++i) {
        Event e = event(i);
        e.key.clear();
        writer.submit(e);
    }
    writer.flush();
    std::set<std::string> keys;
    for (const Event& e : store.events()) {
        BOOST_TEST(e.key.size() == 32u);
        keys.insert(e.key);
    }
    BOOST_TEST(keys.size() == 100u);
}

BOOST_AUTO_TEST_SUITE_END()
