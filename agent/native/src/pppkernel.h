// Kernel PPP channel bridge (PPPBridge kernel mode, Linux >= 5.11): opens a PPPoE session
// socket and/or an L2TPv2 tunnel + session (genl "l2tp" + a PPPoL2TP socket), takes both
// channel indexes (PPPIOCGCHAN), attaches a /dev/ppp fd to the first and bridges it to the
// second with one PPPIOCBRIDGECHAN (both directions). Frames then never leave the kernel.
// Close() unbridges (PPPIOCUNBRIDGECHAN), closes the sockets and deletes the L2TP tunnel.
// Counters: the kernel counts per L2TP session (PPPIOCGL2TPSTATS); PPPoE sessions have none.
// No thread of its own: every call runs on the caller's thread (the socket work inside the
// endpoints' network namespace, on a setns helper thread). See
// ../shared/notes/kernel-facts.md section 1.
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

// The kernel's counters of one L2TP session (PPPIOCGL2TPSTATS). Bytes are the L2TP payload:
// the PPP frame with its FF 03 address/control when the frame carries one.
struct PppKernelSessionStats {
  bool l2tp = false;  // false: a PPPoE session, which the kernel keeps no counters for
  uint64_t txPackets = 0, txBytes = 0, txErrors = 0;
  uint64_t rxPackets = 0, rxBytes = 0, rxSeqDiscards = 0, rxOosPackets = 0, rxErrors = 0;
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
