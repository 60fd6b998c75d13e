#!/usr/bin/env bash
# Installs what mulambda's tests and demo need when it is missing: a Redis-API server
# (Debian's redis-server) and protoc with Google's well-known .proto files (protobuf-compiler,
# libprotobuf-dev) for wire/'s build script. Safe to run repeatedly. Tests start their own servers on free
# loopback ports; nothing is started here.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The interception tests (intercept/tests/netns.rs) run only as root, and then need these.
if [ "$(id -u)" = 0 ]; then
    for tool_pkg in curl:curl nft:nftables ip:iproute2 python3:python3; do
        command -v "${tool_pkg%%:*}" >/dev/null 2>&1 || need_apt+=("${tool_pkg#*:}")
    done
fi
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/wrappers.proto ] || need_apt+=(libprotobuf-dev)
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 && command -v bridge >/dev/null 2>&1 || need_apt+=(iproute2) # netlab

if ((${#need_apt[@]})); then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "ensure-deps: installing ${need_apt[*]} from Debian's packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    else
        echo "ensure-deps: missing ${need_apt[*]}; run: sudo apt-get install -y ${need_apt[*]}" >&2
        exit 1
    fi
fi
# Debian starts no service on install here, but where a distribution does, that server on 6379
# is left alone: tests never use fixed ports.
