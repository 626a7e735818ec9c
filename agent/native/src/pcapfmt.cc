// pcapng / pcap encoders and torn-tail repair. See pcapfmt.h.
#include "pcapfmt.h"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace ringtap {

namespace {

inline void Put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }
inline void Put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
inline void Put64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }
inline uint32_t Get32(const uint8_t* p, bool swap) {
  uint32_t v;
  memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}
inline uint16_t Get16(const uint8_t* p, bool swap) {
  uint16_t v;
  memcpy(&v, p, 2);
  return swap ? __builtin_bswap16(v) : v;
}

void Push32(std::vector<uint8_t>& out, uint32_t v) {
  size_t o = out.size();
  out.resize(o + 4);
  Put32(out.data() + o, v);
}
void Push16(std::vector<uint8_t>& out, uint16_t v) {
  size_t o = out.size();
  out.resize(o + 2);
  Put16(out.data() + o, v);
}
void Push64(std::vector<uint8_t>& out, uint64_t v) {
  size_t o = out.size();
  out.resize(o + 8);
  Put64(out.data() + o, v);
}
void PushOption(std::vector<uint8_t>& out, uint16_t code, const void* data, uint16_t len) {
  Push16(out, code);
  Push16(out, len);
  size_t o = out.size();
  out.resize(o + Pad4(len), 0);
  memcpy(out.data() + o, data, len);
}
// Begins a block; returns its offset so EndBlock can patch both length fields.
size_t BeginBlock(std::vector<uint8_t>& out, uint32_t type) {
  size_t start = out.size();
  Push32(out, type);
  Push32(out, 0);
  return start;
}
void EndBlock(std::vector<uint8_t>& out, size_t start) {
  Push16(out, 0);  // opt_endofopt
  Push16(out, 0);
  uint32_t len = static_cast<uint32_t>(out.size() - start + 4);
  Push32(out, len);
  Put32(out.data() + start + 4, len);
}

}  // namespace

uint32_t EpbFlagsFromPktType(uint8_t t) {
  switch (t) {
    case PACKET_OUTGOING:
      return 2;  // outbound; the reception type does not apply
    case PACKET_HOST:
      return 1 | (1 << 2);
    case PACKET_MULTICAST:
      return 1 | (2 << 2);
    case PACKET_BROADCAST:
      return 1 | (3 << 2);
    case PACKET_OTHERHOST:
      return 1 | (4 << 2);
    default:
      return 1;
  }
}

uint32_t WriteRecord(FileFormat f, uint8_t* dst, uint32_t ifid, uint64_t tsNs, uint32_t caplen, uint32_t origLen,
                     const uint8_t* data, uint32_t epbFlags) {
  if (f == FileFormat::kPcap) {
    Put32(dst, static_cast<uint32_t>(tsNs / 1000000000ull));
    Put32(dst + 4, static_cast<uint32_t>(tsNs % 1000000000ull));
    Put32(dst + 8, caplen);
    Put32(dst + 12, origLen);
    memcpy(dst + 16, data, caplen);
    return 16 + caplen;
  }
  const uint32_t total = EpbSize(caplen);
  Put32(dst, kPcapngEpb);
  Put32(dst + 4, total);
  Put32(dst + 8, ifid);
  Put32(dst + 12, static_cast<uint32_t>(tsNs >> 32));
  Put32(dst + 16, static_cast<uint32_t>(tsNs));
  Put32(dst + 20, caplen);
  Put32(dst + 24, origLen);
  memcpy(dst + 28, data, caplen);
  uint8_t* p = dst + 28 + caplen;
  for (uint32_t pad = Pad4(caplen) - caplen; pad; pad--) *p++ = 0;
  Put16(p, 2);  // epb_flags
  Put16(p + 2, 4);
  Put32(p + 4, epbFlags);
  Put32(p + 8, 0);  // opt_endofopt (code 0, length 0)
  Put32(p + 12, total);
  return total;
}

