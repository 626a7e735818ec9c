// Binding of the TX ring sender: transmit(), which runs on a libuv pool thread.
#include <atomic>

#include "../tx.h"
#include "exports.h"
#include "options.h"

namespace ringtap {
namespace {

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

}  // namespace

void ExportTransmit(Napi::Env env, Napi::Object exports) { exports.Set("transmit", Napi::Function::New(env, TransmitJs)); }

}  // namespace ringtap
