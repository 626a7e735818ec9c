// The capture core: rings, reader threads, the spill queue and the writer thread.
// Threading model: ../README.md.
#include "engine.h"

#include <linux/if_ether.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "filesink.h"

namespace ringtap {

using namespace std::chrono_literals;

namespace {

uint64_t RealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void Wake(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t r = write(fd, &one, sizeof(one));
  (void)r;  // eventfd write only fails if the counter would overflow, which still wakes
}

const char* StateName(int s) {
  static const char* kNames[] = {"created", "running", "stopping", "stopped", "closed"};
  return s >= 0 && s <= 4 ? kNames[s] : "unknown";
}

}  // namespace

void Interface::PollKernelStatsLocked() {
  // PACKET_STATISTICS is per socket (and reset by each read): sum every member's.
  for (auto& m : members) {
    if (m->sock.fd < 0) continue;
    KernelStats d;
    if (ReadKernelStats(m->sock.fd, d)) {
      kernel.packets += d.packets;
      kernel.drops += d.drops;
      kernel.freezes += d.freezes;
    }
  }
}

void Interface::WakeAll() {
  for (auto& m : members) Wake(m->wakeFd);
}

namespace {

void CloseMembers(Interface& itf) {
  for (auto& m : itf.members) {
    CloseRxSocket(m->sock);
    if (m->wakeFd >= 0) close(m->wakeFd);
    m->wakeFd = -1;
  }
}

const char* FanoutModeName(FanoutMode m) {
  switch (m) {
    case FanoutMode::kCpu:
      return "cpu";
    case FanoutMode::kLb:
      return "lb";
    case FanoutMode::kHash:
    default:
      return "hash";
  }
}

}  // namespace

Capture::Capture(CaptureConfig cfg, EventSink sink)
    : cfg_(std::move(cfg)), sink_(std::move(sink)), streams_(cfg_.format, cfg_.snaplen, [this](uint32_t id) {
        Event ev;
        ev.type = "stream-data";
        ev.streamId = id;
        ev.critical = true;
        Emit(std::move(ev));
      }) {
  if (cfg_.snaplen <= 0 || cfg_.snaplen > 262144) {
    throw RtError(kErrInvalidArg, "snaplen must be between 1 and 262144");
  }
  // Validate the filter once up front so a typo fails the constructor, not a later interface.
  CompileFilter(cfg_.filter, kLinkTypeEthernet, cfg_.snaplen);
  if (cfg_.output.enabled) file_ = std::make_unique<FileSink>(*this, cfg_.output, cfg_.format, cfg_.snaplen);
}

Capture::~Capture() { Shutdown(); }

std::unique_ptr<Interface> Capture::OpenInterface(const InterfaceSpec& spec, int id) {
  auto itf = std::make_unique<Interface>();
  itf->id = id;
  itf->spec = spec;
  itf->fanout = spec.fanout.workers ? spec.fanout : cfg_.fanout;
  std::vector<RxSocket> socks = OpenRxGroup(spec.name, spec.netns, cfg_.ring, cfg_.filter, cfg_.snaplen, spec.timestamps,
                                            itf->fanout, itf->fanoutGroup);
  for (size_t i = 0; i < socks.size(); i++) {
    auto m = std::make_unique<Member>();
    m->index = static_cast<int>(i);
    m->sock = socks[i];
    itf->members.push_back(std::move(m));
  }
  for (auto& m : itf->members) {
    m->wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->wakeFd < 0) {
      int e = errno;
      CloseMembers(*itf);
      ThrowErrno(kErrSocket, "eventfd", e);
    }
  }
  return itf;
}

