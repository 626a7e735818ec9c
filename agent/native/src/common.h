// Shared helpers for the ringtap native engine: error type with stable codes.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ringtap {

// Stable error codes, mirrored as string constants in agent/src/native.ts.
// Callers match on `code`, never on message text.
inline constexpr const char* kErrNoSuchInterface = "ERR_RINGTAP_NO_SUCH_INTERFACE";
inline constexpr const char* kErrBadFilter = "ERR_RINGTAP_BAD_FILTER";
inline constexpr const char* kErrNetns = "ERR_RINGTAP_NETNS";
inline constexpr const char* kErrSocket = "ERR_RINGTAP_SOCKET";
inline constexpr const char* kErrRing = "ERR_RINGTAP_RING";
inline constexpr const char* kErrHwTstamp = "ERR_RINGTAP_HWTSTAMP_UNSUPPORTED";
inline constexpr const char* kErrUnsupportedLink = "ERR_RINGTAP_UNSUPPORTED_LINK_TYPE";
inline constexpr const char* kErrInvalidArg = "ERR_RINGTAP_INVALID_ARGUMENT";
inline constexpr const char* kErrFile = "ERR_RINGTAP_FILE";
inline constexpr const char* kErrState = "ERR_RINGTAP_STATE";
inline constexpr const char* kErrTransmit = "ERR_RINGTAP_TRANSMIT";
inline constexpr const char* kErrBadCaptureFile = "ERR_RINGTAP_BAD_CAPTURE_FILE";
inline constexpr const char* kErrNetlink = "ERR_RINGTAP_NETLINK";

// Thrown by engine code on any thread; converted to a JS Error with `.code`
// at the binding layer (or to an "error" event when raised on an engine thread).
class RtError : public std::runtime_error {
 public:
  RtError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

inline std::string Errno(int err) { return std::string(strerror(err)); }

[[noreturn]] inline void ThrowErrno(const char* code, const std::string& what, int err = errno) {
  throw RtError(code, what + ": " + Errno(err));
}

}  // namespace ringtap
