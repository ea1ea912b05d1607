#!/bin/bash
# End to end (issue 4 item 5, negative): cvminit as PID 1 attests to a broker that misbehaves, with
# a data disk that a first good boot set up (cvm-broker on the host, as test-disk-kbs.sh: LUKS2
# with integrity, stage "ready", a marker written). Every later boot must fail closed: the
# console and the measured boot-failed event give the step and the reason, no workload runs, the
# guest powers off by itself, and the data disk is byte-identical (sha256sum) afterwards.
#  - wrong key: the broker's key file is replaced; the same config attests, a 32-byte key is
#    released, and the disk step refuses the volume (UUID as the host's cryptsetup reads it)
#    because none of its key slots opens with that key; nothing is formatted.
#  - garbage: a fake broker (tests/integration/kbs-fake-broker.sh behind socat's TLS, our CA)
#    answers the resource request with no JWE: the attest step fails at once, exactly one auth,
#    attest and resource request reach it (no retry).
#  - broker down (nothing listens on its port): connection refused, retried `retries` times with
#    a warning each, then "gave up after retries+1 attempts".
#  - broker slow (a TCP listener that accepts and never answers): each attempt times out after
#    timeout_ms; the listener counts retries+1 connections.
# The boots that never reach the disk step load no device-mapper or crypto modules.
source "$(dirname "$0")/lib-kbs-fail.sh"

JWE_ENC=$BUILDDIR/tests/helpers/kbs-jwe-enc
FAKE=$TOP/tests/integration/kbs-fake-broker.sh
[ -x "$JWE_ENC" ] || fail "$JWE_ENC is not built (make tests)"
need_tools socat cryptsetup python3

kbsfail_setup --mkfs

broker_disk_key
DISK=$TEST_TMP/data.img
"$TOP/image/mkdisk" raw "$DISK" 64M
FAIL_SCRIPT='echo "workload: ran"'

note "first boot: the key released, the blank disk set up, a marker written (the disk all later boots get)"
kbs_config "$TEST_TMP/good.json" "https://10.0.2.2:$BROKER_PORT" default/disk/key "$MODULES_DISK" \
	'echo first-boot >/data/marker && echo "workload: marker written"'
kbs_boot "$TEST_TMP/good.json"
qemu_wait poweroff
must_see 'Key received \(32 bytes\)'
must_see 'Disk data: formatting /dev/vda as LUKS2'
must_see '^workload: marker written'
must_see 'Disk data: closed\.'
cryptsetup luksDump "$DISK" | grep -qE '^Subsystem:[[:space:]]+cvminit:ready$' ||
	fail "the first boot did not set the disk up: $(cryptsetup luksDump "$DISK")"
UUID=$(cryptsetup luksUUID "$DISK") || fail "no LUKS UUID"
good_s=$QEMU_ELAPSED

note "wrong key: the broker releases another key for the same resource; the disk is refused, not formatted"
head -c 32 /dev/urandom >"$KEYS/default/disk/key"
kbs_config "$TEST_TMP/wrongkey.json" "https://10.0.2.2:$BROKER_PORT" default/disk/key "$MODULES_DISK" "$FAIL_SCRIPT"
kbs_boot "$TEST_TMP/wrongkey.json"
fails_closed disk "^disk data: device SERIAL=cvm-data \(/dev/vda\): it holds a LUKS2 volume \(UUID $UUID\) with 1 key slot\(s\), none of which opens with the released key"
must_see 'Key received \(32 bytes\)'
[ "$(new_audit_lines | jq -r '.action + " " + .decision' | tr '\n' ',')" = "attest allowed,resource allowed," ] ||
	fail "audit: $(new_audit_lines)"
! console | grep -qE 'Disk data: (opened|creating|initialising)' || fail "the disk was opened or set up again"
wrongkey_s=$QEMU_ELAPSED
broker_stop

note "garbage: the fake broker answers the resource request with no JWE; one exchange, no retry"
STATE=$TEST_TMP/fake
mkdir -p "$STATE"
echo garbage >"$STATE/mode"
head -c 32 /dev/urandom >"$STATE/key.bin"
for ((attempt = 0; attempt < 20; attempt++)); do
	FAKE_PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
	setsid socat "OPENSSL-LISTEN:$FAKE_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$BROKER_CERT,key=$BROKER_KEY,verify=0" \
		EXEC:"bash $FAKE $STATE $JWE_ENC" 2>"$TEST_TMP/socat.err" &
	fake_pid=$!
	at_exit "kill -TERM -- -$fake_pid 2>/dev/null"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$fake_pid" 2>/dev/null || break
		(exec 3<>"/dev/tcp/127.0.0.1/$FAKE_PORT") 2>/dev/null && break 2
		sleep 0.1
	done