void Capture::Start(const std::vector<InterfaceSpec>& initial) {
  if (state_.load() != 0) throw RtError(kErrState, "capture already started");
  std::vector<std::unique_ptr<Interface>> opened;
  auto cleanup = [&] {
    for (auto& i : opened) CloseMembers(*i);
  };
  try {
    for (size_t i = 0; i < initial.size(); i++) opened.push_back(OpenInterface(initial[i], static_cast<int>(i)));
    std::vector<std::vector<uint8_t>> idbs;
    for (auto& i : opened) {
      std::vector<uint8_t> idb;
      AppendIdb(idb, i->members.front()->sock.linkType, static_cast<uint32_t>(cfg_.snaplen), i->spec.name, i->spec.description);
      idbs.push_back(std::move(idb));
    }
    streams_.SetIdbs(std::move(idbs));
    if (file_) file_->OpenFirst();
  } catch (...) {
    cleanup();
    streams_.SetIdbs({});
    throw;
  }
  startedAt_ = Clock::now();
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : opened) interfaces_.push_back(std::move(i));
  }
  state_ = 1;
  writer_ = std::thread(&Capture::WriterLoop, this);
  std::lock_guard<std::mutex> lk(ifMu_);
  for (auto& i : interfaces_) LaunchReader(*i);
}

void Capture::LaunchReader(Interface& itf) {
  {
    std::lock_guard<std::mutex> lk(qMu_);
    activeReaders_ += static_cast<int>(itf.members.size());
  }
  itf.running = static_cast<uint32_t>(itf.members.size());
  for (auto& m : itf.members) m->reader = std::thread(&Capture::ReaderLoop, this, std::ref(itf), std::ref(*m));
}

int Capture::AddInterface(const InterfaceSpec& spec) {
  if (state_.load() != 1 || stopping_.load()) throw RtError(kErrState, "capture is not running");
  JoinFinishedReaders();
  int id;
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    id = static_cast<int>(interfaces_.size());
  }
  auto itf = OpenInterface(spec, id);
  // The IDB goes through the spill queue ahead of the interface's first packets, so every
  // file and stream sees it before any EPB that names its interface id.
  Batch* idb = GetBatch(0);
  idb->kind = Batch::Kind::kIdb;
  std::vector<uint8_t> bytes;
  AppendIdb(bytes, itf->members.front()->sock.linkType, static_cast<uint32_t>(cfg_.snaplen), spec.name, spec.description);
  if (idb->buf.size() < bytes.size()) idb->buf.resize(bytes.size());
  memcpy(idb->buf.data(), bytes.data(), bytes.size());
  idb->len = bytes.size();
  idb->records = 0;
  PushBatch(nullptr, idb);
  std::lock_guard<std::mutex> lk(ifMu_);
  interfaces_.push_back(std::move(itf));
  LaunchReader(*interfaces_.back());
  return id;
}

void Capture::RemoveInterface(int id) {
  Interface* itf = nullptr;
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : interfaces_) {
      if (i->id == id) itf = i.get();
    }
    if (!itf) throw RtError(kErrInvalidArg, "no interface with id " + std::to_string(id));
    itf->graceful = true;
    itf->stop = true;
    itf->WakeAll();
  }
  // Joined outside ifMu_: the readers may take it (RequestStop) on their way out.
  for (auto& m : itf->members) {
    if (m->reader.joinable()) m->reader.join();
  }
  std::lock_guard<std::mutex> lk(ifMu_);
  for (auto& m : itf->members) {
    if (m->wakeFd >= 0) close(m->wakeFd);
    m->wakeFd = -1;
  }
}

void Capture::JoinFinishedReaders() {
  std::vector<Member*> finished;
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : interfaces_) {
      for (auto& m : i->members) {
        if (m->done.load() && m->reader.joinable()) finished.push_back(m.get());
      }
    }
  }
  for (auto* m : finished) m->reader.join();
  std::lock_guard<std::mutex> lk(ifMu_);
  for (auto* m : finished) {
    if (m->wakeFd >= 0) close(m->wakeFd);
    m->wakeFd = -1;
  }
}

void Capture::Stop(const std::string& reason) {
  if (state_.load() == 0) throw RtError(kErrState, "capture was never started");
  RequestStop(reason, true);
}

