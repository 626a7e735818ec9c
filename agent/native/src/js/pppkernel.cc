// Binding of the kernel PPP bridge: the PppKernelBridge class and pppKernelError(). Runs on the
// JavaScript thread.
#include "../pppkernel.h"
#include "envcleanup.h"
#include "exports.h"
#include "options.h"

namespace ringtap {
namespace {

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

  explicit PppKernelBridgeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PppKernelBridgeWrap>(info), cleanup_(this, info.Env()) {
    Napi::Env env = info.Env();
    Napi::Object opts = AsObject(env, info[0], "options");
    RelayEndpoint a = ParseEndpoint(env, opts.Get("a"), "a");
    RelayEndpoint b = ParseEndpoint(env, opts.Get("b"), "b");
    bridge_ = Guard(env, [&] { return std::make_unique<PppKernelBridge>(a, b); });
    cleanup_.Add();
  }

  ~PppKernelBridgeWrap() override { Teardown(); }
  void OnEnvCleanup() { Teardown(); }

 private:

  void Teardown() {
    cleanup_.Remove();
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

  EnvCleanup<PppKernelBridgeWrap> cleanup_;
  std::unique_ptr<PppKernelBridge> bridge_;
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

}  // namespace

void ExportPppKernelBridge(Napi::Env env, Napi::Object exports) {
  exports.Set("PppKernelBridge", PppKernelBridgeWrap::Define(env));
  exports.Set("pppKernelError", Napi::Function::New(env, PppKernelErrorJs));
}

}  // namespace ringtap
