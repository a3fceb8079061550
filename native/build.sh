#!/usr/bin/env bash
# Placeholder: the kernel build (libbpf, BPF objects, addon) lands with the kernel work.
exit 0
