// TX_RING sender (TPACKET_V2 TX ring + PACKET_QDISC_BYPASS), see PACKET_MMAP "transmission process".
#include "tx.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "common.h"
#include "sock.h"

namespace ringtap {

namespace {

// struct virtio_net_hdr (linux/virtio_net.h, which C++ cannot include: a member is named
// `class`): flags 0 and gso_type NONE; hdr_len says how many bytes go into the linear part.
struct VnetHdr {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t hdrLen;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};
static_assert(sizeof(VnetHdr) == 10, "virtio_net_hdr is 10 bytes");

struct TxSocket {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t mapLen = 0;
  uint32_t frameSize = 0;
  uint32_t frameNr = 0;
};

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TxSocket OpenTx(const TxConfig& cfg, size_t maxLen) {
  const uint32_t dataOff = TPACKET_ALIGN(sizeof(tpacket2_hdr));
  uint32_t frameSize = 2048;
  while (frameSize < dataOff + sizeof(VnetHdr) + maxLen) frameSize <<= 1;
  const uint32_t blockSize = std::max<uint32_t>(frameSize, 1u << 16);
  const uint32_t perBlock = blockSize / frameSize;
  const uint32_t blockNr = std::max<uint32_t>(1, (cfg.ringFrames + perBlock - 1) / perBlock);

  return RunInNetns(cfg.netns, [&]() -> TxSocket {
    const std::string where =
        "interface '" + cfg.ifname + "'" + (cfg.netns.empty() ? std::string() : " in network namespace " + cfg.netns);
    // Protocol 0: a send-only socket never runs packet_rcv for received traffic.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(kErrTransmit, "socket(AF_PACKET) for " + where);
    TxSocket s;
    s.fd = fd;
    try {
      unsigned idx = if_nametoindex(cfg.ifname.c_str());
      if (idx == 0) throw RtError(kErrNoSuchInterface, where + " does not exist");
      // A virtio_net_hdr before each frame whose hdr_len is the whole frame: the kernel then
      // builds a linear skb instead of page fragments pointing into the ring, which veth's
      // forwarding path would have to copy into freshly allocated pages (skb_copy_ubufs).
      int one = 1;
      if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0) ThrowErrno(kErrTransmit, "PACKET_VNET_HDR");
      int v = TPACKET_V2;
      if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0) ThrowErrno(kErrTransmit, "PACKET_VERSION");
      if (cfg.qdiscBypass) {
        int one = 1;
        if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
          ThrowErrno(kErrTransmit, "PACKET_QDISC_BYPASS");
        }
      }
      // In-flight skbs count against the send buffer; give the whole ring room (root only, best effort).
      int sndbuf = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(blockSize) * blockNr * 2, 1u << 30));
      setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
      tpacket_req req{};
      req.tp_block_size = blockSize;
      req.tp_block_nr = blockNr;
      req.tp_frame_size = frameSize;
      req.tp_frame_nr = blockNr * perBlock;
      if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0) ThrowErrno(kErrTransmit, "PACKET_TX_RING");
      s.mapLen = static_cast<size_t>(blockSize) * blockNr;
      void* m = mmap(nullptr, s.mapLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      if (m == MAP_FAILED) ThrowErrno(kErrTransmit, "mmap TX ring");
      s.map = static_cast<uint8_t*>(m);
      s.frameSize = frameSize;
      s.frameNr = req.tp_frame_nr;
      sockaddr_ll ll{};
      ll.sll_family = AF_PACKET;
      ll.sll_protocol = 0;
      ll.sll_ifindex = static_cast<int>(idx);
      if (bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) != 0) ThrowErrno(kErrTransmit, "bind " + where);
    } catch (...) {
      if (s.map) munmap(s.map, s.mapLen);
      close(fd);
      throw;
    }
    return s;
  });
}

}  // namespace

