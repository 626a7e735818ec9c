// Userspace PPP relay: PPPoE session <-> L2TPv2 data, PPPoE <-> PPPoE, L2TP <-> L2TP.
// Wire formats: RFC 2516 (PPPoE session stage) and RFC 2661 section 3.1 (L2TPv2 header).
#include "relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "sock.h"

namespace ringtap {

namespace {

constexpr size_t kEthHdr = 14;
constexpr size_t kPppoeHdr = 6;
constexpr size_t kL2tpHdr = 8;        // flags/ver, length, tunnel, session (we always send L=1)
constexpr size_t kSlot = 10240;       // largest frame or datagram relayed (jumbo 9000 + headers)
constexpr size_t kSlotTx = kSlot + 64;  // room for the encapsulation the other side adds
constexpr int kBatch = 32;            // messages per recvmmsg/sendmmsg
constexpr int kBurst = 64;            // frames per socket per wake-up, for fairness between sides

constexpr uint16_t kL2tpT = 0x8000, kL2tpL = 0x4000, kL2tpS = 0x0800, kL2tpO = 0x0200;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

std::string MacText(const MacAddr& m) {
  char buf[18];
  snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

struct Opened {
  int fd = -1;
  int ifindex = 0;
  MacAddr mac{};
};

// AF_PACKET SOCK_RAW: created with protocol 0 (not hooked into the receive path), filter attached,
// then bound to ETH_P_PPP_SES on the interface, so no unfiltered frame is ever queued.
Opened OpenPppoe(const RelayEndpoint& ep) {
  std::string where = "interface '" + ep.ifname + "'" + (ep.netns.empty() ? "" : " in network namespace " + ep.netns);
  // Filter first (libpcap, JS-independent): this session, from this peer, truncated at 65535.
  // "ether src" first: libpcap switches to the PPP link layer after "pppoes".
  std::string text = "ether src " + MacText(ep.peerMac) + " and pppoes " + std::to_string(ep.sessionId);
  BpfProgram prog = CompileFilter(text, kLinkTypeEthernet, 65535);
  return RunInNetns(ep.netns, [&]() -> Opened {
    Opened o;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(kErrSocket, "socket(AF_PACKET) for " + where);
    try {
      ifreq ifr{};
      if (ep.ifname.size() >= IFNAMSIZ) throw RtError(kErrInvalidArg, "interface name too long: " + ep.ifname);
      memcpy(ifr.ifr_name, ep.ifname.c_str(), ep.ifname.size());
      if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
        int e = errno;
        if (e == ENODEV) throw RtError(kErrNoSuchInterface, "no such " + where);
        throw RtError(kErrSocket, "SIOCGIFINDEX for " + where + ": " + Errno(e));
      }
      o.ifindex = ifr.ifr_ifindex;
      if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) ThrowErrno(kErrSocket, "SIOCGIFHWADDR for " + where);
      if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
        throw RtError(kErrUnsupportedLink, where + " is not an Ethernet interface");
      }
      memcpy(o.mac.data(), ifr.ifr_hwaddr.sa_data, 6);
      sock_fprog fp{};
      fp.len = static_cast<unsigned short>(prog.insns.size());
      fp.filter = prog.insns.data();
      if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) != 0) {
        ThrowErrno(kErrSocket, "SO_ATTACH_FILTER on " + where);
      }
      int buf = 4 << 20;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_PPP_SES);
      sll.sll_ifindex = o.ifindex;
      if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) ThrowErrno(kErrSocket, "bind on " + where);
    } catch (...) {
      close(fd);
      throw;
    }
    o.fd = fd;
    return o;
  });
}

std::string AddrText(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

Opened OpenL2tp(const RelayEndpoint& ep) {
  std::string where = "UDP " + AddrText(ep.local) + " -> " + AddrText(ep.peer) +
                      (ep.netns.empty() ? "" : " in network namespace " + ep.netns);
  return RunInNetns(ep.netns, [&]() -> Opened {
    Opened o;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) ThrowErrno(kErrSocket, "socket(AF_INET, SOCK_DGRAM) for " + where);
    try {
      int buf = 4 << 20;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);  // receive-queue drops, per datagram
      if (bind(fd, reinterpret_cast<const sockaddr*>(&ep.local), sizeof ep.local) != 0) {
        ThrowErrno(kErrSocket, "bind " + where);
      }
      if (connect(fd, reinterpret_cast<const sockaddr*>(&ep.peer), sizeof ep.peer) != 0) {
        ThrowErrno(kErrSocket, "connect " + where);
      }
    } catch (...) {
      close(fd);
      throw;
    }
    o.fd = fd;
    return o;
  });
}

}  // namespace

