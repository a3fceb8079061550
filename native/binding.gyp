{
  "variables": {
    "libbpf_mode%": "vendored",
    "libbpf_prefix%": "vendor/libbpf-install"
  },
  "targets": [
    {
      "target_name": "procflow",
      "sources": [
        "src/addon.cc",
        "src/Collector.cc",
        "src/HookPlanner.cc",
        "src/KernelProbe.cc",
        "src/RingPoller.cc",
        "src/FlowDrainer.cc",
        "src/LibbpfLog.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../bpf",
        "../bpf/build"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "conditions": [
        ["libbpf_mode=='system'", {
          "libraries": ["-lbpf", "-lelf", "-lz"]
        }, {
          "include_dirs": ["<(libbpf_prefix)/include"],
          "libraries": ["<(libbpf_prefix)/lib/libbpf.a", "-lelf", "-lz"]
        }]
      ]
    }
  ]
}
