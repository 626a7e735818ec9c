// Binding of the link monitor: the LinkMonitor class. Everything here runs on the JavaScript
// thread; link events arrive through EventChannel.
#include <net/if.h>

#include "../linkmon.h"
#include "envcleanup.h"
#include "eventchannel.h"
#include "exports.h"
#include "options.h"

namespace ringtap {
namespace {

Napi::Object LinkToJs(Napi::Env env, const LinkInfo& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", l.ifindex);
  o.Set("name", l.name);
  o.Set("mtu", Napi::Number::New(env, l.mtu));
  o.Set("up", (l.flags & IFF_UP) != 0);
  o.Set("running", (l.flags & IFF_RUNNING) != 0);
  return o;
}

}  // namespace

// Link events for EventChannel (static, in ringtap: found by argument-dependent lookup).
static Napi::Object EventToJs(Napi::Env env, const LinkEvent& e) {
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
static bool IsCritical(const LinkEvent& e) { return e.type == "error"; }
static bool UnrefsAfter(const LinkEvent&) { return false; }

namespace {

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
  explicit LinkMonitorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkMonitorWrap>(info), cleanup_(this, info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowJs(env, kErrInvalidArg, "new LinkMonitor(options, onEvent)");
    Napi::Object opts = AsObject(env, info[0], "options");
    std::string netns = OptString(opts, "netns");
    auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "ringtap-links", 0, 1);
    // Never keeps the process alive: a monitor is a listener, not work to finish.
    tsfn.Unref(env);
    monitor_.Open(env, tsfn, 4096, [&](LinkEventSink sink) { return std::make_unique<LinkMonitor>(netns, std::move(sink)); });
    cleanup_.Add();
  }

  ~LinkMonitorWrap() override { Teardown(); }

  void OnEnvCleanup() { monitor_.CloseForTeardown(); }

 private:
  void Teardown() {
    cleanup_.Remove();
    monitor_.Close();
  }

  LinkMonitor& monitor(Napi::Env env) {
    LinkMonitor* m = monitor_.get();
    if (!m) ThrowJs(env, kErrState, "link monitor is closed");
    return *m;
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
    o.Set("eventsDropped", Napi::Number::New(env, static_cast<double>(monitor_.eventsDropped())));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  EnvCleanup<LinkMonitorWrap> cleanup_;
  EventEngine<LinkMonitor, LinkEvent, &LinkMonitor::Close> monitor_;
};

}  // namespace

void ExportLinkMonitor(Napi::Env env, Napi::Object exports) { exports.Set("LinkMonitor", LinkMonitorWrap::Define(env)); }

}  // namespace ringtap
