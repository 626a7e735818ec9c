// Live streams: each consumer's bounded queue of file bytes (header, IDBs, packet records),
// fed by the capture's writer thread and pulled by the JS thread. See ../README.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "pcapfmt.h"

namespace ringtap {

// Also keeps the IDBs written so far, under the same lock as the streams, so a stream opened
// at any moment gets every IDB exactly once: in its header or as a later block.
class LiveStreams {
 public:
  // `onData(id)` is called, under the lock, when a consumer waiting on stream `id` has data or
  // its stream ended.
  LiveStreams(FileFormat fmt, int snaplen, std::function<void(uint32_t)> onData);
  ~LiveStreams();
  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;

  uint32_t Open(size_t maxBytes);
  // 1 = chunk returned, 0 = nothing now (onData follows), -1 = ended or unknown
  int Read(uint32_t id, std::vector<uint8_t>& out);
  void Close(uint32_t id);

  // Writer thread: encoded packet records of one batch.
  void Feed(const uint8_t* data, size_t len, uint32_t records);
  // Writer thread: the IDB of an interface added while running, for every live stream too.
  void AddIdb(std::vector<uint8_t> idb);
  // Start: the IDBs of the initial interfaces (an empty list undoes a failed start).
  void SetIdbs(std::vector<std::vector<uint8_t>> idbs);
  // Writer thread, once the capture has stopped: every stream ends after its queued data.
  void EndAll();

  std::vector<std::vector<uint8_t>> Idbs();
  size_t IdbCount();
  uint64_t drops() const { return drops_.load(); }

 private:
  struct Stream;

  const FileFormat fmt_;
  const int snaplen_;
  const std::function<void(uint32_t)> onData_;
  std::mutex mu_;  // everything below but drops_
  std::map<uint32_t, std::unique_ptr<Stream>> streams_;
  uint32_t nextId_ = 1;
  std::vector<std::vector<uint8_t>> idbs_;  // in interface-id order
  bool ended_ = false;
  std::atomic<uint64_t> drops_{0};
};

}  // namespace ringtap
