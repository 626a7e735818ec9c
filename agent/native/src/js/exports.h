// What each binding file adds to the module's exports; addon.cc calls them in turn.
#pragma once

#include <napi.h>

namespace ringtap {

void ExportFilter(Napi::Env env, Napi::Object exports);     // libpcapVersion, compileFilter, compileFilterProgram
void ExportCapture(Napi::Env env, Napi::Object exports);    // repairCaptureFile, Capture
void ExportTransmit(Napi::Env env, Napi::Object exports);   // transmit
void ExportLinkMonitor(Napi::Env env, Napi::Object exports);  // LinkMonitor
void ExportPppRelay(Napi::Env env, Napi::Object exports);   // PppRelay
void ExportPppKernelBridge(Napi::Env env, Napi::Object exports);  // PppKernelBridge, pppKernelError

}  // namespace ringtap
