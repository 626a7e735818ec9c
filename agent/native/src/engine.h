// The capture engine: rings -> reader threads -> spill queue -> writer thread -> files (filesink.h)
// and live streams (streams.h).
// See ../README.md for the threading model.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pcapfmt.h"
#include "sock.h"
#include "streams.h"

namespace ringtap {

using Clock = std::chrono::steady_clock;

// An engine event, delivered to JavaScript through the binding's bounded event channel.
struct Event {
  std::string type;  // interface-added | interface-removed | limit-reached | file-rotated | error | stopped | stream-data
  std::string interfaceName;
  int interfaceId = -1;
  std::string reason;
  std::string message;
  std::string code;
  std::string path;
  std::string previousPath;
  uint32_t streamId = 0;
  bool critical = false;  // never dropped (stopped, stream-data): JS state depends on them
};
using EventSink = std::function<void(Event&&)>;

struct InterfaceSpec {
  std::string name;
  std::string netns;        // "" = the agent's own namespace
  std::string description;  // free text for the IDB's if_description, e.g. "node=n1 pod=ns/name uid=..."
  TimestampSource timestamps = TimestampSource::kSoftware;
  FanoutConfig fanout;        // workers 0 = the capture's default
};

struct OutputConfig {
  bool enabled = false;
  std::string directory;
  std::string prefix = "capture";
  uint64_t startSequence = 0;
  uint64_t rotateBytes = 0;  // 0 = no size rotation
  uint64_t rotateMs = 0;     // 0 = no time rotation
  uint32_t maxFiles = 0;     // 0 = keep every file; else a ring of at most N files
  bool append = false;       // reuse an existing first file: repair its tail, then append
  bool directIo = true;      // O_DIRECT for whole 4 KiB blocks, buffered write for the tail
};

struct Limits {
  uint64_t packets = 0;  // packets after the filter; 0 = none
  uint64_t bytes = 0;    // captured bytes (caplen) after the filter; 0 = none
  uint64_t durationMs = 0;
};

struct CaptureConfig {
  std::string filter;
  int snaplen = 262144;
  RingConfig ring;
  FileFormat format = FileFormat::kPcapng;
  OutputConfig output;
  Limits limits;
  size_t spillBytes = 128u << 20;  // user-space buffer between readers and the writer
  FanoutConfig fanout;             // default for interfaces that do not set their own
};

struct InterfaceStats {
  int id = -1;
  std::string name;
  std::string netns;
  std::string state;  // active | gone | removed | stopped
  uint64_t packets = 0;  // seen in the ring (after the filter)
  uint64_t bytes = 0;    // wire bytes (tp_len) of those packets
  uint64_t kernelPackets = 0;
  uint64_t kernelDrops = 0;
  uint64_t freezes = 0;
  uint64_t spillDrops = 0;
  int fanoutGroup = -1;                 // kernel fanout group id; -1 = one worker, no group
  std::string fanoutMode;               // hash | cpu | lb (with fanoutGroup)
  std::vector<uint64_t> workerPackets;  // packets seen per worker ring
};

struct CaptureStats {
  std::string state;  // created | running | stopping | stopped | closed
  std::string stopReason;
  std::vector<InterfaceStats> interfaces;
  uint64_t packets = 0, bytes = 0, kernelPackets = 0, kernelDrops = 0, freezes = 0, spillDrops = 0;
  uint64_t packetsWritten = 0, bytesWritten = 0, files = 0;
  std::string currentFile;
  uint64_t streamDrops = 0;
};

// One unit in the spill queue: encoded packet records from one ring block, or an IDB.
struct Batch {
  enum class Kind { kRecords, kIdb } kind = Kind::kRecords;
  std::vector<uint8_t> buf;  // capacity reused through the pool
  size_t len = 0;
  uint32_t records = 0;
};

class Capture;
class FileSink;

// One ring of an interface: its socket, its reader thread and the eventfd that wakes it.
// An interface without fanout has exactly one; with fanout, one per worker, all in one group.
struct Member {
  int index = 0;
  RxSocket sock;
  int wakeFd = -1;  // eventfd: wakes the reader out of poll() for stop/removal
  std::thread reader;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> packets{0};
};

// One captured interface: one IDB and interface id, one or more member rings (fanout).
struct Interface {
  int id = -1;
  InterfaceSpec spec;
  FanoutConfig fanout;
  int fanoutGroup = -1;
  std::vector<std::unique_ptr<Member>> members;
  std::atomic<bool> stop{false};
  std::atomic<bool> graceful{true};  // drain retired blocks (and wait one retire timeout) before exit
  std::atomic<bool> done{false};     // every member's reader has ended
  std::atomic<bool> gone{false};     // some member saw the device unregistered
  std::atomic<uint32_t> running{0};  // members whose reader has not ended; the last one reports
  std::string endState = "active";   // guarded by statsMu
  std::atomic<uint64_t> packets{0}, bytes{0}, spillDrops{0}, queued{0};
  std::mutex statsMu;  // guards the members' sock.fd lifetime for stats reads and the accumulated kernel counters
  KernelStats kernel;  // summed over members
  void PollKernelStatsLocked();
  void WakeAll();
};


class Capture {
 public:
  Capture(CaptureConfig cfg, EventSink sink);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  void Start(const std::vector<InterfaceSpec>& initial);
  int AddInterface(const InterfaceSpec& spec);
  void RemoveInterface(int id);
  void Stop(const std::string& reason);  // graceful: drains rings, closes files, emits "stopped"
  void Shutdown();                       // close(): stop everything now, join all threads, close all fds
  CaptureStats Stats();

