// rtnetlink link monitor. Threading and lifetime: ../README.md ("Link monitor").
#include "linkmon.h"

// net/if.h must precede the linux/ headers (linux/if.h defers to it when it comes first).
#include <net/if.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "sock.h"

namespace ringtap {

namespace {

// "Up" is operational: administratively up (IFF_UP) and with carrier (IFF_RUNNING). A veth
// whose peer is down is IFF_UP without IFF_RUNNING, and a ring on it sees nothing.
bool OperUp(uint32_t flags) { return (flags & IFF_UP) && (flags & IFF_RUNNING); }

constexpr size_t kRecvBuffer = 64 * 1024;  // > the kernel's largest dump skb (32 KiB)

}  // namespace

LinkMonitor::LinkMonitor(const std::string& netns, LinkEventSink sink)
    : netns_(netns), sink_(std::move(sink)), buf_(kRecvBuffer) {
  fd_ = RunInNetns(netns, [&]() -> int {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) ThrowErrno(kErrNetlink, "socket(NETLINK_ROUTE)");
    // A burst of link changes (a node starting 100 pods) must not overrun the socket; root
    // may exceed rmem_max (best effort), and an overrun still resyncs by a fresh dump.
    int rcvbuf = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      int e = errno;
      close(fd);
      ThrowErrno(kErrNetlink, "bind(NETLINK_ROUTE, RTMGRP_LINK)", e);
    }
    return fd;
  });
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  try {
    if (wakeFd_ < 0) ThrowErrno(kErrNetlink, "eventfd");
    // Subscribed before the dump: a change during it is either in the dump or queued behind it,
    // and applying both is idempotent (events come from differences with the table).
    SendDump();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (dumping_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw RtError(kErrNetlink, "the initial link dump did not finish within 10 s");
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno != EINTR) ThrowErrno(kErrNetlink, "poll(netlink)");
      if (r > 0) ReadSome(false);
    }
  } catch (...) {
    if (wakeFd_ >= 0) close(wakeFd_);
    close(fd_);
    fd_ = wakeFd_ = -1;
    closed_ = true;
    throw;
  }
  thread_ = std::thread(&LinkMonitor::Run, this);
}

LinkMonitor::~LinkMonitor() { Close(); }

void LinkMonitor::Close() {
  if (closed_) return;
  closed_ = true;
  stop_ = true;
  uint64_t one = 1;
  ssize_t w = write(wakeFd_, &one, sizeof(one));
  (void)w;
  if (thread_.joinable()) thread_.join();
  close(fd_);
  close(wakeFd_);
  fd_ = wakeFd_ = -1;
}

std::vector<LinkInfo> LinkMonitor::Links() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<LinkInfo> out;
  for (auto& [idx, l] : links_) out.push_back(l);
  return out;
}

LinkMonitorStats LinkMonitor::Stats() {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void LinkMonitor::SendDump() {
  struct {
    nlmsghdr h;
    ifinfomsg i;
  } req{};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.i.ifi_family = AF_UNSPEC;
  {
    std::lock_guard<std::mutex> lk(mu_);
    req.h.nlmsg_seq = ++dumpSeq_;
    dumping_ = true;
    if (++generation_ > 1) stats_.resyncs++;
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  while (sendto(fd_, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    if (errno != EINTR) ThrowErrno(kErrNetlink, "RTM_GETLINK dump request");
  }
}

bool LinkMonitor::ReadSome(bool emit) {
  bool redump = false;
  while (true) {
    sockaddr_nl from{};
    iovec iov{buf_.data(), buf_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        // Notifications were lost: learn the truth again from a dump (after the current one).
        std::lock_guard<std::mutex> lk(mu_);
        stats_.overruns++;
        redump = true;
        continue;
      }
      ThrowErrno(kErrNetlink, "recvmsg(netlink)");
    }
    if (msg.msg_flags & MSG_TRUNC) {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.overruns++;
      redump = true;
      continue;
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks here
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        if (dumping_ && h->nlmsg_seq == dumpSeq_) FinishDump(emit);
      } else if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (err->error != 0 && dumping_ && h->nlmsg_seq == dumpSeq_) {
          ThrowErrno(kErrNetlink, "RTM_GETLINK dump", -err->error);
        }
      } else if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
        Apply(h, emit);
      }
    }
  }
  if (redump) {
    if (dumping_) {
      redumpAfter_ = true;
    } else {
      SendDump();
    }
  }
  return dumping_;
}

