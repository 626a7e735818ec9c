// AF_PACKET plumbing: BPF compilation, namespace hopping, TPACKET_V3 RX sockets.
#include "sock.h"

// net/if.h must precede the linux/ headers (linux/if.h defers to it when it comes first).
#include <net/if.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

namespace ringtap {

namespace {

// libpcap's compiler keeps global state in older releases; serialize to be safe
// (compilation is rare and cheap).
std::mutex g_pcapMutex;

struct DeadHandle {
  pcap_t* p;
  DeadHandle(int linkType, int snaplen) : p(pcap_open_dead(linkType, snaplen)) {
    if (!p) throw RtError(kErrBadFilter, "pcap_open_dead failed");
  }
  ~DeadHandle() { pcap_close(p); }
};

void CheckSnaplen(int snaplen) {
  // 262144 is libpcap's MAXIMUM_SNAPLEN; readers reject larger IDB snaplens.
  if (snaplen <= 0 || snaplen > 262144) {
    throw RtError(kErrInvalidArg, "snaplen must be between 1 and 262144, got " + std::to_string(snaplen));
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace

BpfProgram CompileFilter(const std::string& text, int linkType, int snaplen) {
  CheckSnaplen(snaplen);
  std::lock_guard<std::mutex> lock(g_pcapMutex);
  DeadHandle h(linkType, snaplen);
  bpf_program prog{};
  if (pcap_compile(h.p, &prog, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw RtError(kErrBadFilter, "invalid capture filter '" + text + "': " + pcap_geterr(h.p));
  }
  BpfProgram out;
  out.text = text;
  out.insns.resize(prog.bf_len);
  // bpf_insn and sock_filter share the classic BPF layout {u16 code; u8 jt, jf; u32 k}.
  static_assert(sizeof(bpf_insn) == sizeof(sock_filter), "classic BPF layout");
  for (u_int i = 0; i < prog.bf_len; i++) {
    out.insns[i].code = prog.bf_insns[i].code;
    out.insns[i].jt = prog.bf_insns[i].jt;
    out.insns[i].jf = prog.bf_insns[i].jf;
    out.insns[i].k = prog.bf_insns[i].k;
  }
  pcap_freecode(&prog);
  return out;
}

std::vector<std::string> DisassembleFilter(const std::string& text, int linkType, int snaplen) {
  CheckSnaplen(snaplen);
  std::lock_guard<std::mutex> lock(g_pcapMutex);
  DeadHandle h(linkType, snaplen);
  bpf_program prog{};
  if (pcap_compile(h.p, &prog, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw RtError(kErrBadFilter, "invalid capture filter '" + text + "': " + pcap_geterr(h.p));
  }
  std::vector<std::string> lines;
  for (u_int i = 0; i < prog.bf_len; i++) lines.emplace_back(bpf_image(&prog.bf_insns[i], static_cast<int>(i)));
  pcap_freecode(&prog);
  return lines;
}

void EnterNetns(const std::string& nsPath) {
  Fd ns(open(nsPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (ns.get() < 0) ThrowErrno(kErrNetns, "cannot open network namespace " + nsPath);
  if (setns(ns.get(), CLONE_NEWNET) != 0) ThrowErrno(kErrNetns, "setns(" + nsPath + ")");
}

namespace {

std::string Where(const std::string& ifname, const std::string& nsPath) {
  return "interface '" + ifname + "'" + (nsPath.empty() ? std::string() : " in network namespace " + nsPath);
}

void EnableHardwareTimestamps(int fd, const std::string& ifname, const std::string& where) {
  // Ask the driver what it can do first: veth and most virtual devices report only
  // software capabilities, and SIOCSHWTSTAMP errors are not uniform across drivers.
  ethtool_ts_info info{};
  info.cmd = ETHTOOL_GET_TS_INFO;
  ifreq ifr{};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0 || !(info.so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE) ||
      !(info.rx_filters & (1u << HWTSTAMP_FILTER_ALL))) {
    throw RtError(kErrHwTstamp, where + " does not support hardware receive timestamps of all packets");
  }
  hwtstamp_config cfg{};
  cfg.tx_type = HWTSTAMP_TX_OFF;
  cfg.rx_filter = HWTSTAMP_FILTER_ALL;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&cfg);
  if (ioctl(fd, SIOCSHWTSTAMP, &ifr) != 0) {
    int e = errno;
    throw RtError(kErrHwTstamp, where + ": SIOCSHWTSTAMP failed: " + Errno(e));
  }
  int req = SOF_TIMESTAMPING_RAW_HARDWARE;
  if (setsockopt(fd, SOL_PACKET, PACKET_TIMESTAMP, &req, sizeof(req)) != 0) {
    int e = errno;
    throw RtError(kErrHwTstamp, where + ": PACKET_TIMESTAMP failed: " + Errno(e));
  }
}

}  // namespace

namespace {

void CheckRing(const RingConfig& ring, int snaplen) {
  long page = sysconf(_SC_PAGESIZE);
  if (ring.blockSize == 0 || ring.blockSize % page != 0 || ring.blockCount == 0 || ring.frameSize < TPACKET_ALIGNMENT ||
      ring.frameSize % TPACKET_ALIGNMENT != 0 || ring.blockSize % ring.frameSize != 0) {
    throw RtError(kErrInvalidArg, "invalid ring geometry: blockSize must be a multiple of the page size and of frameSize");
  }
  // The whole snap length plus headers must fit one block, or V3 would truncate silently.
  if (static_cast<uint64_t>(snaplen) + 256 > ring.blockSize) {
    throw RtError(kErrInvalidArg, "ring blockSize " + std::to_string(ring.blockSize) + " is too small for snaplen " +
                                      std::to_string(snaplen));
  }
  CheckSnaplen(snaplen);
}

void AttachFilter(int fd, const std::vector<sock_filter>& insns, const std::string& where) {
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(insns.size());
  fprog.filter = const_cast<sock_filter*>(insns.data());
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
    ThrowErrno(kErrBadFilter, "SO_ATTACH_FILTER for " + where);
  }
}

// One RX socket in the calling thread's namespace, with `insns` attached before bind().
RxSocket OpenRxHere(const std::string& ifname, const std::string& where, const RingConfig& ring,
                    const std::vector<sock_filter>& insns, TimestampSource ts) {
  // Protocol 0: the socket is not hooked into the receive path until bind() names a protocol.
  Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) ThrowErrno(kErrSocket, "socket(AF_PACKET) for " + where);

  ifreq ifr{};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd.get(), SIOCGIFINDEX, &ifr) != 0) {
    int e = errno;
    if (e == ENODEV) throw RtError(kErrNoSuchInterface, where + " does not exist");
    throw RtError(kErrSocket, "SIOCGIFINDEX for " + where + ": " + Errno(e));
  }
  RxSocket s;
  s.ifindex = ifr.ifr_ifindex;
  s.ifname = ifname;
  s.ring = ring;

  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) ThrowErrno(kErrSocket, "SIOCGIFHWADDR for " + where);
  // Linux loopback frames carry an Ethernet header too, so both map to EN10MB.
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER && ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
    throw RtError(kErrUnsupportedLink,
                  where + " has ARPHRD type " + std::to_string(ifr.ifr_hwaddr.sa_family) + "; only Ethernet is supported");
  }
  s.linkType = kLinkTypeEthernet;

