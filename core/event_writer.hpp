// Writes the audit trail and last-use stamps off the request path: submit() never blocks on the database.
// A background thread batches them into the store; when the queue is full new events are dropped and the
// number dropped is logged, never silently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "core/event.hpp"
#include "core/store.hpp"

namespace relay {

class EventWriter {
public:
    explicit EventWriter(Store& store, std::size_t max_queue = 10000);
    ~EventWriter();

    void submit(Event event);
    void submit_use(Id authority_id, TimePoint when, std::string client_address);

    void start();   // background thread
    void stop();    // flushes what it can, then stops
    void flush();   // writes everything queued now, in the caller's thread (tests, shutdown)

private:
    struct Use { Id authority_id; TimePoint when; std::string client_address; };
    void run();
    Store& store_;
    std::size_t max_queue_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    std::deque<Use> uses_;
    std::size_t dropped_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace relay
