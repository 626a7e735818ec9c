// Userspace PPP relay (PPPBridge userspace mode): forwards PPP frames between two endpoints,
// each a PPPoE session (AF_PACKET, ETH_P_PPP_SES, BPF-filtered to one session and peer MAC) or
// an L2TPv2 session (a bound + connected UDP socket). One relay thread poll()s both sockets and
// an eventfd; nothing here calls into JavaScript.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace ringtap {

using MacAddr = std::array<uint8_t, 6>;

// Parses "aa:bb:cc:dd:ee:ff"; throws RtError(kErrInvalidArg).
MacAddr ParseMac(const std::string& text, const char* what);

struct RelayEndpoint {
  enum class Kind { kPppoe, kL2tp };
  Kind kind = Kind::kPppoe;
  std::string netns;  // "" = the caller's namespace

  // PPPoE: the session id is used both ways (received from and sent to the peer).
  std::string ifname;
  uint16_t sessionId = 0;  // PPPoE session id, or our (local) L2TP session id
  MacAddr peerMac{};
  MacAddr localMac{};
  bool hasLocalMac = false;  // false: the interface's own MAC

  // L2TPv2 over UDP/IPv4: we receive tunnelId/sessionId and send peerTunnelId/peerSessionId.
  sockaddr_in local{};
  sockaddr_in peer{};
  uint16_t tunnelId = 0;
  uint16_t peerTunnelId = 0;
  uint16_t peerSessionId = 0;
};

// Counters of one direction (frames received on one endpoint, sent on the other).
struct RelayDirStats {
  uint64_t frames = 0;  // forwarded
  uint64_t bytes = 0;   // PPP bytes forwarded (protocol + payload, no FF 03, no encapsulation)
  uint64_t dropShort = 0;
  uint64_t dropBadVersion = 0;  // PPPoE ver/type != 0x11 or code != 0; L2TP version != 2
  uint64_t dropBadSession = 0;  // not our session (PPPoE: only what passes the BPF filter)
  uint64_t dropBadLength = 0;   // PPPoE LENGTH beyond the frame; L2TP Length beyond/within the header
  uint64_t dropControl = 0;     // L2TP control messages (T=1): never relayed
  uint64_t dropSendError = 0;   // send()/sendto() failed (EMSGSIZE above the MTU, EAGAIN, ...)
  // Dropped by the kernel before the relay read them: the receive queue was full (the relay fell
  // behind). PPPoE: PACKET_STATISTICS tp_drops; L2TP: SO_RXQ_OVFL.
  uint64_t dropRxOverflow = 0;
};

struct RelayStats {
  RelayDirStats aToB, bToA;
  bool running = false;  // false once the thread has ended (close(), or a fatal socket error)
};

class PppRelay {
 public:
  // Opens both sockets (each on a setns helper thread in its namespace), then starts the relay
  // thread. Throws RtError (kErrNetns, kErrNoSuchInterface, kErrSocket, kErrBadFilter).
  PppRelay(const RelayEndpoint& a, const RelayEndpoint& b);
  ~PppRelay();
  PppRelay(const PppRelay&) = delete;
  PppRelay& operator=(const PppRelay&) = delete;

  RelayStats Stats();
  // The largest PPP information field forwarded (the bridge's MTU; the 2-byte protocol field is
  // not part of it); 0 = no limit of our own. A bigger frame is counted as sendError, as the
  // link would refuse it. Any thread.
  void SetMtu(uint32_t mtu) { mtu_.store(mtu, std::memory_order_relaxed); }
  // Wakes and joins the thread, closes both sockets and the eventfd. Idempotent.
  void Close();

 private:
  struct Dir {
    std::atomic<uint64_t> frames{0}, bytes{0}, dropShort{0}, dropBadVersion{0}, dropBadSession{0}, dropBadLength{0},
        dropControl{0}, dropSendError{0}, dropRxOverflow{0};
  };
  struct Side {
    RelayEndpoint ep;
    int fd = -1;
    int ifindex = 0;
  };

  void Run();
  // Reads what is queued on side `from` (recvmmsg, kBatch at a time, at most kBurst per wake-up
  // for fairness between the sides) and forwards it to the other side (one sendmmsg per batch).
  void Drain(int from);
  // Decapsulates one received datagram/frame to its PPP frame (protocol + payload); false = dropped.
  bool Decap(const Side& s, const uint8_t* p, size_t n, const uint8_t*& ppp, size_t& pppLen, Dir& d);
  // Writes the frame/datagram carrying `ppp` for side `s` into `t`; returns its length, 0 if too big.
  size_t Encap(const Side& s, const uint8_t* ppp, size_t pppLen, uint8_t* t) const;
  // Sends the m encapsulated messages in iov (msgs is scratch space), counting each as forwarded
  // or as a send error.
  void SendBatch(Side& s, struct mmsghdr* msgs, struct iovec* iov, int m, const size_t* pppLens, Dir& d);
  void ReadPacketDrops();  // JS thread: accumulates PACKET_STATISTICS drops of PPPoE sockets

  Side sides_[2];
  Dir dirs_[2];  // dirs_[0]: a -> b, dirs_[1]: b -> a
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<uint32_t> mtu_{0};
  bool closed_ = false;
  // kBatch receive and transmit slots of kSlot bytes each (a frame or datagram above kSlot is
  // truncated by the kernel and counted as badLength).
  std::vector<uint8_t> rx_, tx_;
};

}  // namespace ringtap
