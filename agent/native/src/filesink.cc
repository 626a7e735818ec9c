// The file sink of a capture. Threading model: ../README.md.
#include "filesink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace ringtap {
namespace {

constexpr size_t kDirectAlign = 4096;
constexpr size_t kStageBytes = 8u << 20;

// The O_DIRECT twin of fd_; -1 where the filesystem has no O_DIRECT (the buffered path stays).
int OpenDirect(const std::string& path) { return open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC); }

}  // namespace

FileSink::FileSink(Capture& cap, const OutputConfig& cfg, FileFormat fmt, int snaplen)
    : cap_(cap), cfg_(cfg), fmt_(fmt), snaplen_(snaplen), seq_(cfg.startSequence) {}

FileSink::~FileSink() {
  if (fd_ >= 0) close(fd_);
  if (dfd_ >= 0) close(dfd_);
  free(stage_);
}

std::string FileSink::PathFor(uint64_t seq) const {
  char num[32];
  snprintf(num, sizeof(num), "%06llu", static_cast<unsigned long long>(seq));
  return cfg_.directory + "/" + cfg_.prefix + "-" + num + (fmt_ == FileFormat::kPcapng ? ".pcapng" : ".pcap");
}

void FileSink::OpenFirst() {
  struct stat st {};
  if (stat(cfg_.directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw RtError(kErrFile, "output directory " + cfg_.directory + " does not exist");
  }
  if (cfg_.prefix.empty() || cfg_.prefix.find('/') != std::string::npos) {
    throw RtError(kErrInvalidArg, "file prefix must be a plain name, got '" + cfg_.prefix + "'");
  }
  const std::string path = PathFor(seq_);
  if (cfg_.append && access(path.c_str(), F_OK) == 0) {
    // Resume a file an earlier run left behind: cut any torn tail first, then append.
    RepairResult r = RepairCaptureFile(path, true);
    if (r.format != fmt_) throw RtError(kErrFile, path + " has a different format than this capture");
    if (fmt_ == FileFormat::kPcap && (!r.nanosecond || r.linkType != kLinkTypeEthernet)) {
      throw RtError(kErrFile, path + " is not a nanosecond Ethernet pcap file; cannot append");
    }
    fd_ = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) ThrowErrno(kErrFile, "cannot open " + path);
    if (lseek(fd_, static_cast<off_t>(r.validBytes), SEEK_SET) < 0) ThrowErrno(kErrFile, "seek " + path);
    if (cfg_.directIo && (stage_ || posix_memalign(reinterpret_cast<void**>(&stage_), kDirectAlign, kStageBytes) == 0)) {
      // The staging buffer starts at the aligned offset below the end: preload those bytes.
      stageBase_ = r.validBytes & ~static_cast<uint64_t>(kDirectAlign - 1);
      stageLen_ = static_cast<size_t>(r.validBytes - stageBase_);
      direct_ = stageLen_ == 0 || pread(fd_, stage_, stageLen_, static_cast<off_t>(stageBase_)) == static_cast<ssize_t>(stageLen_);
      if (direct_) dfd_ = OpenDirect(path);
      direct_ = direct_ && dfd_ >= 0;
    }
    seq_++;
    size_ = committed_ = r.validBytes;
    recordsInFile_ = r.packets;
    openedAt_ = Clock::now();
    current_ = path;
    files_.push_back(path);
    cap_.files++;
    {
      std::lock_guard<std::mutex> lk(cap_.fileMu);
      cap_.currentFile = path;
    }
    if (fmt_ == FileFormat::kPcapng) {
      // A new section (SHB + IDBs) keeps the appended part self-describing.
      std::vector<uint8_t> hdr;
      AppendShb(hdr);
      for (auto& idb : cap_.IdbsSnapshot()) hdr.insert(hdr.end(), idb.begin(), idb.end());
      owned_.push_back(std::move(hdr));
      Push(owned_.back().data(), owned_.back().size(), false);
    }
  } else {
    OpenNext();
  }
  Flush();
  if (failed_) throw RtError(kErrFile, "cannot write the first capture file " + path);
}

