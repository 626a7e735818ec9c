// Kernel PPP channel bridge: PPPoE / PPPoL2TP channels joined by PPPIOCBRIDGECHAN.
// Sequences as the kernel defines them: PPPoE (drivers/net/ppp/pppoe.c: connect with sa_family
// AF_PPPOX / PX_PROTO_OE), the L2TPv2 managed tunnel (a UDP fd -> genl L2TP_CMD_TUNNEL_CREATE ->
// L2TP_CMD_SESSION_CREATE -> PPPoL2TP connect; net/l2tp/l2tp_netlink.c, net/l2tp/l2tp_ppp.c), and
// the bridge ioctls PPPIOCBRIDGECHAN / PPPIOCUNBRIDGECHAN (drivers/net/ppp/ppp_generic.c, added
// in Linux 5.12 by "ppp: add PPPIOCBRIDGECHAN and PPPIOCUNBRIDGECHAN ioctls").
#include "pppkernel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if.h>
#include <linux/genetlink.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_pppox.h>
#include <linux/l2tp.h>
#include <linux/netlink.h>
#include <linux/ppp-ioctl.h>
#include <stddef.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "sock.h"

namespace ringtap {

namespace {

constexpr const char* kLacksPpp = "kernel lacks PPP (CONFIG_PPP/PPPOE/PPPOL2TP)";

// The PPPoX addresses are __packed: hand connect() an aligned copy of exactly their bytes.
int ConnectPacked(int fd, const void* addr, size_t len) {
  alignas(sockaddr_storage) unsigned char buf[sizeof(sockaddr_storage)];
  memcpy(buf, addr, len);
  return connect(fd, reinterpret_cast<const sockaddr*>(buf), static_cast<socklen_t>(len));
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// --- a minimal generic-netlink client (one request, one ack) ---------------------------------

class Genl {
 public:
  Genl() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd_ < 0) ThrowErrno(kErrNetlink, "socket(NETLINK_GENERIC)");
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Genl() { CloseFd(fd_); }

  struct Msg {
    std::vector<uint8_t> buf;
    Msg(uint16_t family, uint8_t cmd, uint8_t version) : buf(NLMSG_HDRLEN + GENL_HDRLEN, 0) {
      auto* n = reinterpret_cast<nlmsghdr*>(buf.data());
      n->nlmsg_type = family;
      n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
      auto* g = reinterpret_cast<genlmsghdr*>(buf.data() + NLMSG_HDRLEN);
      g->cmd = cmd;
      g->version = version;
    }
    void Put(uint16_t type, const void* data, size_t len) {
      size_t off = buf.size();
      buf.resize(off + NLA_ALIGN(NLA_HDRLEN + len), 0);
      auto* a = reinterpret_cast<nlattr*>(buf.data() + off);
      a->nla_type = type;
      a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
      memcpy(buf.data() + off + NLA_HDRLEN, data, len);
    }
    void U8(uint16_t t, uint8_t v) { Put(t, &v, 1); }
    void U16(uint16_t t, uint16_t v) { Put(t, &v, 2); }
    void U32(uint16_t t, uint32_t v) { Put(t, &v, 4); }
    void Str(uint16_t t, const std::string& s) { Put(t, s.c_str(), s.size() + 1); }
  };

  // Sends and waits for the ack; returns 0 or a positive errno. `reply` gets the first answer.
  int Call(Msg& m, std::vector<uint8_t>* reply = nullptr) {
    auto* n = reinterpret_cast<nlmsghdr*>(m.buf.data());
    n->nlmsg_len = static_cast<uint32_t>(m.buf.size());
    n->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, m.buf.data(), m.buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
    std::vector<uint8_t> rx(65536);
    for (;;) {
      ssize_t r = recv(fd_, rx.data(), rx.size(), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(rx.data()); NLMSG_OK(h, static_cast<unsigned>(r)); h = NLMSG_NEXT(h, r)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_ERROR) {
          int e = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
          return e;
        }
        if (reply && reply->empty()) reply->assign(reinterpret_cast<uint8_t*>(h), reinterpret_cast<uint8_t*>(h) + h->nlmsg_len);
      }
    }
  }

