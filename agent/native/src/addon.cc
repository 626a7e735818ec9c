// ringtap native engine: the Node-API module. Each binding lives in js/ (one file per wrapped
// object); see agent/native/README.md for the threading model.
#include <napi.h>

#include "js/exports.h"

static Napi::Object InitRingtap(Napi::Env env, Napi::Object exports) {
  ringtap::ExportFilter(env, exports);
  ringtap::ExportCapture(env, exports);
  ringtap::ExportTransmit(env, exports);
  ringtap::ExportLinkMonitor(env, exports);
  ringtap::ExportPppRelay(env, exports);
  ringtap::ExportPppKernelBridge(env, exports);
  return exports;
}

NODE_API_MODULE(ringtap_native, InitRingtap)