void Capture::RequestStop(const std::string& reason, bool graceful) {
  {
    std::lock_guard<std::mutex> lk(reasonMu_);
    if (stopReason_.empty()) stopReason_ = reason;
  }
  int running = 1;
  state_.compare_exchange_strong(running, 2);
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : interfaces_) {
      if (!graceful) i->graceful = false;
      i->WakeAll();
    }
  }
  std::lock_guard<std::mutex> lk(qMu_);
  qCv_.notify_all();
}

void Capture::Shutdown() {
  if (state_.load() == 4) return;
  const bool started = state_.load() != 0;
  abort_ = true;
  if (started) RequestStop("closed", false);
  std::vector<Interface*> all;
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : interfaces_) all.push_back(i.get());
  }
  for (auto* i : all) {
    for (auto& m : i->members) {
      if (m->reader.joinable()) m->reader.join();
    }
  }
  {
    std::lock_guard<std::mutex> lk(qMu_);
    qCv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  state_ = 4;
  std::lock_guard<std::mutex> lk(ifMu_);
  for (auto& i : interfaces_) {
    std::lock_guard<std::mutex> sl(i->statsMu);
    CloseMembers(*i);
  }
  std::lock_guard<std::mutex> ql(qMu_);
  for (Batch* b : queue_) delete b;
  queue_.clear();
  for (Batch* b : pool_) delete b;
  pool_.clear();
}

Batch* Capture::GetBatch(size_t minCap) {
  {
    std::lock_guard<std::mutex> lk(qMu_);
    for (size_t i = pool_.size(); i-- > 0;) {
      if (pool_[i]->buf.size() >= minCap) {
        Batch* b = pool_[i];
        pool_.erase(pool_.begin() + static_cast<long>(i));
        b->len = 0;
        b->records = 0;
        b->kind = Batch::Kind::kRecords;
        return b;
      }
    }
  }
  auto* b = new Batch();
  b->buf.resize(minCap);
  return b;
}

void Capture::RecycleLocked(Batch* b) {
  // Keep a ring's worth of warm buffers: enough to take the next burst without page faults.
  // More would keep a past burst's spill resident for the capture's life (with 200 small
  // captures on a node, each pool held up to 256 blocks after a flood).
  if (pool_.size() < cfg_.ring.blockCount && b->buf.size() >= cfg_.ring.blockSize) {
    pool_.push_back(b);
  } else {
    delete b;
  }
}

void Capture::PushBatch(Interface* itf, Batch* b) {
  {
    std::lock_guard<std::mutex> lk(qMu_);
    // Never block a reader: when the writer is this far behind, drop the block's records
    // and count them, so the ring keeps being emptied.
    if (itf && queuedBytes_ + b->len > cfg_.spillBytes) {
      itf->spillDrops += b->records;
      RecycleLocked(b);
      return;
    }
    queue_.push_back(b);
    queuedBytes_ += b->len;
    if (itf) itf->queued += b->records;
  }
  qCv_.notify_one();
}

bool Capture::Admit(uint32_t caplen) {
  const Limits& L = cfg_.limits;
  if (L.packets) {
    uint64_t n = admittedPackets_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n > L.packets) return false;
    if (n == L.packets) {
      Event ev;
      ev.type = "limit-reached";
      ev.reason = "packet-limit";
      Emit(std::move(ev));
      RequestStop("packet-limit", false);
    }
  }
  if (L.bytes) {
    uint64_t b = admittedBytes_.fetch_add(caplen, std::memory_order_relaxed) + caplen;
    if (b > L.bytes) {
      if (b - caplen <= L.bytes) {  // the first packet to overflow reports it
        Event ev;
        ev.type = "limit-reached";
        ev.reason = "byte-limit";
        Emit(std::move(ev));
        RequestStop("byte-limit", false);
      }
      return false;
    }
  }
  return true;
}

