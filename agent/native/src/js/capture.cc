// Binding of the capture engine: the Capture class and repairCaptureFile().
// Everything here runs on the JavaScript thread; engine events arrive through EventChannel.
// No packet data crosses into JavaScript except the bytes a live-stream consumer asks for.
#include "../engine.h"
#include "envcleanup.h"
#include "eventchannel.h"
#include "exports.h"
#include "options.h"

namespace ringtap {

// The capture's events for EventChannel (static, in ringtap: found by argument-dependent lookup).
static Napi::Object EventToJs(Napi::Env env, const Event& e) {
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

static bool IsCritical(const Event& e) { return e.critical; }
static bool UnrefsAfter(const Event& e) { return e.type == "stopped"; }

namespace {

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
  explicit CaptureWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureWrap>(info), cleanup_(this, info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowJs(env, kErrInvalidArg, "new Capture(options, onEvent)");
    Napi::Object opts = AsObject(env, info[0], "options");
    CaptureConfig cfg = ParseConfig(env, opts, initial_);
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "ringtap-events", 0, 1);
    engine_.Open(env, tsfn, 256, [&](EventSink sink) { return std::make_unique<Capture>(std::move(cfg), std::move(sink)); });
    cleanup_.Add();
  }

  ~CaptureWrap() override { Teardown(); }

  void OnEnvCleanup() { engine_.CloseForTeardown(); }

 private:
  void Teardown() {
    cleanup_.Remove();
    engine_.Close();
  }

  Capture& engine(Napi::Env env) {
    Capture* c = engine_.get();
    if (!c) ThrowJs(env, kErrState, "capture is closed");
    return *c;
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
    num(o, "eventsDropped", engine_.eventsDropped());
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
    Capture* c = engine_.get();
    if (!c) return env.Undefined();
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    auto* chunk = new std::vector<uint8_t>();
    int r = c->ReadStream(id, *chunk);
    if (r <= 0) {
      delete chunk;
      return r == 0 ? env.Null() : env.Undefined();
    }
    return Napi::Buffer<uint8_t>::NewOrCopy(env, chunk->data(), chunk->size(),
                                            [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, chunk);
  }

  Napi::Value CloseStream(const Napi::CallbackInfo& info) {
    if (Capture* c = engine_.get()) c->CloseStream(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  EnvCleanup<CaptureWrap> cleanup_;
  std::vector<InterfaceSpec> initial_;
  EventEngine<Capture, Event, &Capture::Shutdown> engine_;
};

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

}  // namespace

void ExportCapture(Napi::Env env, Napi::Object exports) {
  exports.Set("repairCaptureFile", Napi::Function::New(env, RepairCaptureFileJs));
  exports.Set("Capture", CaptureWrap::Define(env));
}

}  // namespace ringtap
