// Kernel PPP channel bridge (PPPBridge kernel mode, Linux >= 5.11): opens a PPPoE session
// socket and/or an L2TPv2 tunnel + session (genl "l2tp" + a PPPoL2TP socket), takes both
// channel indexes (PPPIOCGCHAN), attaches a /dev/ppp fd to the first and bridges it to the
// second with one PPPIOCBRIDGECHAN (both directions). Frames then never leave the kernel.
// Close() unbridges (PPPIOCUNBRIDGECHAN), closes the sockets and deletes the L2TP tunnel.
// The tunnel sends UDP checksum 0 (SO_NO_CHECK: see Open() for why).
// Counters: the kernel counts per L2TP session (PPPIOCGL2TPSTATS); PPPoE sessions have none, so
// a PPPoE session is counted by an eBPF socket filter on a packet socket of its interface (see
// PppoeCounter in the .cc): the filter adds to a map and drops every frame, nothing is queued.
// No thread of its own: every call runs on the caller's thread (the socket work inside the
// endpoints' network namespace, on a setns helper thread). The kernel side: drivers/net/ppp/
// ppp_generic.c, drivers/net/ppp/pppoe.c, net/l2tp/l2tp_ppp.c.
#pragma once

#include <string>

#include "relay.h"

namespace ringtap {

// Stable codes of kernel-bridge failures (mirrored in agent/src/native.ts).
inline constexpr const char* kErrKernelLacksPpp = "ERR_RINGTAP_KERNEL_LACKS_PPP";         // EAFNOSUPPORT, no /dev/ppp, no genl l2tp
inline constexpr const char* kErrPppBridgeUnsupported = "ERR_RINGTAP_PPP_BRIDGE_UNSUPPORTED";  // ENOTTY: kernel < 5.11
inline constexpr const char* kErrPppChannelBusy = "ERR_RINGTAP_PPP_CHANNEL_BUSY";            // EALREADY: in a bridge or unit
inline constexpr const char* kErrPppNoSuchChannel = "ERR_RINGTAP_PPP_NO_SUCH_CHANNEL";       // ENXIO: channel not in this netns

// The code and message for an errno returned by step `op` of the kernel bridge. Pure, so the
// mapping can be tested on kernels without PPP.
RtError PppKernelError(const std::string& op, int err);

// The counters of one session. L2TP: the kernel's (PPPIOCGL2TPSTATS); bytes are whole L2TP data
// messages (header, then the PPP frame with FF 03 when it has one). PPPoE: our eBPF filter's;
// bytes are whole PPPoE session packets (the 6-byte PPPoE header plus its length field's worth:
// no Ethernet header, no padding); only packets and bytes. tx: sent to the session's peer; rx:
// received from it.
struct PppKernelSessionStats {
  enum class Kind { kNone, kL2tp, kPppoe };
  Kind kind = Kind::kNone;  // kNone: a PPPoE session whose counter could not be set up
  uint64_t txPackets = 0, txBytes = 0, txErrors = 0;
  uint64_t rxPackets = 0, rxBytes = 0, rxSeqDiscards = 0, rxOosPackets = 0, rxErrors = 0;
  std::string why;  // kNone: why the PPPoE counter could not be set up
};

class PppKernelBridge {
 public:
  // Both endpoints must be in the same network namespace (channel indexes are per netns).
  // Throws RtError; on failure everything opened so far is closed again.
  PppKernelBridge(const RelayEndpoint& a, const RelayEndpoint& b);
  ~PppKernelBridge();
  PppKernelBridge(const PppKernelBridge&) = delete;
  PppKernelBridge& operator=(const PppKernelBridge&) = delete;

  int channelA() const { return chanA_; }
  int channelB() const { return chanB_; }
  bool bridged() const { return pppFd_ >= 0; }
  // Counters of endpoint a / b (an ioctl on the session socket; any thread). Throws RtError.
  PppKernelSessionStats StatsA() const { return Stats(a_); }
  PppKernelSessionStats StatsB() const { return Stats(b_); }
  // PPPIOCUNBRIDGECHAN, close the sockets, delete our L2TP tunnels. Idempotent.
  void Close();

 private:
  struct Opened {
    int sessionFd = -1;  // PPPoX socket: the channel lives as long as it stays open
    int tunnelFd = -1;   // L2TP: the tunnel's UDP socket
    uint32_t tunnelId = 0;
    int channel = -1;
    int pppoeCounter = -1;  // PPPoE: the packet socket whose eBPF filter counts the session
    int pppoeMap = -1;      // ... and its map: [0] received from the peer, [1] sent to it
    std::string counterError;  // PPPoE: why there is no counter
  };
  Opened Open(const RelayEndpoint& ep);
  static PppKernelSessionStats Stats(const Opened& o);
  void Release(Opened& o);

  std::string netns_;
  Opened a_, b_;
  int chanA_ = -1, chanB_ = -1;
  int pppFd_ = -1;
};

}  // namespace ringtap