  // The id of a genl family; 0 when the kernel does not have it (ENOENT).
  uint16_t Family(const std::string& name) {
    Msg m(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    m.Str(CTRL_ATTR_FAMILY_NAME, name);
    std::vector<uint8_t> reply;
    int e = Call(m, &reply);
    if (e == ENOENT) return 0;
    if (e != 0) throw RtError(kErrNetlink, "resolving the generic netlink family '" + name + "': " + Errno(e));
    size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
    while (off + NLA_HDRLEN <= reply.size()) {
      auto* a = reinterpret_cast<nlattr*>(reply.data() + off);
      if (a->nla_len < NLA_HDRLEN) break;
      if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) {
        uint16_t id;
        memcpy(&id, reply.data() + off + NLA_HDRLEN, 2);
        return id;
      }
      off += NLA_ALIGN(a->nla_len);
    }
    throw RtError(kErrNetlink, "generic netlink family '" + name + "' answered without an id");
  }

 private:
  int fd_ = -1;
  uint32_t seq_ = 0;
};

// Whether a PPPoE socket of this namespace already holds session `sid` from `mac` on `ifname`
// (/proc/net/pppoe as the calling thread sees it: it runs inside the endpoints' namespace).
// Asked before connect(): a second connect() on a held session fails with EALREADY, but its
// close() then removes the holder's entry from the kernel's session hash (pppoe_release ->
// delete_item matches by sid, MAC and ifindex only), silently cutting the first bridge off.
bool PppoeSessionHeld(uint16_t sid, const MacAddr& mac, const std::string& ifname) {
  FILE* f = fopen("/proc/thread-self/net/pppoe", "re");
  if (!f) return false;  // no pppoe module loaded yet: no session at all
  char line[256];
  char want[18];
  snprintf(want, sizeof want, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  bool held = false;
  if (fgets(line, sizeof line, f)) {  // header: Id Address Device
    unsigned int id;
    char addr[32], dev[32];
    while (!held && fgets(line, sizeof line, f)) {
      // The kernel prints the __be16 session id as a host-order integer (%08X).
      if (sscanf(line, "%x %31s %31s", &id, addr, dev) == 3) held = id == htons(sid) && strcasecmp(addr, want) == 0 && ifname == dev;
    }
  }
  fclose(f);
  return held;
}

// --- PPPoE session counters ---------------------------------------------------------------------
//
// The kernel keeps no per-session PPPoE counters (pppoe.c), and the bridged frames never reach
// userspace. A packet socket (ETH_P_ALL: only those see outgoing frames too) bound to the
// session's interface runs this eBPF socket filter on every frame received or sent there: a
// session data frame (ethertype 0x8864, ver/type 0x11, code 0) with our session id, from the
// peer's MAC (received) or to it (PACKET_OUTGOING), adds 1 and its PPPoE size (6 + the length
// field) to the map's slot 0 (received) or 1 (sent). The filter returns 0 for every frame, so
// nothing is ever queued or copied: the counts cannot overflow a buffer, and there is no thread
// to drain one. Classic BPF cannot add up bytes; a ring (TPACKET_V3) would copy a header per
// frame and need a reader. Needs CAP_BPF or CAP_SYS_ADMIN (the agent has the latter).

int Bpf(int cmd, bpf_attr* attr) { return static_cast<int>(syscall(__NR_bpf, cmd, attr, sizeof *attr)); }

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// Opens the counter of PPPoE session `sid` with `peer` on `ifname`, in the calling thread's
// namespace. Returns false with `why` set when the kernel refuses (no bpf(), no privilege).
bool OpenPppoeCounter(uint16_t sid, const MacAddr& peer, const std::string& ifname, int& sockFd, int& mapFd, std::string& why) {
  bpf_attr ma{};
  ma.map_type = BPF_MAP_TYPE_ARRAY;
  ma.key_size = 4;
  ma.value_size = 16;  // packets, bytes
  ma.max_entries = 2;
  int map = Bpf(BPF_MAP_CREATE, &ma);
  if (map < 0) {
    why = "bpf(BPF_MAP_CREATE): " + Errno(errno);
    return false;
  }
  const int32_t macHi = static_cast<int32_t>(uint32_t{peer[0]} << 24 | uint32_t{peer[1]} << 16 | uint32_t{peer[2]} << 8 | peer[3]);
  const int32_t macLo = peer[4] << 8 | peer[5];
  constexpr uint8_t kLdAbsB = BPF_LD | BPF_ABS | BPF_B, kLdAbsH = BPF_LD | BPF_ABS | BPF_H, kLdAbsW = BPF_LD | BPF_ABS | BPF_W;
  constexpr uint8_t kJne = BPF_JMP32 | BPF_JNE | BPF_K, kMov = BPF_ALU64 | BPF_MOV | BPF_K, kMovX = BPF_ALU64 | BPF_MOV | BPF_X;
  // Absolute loads are of the Ethernet frame (a SOCK_RAW packet socket filters from the MAC
  // header), in host byte order; JMP32 compares 32 bits (no sign extension of the immediate).
  // Jump offsets count instructions after the jump; "drop" is the last two.
  std::vector<bpf_insn> p = {
      Insn(kMovX, 6, 1, 0, 0),                                                  // 0: r6 = ctx (for ld_abs)
      Insn(kLdAbsH, 0, 0, 0, 12), Insn(kJne, 0, 0, 0, ETH_P_PPP_SES),            // 1-2 ethertype
      Insn(kLdAbsB, 0, 0, 0, 14), Insn(kJne, 0, 0, 0, 0x11),                     // 3-4 ver 1, type 1
      Insn(kLdAbsB, 0, 0, 0, 15), Insn(kJne, 0, 0, 0, 0),                        // 5-6 code 0: session data
      Insn(kLdAbsH, 0, 0, 0, 16), Insn(kJne, 0, 0, 0, sid),                      // 7-8 session id
      Insn(BPF_LDX | BPF_MEM | BPF_W, 7, 6, offsetof(__sk_buff, pkt_type), 0),  // 9: r7 = pkt_type
      Insn(BPF_JMP32 | BPF_JEQ | BPF_K, 7, 0, 6, PACKET_OUTGOING),                // 10 -> 17
      Insn(kLdAbsW, 0, 0, 0, 6), Insn(kJne, 0, 0, 0, macHi),                     // 11-12 from the peer
      Insn(kLdAbsH, 0, 0, 0, 10), Insn(kJne, 0, 0, 0, macLo),                    // 13-14
      Insn(kMov, 9, 0, 0, 0),                                                   // 15: slot 0, received
      Insn(BPF_JMP | BPF_JA, 0, 0, 5, 0),                                       // 16 -> 22
      Insn(kLdAbsW, 0, 0, 0, 0), Insn(kJne, 0, 0, 0, macHi),                     // 17-18 to the peer
      Insn(kLdAbsH, 0, 0, 0, 4), Insn(kJne, 0, 0, 0, macLo),                     // 19-20
      Insn(kMov, 9, 0, 0, 1),                                                   // 21: slot 1, sent
      Insn(kLdAbsH, 0, 0, 0, 18),                                               // 22: PPPoE length
      Insn(kMovX, 8, 0, 0, 0), Insn(BPF_ALU64 | BPF_ADD | BPF_K, 8, 0, 0, 6),   // 23-24 r8 = length + 6
      Insn(BPF_STX | BPF_MEM | BPF_W, 10, 9, -4, 0),                            // 25: key on the stack
      Insn(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map), Insn(0, 0, 0, 0, 0),  // 26-27 r1 = map
      Insn(kMovX, 2, 10, 0, 0), Insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4), // 28-29 r2 = &key
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),              // 30
      Insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3, 0),                              // 31: null -> 35
      Insn(kMov, 1, 0, 0, 1),                                                   // 32
      Insn(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),                    // 33: packets += 1
      Insn(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 8, 8, BPF_ADD),                    // 34: bytes += r8
      Insn(kMov, 0, 0, 0, 0), Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),             // 35-36 drop
  };
  // The mismatches jump to "drop" (instruction 35).
  const int drop = static_cast<int>(p.size()) - 2;
  for (int i = 0; i < static_cast<int>(p.size()); i++) {
    if (p[i].code == kJne) p[i].off = static_cast<int16_t>(drop - i - 1);
  }
  static const char kLicense[] = "GPL";
  std::vector<char> log(4096);
  bpf_attr pa{};
  pa.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  pa.insns = reinterpret_cast<uint64_t>(p.data());
  pa.insn_cnt = static_cast<uint32_t>(p.size());
  pa.license = reinterpret_cast<uint64_t>(kLicense);
  pa.log_buf = reinterpret_cast<uint64_t>(log.data());
  pa.log_size = static_cast<uint32_t>(log.size());
  pa.log_level = 1;
  // The verifier gives up with EAGAIN when a signal is pending (Node's threads get some); like
  // libbpf, try again a few times.
  int prog = -1;
  for (int attempt = 0; attempt < 8; attempt++) {
    log[0] = 0;
    prog = Bpf(BPF_PROG_LOAD, &pa);
    if (prog >= 0 || errno != EAGAIN) break;
  }
  if (prog < 0) {
    why = "bpf(BPF_PROG_LOAD): " + Errno(errno) + (log[0] ? ": " + std::string(log.data()) : "");
    close(map);
    return false;
  }
  // Protocol 0 until the filter is in place: the socket receives nothing before it.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0;
  if (!ok) why = "socket(AF_PACKET): " + Errno(errno);
  if (ok && setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof prog) != 0) {
    why = "SO_ATTACH_BPF: " + Errno(errno);
    ok = false;
  }
  close(prog);  // the socket holds the program
  if (ok) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    ifreq ifr{};
    memcpy(ifr.ifr_name, ifname.c_str(), std::min(ifname.size(), sizeof ifr.ifr_name - 1));
    if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0) sll.sll_ifindex = ifr.ifr_ifindex;
    if (sll.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      why = "bind the counting packet socket to " + ifname + ": " + Errno(errno);
      ok = false;
    }
  }
  if (!ok) {
    if (fd >= 0) close(fd);
    close(map);
    return false;
  }
  sockFd = fd;
  mapFd = map;
  return true;
}