  AttachFilter(fd.get(), insns, where);

  int version = TPACKET_V3;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0) {
    ThrowErrno(kErrRing, "PACKET_VERSION=TPACKET_V3 for " + where);
  }
  if (ts == TimestampSource::kHardware) EnableHardwareTimestamps(fd.get(), ifname, where);

  tpacket_req3 req{};
  req.tp_block_size = ring.blockSize;
  req.tp_block_nr = ring.blockCount;
  req.tp_frame_size = ring.frameSize;
  req.tp_frame_nr = static_cast<unsigned>((static_cast<uint64_t>(ring.blockSize) * ring.blockCount) / ring.frameSize);
  req.tp_retire_blk_tov = ring.retireTimeoutMs;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) {
    ThrowErrno(kErrRing, "PACKET_RX_RING (" + std::to_string(ring.blockCount) + " x " + std::to_string(ring.blockSize) +
                             " B) for " + where);
  }
  s.mapLen = static_cast<size_t>(ring.blockSize) * ring.blockCount;
  void* map = mmap(nullptr, s.mapLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd.get(), 0);
  if (map == MAP_FAILED) ThrowErrno(kErrRing, "mmap of the RX ring for " + where);
  s.map = static_cast<uint8_t*>(map);

  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = s.ifindex;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) != 0) {
    int e = errno;
    munmap(s.map, s.mapLen);
    if (e == ENODEV || e == ENXIO) throw RtError(kErrNoSuchInterface, where + " disappeared while opening");
    throw RtError(kErrSocket, "bind for " + where + ": " + Errno(e));
  }
  s.fd = fd.release();
  return s;
}

