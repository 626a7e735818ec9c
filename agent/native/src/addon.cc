// ringtap native engine: Node-API bindings. See agent/native/README.md for the threading model.
//
// Everything here runs on the JavaScript thread except EventChannel::Push (any engine thread)
// and TransmitWorker::Execute (a libuv pool thread). No packet data crosses into JavaScript
// except the bytes a live-stream consumer asks for.
#include <arpa/inet.h>
#include <napi.h>
#include <net/if.h>
#include <pcap/pcap.h>

#include <deque>
#include <memory>
#include <mutex>

#include "common.h"
#include "engine.h"
#include "linkmon.h"
#include "pcapfmt.h"
#include "relay.h"
#include "pppkernel.h"
#include "sock.h"
#include "tx.h"

namespace ringtap {
namespace {

[[noreturn]] void ThrowJs(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

// Runs `fn`, turning RtError into a JS Error with a stable `code`.
template <typename F>
auto Guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const RtError& e) {
    ThrowJs(env, e.code(), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    ThrowJs(env, "ERR_RINGTAP_INTERNAL", e.what());
  }
}

// --- option parsing -------------------------------------------------------------------------

Napi::Object AsObject(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return Napi::Object::New(env);
  if (!v.IsObject()) ThrowJs(env, kErrInvalidArg, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

std::string OptString(Napi::Object o, const char* key, const std::string& def = "") {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsString()) ThrowJs(o.Env(), kErrInvalidArg, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double OptNumber(Napi::Object o, const char* key, double def, double min, double max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) ThrowJs(o.Env(), kErrInvalidArg, std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max)) {
    ThrowJs(o.Env(), kErrInvalidArg,
            std::string(key) + " must be between " + std::to_string(static_cast<long long>(min)) + " and " +
                std::to_string(static_cast<long long>(max)));
  }
  return d;
}

bool OptBool(Napi::Object o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsBoolean()) ThrowJs(o.Env(), kErrInvalidArg, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

constexpr double kMaxSafe = 9007199254740991.0;

// fanout: { workers?: 1..64, mode?: 'hash' | 'cpu' | 'lb' }; absent = `def`.
FanoutConfig ParseFanout(Napi::Env env, Napi::Value v, FanoutConfig def) {
  if (v.IsUndefined() || v.IsNull()) return def;
  Napi::Object o = AsObject(env, v, "fanout");
  FanoutConfig f;
  f.workers = static_cast<uint32_t>(OptNumber(o, "workers", 1, 1, kMaxFanoutWorkers));
  std::string mode = OptString(o, "mode", "hash");
  if (mode == "hash") {
    f.mode = FanoutMode::kHash;
  } else if (mode == "cpu") {
    f.mode = FanoutMode::kCpu;
  } else if (mode == "lb") {
    f.mode = FanoutMode::kLb;
  } else {
    ThrowJs(env, kErrInvalidArg, "fanout.mode must be 'hash', 'cpu' or 'lb'");
  }
  return f;
}

InterfaceSpec ParseInterface(Napi::Env env, Napi::Value v) {
  Napi::Object o = AsObject(env, v, "interface");
  InterfaceSpec s;
  s.name = OptString(o, "name");
  if (s.name.empty()) ThrowJs(env, kErrInvalidArg, "interface name is required");
  s.netns = OptString(o, "netns");
  s.description = OptString(o, "description");
  std::string ts = OptString(o, "timestamps", "software");
  if (ts == "software") {
    s.timestamps = TimestampSource::kSoftware;
  } else if (ts == "hardware") {
    s.timestamps = TimestampSource::kHardware;
  } else {
    ThrowJs(env, kErrInvalidArg, "timestamps must be 'software' or 'hardware'");
  }
  FanoutConfig inherit;
  inherit.workers = 0;  // the capture's default
  s.fanout = ParseFanout(env, o.Get("fanout"), inherit);
  return s;
}

FileFormat ParseFormat(Napi::Env env, const std::string& f) {
  if (f == "pcapng") return FileFormat::kPcapng;
  if (f == "pcap") return FileFormat::kPcap;
  ThrowJs(env, kErrInvalidArg, "format must be 'pcapng' or 'pcap'");
}

CaptureConfig ParseConfig(Napi::Env env, Napi::Object o, std::vector<InterfaceSpec>& ifs) {
  CaptureConfig c;
  c.filter = OptString(o, "filter");
  c.snaplen = static_cast<int>(OptNumber(o, "snaplen", 262144, 1, 262144));
  c.format = ParseFormat(env, OptString(o, "format", "pcapng"));
  c.spillBytes = static_cast<size_t>(OptNumber(o, "spillBytes", 128.0 * 1024 * 1024, 1 << 20, 64.0 * 1024 * 1024 * 1024));
  c.fanout = ParseFanout(env, o.Get("fanout"), FanoutConfig{});
  Napi::Object r = AsObject(env, o.Get("ring"), "ring");
  c.ring.blockSize = static_cast<uint32_t>(OptNumber(r, "blockSize", c.ring.blockSize, 4096, 1u << 30));
  c.ring.blockCount = static_cast<uint32_t>(OptNumber(r, "blockCount", c.ring.blockCount, 1, 1 << 20));
  c.ring.frameSize = static_cast<uint32_t>(OptNumber(r, "frameSize", c.ring.frameSize, 16, 1u << 30));
  c.ring.retireTimeoutMs = static_cast<uint32_t>(OptNumber(r, "retireTimeoutMs", c.ring.retireTimeoutMs, 1, 60000));
  Napi::Value out = o.Get("output");
  if (!out.IsUndefined() && !out.IsNull()) {
    Napi::Object f = AsObject(env, out, "output");
    c.output.enabled = true;
    c.output.directory = OptString(f, "directory");
    if (c.output.directory.empty()) ThrowJs(env, kErrInvalidArg, "output.directory is required");
    c.output.prefix = OptString(f, "prefix", "capture");
    c.output.startSequence = static_cast<uint64_t>(OptNumber(f, "startSequence", 0, 0, 999999999));
    c.output.rotateBytes = static_cast<uint64_t>(OptNumber(f, "rotateBytes", 0, 0, kMaxSafe));
    c.output.rotateMs = static_cast<uint64_t>(OptNumber(f, "rotateSeconds", 0, 0, 1e9) * 1000);
    c.output.maxFiles = static_cast<uint32_t>(OptNumber(f, "maxFiles", 0, 0, 1e9));
    c.output.append = OptBool(f, "append", false);
    c.output.directIo = OptBool(f, "directIo", true);
  }
  Napi::Object l = AsObject(env, o.Get("limits"), "limits");
  c.limits.packets = static_cast<uint64_t>(OptNumber(l, "packets", 0, 0, kMaxSafe));
  c.limits.bytes = static_cast<uint64_t>(OptNumber(l, "bytes", 0, 0, kMaxSafe));
  c.limits.durationMs = static_cast<uint64_t>(OptNumber(l, "durationSeconds", 0, 0, 1e9) * 1000);
  Napi::Value list = o.Get("interfaces");
  if (!list.IsUndefined() && !list.IsNull()) {
    if (!list.IsArray()) ThrowJs(env, kErrInvalidArg, "interfaces must be an array");
    Napi::Array a = list.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) ifs.push_back(ParseInterface(env, a.Get(i)));
  }
  return c;
}

// --- events ---------------------------------------------------------------------------------

Napi::Object EventToJs(Napi::Env env, const Event& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", e.type);
  if (!e.interfaceName.empty()) o.Set("interfaceName", e.interfaceName);
  if (e.interfaceId >= 0) o.Set("interfaceId", e.interfaceId);
  if (!e.reason.empty()) o.Set("reason", e.reason);
  if (!e.message.empty()) o.Set("message", e.message);
  if (!e.code.empty()) o.Set("code", e.code);
  if (!e.path.empty()) o.Set("path", e.path);
  if (!e.previousPath.empty()) o.Set("previousPath", e.previousPath);
  if (e.streamId) o.Set("streamId", e.streamId);
  return o;
}

bool IsCritical(const Event& e) { return e.critical; }
bool UnrefsAfter(const Event& e) { return e.type == "stopped"; }

Napi::Object LinkToJs(Napi::Env env, const LinkInfo& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", l.ifindex);
  o.Set("name", l.name);
  o.Set("mtu", Napi::Number::New(env, l.mtu));
  o.Set("up", (l.flags & IFF_UP) != 0);
  o.Set("running", (l.flags & IFF_RUNNING) != 0);
  return o;
}

Napi::Object EventToJs(Napi::Env env, const LinkEvent& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", e.type);
  if (e.type == "error") {
    o.Set("code", e.code);
    o.Set("message", e.message);
    return o;
  }
  Napi::Object l = LinkToJs(env, e.link);
  o.Set("ifindex", l.Get("ifindex"));
  o.Set("name", l.Get("name"));
  if (!e.previousName.empty()) o.Set("previousName", e.previousName);
  o.Set("mtu", l.Get("mtu"));
  if (e.type == "mtu") o.Set("previousMtu", Napi::Number::New(env, e.previousMtu));
  o.Set("up", l.Get("up"));
  o.Set("running", l.Get("running"));
  return o;
}
// A lost error would leave a dead monitor unnoticed; it is the thread's last event anyway.
bool IsCritical(const LinkEvent& e) { return e.type == "error"; }
bool UnrefsAfter(const LinkEvent&) { return false; }

// Bounded hand-off from engine threads to JavaScript. At most one TSFN call is in flight
// (`scheduled_`); the JS side drains everything queued. Non-critical events beyond
// kMaxQueued are dropped and counted, so a busy event loop never makes an engine thread wait.
// Used for capture events (E = Event, 256) and link events (E = LinkEvent, 4096).
template <typename E>
class EventChannel : public std::enable_shared_from_this<EventChannel<E>> {
 public:
  EventChannel(Napi::ThreadSafeFunction tsfn, size_t maxQueued) : tsfn_(tsfn), maxQueued_(maxQueued) {}

  void Push(E&& e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return;
    if (!IsCritical(e) && q_.size() >= maxQueued_) {
      dropped_++;
      return;
    }
    q_.push_back(std::move(e));
    if (scheduled_) return;
    scheduled_ = true;
    auto self = this->shared_from_this();
    if (tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function cb) { self->Drain(env, cb); }) != napi_ok) {
      scheduled_ = false;
    }
  }