TxResult Transmit(const TxConfig& cfg, const std::atomic<bool>& cancel) {
  if (cfg.frames.empty()) throw RtError(kErrInvalidArg, "transmit needs at least one frame");
  size_t maxLen = 0;
  for (auto& f : cfg.frames) {
    if (f.size() < 14 || f.size() > 65535) throw RtError(kErrInvalidArg, "frames must be 14..65535 bytes");
    maxLen = std::max(maxLen, f.size());
  }
  TxSocket s = OpenTx(cfg, maxLen);
  const uint32_t dataOff = TPACKET_ALIGN(sizeof(tpacket2_hdr));
  auto frameAt = [&](uint32_t i) { return reinterpret_cast<tpacket2_hdr*>(s.map + static_cast<size_t>(i) * s.frameSize); };

  // Frames per sendto(): amortizes the syscall without holding a large burst back.
  const uint32_t kBatch = std::min<uint32_t>(1024, s.frameNr / 2);
  TxResult res;
  uint32_t idx = 0;
  uint64_t queued = 0;
  const double t0 = Now();
  std::string failure;
  while (queued < cfg.count && !cancel.load()) {
    uint64_t allowed = cfg.count;
    if (cfg.ratePps > 0) {
      const double elapsed = Now() - t0;
      allowed = std::min<uint64_t>(cfg.count, static_cast<uint64_t>(elapsed * cfg.ratePps) + 1);
      if (queued >= allowed) {
        const double wait = static_cast<double>(queued + 1) / cfg.ratePps - elapsed;
        if (wait > 200e-6) {
          std::this_thread::sleep_for(std::chrono::duration<double>(wait - 100e-6));
        } else {
          std::this_thread::yield();
        }
        continue;
      }
    }
    uint32_t n = 0;
    while (queued < allowed && n < kBatch) {
      tpacket2_hdr* h = frameAt(idx);
      const uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break;  // ring full: let sendto drain it
      if (st & TP_STATUS_WRONG_FORMAT) {
        failure = "the kernel rejected a frame (TP_STATUS_WRONG_FORMAT)";
        break;
      }
      const auto& f = cfg.frames[queued % cfg.frames.size()];
      auto* vh = reinterpret_cast<VnetHdr*>(reinterpret_cast<uint8_t*>(h) + dataOff);
      memset(vh, 0, sizeof(*vh));
      vh->hdrLen = static_cast<uint16_t>(f.size());
      memcpy(reinterpret_cast<uint8_t*>(vh) + sizeof(*vh), f.data(), f.size());
      h->tp_len = static_cast<uint32_t>(sizeof(*vh) + f.size());
      __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      idx = (idx + 1) % s.frameNr;
      queued++;
      n++;
    }
    if (!failure.empty()) break;
    // With frames queued, MSG_DONTWAIT hands them to the driver without waiting for their
    // completion (we refill other frames meanwhile); only a full ring waits in the kernel.
    if (sendto(s.fd, nullptr, 0, n ? MSG_DONTWAIT : 0, nullptr, 0) < 0) {
      if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      failure = "sendto: " + Errno(errno);
      break;
    }
  }
  // Flush what is left and wait until the kernel has given every frame back.
  const double deadline = Now() + 5;
  while (failure.empty() && Now() < deadline) {
    bool busy = false;
    for (uint32_t i = 0; i < s.frameNr && !busy; i++) {
      busy = __atomic_load_n(&frameAt(i)->tp_status, __ATOMIC_ACQUIRE) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING);
    }
    if (!busy) break;
    if (sendto(s.fd, nullptr, 0, 0, nullptr, 0) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
      failure = "sendto: " + Errno(errno);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  res.seconds = Now() - t0;
  res.sent = queued;
  munmap(s.map, s.mapLen);
  close(s.fd);
  if (!failure.empty()) throw RtError(kErrTransmit, "transmit on " + cfg.ifname + " failed: " + failure);
  return res;
}

}  // namespace ringtap