void DeleteTunnel(uint32_t tunnelId) {
  try {
    Genl nl;
    uint16_t fam = nl.Family(L2TP_GENL_NAME);
    if (fam == 0) return;
    Genl::Msg m(fam, L2TP_CMD_TUNNEL_DELETE, L2TP_GENL_VERSION);
    m.U32(L2TP_ATTR_CONN_ID, tunnelId);
    nl.Call(m);  // the tunnel takes its sessions with it; ENOENT: already gone
  } catch (const RtError&) {
    // Best effort on teardown: closing the tunnel fd also ends a managed tunnel.
  }
}

}  // namespace

RtError PppKernelError(const std::string& op, int err) {
  std::string sys = op + ": " + Errno(err);
  switch (err) {
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      return RtError(kErrKernelLacksPpp, std::string(kLacksPpp) + ": " + sys);
    case ENOTTY:
      return RtError(kErrPppBridgeUnsupported, "kernel predates PPPIOCBRIDGECHAN (Linux 5.11), or the fd is not an attached /dev/ppp channel: " + sys);
    case EALREADY:
      return RtError(kErrPppChannelBusy, "a PPP channel is already part of a bridge or connected to a unit: " + sys);
    case ENXIO:
      return RtError(kErrPppNoSuchChannel, "the peer PPP channel does not exist in this network namespace: " + sys);
    case ENODEV:
      return RtError(kErrNoSuchInterface, sys);
    default:
      return RtError(kErrSocket, sys);
  }
}

