// rtnetlink link monitor: one NETLINK_ROUTE socket (RTMGRP_LINK) in a network namespace and
// one thread that turns RTM_NEWLINK/RTM_DELLINK into link events. See ../README.md.
#pragma once

#include <linux/netlink.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace ringtap {

// A link as the monitor last saw it.
struct LinkInfo {
  int ifindex = 0;
  std::string name;
  uint32_t mtu = 0;
  uint32_t flags = 0;  // ifi_flags (IFF_UP, IFF_RUNNING, ...)
};

struct LinkEvent {
  std::string type;  // add | delete | up | down | rename | mtu | error
  LinkInfo link;     // the state after the change (for delete: the last known state)
  std::string previousName;  // rename
  uint32_t previousMtu = 0;  // mtu
  std::string code, message;  // error
};
using LinkEventSink = std::function<void(LinkEvent&&)>;

struct LinkMonitorStats {
  uint64_t overruns = 0;  // ENOBUFS on the netlink socket: notifications lost, a re-dump followed
  uint64_t resyncs = 0;   // dumps after the initial one
};

class LinkMonitor {
 public:
  // Opens the socket inside `netns` ("" = the caller's namespace) on a helper thread, binds it
  // to RTMGRP_LINK, then dumps every link (RTM_GETLINK, NLM_F_DUMP) before returning: Links()
  // is complete when the constructor returns, and no change after the bind is missed. Then
  // starts the monitor thread. Throws RtError (kErrNetns, kErrNetlink).
  LinkMonitor(const std::string& netns, LinkEventSink sink);
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  std::vector<LinkInfo> Links();
  LinkMonitorStats Stats();
  // Stops and joins the thread, closes both fds. Idempotent; no sink call after it returns.
  void Close();

 private:
  void SendDump();
  bool ReadSome(bool emit);  // false: the dump in progress finished (NLMSG_DONE)
  void Apply(const nlmsghdr* h, bool emit);
  void FinishDump(bool emit);
  void Run();
  void Emit(LinkEvent&& e, bool emit) {
    if (emit) sink_(std::move(e));
  }

  std::string netns_;
  LinkEventSink sink_;
  int fd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool closed_ = false;

  std::mutex mu_;  // links_ and stats_ (the thread writes, Links()/Stats() read)
  std::map<int, LinkInfo> links_;
  std::map<int, uint64_t> seenIn_;  // ifindex -> generation that last confirmed it
  uint64_t generation_ = 0;
  bool dumping_ = false;
  bool redumpAfter_ = false;  // an overrun during a dump: dump again when it ends
  uint32_t dumpSeq_ = 0;
  LinkMonitorStats stats_;
  std::vector<uint8_t> buf_;
};

}  // namespace ringtap
