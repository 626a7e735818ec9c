// ringtap native engine: entry point. See agent/native/README.md for the threading model.
#include <napi.h>
#include <pcap/pcap.h>

namespace {

Napi::Value LibpcapVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("libpcapVersion", Napi::Function::New(env, LibpcapVersion));
  return exports;
}

}  // namespace

NODE_API_MODULE(ringtap_native, Init)
