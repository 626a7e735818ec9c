// pcapng / pcap record encoders, record walking and torn-tail repair.
//
// Everything is written in host byte order (the SHB byte-order magic and the
// pcap magic tell readers which one), with nanosecond timestamps everywhere:
// pcapng IDBs carry if_tsresol=9 and pcap files use the nanosecond magic.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ringtap {

enum class FileFormat { kPcapng, kPcap };

inline constexpr uint32_t kPcapngShb = 0x0A0D0D0A;
inline constexpr uint32_t kPcapngIdb = 0x00000001;
inline constexpr uint32_t kPcapngIsb = 0x00000005;
inline constexpr uint32_t kPcapngEpb = 0x00000006;
inline constexpr uint32_t kPcapngBom = 0x1A2B3C4D;
inline constexpr uint32_t kPcapMagicNano = 0xA1B23C4D;
inline constexpr uint32_t kPcapMagicMicro = 0xA1B2C3D4;

inline constexpr uint32_t Pad4(uint32_t n) { return (n + 3u) & ~3u; }

// epb_flags (option 2): bits 0-1 direction (1 inbound, 2 outbound), bits 2-4
// reception type (1 unicast, 2 multicast, 3 broadcast, 4 promiscuous).
uint32_t EpbFlagsFromPktType(uint8_t sllPktType);

// Sizes of one packet record as written.
inline uint32_t EpbSize(uint32_t caplen) { return 28 + Pad4(caplen) + 8 /*epb_flags*/ + 4 /*endofopt*/ + 4; }
inline uint32_t PcapRecordSize(uint32_t caplen) { return 16 + caplen; }
inline uint32_t RecordSize(FileFormat f, uint32_t caplen) {
  return f == FileFormat::kPcapng ? EpbSize(caplen) : PcapRecordSize(caplen);
}

// Writes one packet record at `dst` (which has RecordSize() bytes) and returns its size.
uint32_t WriteRecord(FileFormat f, uint8_t* dst, uint32_t ifid, uint64_t tsNs, uint32_t caplen, uint32_t origLen,
                     const uint8_t* data, uint32_t epbFlags);

void AppendShb(std::vector<uint8_t>& out);
void AppendIdb(std::vector<uint8_t>& out, int linkType, uint32_t snaplen, const std::string& name,
               const std::string& description);
struct IsbCounters {
  uint64_t ifRecv = 0;    // packets the kernel handed to the socket (after the filter), drops included
  uint64_t ifDrop = 0;    // kernel ring drops
  uint64_t osDrop = 0;    // dropped in user space (spill buffer full)
  uint64_t usrDeliv = 0;  // packets the engine queued for writing
};
void AppendIsb(std::vector<uint8_t>& out, uint32_t ifid, uint64_t tsNs, const IsbCounters& c);
void AppendPcapHeader(std::vector<uint8_t>& out, int linkType, uint32_t snaplen);

// The file header for a new file or stream (pcapng: SHB only; IDBs are added by the caller).
void AppendFileHeader(std::vector<uint8_t>& out, FileFormat f, int linkType, uint32_t snaplen);

// Length of the complete record (or pcapng block) at p, or 0 if fewer than `avail`
// bytes hold it. Only for data we encoded ourselves (host order, already valid).
uint32_t NextRecordLength(FileFormat f, const uint8_t* p, size_t avail);

inline bool IsPacketBlock(const uint8_t* p) {
  uint32_t type;
  memcpy(&type, p, 4);
  return type == kPcapngEpb;
}

// Result of scanning a capture file for its last whole record.
struct RepairResult {
  FileFormat format = FileFormat::kPcapng;
  uint64_t validBytes = 0;    // file length after repair
  uint64_t removedBytes = 0;  // torn tail cut off
  uint64_t packets = 0;       // packet records (EPB/SPB/PB or pcap records) kept
  int linkType = -1;          // pcap only
  bool nanosecond = false;    // pcap only
  uint32_t snaplen = 0;       // pcap only
};

// Scans `path`; when `truncate` is set, cuts the file back to its last whole record.
// Throws RtError(kErrBadCaptureFile) if the file does not start with a valid header.
RepairResult RepairCaptureFile(const std::string& path, bool truncate);

}  // namespace ringtap