void Capture::WalkBlock(Interface& itf, Member& m, tpacket_block_desc* bd, Batch*& batch) {
  const uint32_t n = bd->hdr.bh1.num_pkts;
  uint8_t* p = reinterpret_cast<uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
  const size_t batchCap = cfg_.ring.blockSize;
  uint64_t packets = 0, bytes = 0;
  std::vector<uint8_t> vlanScratch;
  for (uint32_t i = 0; i < n; i++) {
    auto* h = reinterpret_cast<tpacket3_hdr*>(p);
    p += h->tp_next_offset;
    const uint8_t* data = reinterpret_cast<uint8_t*>(h) + h->tp_mac;
    const auto* sll = reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<uint8_t*>(h) +
                                                           TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    uint32_t caplen = h->tp_snaplen;
    uint32_t origLen = h->tp_len;
    packets++;
    bytes += origLen;
    // The kernel strips an offloaded VLAN tag into the header; put it back as libpcap does,
    // so the file shows the frame as it was on the wire.
    if ((h->tp_status & TP_STATUS_VLAN_VALID) && caplen >= 12) {
      uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid ? h->hv1.tp_vlan_tpid
                                                                                            : ETH_P_8021Q;
      vlanScratch.resize(caplen + 4);
      memcpy(vlanScratch.data(), data, 12);
      vlanScratch[12] = static_cast<uint8_t>(tpid >> 8);
      vlanScratch[13] = static_cast<uint8_t>(tpid);
      vlanScratch[14] = static_cast<uint8_t>(h->hv1.tp_vlan_tci >> 8);
      vlanScratch[15] = static_cast<uint8_t>(h->hv1.tp_vlan_tci);
      memcpy(vlanScratch.data() + 16, data + 12, caplen - 12);
      data = vlanScratch.data();
      caplen += 4;
      origLen += 4;
    }
    if (!Admit(caplen)) continue;
    const uint32_t size = RecordSize(cfg_.format, caplen);
    if (!batch || batch->buf.size() - batch->len < size) {
      if (batch) PushBatch(&itf, batch);
      batch = GetBatch(std::max<size_t>(size, batchCap));
    }
    const uint64_t ts = static_cast<uint64_t>(h->tp_sec) * 1000000000ull + h->tp_nsec;
    batch->len += WriteRecord(cfg_.format, batch->buf.data() + batch->len, static_cast<uint32_t>(itf.id), ts, caplen,
                              origLen, data, EpbFlagsFromPktType(sll->sll_pkttype));
    batch->records++;
  }
  itf.packets.fetch_add(packets, std::memory_order_relaxed);
  itf.bytes.fetch_add(bytes, std::memory_order_relaxed);
  m.packets.fetch_add(packets, std::memory_order_relaxed);
}