MacAddr ParseMac(const std::string& text, const char* what) {
  MacAddr m{};
  unsigned v[6];
  char tail;
  if (sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) {
    throw RtError(kErrInvalidArg, std::string(what) + " must be a MAC address like 02:00:00:00:00:01, got '" + text + "'");
  }
  for (int i = 0; i < 6; i++) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

PppRelay::PppRelay(const RelayEndpoint& a, const RelayEndpoint& b) : rx_(kBatch * kSlot), tx_(kBatch * kSlotTx) {
  sides_[0].ep = a;
  sides_[1].ep = b;
  try {
    for (Side& s : sides_) {
      Opened o = s.ep.kind == RelayEndpoint::Kind::kPppoe ? OpenPppoe(s.ep) : OpenL2tp(s.ep);
      s.fd = o.fd;
      s.ifindex = o.ifindex;
      if (s.ep.kind == RelayEndpoint::Kind::kPppoe && !s.ep.hasLocalMac) s.ep.localMac = o.mac;
    }
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) ThrowErrno(kErrSocket, "eventfd");
    running_ = true;
    thread_ = std::thread([this] { Run(); });
  } catch (...) {
    running_ = false;
    for (Side& s : sides_) CloseFd(s.fd);
    CloseFd(wakeFd_);
    throw;
  }
}

PppRelay::~PppRelay() { Close(); }

void PppRelay::Close() {
  if (closed_) return;
  closed_ = true;
  stop_ = true;
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    ssize_t r = write(wakeFd_, &one, sizeof one);
    (void)r;
  }
  if (thread_.joinable()) thread_.join();
  ReadPacketDrops();  // the last kernel counts, before the sockets go
  for (Side& s : sides_) CloseFd(s.fd);
  CloseFd(wakeFd_);
  running_ = false;
}

void PppRelay::ReadPacketDrops() {
  for (int i = 0; i < 2; i++) {
    if (sides_[i].fd < 0 || sides_[i].ep.kind != RelayEndpoint::Kind::kPppoe) continue;
    tpacket_stats st{};
    socklen_t len = sizeof st;
    // The kernel resets these on every read: accumulate.
    if (getsockopt(sides_[i].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      dirs_[i].dropRxOverflow.fetch_add(st.tp_drops, std::memory_order_relaxed);
    }
  }
}

RelayStats PppRelay::Stats() {
  ReadPacketDrops();
  RelayStats out;
  RelayDirStats* o[2] = {&out.aToB, &out.bToA};
  for (int i = 0; i < 2; i++) {
    const Dir& d = dirs_[i];
    o[i]->frames = d.frames.load(std::memory_order_relaxed);
    o[i]->bytes = d.bytes.load(std::memory_order_relaxed);
    o[i]->dropShort = d.dropShort.load(std::memory_order_relaxed);
    o[i]->dropBadVersion = d.dropBadVersion.load(std::memory_order_relaxed);
    o[i]->dropBadSession = d.dropBadSession.load(std::memory_order_relaxed);
    o[i]->dropBadLength = d.dropBadLength.load(std::memory_order_relaxed);
    o[i]->dropControl = d.dropControl.load(std::memory_order_relaxed);
    o[i]->dropSendError = d.dropSendError.load(std::memory_order_relaxed);
    o[i]->dropRxOverflow = d.dropRxOverflow.load(std::memory_order_relaxed);
  }
  out.running = running_.load();
  return out;
}

void PppRelay::Run() {
  pollfd pfd[3];
  pfd[0] = {sides_[0].fd, POLLIN, 0};
  pfd[1] = {sides_[1].fd, POLLIN, 0};
  pfd[2] = {wakeFd_, POLLIN, 0};
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = poll(pfd, 3, 250);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[2].revents) break;
    for (int i = 0; i < 2; i++) {
      if (pfd[i].revents & POLLERR) {
        // ENETDOWN (PPPoE link down) or ECONNREFUSED (ICMP from the L2TP peer): clear and go on.
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (pfd[i].revents & POLLIN) Drain(i);
    }
  }
  running_ = false;
}