void AppendShb(std::vector<uint8_t>& out) {
  size_t b = BeginBlock(out, kPcapngShb);
  Push32(out, kPcapngBom);
  Push16(out, 1);
  Push16(out, 0);
  Push64(out, ~0ull);  // section length unknown: we append as we go
  static const char kApp[] = "ringtap";
  PushOption(out, 4 /*shb_userappl*/, kApp, sizeof(kApp) - 1);
  EndBlock(out, b);
}

void AppendIdb(std::vector<uint8_t>& out, int linkType, uint32_t snaplen, const std::string& name,
               const std::string& description) {
  size_t b = BeginBlock(out, kPcapngIdb);
  Push16(out, static_cast<uint16_t>(linkType));
  Push16(out, 0);
  Push32(out, snaplen);
  if (!name.empty()) PushOption(out, 2 /*if_name*/, name.data(), static_cast<uint16_t>(std::min<size_t>(name.size(), 65000)));
  if (!description.empty()) {
    PushOption(out, 3 /*if_description*/, description.data(),
               static_cast<uint16_t>(std::min<size_t>(description.size(), 65000)));
  }
  const uint8_t tsresol = 9;  // nanoseconds, matching tp_nsec
  PushOption(out, 9 /*if_tsresol*/, &tsresol, 1);
  EndBlock(out, b);
}

void AppendIsb(std::vector<uint8_t>& out, uint32_t ifid, uint64_t tsNs, const IsbCounters& c) {
  size_t b = BeginBlock(out, kPcapngIsb);
  Push32(out, ifid);
  Push32(out, static_cast<uint32_t>(tsNs >> 32));
  Push32(out, static_cast<uint32_t>(tsNs));
  PushOption(out, 4 /*isb_ifrecv*/, &c.ifRecv, 8);
  PushOption(out, 5 /*isb_ifdrop*/, &c.ifDrop, 8);
  PushOption(out, 7 /*isb_osdrop*/, &c.osDrop, 8);
  PushOption(out, 8 /*isb_usrdeliv*/, &c.usrDeliv, 8);
  EndBlock(out, b);
}

void AppendPcapHeader(std::vector<uint8_t>& out, int linkType, uint32_t snaplen) {
  Push32(out, kPcapMagicNano);
  Push16(out, 2);
  Push16(out, 4);
  Push32(out, 0);  // thiszone
  Push32(out, 0);  // sigfigs
  Push32(out, snaplen);
  Push32(out, static_cast<uint32_t>(linkType));
}

void AppendFileHeader(std::vector<uint8_t>& out, FileFormat f, int linkType, uint32_t snaplen) {
  if (f == FileFormat::kPcapng) {
    AppendShb(out);
  } else {
    AppendPcapHeader(out, linkType, snaplen);
  }
}

uint32_t NextRecordLength(FileFormat f, const uint8_t* p, size_t avail) {
  if (f == FileFormat::kPcapng) {
    if (avail < 12) return 0;
    uint32_t len;
    memcpy(&len, p + 4, 4);
    return len <= avail ? len : 0;
  }
  if (avail < 16) return 0;
  uint32_t cap;
  memcpy(&cap, p + 8, 4);
  return 16ull + cap <= avail ? 16 + cap : 0;
}