void Capture::ReaderLoop(Interface& itf, Member& m) {
  const uint32_t blockSize = m.sock.ring.blockSize;
  const uint32_t blockCount = m.sock.ring.blockCount;
  uint32_t cur = 0;
  Batch* batch = nullptr;
  bool gone = false;
  bool draining = false;
  Clock::time_point drainUntil{};
  pollfd pfd[2] = {{m.sock.fd, POLLIN | POLLERR, 0}, {m.wakeFd, POLLIN, 0}};

  while (true) {
    if (itf.stop.load() || stopping_.load()) {
      if (abort_.load() || !itf.graceful.load()) break;
      if (!draining) {
        // Give the kernel one retire timeout to hand over the block it is filling.
        draining = true;
        drainUntil = Clock::now() + std::chrono::milliseconds(2 * cfg_.ring.retireTimeoutMs + 20);
      }
    }
    auto* bd = reinterpret_cast<tpacket_block_desc*>(m.sock.map + static_cast<size_t>(cur) * blockSize);
    if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
      WalkBlock(itf, m, bd, batch);
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      cur = (cur + 1) % blockCount;
      // One batch per block keeps latency to the writer at one block.
      if (batch && batch->len) {
        PushBatch(&itf, batch);
        batch = nullptr;
      }
      continue;
    }
    if (gone) {
      // The device is unregistered, so the kernel writes no more into the block it was filling
      // and will never retire it: take its packets now (num_pkts counts them as they land), or
      // the last packets of a deleted pod would be lost.
      if (__atomic_load_n(&bd->hdr.bh1.num_pkts, __ATOMIC_ACQUIRE) > 0) {
        WalkBlock(itf, m, bd, batch);
        __atomic_store_n(&bd->hdr.bh1.num_pkts, 0u, __ATOMIC_RELEASE);
      }
      break;
    }
    if (draining && Clock::now() >= drainUntil) break;
    int r = poll(pfd, 2, draining ? 10 : 250);
    if (r < 0 && errno != EINTR) break;
    if (pfd[1].revents & POLLIN) {
      uint64_t v;
      ssize_t rd = read(m.wakeFd, &v, sizeof(v));
      (void)rd;
    }
    if (r == 0 || (pfd[0].revents & (POLLERR | POLLHUP))) {
      // NETDEV_DOWN reports ENETDOWN once; NETDEV_UNREGISTER resets the bound ifindex to -1
      // without another wake-up, so idle timeouts re-check it too.
      int err = 0;
      socklen_t elen = sizeof(err);
      getsockopt(m.sock.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      sockaddr_ll ll{};
      socklen_t alen = sizeof(ll);
      if (getsockname(m.sock.fd, reinterpret_cast<sockaddr*>(&ll), &alen) != 0 || ll.sll_ifindex != m.sock.ifindex) {
        gone = true;  // one more pass drains blocks retired before the device went away
      }
    }
  }
  if (batch) {
    if (batch->len) {
      PushBatch(&itf, batch);
    } else {
      std::lock_guard<std::mutex> lk(qMu_);
      RecycleLocked(batch);
    }
  }
  if (gone) itf.gone = true;
  // The last member of the interface to end reports it (once, with every member's outcome).
  const bool last = itf.running.fetch_sub(1) == 1;
  {
    std::lock_guard<std::mutex> lk(itf.statsMu);
    itf.PollKernelStatsLocked();
    CloseRxSocket(m.sock);
    if (last) itf.endState = itf.gone.load() ? "gone" : (itf.stop.load() ? "removed" : "stopped");
  }
  if (last && (itf.gone.load() || itf.stop.load())) {
    Event ev;
    ev.type = "interface-removed";
    ev.interfaceName = itf.spec.name;
    ev.interfaceId = itf.id;
    ev.reason = itf.gone.load() ? "gone" : "removed";
    Emit(std::move(ev));
  }
  m.done = true;
  if (last) itf.done = true;
  {
    std::lock_guard<std::mutex> lk(qMu_);
    activeReaders_--;
  }
  qCv_.notify_all();
}

void Capture::WriterLoop() {
  std::vector<Batch*> work;
  const auto durationEnd = cfg_.limits.durationMs ? startedAt_ + std::chrono::milliseconds(cfg_.limits.durationMs)
                                                  : Clock::time_point::max();
  while (true) {
    bool finished;
    {
      std::unique_lock<std::mutex> lk(qMu_);
      auto deadline = Clock::now() + 250ms;
      deadline = std::min(deadline, durationEnd);
      if (file_) deadline = std::min(deadline, file_->RotationDeadline());
      qCv_.wait_until(lk, deadline, [&] { return !queue_.empty() || (stopping_.load() && activeReaders_ == 0); });
      while (!queue_.empty()) {
        Batch* b = queue_.front();
        queue_.pop_front();
        queuedBytes_ -= b->len;
        work.push_back(b);
      }
      finished = stopping_.load() && activeReaders_ == 0;
    }
    if (!work.empty()) {
      Process(work);
      std::lock_guard<std::mutex> lk(qMu_);
      for (Batch* b : work) RecycleLocked(b);
      work.clear();
    }
    const auto now = Clock::now();
    if (!stopping_.load() && now >= durationEnd) {
      Event ev;
      ev.type = "limit-reached";
      ev.reason = "duration";
      Emit(std::move(ev));
      RequestStop("duration", true);
    }
    if (file_) file_->MaybeRotateByTime(now);
    if (finished) break;
  }
  Finalize();
}

