// Ties a wrapped object's native resources to its Node environment. JS thread only.
#pragma once

#include <napi.h>

namespace ringtap {

// If JavaScript never calls close(), the environment's teardown (process exit, worker
// termination) calls owner->OnEnvCleanup() instead, so no engine thread or socket outlives
// the environment. Remove() when the owner is torn down first (close() or its finalizer).
template <typename Owner>
class EnvCleanup {
 public:
  EnvCleanup(Owner* owner, napi_env env) : owner_(owner), env_(env) {}
  EnvCleanup(const EnvCleanup&) = delete;
  EnvCleanup& operator=(const EnvCleanup&) = delete;

  void Add() {
    napi_add_env_cleanup_hook(env_, &EnvCleanup::Run, this);
    hooked_ = true;
  }

  void Remove() {
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &EnvCleanup::Run, this);
      hooked_ = false;
    }
  }

 private:
  static void Run(void* arg) {
    auto* self = static_cast<EnvCleanup*>(arg);
    self->hooked_ = false;  // Node removes the hook itself after calling it
    self->owner_->OnEnvCleanup();
  }

  Owner* owner_;
  napi_env env_;
  bool hooked_ = false;
};

}  // namespace ringtap