namespace {

struct FileReader {
  int fd;
  explicit FileReader(const std::string& path, bool rw) : fd(open(path.c_str(), (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC)) {
    if (fd < 0) ThrowErrno(kErrFile, "cannot open " + path);
  }
  ~FileReader() { close(fd); }
  // Reads exactly n bytes at off; false at end of file (a torn tail).
  bool ReadAt(uint64_t off, void* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = pread(fd, static_cast<uint8_t*>(buf) + got, n - got, static_cast<off_t>(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) ThrowErrno(kErrFile, "read");
      if (r == 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
};

}  // namespace

RepairResult RepairCaptureFile(const std::string& path, bool truncate) {
  FileReader f(path, truncate);
  struct stat st {};
  if (fstat(f.fd, &st) != 0) ThrowErrno(kErrFile, "stat " + path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  RepairResult r;
  uint8_t hdr[28];
  if (!f.ReadAt(0, hdr, 4)) throw RtError(kErrBadCaptureFile, path + " is too short to be a capture file");
  uint32_t magic;
  memcpy(&magic, hdr, 4);
  uint64_t good = 0;

  if (magic == kPcapngShb) {
    r.format = FileFormat::kPcapng;
    if (!f.ReadAt(0, hdr, 12)) throw RtError(kErrBadCaptureFile, path + ": truncated section header block");
    uint32_t bom;
    memcpy(&bom, hdr + 8, 4);
    bool swap;
    if (bom == kPcapngBom) {
      swap = false;
    } else if (bom == __builtin_bswap32(kPcapngBom)) {
      swap = true;
    } else {
      throw RtError(kErrBadCaptureFile, path + ": bad pcapng byte-order magic");
    }
    std::vector<uint8_t> buf;
    uint64_t off = 0;
    while (off < size) {
      uint8_t bh[12];
      if (!f.ReadAt(off, bh, 8)) break;
      uint32_t type = Get32(bh, swap);
      uint32_t len = Get32(bh + 4, swap);
      if (type == kPcapngShb && f.ReadAt(off + 8, bh + 8, 4)) {
        // A new section may switch byte order.
        uint32_t b2;
        memcpy(&b2, bh + 8, 4);
        if (b2 == kPcapngBom) swap = false;
        else if (b2 == __builtin_bswap32(kPcapngBom)) swap = true;
        else break;
        len = Get32(bh + 4, swap);
      }
      if (len < 12 || len % 4 != 0 || off + len > size) break;
      uint32_t trailer;
      if (!f.ReadAt(off + len - 4, &trailer, 4)) break;
      if ((swap ? __builtin_bswap32(trailer) : trailer) != len) break;
      if (type == kPcapngEpb || type == 2 /*PB*/ || type == 3 /*SPB*/) r.packets++;
      off += len;
      good = off;
    }
    if (good == 0) throw RtError(kErrBadCaptureFile, path + ": no complete section header block");
  } else if (magic == kPcapMagicNano || magic == kPcapMagicMicro || magic == __builtin_bswap32(kPcapMagicNano) ||
             magic == __builtin_bswap32(kPcapMagicMicro)) {
    r.format = FileFormat::kPcap;
    bool swap = magic == __builtin_bswap32(kPcapMagicNano) || magic == __builtin_bswap32(kPcapMagicMicro);
    if (!f.ReadAt(0, hdr, 24)) throw RtError(kErrBadCaptureFile, path + ": truncated pcap file header");
    r.nanosecond = magic == kPcapMagicNano || magic == __builtin_bswap32(kPcapMagicNano);
    r.snaplen = Get32(hdr + 16, swap);
    r.linkType = static_cast<int>(Get32(hdr + 20, swap) & 0x0FFFFFFF);
    (void)Get16;
    // A record longer than this is garbage, not a packet (libpcap uses the same bound).
    const uint32_t maxCap = std::max<uint32_t>(r.snaplen, 262144);
    uint64_t off = 24;
    good = 24;
    while (off < size) {
      uint8_t rh[16];
      if (!f.ReadAt(off, rh, 16)) break;
      uint32_t cap = Get32(rh + 8, swap);
      if (cap > maxCap || off + 16 + cap > size) break;
      off += 16 + cap;
      good = off;
      r.packets++;
    }
  } else {
    throw RtError(kErrBadCaptureFile, path + " is neither pcapng nor pcap");
  }

  r.validBytes = good;
  r.removedBytes = size - good;
  if (truncate && r.removedBytes > 0 && ftruncate(f.fd, static_cast<off_t>(good)) != 0) {
    ThrowErrno(kErrFile, "truncate " + path);
  }
  return r;
}

}  // namespace ringtap