void Capture::Process(std::vector<Batch*>& work) {
  for (Batch* b : work) {
    if (b->kind == Batch::Kind::kIdb) {
      streams_.AddIdb(std::vector<uint8_t>(b->buf.begin(), b->buf.begin() + static_cast<long>(b->len)));
      if (file_ && cfg_.format == FileFormat::kPcapng) file_->AppendBlock(b->buf.data(), b->len);
      continue;
    }
    streams_.Feed(b->buf.data(), b->len, b->records);
    if (file_) file_->Append(b->buf.data(), b->len, b->records);
  }
  if (file_) file_->Flush();
}

void Capture::Finalize() {
  if (file_) {
    file_->Flush();
    file_->Close(true);
  }
  streams_.EndAll();
  std::string reason;
  {
    std::lock_guard<std::mutex> lk(reasonMu_);
    reason = stopReason_.empty() ? "stopped" : stopReason_;
  }
  state_ = 3;
  Event ev;
  ev.type = "stopped";
  ev.reason = reason;
  ev.critical = true;
  Emit(std::move(ev));
}

std::vector<std::vector<uint8_t>> Capture::IdbsSnapshot() { return streams_.Idbs(); }

void Capture::IsbBlocks(std::vector<uint8_t>& out) {
  const uint64_t now = RealtimeNs();
  std::lock_guard<std::mutex> lk(ifMu_);
  const size_t known = streams_.IdbCount();  // only interfaces whose IDB is already in the file
  for (auto& i : interfaces_) {
    if (static_cast<size_t>(i->id) >= known) continue;
    IsbCounters c;
    {
      std::lock_guard<std::mutex> sl(i->statsMu);
      i->PollKernelStatsLocked();
      c.ifRecv = i->kernel.packets;
      c.ifDrop = i->kernel.drops;
    }
    c.osDrop = i->spillDrops.load();
    c.usrDeliv = i->queued.load();
    AppendIsb(out, static_cast<uint32_t>(i->id), now, c);
  }
}

CaptureStats Capture::Stats() {
  if (state_.load() != 4) JoinFinishedReaders();
  CaptureStats st;
  st.state = StateName(state_.load());
  {
    std::lock_guard<std::mutex> lk(reasonMu_);
    st.stopReason = stopReason_;
  }
  {
    std::lock_guard<std::mutex> lk(ifMu_);
    for (auto& i : interfaces_) {
      InterfaceStats s;
      s.id = i->id;
      s.name = i->spec.name;
      s.netns = i->spec.netns;
      {
        std::lock_guard<std::mutex> sl(i->statsMu);
        i->PollKernelStatsLocked();
        s.kernelPackets = i->kernel.packets;
        s.kernelDrops = i->kernel.drops;
        s.freezes = i->kernel.freezes;
        s.state = i->done.load() ? i->endState : "active";
      }
      s.fanoutGroup = i->fanoutGroup;
      if (i->fanoutGroup >= 0) s.fanoutMode = FanoutModeName(i->fanout.mode);
      for (auto& m : i->members) s.workerPackets.push_back(m->packets.load());
      s.packets = i->packets.load();
      s.bytes = i->bytes.load();
      s.spillDrops = i->spillDrops.load();
      st.packets += s.packets;
      st.bytes += s.bytes;
      st.kernelPackets += s.kernelPackets;
      st.kernelDrops += s.kernelDrops;
      st.freezes += s.freezes;
      st.spillDrops += s.spillDrops;
      st.interfaces.push_back(std::move(s));
    }
  }
  st.packetsWritten = packetsWritten.load();
  st.bytesWritten = bytesWritten.load();
  st.files = files.load();
  {
    std::lock_guard<std::mutex> lk(fileMu);
    st.currentFile = currentFile;
  }
  st.streamDrops = streams_.drops();
  return st;
}

uint32_t Capture::OpenStream(size_t maxBytes) {
  if (state_.load() == 4) throw RtError(kErrState, "capture is closed");
  return streams_.Open(maxBytes);
}

int Capture::ReadStream(uint32_t id, std::vector<uint8_t>& out) { return streams_.Read(id, out); }

void Capture::CloseStream(uint32_t id) { streams_.Close(id); }

}  // namespace ringtap
