#!/usr/bin/env bash
# Measures what write-heavy tools cost in B2 transactions and stored
# versions on a b2fs mount over b2emu: rsync -a, cp -a and tar x of N small
# files (with modes and times), a git commit, and cat of a file just
# written. Prints a Markdown table.
#
#   scripts/cost.sh                     build bin/ and measure
#   B2FS_BIN=/path/to/b2fs scripts/cost.sh   measure another b2fs binary
#   B2FS_COST_FILES=100  B2FS_COST_ARGS="--metadata-delay 0"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n="${B2FS_COST_FILES:-100}"
go build -o bin/ ./cmd/b2emu ./cmd/b2fs
b2fs="${B2FS_BIN:-bin/b2fs}"
work="$(mktemp -d)"
emu_pid= fs_pid=
cleanup() {
  [ -n "$fs_pid" ] && kill "$fs_pid" 2>/dev/null && wait "$fs_pid" 2>/dev/null || true
  fusermount3 -u -z "$work/mnt" 2>/dev/null || true
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
B2EMU_KEY=secret bin/b2emu --listen "127.0.0.1:$port" --key-id acct --bucket cost-bucket >"$work/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do curl -sf "$url/b2emu/stats" >/dev/null && break; sleep 0.1; done
mkdir -p "$work/mnt" "$work/src"
# N small files with varied modes and old times.
for i in $(seq -w 1 "$n"); do
  printf 'file %s\n' "$i" > "$work/src/f$i"
  chmod $(( 10#$i % 2 ? 640 : 600 )) "$work/src/f$i"
  touch -d "@$((1500000000 + 10#$i))" "$work/src/f$i"
done
# shellcheck disable=SC2086
B2_APPLICATION_KEY_ID=acct B2_APPLICATION_KEY=secret "$b2fs" --endpoint "$url" \
  --cache-dir "$work/cache" ${B2FS_COST_ARGS:-} cost-bucket "$work/mnt" >"$work/b2fs.log" 2>&1 &
fs_pid=$!
for _ in $(seq 100); do mountpoint -q "$work/mnt" && break; sleep 0.1; done
mountpoint -q "$work/mnt" || { cat "$work/b2fs.log"; exit 1; }

calls() { # calls JSON API
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["calls"].get(sys.argv[2],0))' "$1" "$2"
}
versions() { # stored versions under PREFIX (hide markers included)
  local tok api
  python3 - "$url" "$1" <<'PY'
import base64, json, sys, urllib.request
url, prefix = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url + "/b2api/v3/b2_authorize_account",
    headers={"Authorization": "Basic " + base64.b64encode(b"acct:secret").decode()})
a = json.load(urllib.request.urlopen(req))
api, tok = a["apiInfo"]["storageApi"]["apiUrl"], a["authorizationToken"]
bid = json.load(urllib.request.urlopen(urllib.request.Request(api + "/b2api/v3/b2_list_buckets",
    data=json.dumps({"accountId": a["accountId"], "bucketName": "cost-bucket"}).encode(),
    headers={"Authorization": tok})))["buckets"][0]["bucketId"]
n, start = 0, None
while True:
    body = {"bucketId": bid, "prefix": prefix, "maxFileCount": 10000}
    if start: body.update(start)
    r = json.load(urllib.request.urlopen(urllib.request.Request(api + "/b2api/v3/b2_list_file_versions",
        data=json.dumps(body).encode(), headers={"Authorization": tok})))
    n += sum(1 for f in r["files"] if not f["fileName"].endswith(".bzEmpty"))
    if not r.get("nextFileName"): break
    start = {"startFileName": r["nextFileName"], "startFileId": r["nextFileId"]}
print(n)
PY
}
echo "| workload ($n files) | uploads | copies | hides | deletes | downloads | stored versions |"
echo "|---|---|---|---|---|---|---|"
run() { # run NAME DIR SCRIPT
  mkdir "$work/mnt/$2"
  sleep 0.2
  curl -sf -X POST "$url/b2emu/stats/reset" >/dev/null
  (cd "$work/mnt/$2" && eval "$3") >/dev/null 2>&1
  sleep 2 # past --metadata-delay
  local s; s=$(curl -sf "$url/b2emu/stats")
  local dl=$(( $(calls "$s" b2_download_file_by_id) + $(calls "$s" b2_download_file_by_name) ))
  echo "| $1 | $(calls "$s" b2_upload_file) | $(calls "$s" b2_copy_file) | $(calls "$s" b2_hide_file) | $(calls "$s" b2_delete_file_version) | $dl | $(versions "$2/") |"
}
run "rsync -a" rs "rsync -a '$work/src/' ./"
run "cp -a" cp "cp -a '$work/src/.' ./"
run "tar x" tar "tar -C '$work/src' -cf - . | tar -xpf -"
run "echo x > f (x$n)" sh "for i in \$(seq $n); do echo \$i > f\$i; done"
run "cat of $n files just written" cat "cp '$work/src/'* ./ && cat ./* >/dev/null"
run "git init+add+commit" git "cp '$work/src/'* ./ && git init -q && git add . && git -c user.name=a -c user.email=a@b commit -qm m"
if grep -q "DATA RACE\|panic:" "$work/b2fs.log"; then
  echo "b2fs log shows a crash or a data race:" >&2
  cat "$work/b2fs.log" >&2
  exit 1
fi