  // JS thread.
  void Drain(Napi::Env env, Napi::Function cb) {
    std::deque<E> local;
    {
      std::lock_guard<std::mutex> lk(mu_);
      local.swap(q_);
      scheduled_ = false;
    }
    for (auto& e : local) {
      if (UnrefsAfter(e)) Unref(env);
      if (cb.IsEmpty() || env.IsExceptionPending()) continue;
      cb.Call({EventToJs(env, e)});
    }
  }

  // JS thread: a stopped capture must not keep the process alive.
  void Unref(Napi::Env env) {
    if (!unrefed_) {
      unrefed_ = true;
      tsfn_.Unref(env);
    }
  }

  // JS thread, after every engine thread has been joined.
  void Release() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return;
      closed_ = true;
    }
    tsfn_.Release();
  }

  // Environment teardown: the TSFN is being torn down by Node itself.
  void CloseWithoutRelease() {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
  }

  uint64_t dropped() {
    std::lock_guard<std::mutex> lk(mu_);
    return dropped_;
  }

 private:
  Napi::ThreadSafeFunction tsfn_;
  size_t maxQueued_;
  std::mutex mu_;
  std::deque<E> q_;
  bool scheduled_ = false;
  bool closed_ = false;
  bool unrefed_ = false;
  uint64_t dropped_ = 0;
};

