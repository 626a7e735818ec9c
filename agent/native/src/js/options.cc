// Shared by the Node-API bindings: JS errors and option parsing.
#include "options.h"

#include <arpa/inet.h>

#include "../relay.h"

namespace ringtap {

[[noreturn]] void ThrowJs(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

Napi::Object AsObject(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return Napi::Object::New(env);
  if (!v.IsObject()) ThrowJs(env, kErrInvalidArg, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

std::string OptString(Napi::Object o, const char* key, const std::string& def) {
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

namespace {

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

}  // namespace

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

}  // namespace ringtap