  uint32_t OpenStream(size_t maxBytes);
  // 1 = chunk returned, 0 = nothing now (a stream-data event follows), -1 = ended
  int ReadStream(uint32_t id, std::vector<uint8_t>& out);
  void CloseStream(uint32_t id);

  // Used by FileSink.
  void Emit(Event&& e) { sink_(std::move(e)); }
  std::vector<std::vector<uint8_t>> IdbsSnapshot();
  void IsbBlocks(std::vector<uint8_t>& out);
  std::atomic<uint64_t> packetsWritten{0}, bytesWritten{0}, files{0};
  std::mutex fileMu;  // guards currentFile
  std::string currentFile;

 private:
  friend class FileSink;
  std::unique_ptr<Interface> OpenInterface(const InterfaceSpec& spec, int id);
  void LaunchReader(Interface& itf);
  void ReaderLoop(Interface& itf, Member& m);
  void WalkBlock(Interface& itf, Member& m, tpacket_block_desc* bd, Batch*& batch);
  bool Admit(uint32_t caplen);
  void RequestStop(const std::string& reason, bool graceful);
  void PushBatch(Interface* itf, Batch* b);
  Batch* GetBatch(size_t minCap);
  void RecycleLocked(Batch* b);
  void WriterLoop();
  void Process(std::vector<Batch*>& work);
  void Finalize();
  void JoinFinishedReaders();

  CaptureConfig cfg_;
  EventSink sink_;

  std::mutex ifMu_;  // guards interfaces_ (the vector, not the counters inside)
  std::vector<std::unique_ptr<Interface>> interfaces_;

  std::mutex qMu_;  // spill queue, batch pool, reader count
  std::condition_variable qCv_;
  std::deque<Batch*> queue_;
  size_t queuedBytes_ = 0;
  std::vector<Batch*> pool_;
  int activeReaders_ = 0;

  LiveStreams streams_;  // also the IDBs written so far

  std::unique_ptr<FileSink> file_;
  std::thread writer_;
  std::atomic<int> state_{0};  // 0 created, 1 running, 2 stopping, 3 stopped, 4 closed
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abort_{false};
  std::mutex reasonMu_;
  std::string stopReason_;
  std::atomic<uint64_t> admittedPackets_{0}, admittedBytes_{0};
  Clock::time_point startedAt_;
};

}  // namespace ringtap