PppKernelBridge::PppKernelBridge(const RelayEndpoint& a, const RelayEndpoint& b) : netns_(a.netns) {
  if (a.netns != b.netns) throw RtError(kErrInvalidArg, "a kernel PPP bridge needs both sessions in one network namespace (channel indexes are per namespace)");
  try {
    RunInNetns(netns_, [&]() -> int {
      a_ = Open(a);
      b_ = Open(b);
      chanA_ = a_.channel;
      chanB_ = b_.channel;
      int fd = open("/dev/ppp", O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO) throw RtError(kErrKernelLacksPpp, std::string(kLacksPpp) + ": open /dev/ppp: " + Errno(e));
        throw PppKernelError("open /dev/ppp", e);
      }
      if (ioctl(fd, PPPIOCATTCHAN, &chanA_) != 0) {
        int e = errno;
        close(fd);
        throw PppKernelError("PPPIOCATTCHAN " + std::to_string(chanA_), e);
      }
      // One call bridges both directions (the RFC's two-call design was dropped in review).
      if (ioctl(fd, PPPIOCBRIDGECHAN, &chanB_) != 0) {
        int e = errno;
        close(fd);
        throw PppKernelError("PPPIOCBRIDGECHAN " + std::to_string(chanA_) + " -> " + std::to_string(chanB_), e);
      }
      pppFd_ = fd;  // kept for PPPIOCUNBRIDGECHAN on Close()
      return 0;
    });
  } catch (...) {
    try {
      RunInNetns(netns_, [&]() -> int {
        Release(a_);
        Release(b_);
        return 0;
      });
    } catch (...) {
      // The namespace itself failed (it is what we report): nothing was opened in it.
    }
    throw;
  }
}