void PppRelay::Drain(int from) {
  Side& in = sides_[from];
  Side& out = sides_[1 - from];
  Dir& d = dirs_[from];
  const bool pppoeIn = in.ep.kind == RelayEndpoint::Kind::kPppoe;
  mmsghdr rmsg[kBatch];
  iovec riov[kBatch];
  sockaddr_ll sll[kBatch];
  alignas(cmsghdr) char ctl[kBatch][CMSG_SPACE(sizeof(uint32_t))];
  mmsghdr smsg[kBatch];
  iovec siov[kBatch];
  size_t pppLens[kBatch];
  for (int done = 0; done < kBurst;) {
    for (int i = 0; i < kBatch; i++) {
      riov[i] = {rx_.data() + i * kSlot, kSlot};
      rmsg[i] = {};
      rmsg[i].msg_hdr.msg_iov = &riov[i];
      rmsg[i].msg_hdr.msg_iovlen = 1;
      if (pppoeIn) {
        rmsg[i].msg_hdr.msg_name = &sll[i];
        rmsg[i].msg_hdr.msg_namelen = sizeof sll[i];
      } else {
        rmsg[i].msg_hdr.msg_control = ctl[i];
        rmsg[i].msg_hdr.msg_controllen = sizeof ctl[i];
      }
    }
    int n = recvmmsg(in.fd, rmsg, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR || errno == ECONNREFUSED || errno == ENETDOWN) continue;
      return;  // EAGAIN: drained
    }
    done += n;
    int m = 0;
    for (int i = 0; i < n; i++) {
      const msghdr& h = rmsg[i].msg_hdr;
      if (pppoeIn && sll[i].sll_pkttype == PACKET_OUTGOING) continue;
      if (!pppoeIn) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t dropped;  // cumulative for the socket
            memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
            d.dropRxOverflow.store(dropped, std::memory_order_relaxed);
          }
        }
      }
      if (h.msg_flags & MSG_TRUNC) {  // above kSlot: never forward a cut frame
        d.dropBadLength.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const uint8_t* ppp = nullptr;
      size_t pppLen = 0;
      if (!Decap(in, rx_.data() + i * kSlot, rmsg[i].msg_len, ppp, pppLen, d)) continue;
      uint32_t mtu = mtu_.load(std::memory_order_relaxed);
      if (mtu != 0 && pppLen - 2 > mtu) {
        d.dropSendError.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      uint8_t* t = tx_.data() + m * kSlotTx;
      size_t len = Encap(out, ppp, pppLen, t);
      if (len == 0) {
        d.dropSendError.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      siov[m] = {t, len};
      pppLens[m] = pppLen;
      m++;
    }
    SendBatch(out, smsg, siov, m, pppLens, d);
    if (n < kBatch) return;  // the queue is empty
  }
}

void PppRelay::SendBatch(Side& s, mmsghdr* msgs, iovec* iov, int m, const size_t* pppLens, Dir& d) {
  if (m == 0) return;
  // Every message of a batch goes to the same place: the peer MAC, or the connected UDP peer.
  sockaddr_ll sll{};
  const bool pppoe = s.ep.kind == RelayEndpoint::Kind::kPppoe;
  if (pppoe) {
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_PPP_SES);
    sll.sll_ifindex = s.ifindex;
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, s.ep.peerMac.data(), 6);
  }
  for (int j = 0; j < m; j++) {
    msgs[j] = {};
    msgs[j].msg_hdr.msg_iov = &iov[j];
    msgs[j].msg_hdr.msg_iovlen = 1;
    if (pppoe) {
      msgs[j].msg_hdr.msg_name = &sll;
      msgs[j].msg_hdr.msg_namelen = sizeof sll;
    }
  }
  int i = 0;
  while (i < m) {
    int r = sendmmsg(s.fd, msgs + i, static_cast<unsigned>(m - i), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      // The message at i failed (EMSGSIZE above the MTU, ENOBUFS, EAGAIN): count it, send the rest.
      d.dropSendError.fetch_add(1, std::memory_order_relaxed);
      i++;
      continue;
    }
    for (int j = i; j < i + r; j++) {
      if (msgs[j].msg_len == iov[j].iov_len) {
        d.frames.fetch_add(1, std::memory_order_relaxed);
        d.bytes.fetch_add(pppLens[j], std::memory_order_relaxed);
      } else {
        d.dropSendError.fetch_add(1, std::memory_order_relaxed);
      }
    }
    i += r;
  }
}