int FanoutType(FanoutMode m) {
  switch (m) {
    case FanoutMode::kCpu:
      return PACKET_FANOUT_CPU;
    case FanoutMode::kLb:
      return PACKET_FANOUT_LB;
    case FanoutMode::kHash:
    default:
      return PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG;
  }
}

}  // namespace

RxSocket OpenRxSocket(const std::string& ifname, const std::string& nsPath, const RingConfig& ring,
                      const std::string& filter, int snaplen, TimestampSource ts) {
  int group = -1;
  auto socks = OpenRxGroup(ifname, nsPath, ring, filter, snaplen, ts, FanoutConfig{}, group);
  return socks.front();
}

std::vector<RxSocket> OpenRxGroup(const std::string& ifname, const std::string& nsPath, const RingConfig& ring,
                                  const std::string& filter, int snaplen, TimestampSource ts,
                                  const FanoutConfig& fanout, int& groupId) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    throw RtError(kErrInvalidArg, "invalid interface name '" + ifname + "'");
  }
  if (fanout.workers < 1 || fanout.workers > kMaxFanoutWorkers) {
    throw RtError(kErrInvalidArg, "fanout workers must be between 1 and " + std::to_string(kMaxFanoutWorkers));
  }
  CheckRing(ring, snaplen);
  // Compiled for Ethernet: OpenRxHere refuses every other link type before attaching it.
  const BpfProgram prog = CompileFilter(filter, kLinkTypeEthernet, snaplen);
  groupId = -1;

  return RunInNetns(nsPath, [&]() -> std::vector<RxSocket> {
    const std::string where = Where(ifname, nsPath);
    std::vector<RxSocket> out;
    try {
      if (fanout.workers == 1) {
        out.push_back(OpenRxHere(ifname, where, ring, prog.insns, ts));
        return out;
      }
      // Members wait behind a drop-all filter until the group is complete (see sock.h).
      const std::vector<sock_filter> dropAll = {BPF_STMT(BPF_RET | BPF_K, 0)};
      const int type = FanoutType(fanout.mode);
      uint32_t id = 0;
      for (uint32_t i = 0; i < fanout.workers; i++) {
        out.push_back(OpenRxHere(ifname, where, ring, dropAll, ts));
        RxSocket& s = out.back();
        if (i > 0 && s.ifindex != out.front().ifindex) {
          throw RtError(kErrNoSuchInterface, where + " was replaced while opening its fanout group");
        }
        // The first member asks the kernel for an id no other group in the namespace uses.
        int arg = i == 0 ? ((type | PACKET_FANOUT_FLAG_UNIQUEID) << 16) : static_cast<int>((type << 16) | id);
        if (setsockopt(s.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
          ThrowErrno(kErrSocket, "PACKET_FANOUT (member " + std::to_string(i + 1) + " of " +
                                     std::to_string(fanout.workers) + ") for " + where);
        }
        if (i == 0) {
          int got = 0;
          socklen_t len = sizeof(got);
          if (getsockopt(s.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) {
            ThrowErrno(kErrSocket, "getsockopt(PACKET_FANOUT) for " + where);
          }
          id = static_cast<uint32_t>(got) & 0xffff;
        }
      }
      for (auto& s : out) AttachFilter(s.fd, prog.insns, where);
      groupId = static_cast<int>(id);
      return out;
    } catch (...) {
      for (auto& s : out) CloseRxSocket(s);
      throw;
    }
  });
}

void CloseRxSocket(RxSocket& s) {
  if (s.map) munmap(s.map, s.mapLen);
  s.map = nullptr;
  if (s.fd >= 0) close(s.fd);
  s.fd = -1;
}

bool ReadKernelStats(int fd, KernelStats& delta) {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return false;
  delta.packets = st.tp_packets;
  delta.drops = st.tp_drops;
  delta.freezes = st.tp_freeze_q_cnt;
  return true;
}

}  // namespace ringtap
