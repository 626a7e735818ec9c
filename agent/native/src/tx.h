// TX_RING sender: the benchmark's generator and the tests' source of exact traffic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace ringtap {

struct TxConfig {
  std::string ifname;
  std::string netns;
  std::vector<std::vector<uint8_t>> frames;  // sent round-robin: frame i goes out as packet i % frames.size()
  uint64_t count = 0;
  double ratePps = 0;  // 0 = as fast as the ring drains
  bool qdiscBypass = true;
  uint32_t ringFrames = 4096;
};

struct TxResult {
  uint64_t sent = 0;
  double seconds = 0;
};

// Blocking; run it off the JS thread. Throws RtError(kErrTransmit / kErrNoSuchInterface / kErrNetns).
TxResult Transmit(const TxConfig& cfg, const std::atomic<bool>& cancel);

}  // namespace ringtap
