#!/usr/bin/env bash
# Resident memory of the console holding 100,000 queued cases.
# Usage: benches/harness/memory.sh [CASES]   (needs tmux and python3; builds --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
cases="${1:-100000}"
cargo build --release --quiet
bin="$PWD/target/release/kycdesk"
dir="$(mktemp -d)"
trap 'tmux -S "$dir/tmux.sock" kill-server 2>/dev/null || true; kill "$emu_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" emulator --listen 127.0.0.1:0 --cases 3 --write-config "$dir/kd.toml" > "$dir/emu.out" &
emu_pid=$!
for _ in $(seq 50); do grep -q wrote "$dir/emu.out" 2>/dev/null && break; sleep 0.1; done
export KYCDESK_STORE="$dir/store.sqlite3" KYCDESK_LOG="$dir/log" KYCDESK_IMAGES=off
"$bin" --config "$dir/kd.toml" list > /dev/null 2>&1   # creates the schema
python3 - "$dir/store.sqlite3" "$cases" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2])
rows = [(f"complycube:{i:024x}", "complycube", f"Applicant Number {i}", "identity",
         "liveness check, facial similarity", f"2026-11-01T00:00:{i % 60:02d}.000000Z", "pending",
         "2026-11-01T00:00:00.000000Z") for i in range(n)]
db.executemany("INSERT OR IGNORE INTO queue VALUES (?,?,?,?,?,?,?,?)", rows); db.commit()
PY
tmux -S "$dir/tmux.sock" new-session -d -x 240 -y 70 \
  -e KYCDESK_STORE="$KYCDESK_STORE" -e KYCDESK_LOG="$KYCDESK_LOG" -e KYCDESK_IMAGES=off \
  "exec $bin --config $dir/kd.toml console"
for _ in $(seq 100); do
  tmux -S "$dir/tmux.sock" capture-pane -p | grep -qE "Queue 1/[0-9]{${#cases}}" && break; sleep 0.2
done
pid="$(tmux -S "$dir/tmux.sock" display-message -p '#{pane_pid}')"
tmux -S "$dir/tmux.sock" send-keys G; sleep 1; tmux -S "$dir/tmux.sock" send-keys g; sleep 1
tmux -S "$dir/tmux.sock" capture-pane -p | grep -oE "Queue [0-9]+/[0-9]+" | head -1
grep -E 'VmRSS|VmHWM' "/proc/$pid/status"