PppKernelBridge::~PppKernelBridge() { Close(); }

PppKernelBridge::Opened PppKernelBridge::Open(const RelayEndpoint& ep) {
  Opened o;
  try {
    if (ep.kind == RelayEndpoint::Kind::kPppoe) {
      if (PppoeSessionHeld(ep.sessionId, ep.peerMac, ep.ifname)) {
        throw RtError(kErrPppChannelBusy, "PPPoE session " + std::to_string(ep.sessionId) + " on " + ep.ifname +
                                              " is already held by another socket (another bridge or a PPP daemon): refused");
      }
      o.sessionFd = socket(AF_PPPOX, SOCK_STREAM | SOCK_CLOEXEC, PX_PROTO_OE);
      if (o.sessionFd < 0) throw PppKernelError("socket(AF_PPPOX, PX_PROTO_OE)", errno);
      sockaddr_pppox sp{};
      sp.sa_family = AF_PPPOX;
      sp.sa_protocol = PX_PROTO_OE;
      sp.sa_addr.pppoe.sid = htons(ep.sessionId);
      memcpy(sp.sa_addr.pppoe.remote, ep.peerMac.data(), 6);
      if (ep.ifname.size() >= IFNAMSIZ) throw RtError(kErrInvalidArg, "interface name too long: " + ep.ifname);
      memcpy(sp.sa_addr.pppoe.dev, ep.ifname.c_str(), ep.ifname.size());
      if (ConnectPacked(o.sessionFd, &sp, sizeof sp) != 0) {
        int e = errno;
        if (e == ENODEV) throw RtError(kErrNoSuchInterface, "no such interface '" + ep.ifname + "' (or it is down): PPPoE connect: " + Errno(e));
        throw PppKernelError("PPPoE connect session " + std::to_string(ep.sessionId) + " on " + ep.ifname, e);
      }
      // Counting is not bridging: without it the session is bridged and reported uncounted.
      if (!OpenPppoeCounter(ep.sessionId, ep.peerMac, ep.ifname, o.pppoeCounter, o.pppoeMap, o.counterError)) o.counterError = "PPPoE counters unavailable: " + o.counterError;
    } else {
      o.tunnelFd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
      if (o.tunnelFd < 0) ThrowErrno(kErrSocket, "socket(AF_INET, SOCK_DGRAM) for the L2TP tunnel");
      // UDP checksum 0 on what the tunnel sends (as for the tunnels the kernel creates itself:
      // l2tp_tunnel_sock_create without L2TP_ATTR_UDP_CSUM). A datagram from a peer on this
      // machine arrives over veth or lo as a CHECKSUM_PARTIAL skb, and pppol2tp hands it to the
      // bridged channel in that state: l2tp_xmit_core's udp_set_csum then folds the stale
      // offload offsets into the checksum it sends, which is wrong (the peer counts an
      // InCsumError and drops it; Debian 6.1 and 6.12). With no checksum there is none to get
      // wrong; the PPP payload keeps its own (IP, TCP, UDP) checksums.
      int one = 1;
      if (setsockopt(o.tunnelFd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one) != 0) ThrowErrno(kErrSocket, "SO_NO_CHECK on the L2TP tunnel socket");
      if (bind(o.tunnelFd, reinterpret_cast<const sockaddr*>(&ep.local), sizeof ep.local) != 0) ThrowErrno(kErrSocket, "bind the L2TP tunnel socket");
      if (connect(o.tunnelFd, reinterpret_cast<const sockaddr*>(&ep.peer), sizeof ep.peer) != 0) ThrowErrno(kErrSocket, "connect the L2TP tunnel socket");
      Genl nl;
      uint16_t fam = nl.Family(L2TP_GENL_NAME);
      if (fam == 0) throw RtError(kErrKernelLacksPpp, std::string(kLacksPpp) + ": no generic netlink family 'l2tp' (l2tp_netlink)");
      Genl::Msg t(fam, L2TP_CMD_TUNNEL_CREATE, L2TP_GENL_VERSION);
      t.U32(L2TP_ATTR_FD, static_cast<uint32_t>(o.tunnelFd));
      t.U32(L2TP_ATTR_CONN_ID, ep.tunnelId);
      t.U32(L2TP_ATTR_PEER_CONN_ID, ep.peerTunnelId);
      t.U8(L2TP_ATTR_PROTO_VERSION, 2);
      t.U16(L2TP_ATTR_ENCAP_TYPE, L2TP_ENCAPTYPE_UDP);
      if (int e = nl.Call(t)) throw PppKernelError("L2TP_CMD_TUNNEL_CREATE " + std::to_string(ep.tunnelId), e);
      o.tunnelId = ep.tunnelId;
      Genl::Msg s(fam, L2TP_CMD_SESSION_CREATE, L2TP_GENL_VERSION);
      s.U32(L2TP_ATTR_CONN_ID, ep.tunnelId);
      s.U32(L2TP_ATTR_SESSION_ID, ep.sessionId);
      s.U32(L2TP_ATTR_PEER_SESSION_ID, ep.peerSessionId);
      s.U16(L2TP_ATTR_PW_TYPE, L2TP_PWTYPE_PPP);
      // Without CONFIG_L2TP_V3 netlink cannot create PPP sessions: connect() below creates it.
      if (int e = nl.Call(s); e != 0 && e != EPROTONOSUPPORT) throw PppKernelError("L2TP_CMD_SESSION_CREATE " + std::to_string(ep.sessionId), e);
      o.sessionFd = socket(AF_PPPOX, SOCK_DGRAM | SOCK_CLOEXEC, PX_PROTO_OL2TP);
      if (o.sessionFd < 0) throw PppKernelError("socket(AF_PPPOX, PX_PROTO_OL2TP)", errno);
      sockaddr_pppol2tp sa{};
      sa.sa_family = AF_PPPOX;
      sa.sa_protocol = PX_PROTO_OL2TP;
      sa.pppol2tp.pid = 0;
      sa.pppol2tp.fd = o.tunnelFd;
      sa.pppol2tp.addr = ep.peer;
      sa.pppol2tp.s_tunnel = ep.tunnelId;
      sa.pppol2tp.s_session = ep.sessionId;
      sa.pppol2tp.d_tunnel = ep.peerTunnelId;
      sa.pppol2tp.d_session = ep.peerSessionId;
      if (ConnectPacked(o.sessionFd, &sa, sizeof sa) != 0) {
        throw PppKernelError("PPPoL2TP connect tunnel " + std::to_string(ep.tunnelId) + " session " + std::to_string(ep.sessionId), errno);
      }
    }
    if (ioctl(o.sessionFd, PPPIOCGCHAN, &o.channel) != 0) throw PppKernelError("PPPIOCGCHAN", errno);
  } catch (...) {
    Release(o);
    throw;
  }
  return o;
}

