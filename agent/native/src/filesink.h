// The file sink of a capture: pcapng/pcap files written by the writer thread, with size and
// time rotation, the file ring and direct I/O. See ../README.md.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "engine.h"

namespace ringtap {

// Writes spill-queue data to rotating files. Owned and used by the writer thread only.
class FileSink {
 public:
  FileSink(Capture& cap, const OutputConfig& cfg, FileFormat fmt, int snaplen);
  ~FileSink();
  void OpenFirst();  // called before the writer starts (errors surface synchronously)
  void Append(const uint8_t* data, size_t len, uint32_t records);
  void AppendBlock(const uint8_t* data, size_t len);  // an IDB for the current file
  void Flush();
  void MaybeRotateByTime(Clock::time_point now);
  Clock::time_point RotationDeadline() const;
  void Close(bool writeIsb);
  bool failed() const { return failed_; }
  bool isOpen() const { return fd_ >= 0; }

 private:
  std::string PathFor(uint64_t seq) const;
  void OpenNext();
  void Rotate();
  void Push(const uint8_t* data, size_t len, bool records);
  void FailWrite(int err, size_t written);
  bool FlushDirect();  // false: failed (FailWrite done)
  void Flushed(size_t total);
  bool WriteOut(const uint8_t* p, size_t n, uint64_t off, bool direct, uint64_t newFrom, size_t& written);

  // A piece of the next writev: packet records (cut-able at record boundaries) or an opaque block.
  struct Chunk {
    const uint8_t* data;
    size_t len;
    bool records;
  };

  Capture& cap_;
  OutputConfig cfg_;
  FileFormat fmt_;
  int snaplen_;
  int fd_ = -1;
  // Direct I/O: a second descriptor with O_DIRECT and an aligned staging buffer. The buffer
  // holds the file's bytes from stageBase_ (a multiple of kDirectAlign) on: whole aligned
  // blocks go out with O_DIRECT, the unaligned tail with a buffered pwrite (so the file always
  // ends at a record), and is written again, directly, as part of the next block.
  int dfd_ = -1;
  uint8_t* stage_ = nullptr;
  size_t stageLen_ = 0;
  uint64_t stageBase_ = 0;
  bool direct_ = false;
  uint64_t seq_;
  uint64_t size_ = 0;       // bytes in the file including pending
  uint64_t committed_ = 0;  // bytes known to be on disk, always at a record boundary
  uint64_t recordsInFile_ = 0;
  Clock::time_point openedAt_;
  std::vector<Chunk> pending_;
  std::vector<std::vector<uint8_t>> owned_;  // headers/ISBs referenced by pending_
  uint32_t pendingRecords_ = 0;
  std::deque<std::string> files_;  // the file ring, oldest first
  std::string current_;
  bool failed_ = false;
};

}  // namespace ringtap
