// Kernel PPP channel bridge: PPPoE / PPPoL2TP channels joined by PPPIOCBRIDGECHAN.
// Sequences from ../shared/notes/kernel-facts.md 1.5 (PPPoE), 1.6 (L2TPv2 managed tunnel:
// UDP fd -> genl TUNNEL_CREATE -> SESSION_CREATE -> PPPoL2TP connect), 1.3 (bridge ioctls).
#include "pppkernel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/if_pppox.h>
#include <linux/l2tp.h>
#include <linux/netlink.h>
#include <linux/ppp-ioctl.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

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
    } else {
      o.tunnelFd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
      if (o.tunnelFd < 0) ThrowErrno(kErrSocket, "socket(AF_INET, SOCK_DGRAM) for the L2TP tunnel");
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
  if (o.tunnelId == 0 || o.sessionFd < 0) return r;
  pppol2tp_ioc_stats s{};
  if (ioctl(o.sessionFd, PPPIOCGL2TPSTATS, &s) != 0) throw PppKernelError("PPPIOCGL2TPSTATS", errno);
  r.l2tp = true;
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
