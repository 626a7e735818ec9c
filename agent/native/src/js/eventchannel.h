// The bounded event channel from engine threads to JavaScript (one thread-safe function).
// Push runs on any engine thread; everything else on the JavaScript thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "options.h"

namespace ringtap {

// Bounded hand-off from engine threads to JavaScript. At most one TSFN call is in flight
// (`scheduled_`); the JS side drains everything queued. Non-critical events beyond
// maxQueued are dropped and counted, so a busy event loop never makes an engine thread wait.
// Used for capture events (E = Event, 256) and link events (E = LinkEvent, 4096).
// Each event type E provides, in namespace ringtap (found by argument-dependent lookup):
// EventToJs(env, e), IsCritical(e) (never dropped) and UnrefsAfter(e) (unref the TSFN).
template <typename E>
class EventChannel : public std::enable_shared_from_this<EventChannel<E>> {
 public:
  EventChannel(Napi::ThreadSafeFunction tsfn, size_t maxQueued) : tsfn_(tsfn), maxQueued_(maxQueued) {}

  void Push(E&& e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return;
    if (!IsCritical(e) && q_.size() >= maxQueued_) {
      dropped_++;
      return;
    }
    q_.push_back(std::move(e));
    if (scheduled_) return;
    scheduled_ = true;
    auto self = this->shared_from_this();
    if (tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function cb) { self->Drain(env, cb); }) != napi_ok) {
      scheduled_ = false;
    }
  }

  // JS thread.
  void Drain(Napi::Env env, Napi::Function cb) {
    std::deque<E> local;
    {
      std::lock_guard<std::mutex> lk(mu_);
      local.swap(q_);
      scheduled_ = false;
    }
    for (auto& e : local) {
      if (UnrefsAfter(e)) Unref(env);
      if (cb.IsEmpty() || env.IsExceptionPending()) continue;
      cb.Call({EventToJs(env, e)});
    }
  }

  // JS thread: a stopped capture must not keep the process alive.
  void Unref(Napi::Env env) {
    if (!unrefed_) {
      unrefed_ = true;
      tsfn_.Unref(env);
    }
  }

  // JS thread, after every engine thread has been joined.
  void Release() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return;
      closed_ = true;
    }
    tsfn_.Release();
  }

  // Environment teardown: the TSFN is being torn down by Node itself.
  void CloseWithoutRelease() {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
  }

  uint64_t dropped() {
    std::lock_guard<std::mutex> lk(mu_);
    return dropped_;
  }

 private:
  Napi::ThreadSafeFunction tsfn_;
  size_t maxQueued_;
  std::mutex mu_;
  std::deque<E> q_;
  bool scheduled_ = false;
  bool closed_ = false;
  bool unrefed_ = false;
  uint64_t dropped_ = 0;
};

// An engine whose threads emit E through an EventChannel, as a wrapped object owns it (Capture,
// LinkMonitor): the channel comes first and is released again if the engine throws; close() and
// the finalizer stop the engine, then release the TSFN; environment teardown stops the engine
// and leaves the TSFN to Node. `Stop` joins every engine thread, so no Push follows it.
template <typename Engine, typename E, void (Engine::*Stop)()>
class EventEngine {
 public:
  // make(sink) constructs the engine; its RtError is thrown to JS with the channel released.
  template <typename Make>
  void Open(Napi::Env env, Napi::ThreadSafeFunction tsfn, size_t maxQueued, Make&& make) {
    channel_ = std::make_shared<EventChannel<E>>(tsfn, maxQueued);
    auto channel = channel_;
    try {
      engine_ = make([channel](E&& e) { channel->Push(std::move(e)); });
    } catch (const RtError& e) {
      channel_->Release();
      ThrowJs(env, e.code(), e.what());
    }
  }

  // close() or the finalizer. Idempotent.
  void Close() {
    if (closed_) return;
    closed_ = true;
    if (engine_) ((*engine_).*Stop)();
    if (channel_) channel_->Release();
  }

  // Environment teardown: the TSFN is being torn down by Node itself.
  void CloseForTeardown() {
    if (engine_) ((*engine_).*Stop)();
    if (channel_) channel_->CloseWithoutRelease();
    closed_ = true;
  }

  Engine* get() { return closed_ ? nullptr : engine_.get(); }  // null once closed
  uint64_t eventsDropped() { return channel_->dropped(); }

 private:
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<EventChannel<E>> channel_;
  bool closed_ = false;
};

}  // namespace ringtap