// --- Capture --------------------------------------------------------------------------------

class CaptureWrap : public Napi::ObjectWrap<CaptureWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {
                           InstanceMethod<&CaptureWrap::Start>("start"),
                           InstanceMethod<&CaptureWrap::AddInterface>("addInterface"),
                           InstanceMethod<&CaptureWrap::RemoveInterface>("removeInterface"),
                           InstanceMethod<&CaptureWrap::Stop>("stop"),
                           InstanceMethod<&CaptureWrap::Stats>("stats"),
                           InstanceMethod<&CaptureWrap::OpenStream>("openStream"),
                           InstanceMethod<&CaptureWrap::ReadStream>("readStream"),
                           InstanceMethod<&CaptureWrap::CloseStream>("closeStream"),
                           InstanceMethod<&CaptureWrap::Close>("close"),
                       });
  }

  // new Capture(options, onEvent)
  explicit CaptureWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureWrap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowJs(env, kErrInvalidArg, "new Capture(options, onEvent)");
    Napi::Object opts = AsObject(env, info[0], "options");
    CaptureConfig cfg = ParseConfig(env, opts, initial_);
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "ringtap-events", 0, 1);
    channel_ = std::make_shared<EventChannel<Event>>(tsfn, 256);
    auto channel = channel_;
    try {
      engine_ = std::make_unique<Capture>(std::move(cfg), [channel](Event&& e) { channel->Push(std::move(e)); });
    } catch (const RtError& e) {
      channel_->Release();
      ThrowJs(env, e.code(), e.what());
    }
    napi_add_env_cleanup_hook(env, &CaptureWrap::CleanupHook, this);
    hooked_ = true;
  }

  ~CaptureWrap() override { Teardown(true); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<CaptureWrap*>(arg);
    self->hooked_ = false;  // Node removes the hook itself after calling it
    if (self->engine_) self->engine_->Shutdown();
    if (self->channel_) self->channel_->CloseWithoutRelease();
    self->closed_ = true;
  }

  void Teardown(bool release) {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &CaptureWrap::CleanupHook, this);
      hooked_ = false;
    }
    if (closed_) return;
    closed_ = true;
    if (engine_) engine_->Shutdown();  // joins every engine thread: no Push after this
    if (channel_ && release) channel_->Release();
  }

  Capture& engine(Napi::Env env) {
    if (closed_ || !engine_) ThrowJs(env, kErrState, "capture is closed");
    return *engine_;
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Capture& c = engine(info.Env());
    Guard(info.Env(), [&] {
      c.Start(initial_);
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value AddInterface(const Napi::CallbackInfo& info) {
    Capture& c = engine(info.Env());
    InterfaceSpec s = ParseInterface(info.Env(), info[0]);
    int id = Guard(info.Env(), [&] { return c.AddInterface(s); });
    return Napi::Number::New(info.Env(), id);
  }

  Napi::Value RemoveInterface(const Napi::CallbackInfo& info) {
    Capture& c = engine(info.Env());
    if (!info[0].IsNumber()) ThrowJs(info.Env(), kErrInvalidArg, "removeInterface(id)");
    int id = info[0].As<Napi::Number>().Int32Value();
    Guard(info.Env(), [&] {
      c.RemoveInterface(id);
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Capture& c = engine(info.Env());
    Guard(info.Env(), [&] {
      c.Stop("stopped");
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Capture& c = engine(env);
    CaptureStats s = c.Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("state", s.state);
    if (!s.stopReason.empty()) o.Set("stopReason", s.stopReason);
    auto num = [&](Napi::Object t, const char* k, uint64_t v) { t.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
    Napi::Array arr = Napi::Array::New(env, s.interfaces.size());
    for (size_t i = 0; i < s.interfaces.size(); i++) {
      const InterfaceStats& is = s.interfaces[i];
      Napi::Object x = Napi::Object::New(env);
      x.Set("id", is.id);
      x.Set("name", is.name);
      if (!is.netns.empty()) x.Set("netns", is.netns);
      x.Set("state", is.state);
      num(x, "packets", is.packets);
      num(x, "bytes", is.bytes);
      num(x, "kernelPackets", is.kernelPackets);
      num(x, "kernelDrops", is.kernelDrops);
      num(x, "freezes", is.freezes);
      num(x, "spillDrops", is.spillDrops);
      if (is.fanoutGroup >= 0) {
        Napi::Object f = Napi::Object::New(env);
        f.Set("group", is.fanoutGroup);
        f.Set("mode", is.fanoutMode);
        x.Set("fanout", f);
      }
      Napi::Array w = Napi::Array::New(env, is.workerPackets.size());
      for (size_t k = 0; k < is.workerPackets.size(); k++) {
        w.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(is.workerPackets[k])));
      }
      x.Set("workerPackets", w);
      arr.Set(static_cast<uint32_t>(i), x);
    }
    o.Set("interfaces", arr);
    num(o, "packets", s.packets);
    num(o, "bytes", s.bytes);
    num(o, "kernelPackets", s.kernelPackets);
    num(o, "kernelDrops", s.kernelDrops);
    num(o, "freezes", s.freezes);
    num(o, "spillDrops", s.spillDrops);
    num(o, "packetsWritten", s.packetsWritten);
    num(o, "bytesWritten", s.bytesWritten);
    num(o, "files", s.files);
    if (!s.currentFile.empty()) o.Set("currentFile", s.currentFile);
    num(o, "streamDrops", s.streamDrops);
    num(o, "eventsDropped", channel_->dropped());
    return o;
  }

  Napi::Value OpenStream(const Napi::CallbackInfo& info) {
    Capture& c = engine(info.Env());
    Napi::Object o = AsObject(info.Env(), info[0], "stream options");
    size_t maxBytes = static_cast<size_t>(OptNumber(o, "maxBytes", 8.0 * 1024 * 1024, 65536, 16.0 * 1024 * 1024 * 1024));
    uint32_t id = Guard(info.Env(), [&] { return c.OpenStream(maxBytes); });
    return Napi::Number::New(info.Env(), id);
  }

  // Returns a Buffer, null (nothing yet: a stream-data event will follow) or undefined (ended).
  Napi::Value ReadStream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || !engine_) return env.Undefined();
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    auto* chunk = new std::vector<uint8_t>();
    int r = engine_->ReadStream(id, *chunk);
    if (r <= 0) {
      delete chunk;
      return r == 0 ? env.Null() : env.Undefined();
    }
    return Napi::Buffer<uint8_t>::NewOrCopy(env, chunk->data(), chunk->size(),
                                            [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, chunk);
  }

  Napi::Value CloseStream(const Napi::CallbackInfo& info) {
    if (!closed_ && engine_) engine_->CloseStream(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown(true);
    return info.Env().Undefined();
  }

  napi_env env_;
  std::vector<InterfaceSpec> initial_;
  std::unique_ptr<Capture> engine_;
  std::shared_ptr<EventChannel<Event>> channel_;
  bool closed_ = false;
  bool hooked_ = false;
};

// --- LinkMonitor ----------------------------------------------------------------------------

class LinkMonitorWrap : public Napi::ObjectWrap<LinkMonitorWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LinkMonitor",
                       {
                           InstanceMethod<&LinkMonitorWrap::Links>("links"),
                           InstanceMethod<&LinkMonitorWrap::Stats>("stats"),
                           InstanceMethod<&LinkMonitorWrap::Close>("close"),
                       });
  }

  // new LinkMonitor({ netns? }, onEvent): the initial dump is done when this returns.
  explicit LinkMonitorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkMonitorWrap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowJs(env, kErrInvalidArg, "new LinkMonitor(options, onEvent)");
    Napi::Object opts = AsObject(env, info[0], "options");
    std::string netns = OptString(opts, "netns");
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "ringtap-links", 0, 1);
    // Never keeps the process alive: a monitor is a listener, not work to finish.
    tsfn.Unref(env);
    channel_ = std::make_shared<EventChannel<LinkEvent>>(tsfn, 4096);
    auto channel = channel_;
    try {
      monitor_ = std::make_unique<LinkMonitor>(netns, [channel](LinkEvent&& e) { channel->Push(std::move(e)); });
    } catch (const RtError& e) {
      channel_->Release();
      ThrowJs(env, e.code(), e.what());
    }
    napi_add_env_cleanup_hook(env, &LinkMonitorWrap::CleanupHook, this);
    hooked_ = true;
  }

  ~LinkMonitorWrap() override { Teardown(true); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<LinkMonitorWrap*>(arg);
    self->hooked_ = false;
    if (self->monitor_) self->monitor_->Close();
    if (self->channel_) self->channel_->CloseWithoutRelease();
    self->closed_ = true;
  }

  void Teardown(bool release) {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &LinkMonitorWrap::CleanupHook, this);
      hooked_ = false;
    }
    if (closed_) return;
    closed_ = true;
    if (monitor_) monitor_->Close();  // joins the thread: no Push after this
    if (channel_ && release) channel_->Release();
  }

  LinkMonitor& monitor(Napi::Env env) {
    if (closed_ || !monitor_) ThrowJs(env, kErrState, "link monitor is closed");
    return *monitor_;
  }

  Napi::Value Links(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto links = monitor(env).Links();
    Napi::Array arr = Napi::Array::New(env, links.size());
    for (size_t i = 0; i < links.size(); i++) arr.Set(static_cast<uint32_t>(i), LinkToJs(env, links[i]));
    return arr;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LinkMonitorStats s = monitor(env).Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("overruns", Napi::Number::New(env, static_cast<double>(s.overruns)));
    o.Set("resyncs", Napi::Number::New(env, static_cast<double>(s.resyncs)));
    o.Set("eventsDropped", Napi::Number::New(env, static_cast<double>(channel_->dropped())));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown(true);
    return info.Env().Undefined();
  }

  napi_env env_;
  std::unique_ptr<LinkMonitor> monitor_;
  std::shared_ptr<EventChannel<LinkEvent>> channel_;
  bool closed_ = false;
  bool hooked_ = false;
};