PppKernelSessionStats PppKernelBridge::Stats(const Opened& o) {
  PppKernelSessionStats r;
  if (o.pppoeMap >= 0) {
    uint64_t v[2][2] = {};
    for (uint32_t key = 0; key < 2; key++) {
      bpf_attr a{};
      a.map_fd = static_cast<uint32_t>(o.pppoeMap);
      a.key = reinterpret_cast<uint64_t>(&key);
      a.value = reinterpret_cast<uint64_t>(v[key]);
      if (Bpf(BPF_MAP_LOOKUP_ELEM, &a) != 0) ThrowErrno(kErrSocket, "reading the PPPoE session counters (bpf map lookup)");
    }
    r.kind = PppKernelSessionStats::Kind::kPppoe;
    r.rxPackets = v[0][0];
    r.rxBytes = v[0][1];
    r.txPackets = v[1][0];
    r.txBytes = v[1][1];
    return r;
  }
  if (o.tunnelId == 0 || o.sessionFd < 0) {
    r.why = o.counterError;
    return r;
  }
  pppol2tp_ioc_stats s{};
  if (ioctl(o.sessionFd, PPPIOCGL2TPSTATS, &s) != 0) throw PppKernelError("PPPIOCGL2TPSTATS", errno);
  r.kind = PppKernelSessionStats::Kind::kL2tp;
  r.txPackets = s.tx_packets;
  r.txBytes = s.tx_bytes;
  r.txErrors = s.tx_errors;
  r.rxPackets = s.rx_packets;
  r.rxBytes = s.rx_bytes;
  r.rxSeqDiscards = s.rx_seq_discards;
  r.rxOosPackets = s.rx_oos_packets;
  r.rxErrors = s.rx_errors;
  return r;
}

void PppKernelBridge::Release(Opened& o) {
  CloseFd(o.pppoeCounter);
  CloseFd(o.pppoeMap);
  CloseFd(o.sessionFd);  // unregisters the channel (and unbridges its peer)
  if (o.tunnelId != 0) DeleteTunnel(o.tunnelId);
  o.tunnelId = 0;
  CloseFd(o.tunnelFd);
  o.channel = -1;
}

void PppKernelBridge::Close() {
  if (pppFd_ < 0 && a_.sessionFd < 0 && b_.sessionFd < 0 && a_.tunnelFd < 0 && b_.tunnelFd < 0) return;
  RunInNetns(netns_, [&]() -> int {
    if (pppFd_ >= 0) {
      ioctl(pppFd_, PPPIOCUNBRIDGECHAN);  // EINVAL: already unbridged (a session went away)
      CloseFd(pppFd_);
    }
    Release(a_);
    Release(b_);
    return 0;
  });
}

}  // namespace ringtap