done
kill -0 "$fake_pid" 2>/dev/null || fail "socat did not start: $(cat "$TEST_TMP/socat.err")"
kbs_config "$TEST_TMP/garbage.json" "https://10.0.2.2:$FAKE_PORT" default/disk/key "$MODULES_NET" "$FAIL_SCRIPT"
kbs_boot "$TEST_TMP/garbage.json"
fails_closed attest "^resource: JWE: not valid JSON"
[ "$(tr '\n' ',' <"$STATE/requests.log")" = "POST /kbs/v0/auth,POST /kbs/v0/attest,GET /kbs/v0/resource/default/disk/key," ] ||
	fail "the fake broker saw: $(cat "$STATE/requests.log")"
[ "$(retry_warnings)" -eq 0 ] || fail "garbage was retried"
kill -TERM -- -"$fake_pid" 2>/dev/null || true
garbage_s=$QEMU_ELAPSED

# A port nothing listens on: bound, then closed by python3.
DOWN_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
attempts=$((KBS_RETRIES + 1))
note "broker down: connection refused, $KBS_RETRIES retries with warnings, then fail closed"
kbs_config "$TEST_TMP/down.json" "https://10.0.2.2:$DOWN_PORT" default/disk/key "$MODULES_NET" "$FAIL_SCRIPT"
kbs_boot "$TEST_TMP/down.json"
fails_closed attest "^auth: no answer from the broker at https://10\.0\.2\.2:$DOWN_PORT: Connection refused .*\(gave up after $attempts attempts\)$"
[ "$(retry_warnings)" -eq "$KBS_RETRIES" ] || fail "$(retry_warnings) retry warnings, expected $KBS_RETRIES:
$(console | grep 'trying again')"
for ((i = 2; i <= attempts; i++)); do
	must_see "Key broker: auth: no answer .*Connection refused.*; trying again in $((KBS_DELAY_MS << (i - 2))) ms \(attempt $i of $attempts\)"
done
down_s=$QEMU_ELAPSED

note "broker slow: accepts and never answers; each attempt times out, $attempts connections, then fail closed"
SLOW_LOG=$TEST_TMP/slow.log
: >"$SLOW_LOG"
python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:  # accept, log, never read or answer
    c, peer = s.accept()
    held.append(c)
    with open(sys.argv[2], "a") as f:
        f.write("%s:%d\n" % peer)
' "$TEST_TMP/slow.port" "$SLOW_LOG" &
slow_pid=$!
at_exit "kill $slow_pid 2>/dev/null"
for ((i = 0; i < 50; i++)); do
	[ -s "$TEST_TMP/slow.port" ] && break
	sleep 0.1
done
[ -s "$TEST_TMP/slow.port" ] || fail "the slow listener did not start"
SLOW_PORT=$(cat "$TEST_TMP/slow.port")
KBS_TIMEOUT_MS=1500 kbs_config "$TEST_TMP/slow.json" "https://10.0.2.2:$SLOW_PORT" default/disk/key "$MODULES_NET" "$FAIL_SCRIPT"
kbs_boot "$TEST_TMP/slow.json"
fails_closed attest "^auth: no answer from the broker at https://10\.0\.2\.2:$SLOW_PORT: Connection timed out .*\(gave up after $attempts attempts\)$"
[ "$(wc -l <"$SLOW_LOG")" -eq "$attempts" ] || fail "the slow listener saw $(wc -l <"$SLOW_LOG") connections, expected $attempts"
[ "$(retry_warnings)" -eq "$KBS_RETRIES" ] || fail "$(retry_warnings) retry warnings, expected $KBS_RETRIES"
slow_s=$QEMU_ELAPSED
kill "$slow_pid" 2>/dev/null || true

note "figures (TCG, QEMU start -> power-off): good boot with disk setup ${good_s} s, wrong key ${wrongkey_s} s,"
note "         garbage ${garbage_s} s, down ${down_s} s, slow ${slow_s} s (3 x 1.5 s timeouts)"
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE"
echo ok
