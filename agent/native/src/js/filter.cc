// Binding of the BPF compiler (libpcap): libpcapVersion(), compileFilter(), compileFilterProgram().
#include <pcap/pcap.h>

#include "../sock.h"
#include "exports.h"
#include "options.h"

namespace ringtap {
namespace {

Napi::Value LibpcapVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

// The arguments of both compilers: (text, linkType = 1, snaplen = 262144).
struct FilterArgs {
  std::string text;
  int linkType;
  int snaplen;
};

FilterArgs ParseFilterArgs(const Napi::CallbackInfo& info, const char* name) {
  if (!info[0].IsString()) ThrowJs(info.Env(), kErrInvalidArg, std::string(name) + "(text, linkType?, snaplen?)");
  return FilterArgs{info[0].As<Napi::String>().Utf8Value(),
                    info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : kLinkTypeEthernet,
                    info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 262144};
}

// compileFilter(text, linkType = 1, snaplen = 262144) -> { instructions: string[] }
Napi::Value CompileFilterJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterArgs a = ParseFilterArgs(info, "compileFilter");
  auto lines = Guard(env, [&] { return DisassembleFilter(a.text, a.linkType, a.snaplen); });
  Napi::Array arr = Napi::Array::New(env, lines.size());
  for (size_t i = 0; i < lines.size(); i++) arr.Set(static_cast<uint32_t>(i), lines[i]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("instructions", arr);
  return o;
}

// compileFilterProgram(text, linkType = 1, snaplen = 262144) -> { code, jt, jf, k }[]: the
// classic BPF that tc's cls_bpf and SO_ATTACH_FILTER take, from the same pcap_compile.
Napi::Value CompileFilterProgramJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterArgs a = ParseFilterArgs(info, "compileFilterProgram");
  BpfProgram prog = Guard(env, [&] { return CompileFilter(a.text, a.linkType, a.snaplen); });
  Napi::Array arr = Napi::Array::New(env, prog.insns.size());
  for (size_t i = 0; i < prog.insns.size(); i++) {
    Napi::Object insn = Napi::Object::New(env);
    insn.Set("code", Napi::Number::New(env, prog.insns[i].code));
    insn.Set("jt", Napi::Number::New(env, prog.insns[i].jt));
    insn.Set("jf", Napi::Number::New(env, prog.insns[i].jf));
    insn.Set("k", Napi::Number::New(env, prog.insns[i].k));
    arr.Set(static_cast<uint32_t>(i), insn);
  }
  return arr;
}

}  // namespace

void ExportFilter(Napi::Env env, Napi::Object exports) {
  exports.Set("libpcapVersion", Napi::Function::New(env, LibpcapVersion));
  exports.Set("compileFilter", Napi::Function::New(env, CompileFilterJs));
  exports.Set("compileFilterProgram", Napi::Function::New(env, CompileFilterProgramJs));
}

}  // namespace ringtap
