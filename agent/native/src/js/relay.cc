// Binding of the userspace PPP relay: the PppRelay class. Runs on the JavaScript thread.
#include "../relay.h"
#include "envcleanup.h"
#include "exports.h"
#include "options.h"

namespace ringtap {
namespace {

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
  explicit PppRelayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PppRelayWrap>(info), cleanup_(this, info.Env()) {
    Napi::Env env = info.Env();
    Napi::Object opts = AsObject(env, info[0], "options");
    RelayEndpoint a = ParseEndpoint(env, opts.Get("a"), "a");
    RelayEndpoint b = ParseEndpoint(env, opts.Get("b"), "b");
    uint32_t mtu = ParseMtu(env, opts.Get("mtu"));
    relay_ = Guard(env, [&] { return std::make_unique<PppRelay>(a, b); });
    relay_->SetMtu(mtu);
    cleanup_.Add();
  }

  ~PppRelayWrap() override { Teardown(); }
  void OnEnvCleanup() { Teardown(); }

 private:

  void Teardown() {
    cleanup_.Remove();
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

  EnvCleanup<PppRelayWrap> cleanup_;
  std::unique_ptr<PppRelay> relay_;
};

}  // namespace

void ExportPppRelay(Napi::Env env, Napi::Object exports) { exports.Set("PppRelay", PppRelayWrap::Define(env)); }

}  // namespace ringtap