void FileSink::OpenNext() {
  const std::string path = PathFor(seq_++);
  // O_EXCL: never overwrite a file a previous run (or another capture) wrote.
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    int e = errno;
    if (cap_.state_.load() == 0) ThrowErrno(kErrFile, "cannot create " + path, e);
    failed_ = true;
    Event ev;
    ev.type = "error";
    ev.code = kErrFile;
    ev.path = path;
    ev.message = "cannot create " + path + ": " + Errno(e);
    cap_.Emit(std::move(ev));
    cap_.RequestStop(e == ENOSPC || e == EDQUOT ? "disk-full" : "error", false);
    return;
  }
  size_ = committed_ = 0;
  recordsInFile_ = 0;
  openedAt_ = Clock::now();
  current_ = path;
  stageBase_ = 0;
  stageLen_ = 0;
  direct_ = false;
  if (cfg_.directIo && (stage_ || posix_memalign(reinterpret_cast<void**>(&stage_), kDirectAlign, kStageBytes) == 0)) {
    dfd_ = OpenDirect(path);
    direct_ = dfd_ >= 0;
  }
  std::vector<uint8_t> hdr;
  AppendFileHeader(hdr, fmt_, kLinkTypeEthernet, static_cast<uint32_t>(snaplen_));
  if (fmt_ == FileFormat::kPcapng) {
    for (auto& idb : cap_.IdbsSnapshot()) hdr.insert(hdr.end(), idb.begin(), idb.end());
  }
  owned_.push_back(std::move(hdr));
  Push(owned_.back().data(), owned_.back().size(), false);
  files_.push_back(path);
  cap_.files++;
  {
    std::lock_guard<std::mutex> lk(cap_.fileMu);
    cap_.currentFile = path;
  }
  // The file ring: the newest file counts, so at most maxFiles exist at any time.
  while (cfg_.maxFiles && files_.size() > cfg_.maxFiles) {
    unlink(files_.front().c_str());
    files_.pop_front();
  }
}

void FileSink::Push(const uint8_t* data, size_t len, bool records) {
  if (!len) return;
  pending_.push_back(Chunk{data, len, records});
  size_ += len;
  if (pending_.size() >= 512) Flush();
}

void FileSink::Append(const uint8_t* data, size_t len, uint32_t records) {
  while (len > 0 && !failed_) {
    if (fd_ < 0) OpenNext();
    if (failed_) return;
    if (!cfg_.rotateBytes || size_ + len <= cfg_.rotateBytes) {
      Push(data, len, true);
      pendingRecords_ += records;
      recordsInFile_ += records;
      return;
    }
    // Split at record boundaries: take what fits (at least one record into a file).
    size_t take = 0;
    uint32_t n = 0;
    while (take < len) {
      uint32_t r = NextRecordLength(fmt_, data + take, len - take);
      if (r == 0) break;  // cannot happen with our own encoding; be safe
      if (size_ + take + r > cfg_.rotateBytes && recordsInFile_ + n > 0) break;
      take += r;
      n++;
    }
    if (take) {
      Push(data, take, true);
      pendingRecords_ += n;
      recordsInFile_ += n;
      data += take;
      len -= take;
      records -= std::min(records, n);
    }
    if (len) Rotate();
  }
}

void FileSink::AppendBlock(const uint8_t* data, size_t len) {
  if (fd_ < 0 || failed_) return;  // a file opened later gets every IDB in its header
  Push(data, len, false);
}

void FileSink::Flush() {
  if (pending_.empty() || fd_ < 0) {
    pending_.clear();
    return;
  }
  size_t total = 0;
  for (auto& c : pending_) total += c.len;
  if (direct_) {
    if (FlushDirect()) Flushed(total);
    return;
  }
  std::vector<iovec> iov;
  iov.reserve(pending_.size());
  for (auto& c : pending_) iov.push_back(iovec{const_cast<uint8_t*>(c.data), c.len});
  size_t idx = 0;
  size_t written = 0;
  while (idx < iov.size()) {
    int cnt = static_cast<int>(std::min<size_t>(iov.size() - idx, IOV_MAX));
    ssize_t w = writev(fd_, &iov[idx], cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      FailWrite(errno, written);
      return;
    }
    written += static_cast<size_t>(w);
    size_t left = static_cast<size_t>(w);
    while (left > 0 && idx < iov.size()) {
      iovec& v = iov[idx];
      if (left >= v.iov_len) {
        left -= v.iov_len;
        idx++;
      } else {
        v.iov_base = static_cast<uint8_t*>(v.iov_base) + left;
        v.iov_len -= left;
        left = 0;
      }
    }
  }
  Flushed(total);
}

// Everything pending reached the file.
void FileSink::Flushed(size_t total) {
  committed_ += total;
  cap_.bytesWritten += total;
  cap_.packetsWritten += pendingRecords_;
  pendingRecords_ = 0;
  pending_.clear();
  owned_.clear();
}

// One pwrite loop. `written` counts the bytes at or beyond newFrom (data of this flush) that
// reached the file. O_DIRECT refused (EINVAL: the filesystem cannot) falls back to buffered.
bool FileSink::WriteOut(const uint8_t* p, size_t n, uint64_t off, bool direct, uint64_t newFrom, size_t& written) {
  while (n > 0) {
    ssize_t w = pwrite(direct ? dfd_ : fd_, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (direct && errno == EINVAL) {
        direct = direct_ = false;
        continue;
      }
      FailWrite(errno, written);
      return false;
    }
    if (w == 0) {
      FailWrite(ENOSPC, written);
      return false;
    }
    const uint64_t end = off + static_cast<uint64_t>(w);
    if (end > newFrom) written += static_cast<size_t>(end - std::max(off, newFrom));
    p += w;
    n -= static_cast<size_t>(w);
    off = end;
  }
  return true;
}

