{
  "targets": [
    {
      "target_name": "siphon_pcap",
      "sources": ["host/source/libpcap/addon.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