bool PppRelay::Decap(const Side& s, const uint8_t* p, size_t n, const uint8_t*& ppp, size_t& pppLen, Dir& d) {
  if (s.ep.kind == RelayEndpoint::Kind::kPppoe) {
    if (n < kEthHdr + kPppoeHdr) {
      d.dropShort.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const uint8_t* h = p + kEthHdr;
    if (Be16(p + 12) != ETH_P_PPP_SES || h[0] != 0x11 || h[1] != 0x00) {
      d.dropBadVersion.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (Be16(h + 2) != s.ep.sessionId || memcmp(p + 6, s.ep.peerMac.data(), 6) != 0) {
      d.dropBadSession.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    size_t len = Be16(h + 4);
    if (len > n - kEthHdr - kPppoeHdr) {  // beyond the frame (Ethernet padding may follow LENGTH)
      d.dropBadLength.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (len < 2) {  // no PPP protocol field
      d.dropShort.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ppp = h + kPppoeHdr;
    pppLen = len;
    return true;
  }

  // L2TPv2 (RFC 2661 3.1)
  if (n < 6) {
    d.dropShort.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uint16_t flags = Be16(p);
  if ((flags & 0x000f) != 2) {
    d.dropBadVersion.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (flags & kL2tpT) {
    d.dropControl.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  size_t off = 2;
  size_t msgLen = n;
  if (flags & kL2tpL) {
    if (n < off + 2) {
      d.dropShort.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    msgLen = Be16(p + off);
    off += 2;
    if (msgLen > n) {
      d.dropBadLength.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  size_t fixed = off + 4 + ((flags & kL2tpS) ? 4 : 0) + ((flags & kL2tpO) ? 2 : 0);
  if (msgLen < fixed) {
    if (flags & kL2tpL && n >= fixed) {
      d.dropBadLength.fetch_add(1, std::memory_order_relaxed);
    } else {
      d.dropShort.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  uint16_t tunnel = Be16(p + off);
  uint16_t session = Be16(p + off + 2);
  off += 4;
  if (tunnel != s.ep.tunnelId || session != s.ep.sessionId) {
    d.dropBadSession.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (flags & kL2tpS) off += 4;  // Ns, Nr: not checked (the kernel bridge does not reorder either)
  if (flags & kL2tpO) {
    size_t pad = Be16(p + off);
    off += 2 + pad;
    if (off > msgLen) {
      d.dropBadLength.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  const uint8_t* q = p + off;
  size_t left = msgLen - off;
  if (left >= 2 && q[0] == 0xff && q[1] == 0x03) {
    q += 2;
    left -= 2;
  }
  if (left < 2) {
    d.dropShort.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ppp = q;
  pppLen = left;
  return true;
}

size_t PppRelay::Encap(const Side& s, const uint8_t* ppp, size_t pppLen, uint8_t* t) const {
  if (s.ep.kind == RelayEndpoint::Kind::kPppoe) {
    size_t total = kEthHdr + kPppoeHdr + pppLen;
    if (pppLen > 0xffff || total > kSlotTx) return 0;
    memcpy(t, s.ep.peerMac.data(), 6);
    memcpy(t + 6, s.ep.localMac.data(), 6);
    PutBe16(t + 12, ETH_P_PPP_SES);
    t[14] = 0x11;
    t[15] = 0x00;
    PutBe16(t + 16, s.ep.sessionId);
    PutBe16(t + 18, static_cast<uint16_t>(pppLen));
    memcpy(t + kEthHdr + kPppoeHdr, ppp, pppLen);
    return total;
  }
  size_t total = kL2tpHdr + 2 + pppLen;
  if (total > 0xffff || total > kSlotTx) return 0;
  PutBe16(t, kL2tpL | 2);
  PutBe16(t + 2, static_cast<uint16_t>(total));
  PutBe16(t + 4, s.ep.peerTunnelId);
  PutBe16(t + 6, s.ep.peerSessionId);
  t[8] = 0xff;
  t[9] = 0x03;
  memcpy(t + 10, ppp, pppLen);
  return total;
}

}  // namespace ringtap