bool FileSink::FlushDirect() {
  size_t written = 0;
  const uint64_t newFrom = committed_;
  for (auto& c : pending_) {
    const uint8_t* p = c.data;
    size_t left = c.len;
    while (left > 0) {
      const size_t n = std::min(left, kStageBytes - stageLen_);
      memcpy(stage_ + stageLen_, p, n);
      stageLen_ += n;
      p += n;
      left -= n;
      if (stageLen_ == kStageBytes) {
        if (!WriteOut(stage_, kStageBytes, stageBase_, direct_, newFrom, written)) return false;
        stageBase_ += kStageBytes;
        stageLen_ = 0;
      }
    }
  }
  // Whole blocks directly; the tail buffered, so the file ends at the last record now.
  const size_t aligned = stageLen_ & ~(kDirectAlign - 1);
  if (aligned && !WriteOut(stage_, aligned, stageBase_, direct_, newFrom, written)) return false;
  const size_t tail = stageLen_ - aligned;
  if (tail && !WriteOut(stage_ + aligned, tail, stageBase_ + aligned, false, newFrom, written)) return false;
  if (aligned) {
    memmove(stage_, stage_ + aligned, tail);
    stageBase_ += aligned;
    stageLen_ = tail;
  }
  if (!direct_) {
    // The filesystem refused O_DIRECT: from here on the plain path, positioned at the end.
    lseek(fd_, static_cast<off_t>(stageBase_ + stageLen_), SEEK_SET);
    if (dfd_ >= 0) close(dfd_);
    dfd_ = -1;
  }
  return true;
}

void FileSink::FailWrite(int err, size_t written) {
  // Whole records only: keep every record that reached the file completely and cut the
  // rest. Header/IDB/ISB chunks count only when whole.
  uint64_t cut = committed_;
  uint64_t packets = 0;
  size_t left = written;
  for (auto& c : pending_) {
    if (left >= c.len) {
      cut += c.len;
      left -= c.len;
      if (c.records) {
        for (size_t off = 0; off < c.len;) {
          uint32_t r = NextRecordLength(fmt_, c.data + off, c.len - off);
          if (r == 0) break;
          if (fmt_ == FileFormat::kPcap || IsPacketBlock(c.data + off)) packets++;
          off += r;
        }
      }
      continue;
    }
    if (c.records) {
      for (size_t off = 0;;) {
        uint32_t r = NextRecordLength(fmt_, c.data + off, c.len - off);
        if (r == 0 || off + r > left) break;
        if (fmt_ == FileFormat::kPcap || IsPacketBlock(c.data + off)) packets++;
        off += r;
        cut += r;
      }
    }
    break;
  }
  if (ftruncate(fd_, static_cast<off_t>(cut)) != 0) {
    // Nothing more to do here; RepairCaptureFile cuts a torn tail on the next open.
  }
  cap_.bytesWritten += cut - committed_;
  cap_.packetsWritten += packets;
  committed_ = cut;
  close(fd_);
  fd_ = -1;
  if (dfd_ >= 0) close(dfd_);
  dfd_ = -1;
  direct_ = false;
  failed_ = true;
  pending_.clear();
  owned_.clear();
  pendingRecords_ = 0;
  Event ev;
  ev.type = "error";
  ev.code = kErrFile;
  ev.path = current_;
  ev.message = "write to " + current_ + " failed: " + Errno(err) + "; file closed at its last whole record (" +
               std::to_string(cut) + " bytes)";
  cap_.Emit(std::move(ev));
  cap_.RequestStop(err == ENOSPC || err == EDQUOT ? "disk-full" : "error", false);
}

Clock::time_point FileSink::RotationDeadline() const {
  if (!cfg_.rotateMs || fd_ < 0 || failed_) return Clock::time_point::max();
  return openedAt_ + std::chrono::milliseconds(cfg_.rotateMs);
}

void FileSink::MaybeRotateByTime(Clock::time_point now) {
  if (!cfg_.rotateMs || fd_ < 0 || failed_) return;
  if (now < openedAt_ + std::chrono::milliseconds(cfg_.rotateMs)) return;
  // An idle interval does not produce empty files: restart the window instead.
  if (recordsInFile_ == 0) {
    openedAt_ = now;
    return;
  }
  Rotate();
}

void FileSink::Rotate() {
  Flush();
  if (failed_) return;
  const std::string prev = current_;
  Close(true);
  if (failed_) return;
  OpenNext();
  if (failed_) return;
  Event ev;
  ev.type = "file-rotated";
  ev.path = current_;
  ev.previousPath = prev;
  cap_.Emit(std::move(ev));
}

void FileSink::Close(bool writeIsb) {
  if (fd_ < 0) return;
  if (writeIsb && !failed_ && fmt_ == FileFormat::kPcapng) {
    std::vector<uint8_t> isb;
    cap_.IsbBlocks(isb);
    owned_.push_back(std::move(isb));
    Push(owned_.back().data(), owned_.back().size(), false);
  }
  Flush();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (dfd_ >= 0) close(dfd_);
  dfd_ = -1;
  direct_ = false;
}

}  // namespace ringtap