void LinkMonitor::Apply(const nlmsghdr* h, bool emit) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  // AF_BRIDGE messages describe bridge port membership (a DELLINK there is "left the
  // bridge", not "deleted"); the link itself is reported with AF_UNSPEC.
  if (ifi->ifi_family != AF_UNSPEC) return;
  LinkInfo now;
  now.ifindex = ifi->ifi_index;
  now.flags = ifi->ifi_flags;
  int alen = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
    if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0) {
      now.name.assign(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
    } else if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
      memcpy(&now.mtu, RTA_DATA(a), sizeof(uint32_t));
    }
  }
  std::vector<LinkEvent> out;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = links_.find(now.ifindex);
    if (h->nlmsg_type == RTM_DELLINK) {
      if (it == links_.end()) return;
      LinkEvent e;
      e.type = "delete";
      e.link = it->second;
      links_.erase(it);
      seenIn_.erase(now.ifindex);
      out.push_back(std::move(e));
    } else {
      seenIn_[now.ifindex] = generation_;
      if (it == links_.end()) {
        LinkEvent e;
        e.type = "add";
        e.link = now;
        links_[now.ifindex] = now;
        out.push_back(std::move(e));
      } else {
        LinkInfo before = it->second;
        if (now.name.empty()) now.name = before.name;
        it->second = now;
        // One message may carry several changes; report them in a fixed order.
        if (now.name != before.name) {
          LinkEvent e;
          e.type = "rename";
          e.link = now;
          e.previousName = before.name;
          out.push_back(std::move(e));
        }
        if (now.mtu != before.mtu) {
          LinkEvent e;
          e.type = "mtu";
          e.link = now;
          e.previousMtu = before.mtu;
          out.push_back(std::move(e));
        }
        if (OperUp(now.flags) != OperUp(before.flags)) {
          LinkEvent e;
          e.type = OperUp(now.flags) ? "up" : "down";
          e.link = now;
          out.push_back(std::move(e));
        }
      }
    }
  }
  for (auto& e : out) Emit(std::move(e), emit);
}

void LinkMonitor::FinishDump(bool emit) {
  std::vector<LinkEvent> out;
  {
    std::lock_guard<std::mutex> lk(mu_);
    dumping_ = false;
    // Links neither in the dump nor announced since it began are gone (missed DELLINK).
    for (auto it = links_.begin(); it != links_.end();) {
      auto s = seenIn_.find(it->first);
      if (s == seenIn_.end() || s->second < generation_) {
        LinkEvent e;
        e.type = "delete";
        e.link = it->second;
        out.push_back(std::move(e));
        seenIn_.erase(it->first);
        it = links_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& e : out) Emit(std::move(e), emit);
  if (redumpAfter_) {
    redumpAfter_ = false;
    SendDump();
  }
}

void LinkMonitor::Run() {
  pollfd pfd[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
  while (!stop_.load()) {
    int r = poll(pfd, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      LinkEvent e;
      e.type = "error";
      e.code = kErrNetlink;
      e.message = "poll(netlink): " + Errno(errno);
      sink_(std::move(e));
      return;
    }
    if (stop_.load()) return;
    if (pfd[0].revents & (POLLIN | POLLERR)) {
      try {
        ReadSome(true);
      } catch (const RtError& err) {
        LinkEvent e;
        e.type = "error";
        e.code = err.code();
        e.message = err.what();
        sink_(std::move(e));
        return;
      }
    }
  }
}

}  // namespace ringtap