// --- PppRelay -------------------------------------------------------------------------------

uint16_t OptId(Napi::Object o, const char* key, double max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) ThrowJs(o.Env(), kErrInvalidArg, std::string(key) + " is required");
  double d = OptNumber(o, key, 0, 1, max);
  if (d != static_cast<double>(static_cast<uint32_t>(d))) ThrowJs(o.Env(), kErrInvalidArg, std::string(key) + " must be an integer");
  return static_cast<uint16_t>(d);
}

sockaddr_in ParseInet(Napi::Object o, const char* addrKey, const char* portKey) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::string text = OptString(o, addrKey);
  if (inet_pton(AF_INET, text.c_str(), &a.sin_addr) != 1) {
    ThrowJs(o.Env(), kErrInvalidArg, std::string(addrKey) + " must be an IPv4 address, got '" + text + "'");
  }
  a.sin_port = htons(OptId(o, portKey, 65535));
  return a;
}

// { type: 'pppoe', interface, netns?, sessionId, peerMac, localMac? }
// { type: 'l2tp', localAddress, localPort, peerAddress, peerPort, tunnelId, peerTunnelId, sessionId, peerSessionId, netns? }
RelayEndpoint ParseEndpoint(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsObject()) ThrowJs(env, kErrInvalidArg, std::string(what) + " must be an endpoint object");
  Napi::Object o = v.As<Napi::Object>();
  RelayEndpoint ep;
  ep.netns = OptString(o, "netns");
  std::string type = OptString(o, "type");
  Guard(env, [&] {
    if (type == "pppoe") {
      ep.kind = RelayEndpoint::Kind::kPppoe;
      ep.ifname = OptString(o, "interface");
      if (ep.ifname.empty()) ThrowJs(env, kErrInvalidArg, std::string(what) + ".interface is required");
      ep.sessionId = OptId(o, "sessionId", 0xfffe);
      ep.peerMac = ParseMac(OptString(o, "peerMac"), "peerMac");
      std::string local = OptString(o, "localMac");
      if (!local.empty()) {
        ep.localMac = ParseMac(local, "localMac");
        ep.hasLocalMac = true;
      }
    } else if (type == "l2tp") {
      ep.kind = RelayEndpoint::Kind::kL2tp;
      ep.local = ParseInet(o, "localAddress", "localPort");
      ep.peer = ParseInet(o, "peerAddress", "peerPort");
      ep.tunnelId = OptId(o, "tunnelId", 65535);
      ep.peerTunnelId = OptId(o, "peerTunnelId", 65535);
      ep.sessionId = OptId(o, "sessionId", 65535);
      ep.peerSessionId = OptId(o, "peerSessionId", 65535);
    } else {
      ThrowJs(env, kErrInvalidArg, std::string(what) + ".type must be 'pppoe' or 'l2tp'");
    }
    return 0;
  });
  return ep;
}

