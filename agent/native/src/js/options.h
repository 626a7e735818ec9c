// Shared by the Node-API bindings (js/*.cc): JS errors with stable codes and option parsing.
// Everything here runs on the JavaScript thread.
#pragma once

#include <napi.h>

#include <string>

#include "../common.h"

namespace ringtap {

struct RelayEndpoint;

[[noreturn]] void ThrowJs(Napi::Env env, const std::string& code, const std::string& message);

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

// Every option reader treats undefined and null as absent and names the key in its error.
inline constexpr double kMaxSafe = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER
Napi::Object AsObject(Napi::Env env, Napi::Value v, const char* what);  // absent = {}
std::string OptString(Napi::Object o, const char* key, const std::string& def = "");
double OptNumber(Napi::Object o, const char* key, double def, double min, double max);
bool OptBool(Napi::Object o, const char* key, bool def);

// A PPPoE or L2TPv2 session, as PppRelay and PppKernelBridge take it.
RelayEndpoint ParseEndpoint(Napi::Env env, Napi::Value v, const char* what);

}  // namespace ringtap
