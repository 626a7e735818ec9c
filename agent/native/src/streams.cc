// Live streams of a capture. Threading model: ../README.md.
#include "streams.h"

#include <deque>

#include "sock.h"

namespace ringtap {

struct LiveStreams::Stream {
  size_t maxBytes = 0;
  size_t queued = 0;  // bytes of packet records waiting (headers and IDBs are not counted)
  std::deque<std::vector<uint8_t>> chunks;
  bool waiting = false;  // JS found nothing to read and waits for a stream-data event
  bool ended = false;
  uint64_t drops = 0;
  uint64_t delivered = 0;
};

LiveStreams::LiveStreams(FileFormat fmt, int snaplen, std::function<void(uint32_t)> onData)
    : fmt_(fmt), snaplen_(snaplen), onData_(std::move(onData)) {}

LiveStreams::~LiveStreams() = default;

uint32_t LiveStreams::Open(size_t maxBytes) {
  auto s = std::make_unique<Stream>();
  s->maxBytes = maxBytes;
  std::vector<uint8_t> hdr;
  AppendFileHeader(hdr, fmt_, kLinkTypeEthernet, static_cast<uint32_t>(snaplen_));
  std::lock_guard<std::mutex> lk(mu_);
  if (fmt_ == FileFormat::kPcapng) {
    for (auto& idb : idbs_) hdr.insert(hdr.end(), idb.begin(), idb.end());
  }
  s->chunks.push_back(std::move(hdr));
  s->ended = ended_;
  uint32_t id = nextId_++;
  streams_[id] = std::move(s);
  return id;
}

int LiveStreams::Read(uint32_t id, std::vector<uint8_t>& out) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return -1;
  Stream& s = *it->second;
  if (!s.chunks.empty()) {
    out = std::move(s.chunks.front());
    s.chunks.pop_front();
    s.queued = s.queued > out.size() ? s.queued - out.size() : 0;
    return 1;
  }
  if (s.ended) return -1;
  s.waiting = true;
  return 0;
}

void LiveStreams::Close(uint32_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  streams_.erase(id);
}

void LiveStreams::Feed(const uint8_t* data, size_t len, uint32_t records) {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [id, s] : streams_) {
    if (s->ended) continue;
    std::vector<uint8_t> chunk;
    uint32_t taken = 0;
    if (s->queued + len <= s->maxBytes) {
      chunk.assign(data, data + len);
      taken = records;
    } else {
      // Slow consumer: keep whole records that still fit, drop the rest for this stream only.
      size_t off = 0;
      while (off < len) {
        uint32_t r = NextRecordLength(fmt_, data + off, len - off);
        if (r == 0) break;
        if (s->queued + chunk.size() + r <= s->maxBytes) {
          chunk.insert(chunk.end(), data + off, data + off + r);
          taken++;
        } else {
          s->drops++;
          drops_++;
        }
        off += r;
      }
    }
    if (chunk.empty()) continue;
    s->queued += chunk.size();
    s->delivered += taken;
    s->chunks.push_back(std::move(chunk));
    if (s->waiting) {
      s->waiting = false;
      onData_(id);
    }
  }
}

void LiveStreams::AddIdb(std::vector<uint8_t> idb) {
  std::lock_guard<std::mutex> lk(mu_);
  if (fmt_ == FileFormat::kPcapng) {
    for (auto& [id, s] : streams_) {
      if (!s->ended) s->chunks.push_back(idb);
    }
  }
  idbs_.push_back(std::move(idb));
}

void LiveStreams::SetIdbs(std::vector<std::vector<uint8_t>> idbs) {
  std::lock_guard<std::mutex> lk(mu_);
  idbs_ = std::move(idbs);
}

void LiveStreams::EndAll() {
  std::lock_guard<std::mutex> lk(mu_);
  ended_ = true;
  for (auto& [id, s] : streams_) {
    s->ended = true;
    if (s->waiting) {
      s->waiting = false;
      onData_(id);
    }
  }
}

std::vector<std::vector<uint8_t>> LiveStreams::Idbs() {
  std::lock_guard<std::mutex> lk(mu_);
  return idbs_;
}

size_t LiveStreams::IdbCount() {
  std::lock_guard<std::mutex> lk(mu_);
  return idbs_.size();
}

}  // namespace ringtap