Napi::Object DirStatsToJs(Napi::Env env, const RelayDirStats& s) {
  auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
  Napi::Object drops = Napi::Object::New(env);
  drops.Set("short", num(s.dropShort));
  drops.Set("badVersion", num(s.dropBadVersion));
  drops.Set("badSession", num(s.dropBadSession));
  drops.Set("badLength", num(s.dropBadLength));
  drops.Set("control", num(s.dropControl));
  drops.Set("sendError", num(s.dropSendError));
  drops.Set("rxOverflow", num(s.dropRxOverflow));
  Napi::Object o = Napi::Object::New(env);
  o.Set("frames", num(s.frames));
  o.Set("bytes", num(s.bytes));
  o.Set("drops", drops);
  return o;
}

class PppRelayWrap : public Napi::ObjectWrap<PppRelayWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PppRelay",
                       {
                           InstanceMethod<&PppRelayWrap::Stats>("stats"),
                           InstanceMethod<&PppRelayWrap::SetMtu>("setMtu"),
                           InstanceMethod<&PppRelayWrap::Close>("close"),
                       });
  }

  // new PppRelay({ a: endpoint, b: endpoint }): both sockets are open and the thread runs on return.
  explicit PppRelayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PppRelayWrap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    Napi::Object opts = AsObject(env, info[0], "options");
    RelayEndpoint a = ParseEndpoint(env, opts.Get("a"), "a");
    RelayEndpoint b = ParseEndpoint(env, opts.Get("b"), "b");
    uint32_t mtu = ParseMtu(env, opts.Get("mtu"));
    relay_ = Guard(env, [&] { return std::make_unique<PppRelay>(a, b); });
    relay_->SetMtu(mtu);
    napi_add_env_cleanup_hook(env, &PppRelayWrap::CleanupHook, this);
    hooked_ = true;
  }

  ~PppRelayWrap() override { Teardown(); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<PppRelayWrap*>(arg);
    self->hooked_ = false;
    self->Teardown();
  }

  void Teardown() {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &PppRelayWrap::CleanupHook, this);
      hooked_ = false;
    }
    if (relay_) relay_->Close();  // joins the thread, closes the sockets; idempotent
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!relay_) ThrowJs(env, kErrState, "relay is closed");
    RelayStats s = relay_->Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("running", Napi::Boolean::New(env, s.running));
    o.Set("aToB", DirStatsToJs(env, s.aToB));
    o.Set("bToA", DirStatsToJs(env, s.bToA));
    return o;
  }

  // setMtu(mtu): 0 = no limit; 576..65535 otherwise.
  Napi::Value SetMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!relay_) ThrowJs(env, kErrState, "relay is closed");
    relay_->SetMtu(ParseMtu(env, info[0]));
    return env.Undefined();
  }

  static uint32_t ParseMtu(Napi::Env env, Napi::Value v) {
    if (v.IsUndefined() || v.IsNull()) return 0;
    if (!v.IsNumber()) ThrowJs(env, kErrInvalidArg, "mtu must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != 0 && (d < 576 || d > 65535 || d != static_cast<double>(static_cast<uint32_t>(d)))) {
      ThrowJs(env, kErrInvalidArg, "mtu must be 0 (no limit) or an integer from 576 to 65535");
    }
    return static_cast<uint32_t>(d);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  napi_env env_;
  std::unique_ptr<PppRelay> relay_;
  bool hooked_ = false;
};

