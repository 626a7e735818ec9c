{
  "targets": [
    {
      "target_name": "ringtap_native",
      "sources": [
        "src/addon.cc",
        "src/engine.cc", "src/filesink.cc", "src/streams.cc", "src/pcapfmt.cc", "src/sock.cc", "src/tx.cc",
        "src/linkmon.cc", "src/relay.cc", "src/pppkernel.cc",
        "src/js/options.cc", "src/js/filter.cc", "src/js/capture.cc", "src/js/transmit.cc",
        "src/js/linkmon.cc", "src/js/relay.cc", "src/js/pppkernel.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["-lpcap", "-lpthread"]
    }
  ]
}
