// AF_PACKET plumbing: BPF compilation, network-namespace hopping, RX ring sockets.
#pragma once

#include <linux/filter.h>
#include <linux/if_packet.h>

#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace ringtap {

// libpcap link types we write (LINKTYPE_* values equal DLT_* for these).
inline constexpr int kLinkTypeEthernet = 1;

// Classic BPF program ready for SO_ATTACH_FILTER.
struct BpfProgram {
  std::vector<sock_filter> insns;
  std::string text;
};

// Compiles `text` with libpcap for `linkType`/`snaplen` on a dead handle; the
// program's accept return value is the snap length, so the kernel truncates.
// Throws RtError(kErrBadFilter) carrying libpcap's own message.
BpfProgram CompileFilter(const std::string& text, int linkType, int snaplen);

// Human-readable disassembly (bpf_image), one instruction per line; for diagnostics.
std::vector<std::string> DisassembleFilter(const std::string& text, int linkType, int snaplen);

// Joins the network namespace at `nsPath` on the calling thread (setns). Only ever
// called on helper threads; throws RtError(kErrNetns).
void EnterNetns(const std::string& nsPath);

// Runs `fn` on a short-lived helper thread that has joined the network namespace
// at `nsPath` (e.g. /proc/PID/ns/net or /run/netns/NAME). The calling thread's
// namespace never changes: setns(CLONE_NEWNET) affects only the helper thread,
// and sockets created there stay bound to that namespace after the thread exits.
// An empty path runs `fn` on the caller's thread in its current namespace.
template <typename F>
auto RunInNetns(const std::string& nsPath, F&& fn) -> decltype(fn()) {
  if (nsPath.empty()) return fn();
  decltype(fn()) result{};
  std::exception_ptr failure;
  std::thread helper([&] {
    try {
      EnterNetns(nsPath);
      result = fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  helper.join();
  if (failure) std::rethrow_exception(failure);
  return result;
}

// Ring geometry for a TPACKET_V3 RX ring.
struct RingConfig {
  uint32_t blockSize = 1u << 20;  // 1 MiB: fits a 256 KiB snap length with room to spare
  uint32_t blockCount = 64;       // 64 MiB per interface absorbs ~0.1 s of 1514 B at line rate
  uint32_t frameSize = 2048;      // V3 packs variable-size frames; only used for tp_frame_nr
  uint32_t retireTimeoutMs = 50;  // bounds latency on idle links without waking per packet
};

enum class TimestampSource { kSoftware, kHardware };

// An open, bound, mmapped RX ring socket. Plain data; RxRing owns the lifetime.
struct RxSocket {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t mapLen = 0;
  RingConfig ring;
  int ifindex = 0;
  int linkType = kLinkTypeEthernet;
  std::string ifname;
};

// PACKET_FANOUT across several sockets (each its own ring and reader thread) on one interface.
enum class FanoutMode { kHash, kCpu, kLb };
struct FanoutConfig {
  uint32_t workers = 1;  // 1 = no fanout group
  FanoutMode mode = FanoutMode::kHash;
};
inline constexpr uint32_t kMaxFanoutWorkers = 64;

// Opens the socket in order: socket(proto 0, receives nothing) -> resolve interface ->
// compile + SO_ATTACH_FILTER -> PACKET_VERSION V3 -> [hw timestamps] -> PACKET_RX_RING ->
// mmap -> bind(ETH_P_ALL). The filter is in place before the socket is hooked into the
// receive path, so no unfiltered packet ever lands in the ring (no drain needed).
RxSocket OpenRxSocket(const std::string& ifname, const std::string& nsPath, const RingConfig& ring,
                      const std::string& filter, int snaplen, TimestampSource ts);

// Opens `fanout.workers` RX sockets on one interface (in one helper thread in `nsPath`).
// One worker: exactly OpenRxSocket. Several: each member gets a drop-all filter, its ring and
// bind(), then joins one fanout group (PACKET_FANOUT_FLAG_UNIQUEID: the kernel picks an id
// unused in that namespace; DEFRAG with hash); only when every member is in the group is the
// real filter swapped in on each. So no unfiltered packet reaches a ring, and no packet is
// delivered twice (a bound socket outside the group would see what the group also sees).
// `groupId` receives the kernel-chosen group id (0..65535; -1 without fanout).
std::vector<RxSocket> OpenRxGroup(const std::string& ifname, const std::string& nsPath, const RingConfig& ring,
                                  const std::string& filter, int snaplen, TimestampSource ts,
                                  const FanoutConfig& fanout, int& groupId);

void CloseRxSocket(RxSocket& s);

// PACKET_STATISTICS (tpacket_stats_v3). The kernel resets them on every read,
// so callers accumulate. tp_packets already includes tp_drops.
struct KernelStats {
  uint64_t packets = 0;
  uint64_t drops = 0;
  uint64_t freezes = 0;
};
bool ReadKernelStats(int fd, KernelStats& delta);

}  // namespace ringtap