// --- PppKernelBridge ------------------------------------------------------------------------

// new PppKernelBridge({ a: endpoint, b: endpoint }): on return both channels are bridged in the
// kernel (PPPIOCBRIDGECHAN); close() unbridges and closes. No thread: nothing runs in between.
class PppKernelBridgeWrap : public Napi::ObjectWrap<PppKernelBridgeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PppKernelBridge",
                       {
                           InstanceMethod<&PppKernelBridgeWrap::Channels>("channels"),
                           InstanceMethod<&PppKernelBridgeWrap::Stats>("stats"),
                           InstanceMethod<&PppKernelBridgeWrap::Close>("close"),
                       });
  }

  explicit PppKernelBridgeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PppKernelBridgeWrap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    Napi::Object opts = AsObject(env, info[0], "options");
    RelayEndpoint a = ParseEndpoint(env, opts.Get("a"), "a");
    RelayEndpoint b = ParseEndpoint(env, opts.Get("b"), "b");
    bridge_ = Guard(env, [&] { return std::make_unique<PppKernelBridge>(a, b); });
    napi_add_env_cleanup_hook(env, &PppKernelBridgeWrap::CleanupHook, this);
    hooked_ = true;
  }

  ~PppKernelBridgeWrap() override { Teardown(); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<PppKernelBridgeWrap*>(arg);
    self->hooked_ = false;
    self->Teardown();
  }

  void Teardown() {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &PppKernelBridgeWrap::CleanupHook, this);
      hooked_ = false;
    }
    if (bridge_) bridge_->Close();
  }

  Napi::Value Channels(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!bridge_) ThrowJs(env, kErrState, "bridge is closed");
    Napi::Object o = Napi::Object::New(env);
    o.Set("a", Napi::Number::New(env, bridge_->channelA()));
    o.Set("b", Napi::Number::New(env, bridge_->channelB()));
    o.Set("bridged", Napi::Boolean::New(env, bridge_->bridged()));
    return o;
  }

  // stats() -> { a, b, unavailable? }: each session's counters ({ type: 'l2tp' | 'pppoe', ... }),
  // or null for a PPPoE session without a counter (unavailable.a / .b says why).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!bridge_) ThrowJs(env, kErrState, "bridge is closed");
    Napi::Object unavailable = Napi::Object::New(env);
    auto toJs = [&](const PppKernelSessionStats& s, const char* side) -> Napi::Value {
      using Kind = PppKernelSessionStats::Kind;
      if (s.kind == Kind::kNone) {
        unavailable.Set(side, s.why);
        return env.Null();
      }
      auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", s.kind == Kind::kL2tp ? "l2tp" : "pppoe");
      o.Set("txPackets", num(s.txPackets));
      o.Set("txBytes", num(s.txBytes));
      o.Set("rxPackets", num(s.rxPackets));
      o.Set("rxBytes", num(s.rxBytes));
      if (s.kind == Kind::kL2tp) {
        o.Set("txErrors", num(s.txErrors));
        o.Set("rxSeqDiscards", num(s.rxSeqDiscards));
        o.Set("rxOosPackets", num(s.rxOosPackets));
        o.Set("rxErrors", num(s.rxErrors));
      }
      return o;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("a", Guard(env, [&] { return toJs(bridge_->StatsA(), "a"); }));
    o.Set("b", Guard(env, [&] { return toJs(bridge_->StatsB(), "b"); }));
    if (unavailable.GetPropertyNames().Length() > 0) o.Set("unavailable", unavailable);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Guard(info.Env(), [&] {
      Teardown();
      return 0;
    });
    return info.Env().Undefined();
  }

  napi_env env_;
  std::unique_ptr<PppKernelBridge> bridge_;
  bool hooked_ = false;
};

// pppKernelError(op, errno) -> { code, message }: the stable code of a kernel-bridge failure.
Napi::Value PppKernelErrorJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) ThrowJs(env, kErrInvalidArg, "pppKernelError(op, errno)");
  RtError e = PppKernelError(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", e.code());
  o.Set("message", e.what());
  return o;
}

// --- module functions -----------------------------------------------------------------------

Napi::Value LibpcapVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

// compileFilter(text, linkType = 1, snaplen = 262144) -> { instructions: string[] }
Napi::Value CompileFilterJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowJs(env, kErrInvalidArg, "compileFilter(text, linkType?, snaplen?)");
  std::string text = info[0].As<Napi::String>().Utf8Value();
  int linkType = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : kLinkTypeEthernet;
  int snaplen = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 262144;
  auto lines = Guard(env, [&] { return DisassembleFilter(text, linkType, snaplen); });
  Napi::Array arr = Napi::Array::New(env, lines.size());
  for (size_t i = 0; i < lines.size(); i++) arr.Set(static_cast<uint32_t>(i), lines[i]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("instructions", arr);
  return o;
}

// compileFilterProgram(text, linkType = 1, snaplen = 262144) -> { code, jt, jf, k }[]: the
// classic BPF that tc's cls_bpf and SO_ATTACH_FILTER take, from the same pcap_compile.
Napi::Value CompileFilterProgramJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowJs(env, kErrInvalidArg, "compileFilterProgram(text, linkType?, snaplen?)");
  std::string text = info[0].As<Napi::String>().Utf8Value();
  int linkType = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : kLinkTypeEthernet;
  int snaplen = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 262144;
  BpfProgram prog = Guard(env, [&] { return CompileFilter(text, linkType, snaplen); });
  Napi::Array arr = Napi::Array::New(env, prog.insns.size());
  for (size_t i = 0; i < prog.insns.size(); i++) {
    Napi::Object insn = Napi::Object::New(env);
    insn.Set("code", Napi::Number::New(env, prog.insns[i].code));
    insn.Set("jt", Napi::Number::New(env, prog.insns[i].jt));
    insn.Set("jf", Napi::Number::New(env, prog.insns[i].jf));
    insn.Set("k", Napi::Number::New(env, prog.insns[i].k));
    arr.Set(static_cast<uint32_t>(i), insn);
  }
  return arr;
}

// repairCaptureFile(path, truncate = true) -> { format, validBytes, removedBytes, packets }
Napi::Value RepairCaptureFileJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowJs(env, kErrInvalidArg, "repairCaptureFile(path, truncate?)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool truncate = info[1].IsBoolean() ? info[1].As<Napi::Boolean>().Value() : true;
  RepairResult r = Guard(env, [&] { return RepairCaptureFile(path, truncate); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", r.format == FileFormat::kPcapng ? "pcapng" : "pcap");
  o.Set("validBytes", Napi::Number::New(env, static_cast<double>(r.validBytes)));
  o.Set("removedBytes", Napi::Number::New(env, static_cast<double>(r.removedBytes)));
  o.Set("packets", Napi::Number::New(env, static_cast<double>(r.packets)));
  return o;
}

// transmit(options) -> Promise<{ sent, seconds }>, sent from a libuv pool thread.
class TransmitWorker : public Napi::AsyncWorker {
 public:
  TransmitWorker(Napi::Env env, TxConfig cfg)
      : Napi::AsyncWorker(env, "ringtap-transmit"), deferred_(Napi::Promise::Deferred::New(env)), cfg_(std::move(cfg)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      res_ = Transmit(cfg_, cancel_);
    } catch (const RtError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_RINGTAP_INTERNAL";
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Object o = Napi::Object::New(Env());
    o.Set("sent", Napi::Number::New(Env(), static_cast<double>(res_.sent)));
    o.Set("seconds", Napi::Number::New(Env(), res_.seconds));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  TxConfig cfg_;
  TxResult res_;
  std::atomic<bool> cancel_{false};
  std::string code_;
};

Napi::Value TransmitJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = AsObject(env, info[0], "transmit options");
  TxConfig cfg;
  cfg.ifname = OptString(o, "interface");
  if (cfg.ifname.empty()) ThrowJs(env, kErrInvalidArg, "transmit: interface is required");
  cfg.netns = OptString(o, "netns");
  cfg.count = static_cast<uint64_t>(OptNumber(o, "count", 1, 0, kMaxSafe));
  cfg.ratePps = OptNumber(o, "ratePps", 0, 0, 1e9);
  cfg.qdiscBypass = OptBool(o, "qdiscBypass", true);
  cfg.ringFrames = static_cast<uint32_t>(OptNumber(o, "ringFrames", 4096, 16, 1 << 20));
  Napi::Value frames = o.Get("frames");
  if (!frames.IsArray()) ThrowJs(env, kErrInvalidArg, "transmit: frames must be an array of Buffers");
  Napi::Array a = frames.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsBuffer()) ThrowJs(env, kErrInvalidArg, "transmit: frames must be an array of Buffers");
    auto b = v.As<Napi::Buffer<uint8_t>>();
    cfg.frames.emplace_back(b.Data(), b.Data() + b.Length());
  }
  auto* w = new TransmitWorker(env, std::move(cfg));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("libpcapVersion", Napi::Function::New(env, LibpcapVersion));
  exports.Set("compileFilter", Napi::Function::New(env, CompileFilterJs));
  exports.Set("compileFilterProgram", Napi::Function::New(env, CompileFilterProgramJs));
  exports.Set("repairCaptureFile", Napi::Function::New(env, RepairCaptureFileJs));
  exports.Set("transmit", Napi::Function::New(env, TransmitJs));
  exports.Set("Capture", CaptureWrap::Define(env));
  exports.Set("LinkMonitor", LinkMonitorWrap::Define(env));
  exports.Set("PppRelay", PppRelayWrap::Define(env));
  exports.Set("PppKernelBridge", PppKernelBridgeWrap::Define(env));
  exports.Set("pppKernelError", Napi::Function::New(env, PppKernelErrorJs));
  return exports;
}

}  // namespace
}  // namespace ringtap

static Napi::Object InitRingtap(Napi::Env env, Napi::Object exports) { return ringtap::Init(env, exports); }

NODE_API_MODULE(ringtap_native, InitRingtap)
