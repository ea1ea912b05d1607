#!/bin/bash
# The KBS client (agent/kbs.c, DESIGN §4) in `cvminit --config` on the host, with swtpm, against a
# fake broker (kbs-fake-broker.sh behind socat's TLS) for the protocol's edges: the key-provider
# event before any request; evidence checked independently of our code (report_data from jq and
# openssl, the quote's signature with openssl and tpm2_checkquote, the AK re-created with
# tpm2_createprimary from the documented template, PCRs against tpm2_pcrread, the event log
# replayed by tpm2_eventlog); denial without retry; broker down, failing (503) or hanging: bounded
# retries, then boot-failed; garbage, a wrong key, an oversized answer, no cookie, no resource:
# fail at once; TLS: an unknown CA, a certificate for another host, a server that is not TLS. The
# workload never runs after a failure and the key never appears in any output.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
JWE_ENC=$BUILDDIR/tests/helpers/kbs-jwe-enc
FAKE=$TOP/tests/integration/kbs-fake-broker.sh
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
[ -x "$JWE_ENC" ] || fail "$JWE_ENC is not built (make tests)"
for tool in socat jq tpm2_checkquote tpm2_createprimary tpm2_readpublic tpm2_eventlog base64; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done

UID_=$(id -u) GID_=$(id -g)
ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
content() { tr '\036' '\n' <"$1" | jq -c --arg op "$2" 'select(.)|select(.content.operation==$op)|.content.content'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- PKI: a CA, the broker's certificate for 127.0.0.1, and the certificates that must fail ----
PKI=$TEST_TMP/pki
mkdir -p "$PKI"
mk_ca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" \
		-out "$PKI/$1.pem" -days 2 -subj "/CN=$1" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign 2>/dev/null || fail "openssl: CA $1"
}
mk_cert() { # NAME CA SAN
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" \
		-subj "/CN=$1" 2>/dev/null || fail "openssl: request $1"
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3") -out "$PKI/$1.pem" \
		2>/dev/null || fail "openssl: certificate $1"
}
mk_ca ca
mk_ca rogue
mk_cert broker ca IP:127.0.0.1
mk_cert elsewhere ca DNS:elsewhere.example
mk_cert impostor rogue IP:127.0.0.1
CA_SHA256=$(openssl x509 -in "$PKI/ca.pem" -outform der | sha256sum | cut -d' ' -f1)

# ---- the fake broker ----
STATE=$TEST_TMP/fake
mkdir -p "$STATE"
head -c 64 /dev/urandom >"$STATE/key.bin"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout -outform der 2>/dev/null |
	tail -c 64 | xxd -p -c 64 >"$STATE/other.hex"
other_x=$(head -c 64 "$STATE/other.hex" | xxd -r -p | base64 -w0 | tr '+/' '-_' | tr -d '=')
other_y=$(tail -c +65 "$STATE/other.hex" | head -c 64 | xxd -r -p | base64 -w0 | tr '+/' '-_' | tr -d '=')
jq -n --arg x "$other_x" --arg y "$other_y" '{kty:"EC",crv:"P-256",x:$x,y:$y}' >"$STATE/other.jwk"

# start_server CERT-NAME | plain: a TLS server with that certificate running the fake broker, or a
# plain TCP server that answers garbage. Sets PORT; stopped (its whole process group) at exit.
start_server() {
	local attempt pid address
	for ((attempt = 0; attempt < 20; attempt++)); do
		PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if [ "$1" = plain ]; then
			address="TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork"
			setsid socat "$address" SYSTEM:'echo this-is-not-tls; sleep 1' 2>"$TEST_TMP/socat.err" &
		else
			address="OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/$1.pem,key=$PKI/$1.key,verify=0"
			setsid socat "$address" EXEC:"bash $FAKE $STATE $JWE_ENC" 2>"$TEST_TMP/socat.err" &
		fi
		pid=$!
		at_exit "kill -TERM -- -$pid 2>/dev/null"
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
			sleep 0.1
		done
	done
	fail "socat did not start: $(cat "$TEST_TMP/socat.err")"
}

# config FILE URL [KBS-EXTRA-JSON]: the broker at URL, our CA, resource default/disk/key, a
# workload that leaves a marker.
MARKER=$TEST_TMP/workload-ran
config() {
	jq -n --arg url "$2" --rawfile ca "$PKI/ca.pem" --argjson x "${3:-{\}}" --arg m "$MARKER" \
		--argjson u "$UID_" --argjson g "$GID_" \
		'{version:1, kbs:({url:$url, ca:$ca, resource:"default/disk/key", timeout_ms:5000, retries:2,
		  retry_delay_ms:100} + $x),
		  workload:{exec:["/bin/sh","-c","echo ran > \($m)"], env:{PATH:"/usr/bin:/bin"}, user:$u, group:$g}}' >"$1"
}
# boot MODE URL [KBS-EXTRA-JSON]: a fresh log, requests.log and marker; cvminit --config. Sets RC,
# OUT, ERR, LOG, MS (duration).
boot() {
	local t0
	echo "$1" >"$STATE/mode"
	rm -f "$STATE/requests.log" "$STATE/attest.json" "$MARKER"
	LOG=$TEST_TMP/$1.$RANDOM.log
	config "$TEST_TMP/config.json" "$2" "${3:-}"
	t0=$(now_ms)
	run "$CVMINIT" --config "$TEST_TMP/config.json" --tcti "$SWTPM_TCTI" --pcr 14 --log "$LOG" \
		--run-dir "$TEST_TMP/run"
	MS=$(($(now_ms) - t0))
}
requests() { [ -f "$STATE/requests.log" ] && tr '\n' ',' <"$STATE/requests.log" | sed 's/,$//'; }
# A failed boot: exit 3, the reason in stderr and in boot-failed {"step":"attest"}, no workload.
expect_failed() { # WHAT PATTERN
	[ "$RC" -eq 3 ] || fail "$1: exit $RC, expected 3: $ERR"
	expect_in "$1: stderr" "$ERR" "Boot failed in step attest: .*$2"
	[ "$(content "$LOG" boot-failed | jq -r .step)" = attest ] || fail "$1: boot-failed: $(content "$LOG" boot-failed)"
	[ ! -e "$MARKER" ] || fail "$1: the workload ran"
	[ "$(ops "$LOG")" = "config key-provider boot-failed" ] || fail "$1: events $(ops "$LOG")"
}
key_not_in() { # TEXT...: neither the key's hex nor its base64 appears
	local hex b64
	hex=$(xxd -p -c 64 "$STATE/key.bin") b64=$(base64 -w0 <"$STATE/key.bin")
	for t in "$@"; do
		grep -qiF -- "$hex" <<<"$t" && fail "the key (hex) appears in the output"
		grep -qF -- "${b64:0:40}" <<<"$t" && fail "the key (base64) appears in the output"
	done
	return 0
}

swtpm_start sha256
start_server broker
URL=https://127.0.0.1:$PORT
AUTH="POST /kbs/v0/auth"
FULL="$AUTH,POST /kbs/v0/attest,GET /kbs/v0/resource/default/disk/key"

note "key released: key-provider measured first, three requests, the key never shown"
boot ok "$URL"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
[ -e "$MARKER" ] || fail "the workload did not run"
[ "$(requests)" = "$FULL" ] || fail "requests: $(requests)"
[ "$(ops "$LOG")" = "config key-provider workload boot-done" ] || fail "events: $(ops "$LOG")"
[ "$(content "$LOG" key-provider)" = "{\"ca_sha256\":\"$CA_SHA256\",\"resource\":\"default/disk/key\",\"url\":\"$URL\"}" ] ||
	fail "key-provider event $(content "$LOG" key-provider), expected ca_sha256 $CA_SHA256"
expect_in "stderr" "$ERR" "Key received \(64 bytes\)"
key_not_in "$OUT" "$ERR" "$(cat "$LOG")"

note "the evidence, verified without our code"
A=$STATE/attest.json E=$TEST_TMP/ev
mkdir -p "$E"
ev() { jq -r ".\"tee-evidence\".primary_evidence$1" "$A"; }
[ "$(jq -r '."runtime-data".nonce' "$A")" = q3ofbm0AqHfkbgqUCfFkLu8fTjD5mhU9wSdTkYdsR6A= ] || fail "nonce not echoed"
[ "$(jq -c '."runtime-data"."tee-pubkey"|keys' "$A")" = '["alg","crv","kty","x","y"]' ] || fail "tee-pubkey $(jq -c '."runtime-data"' "$A")"
[ "$(jq -r '."tee-evidence".additional_evidence' "$A")" = "" ] || fail "additional_evidence"
[ "$(jq -c '."tee-evidence".primary_evidence|keys' "$A")" = '["ak_public","eventlog","tpm_quote"]' ] || fail "evidence members"
ev .ak_public | base64 -d >"$E/ak.der"
ev .tpm_quote.message | base64 -d >"$E/msg.bin"
ev .tpm_quote.signature | base64 -d >"$E/sig.bin"
ev .eventlog | base64 -d >"$E/log.bin"
[ "$(ev '.tpm_quote.pcrs|length')" = 24 ] || fail "not 24 PCRs"
# report_data = SHA-384(JCS(...)): jq -cS sorts members and prints compactly, which is JCS here.
RD=$(jq -cjS '{"additional-evidence":"", nonce:."runtime-data".nonce, "tee-pubkey":."runtime-data"."tee-pubkey"}' "$A" |
	openssl dgst -sha384 -binary | xxd -p -c 256)
QUAL=${RD:0:64}
MSG=$(xxd -p -c 100000 "$E/msg.bin")
[ "${MSG:0:12}" = ff5443478018 ] || fail "TPMS_ATTEST magic/type ${MSG:0:12}"
off=$((16 + 2 * 16#${MSG:12:4}))
[ "${MSG:off:4}" = 0020 ] && [ "${MSG:off+4:64}" = "$QUAL" ] || fail "qualifying data ${MSG:off:68}, expected $QUAL"
# The quoted PCR digest (the structure's last 32 bytes) is SHA-256 of the 24 claimed values.
[ "${MSG: -68:4}" = 0020 ] || fail "pcrDigest size"
[ "$(ev '.tpm_quote.pcrs[]' | tr -d '\n' | xxd -r -p | openssl dgst -sha256 -binary | xxd -p -c 64)" = "${MSG: -64}" ] ||
	fail "pcrDigest does not match the claimed PCRs"
SIG=$(xxd -p -c 1000 "$E/sig.bin")
[ "${SIG:0:12}" = 0014000b0100 ] || fail "signature is not RSASSA/SHA-256/256 bytes: ${SIG:0:12}"
xxd -r -p <<<"${SIG:12}" >"$E/sig.raw"
openssl pkey -pubin -inform der -in "$E/ak.der" -out "$E/ak.pem" || fail "ak_public is not a DER public key"
expect 0 openssl dgst -sha256 -verify "$E/ak.pem" -signature "$E/sig.raw" "$E/msg.bin"
expect 0 tpm2_checkquote -u "$E/ak.pem" -m "$E/msg.bin" -s "$E/sig.bin" -g sha256 -q "$QUAL"
# The AK is the endorsement primary of the documented template: tpm2-tools makes the same key.
expect 0 tpm2_createprimary -C e -g sha256 -G rsa2048:rsassa-sha256:null \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' -c "$E/ak.ctx"
expect 0 tpm2_readpublic -c "$E/ak.ctx" -f der -o "$E/ak2.der"
expect 0 tpm2_flushcontext -t
cmp -s "$E/ak.der" "$E/ak2.der" || fail "the AK differs from tpm2_createprimary's"
# PCRs: as the TPM has them, except 14, which moved on (workload, boot-done) after the quote.
for i in $(seq 0 23); do
	[ "$i" = 14 ] && continue
	tpm=$(tpm2_pcrread "sha256:$i" | sed -nE "s/^ *$i *: *0x([0-9A-Fa-f]+).*/\1/p" | tr 'A-F' 'a-f')
	[ "$(ev ".tpm_quote.pcrs[$i]")" = "$tpm" ] || fail "PCR $i: evidence $(ev ".tpm_quote.pcrs[$i]"), TPM $tpm"
done
# The event log (TCG2) replays, by tpm2_eventlog, to the quoted PCR 14.
expect 0 tpm2_eventlog "$E/log.bin"
replayed=$(sed -nE '/^pcrs:/,$ s/^ *14 *: *0x([0-9A-Fa-f]+).*/\1/p' <<<"$OUT" | head -n 1 | tr 'A-F' 'a-f')
[ -n "$replayed" ] && [ "$replayed" = "$(ev '.tpm_quote.pcrs[14]')" ] ||
	fail "event log replays PCR 14 to '$replayed', quoted $(ev '.tpm_quote.pcrs[14]')"
[ "$(grep -c 'EV_EVENT_TAG' <<<"$OUT")" = 2 ] || fail "event log: not 2 EV_EVENT_TAG events: $OUT"

note "policy denial: the broker's reason, no retry"
boot deny "$URL"
expect_failed deny "attest: denied by the broker \(HTTP 401, PolicyDeny: model digest not allowed\)"
[ "$(requests)" = "$AUTH,POST /kbs/v0/attest" ] || fail "deny: requests $(requests)"
expect_in "deny: no retry" "$(grep -c 'trying again' <<<"$ERR" || true)" "^0$"

note "answers that end the exchange at once"
boot garbage "$URL"
expect_failed garbage "resource: JWE: not valid JSON"
[ "$(requests)" = "$FULL" ] || fail "garbage: requests $(requests)"
boot wrongkey "$URL"
expect_failed wrongkey "resource: the JWE does not decrypt with our key"
[ "$(requests)" = "$FULL" ] || fail "wrongkey: requests $(requests)"
boot big "$URL"
expect_failed big "resource: the broker's answer is larger than 1048576 bytes"
boot notfound "$URL"
expect_failed notfound "resource: the broker has no such resource \(HTTP 404, ResourceNotFound: no such resource\)"
boot nocookie "$URL"
expect_failed nocookie "auth: the broker set no kbs-session-id cookie"
[ "$(requests)" = "$AUTH" ] || fail "nocookie: requests $(requests)"

note "broker failing (503): bounded retries with backoff"
boot auth503 "$URL" '{"retries":2,"retry_delay_ms":200}'
expect_failed auth503 "auth: the broker answered HTTP 503, Unavailable: try later \(gave up after 3 attempts\)"
[ "$(requests)" = "$AUTH,$AUTH,$AUTH" ] || fail "503: requests $(requests)"
[ "$(grep -c 'trying again' <<<"$ERR")" = 2 ] || fail "503: retries logged: $ERR"
expect_in "503: backoff" "$ERR" "trying again in 200 ms \(attempt 2 of 3\)"
expect_in "503: backoff" "$ERR" "trying again in 400 ms \(attempt 3 of 3\)"
[ "$MS" -ge 600 ] || fail "503: the retries took $MS ms, less than the backoff (600 ms)"

note "broker hanging: each attempt times out"
boot hang "$URL" '{"timeout_ms":700,"retries":1,"retry_delay_ms":0}'
expect_failed hang "auth: no answer from the broker at .*Connection timed out.*\(gave up after 2 attempts\)"
[ "$MS" -ge 1400 ] && [ "$MS" -lt 4500 ] || fail "hang: took $MS ms, expected about 2 x 700 ms"

note "broker down: connection refused, bounded retries"
for ((i = 0; i < 20; i++)); do
	DOWN=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
	(exec 3<>"/dev/tcp/127.0.0.1/$DOWN") 2>/dev/null || break
done
boot ok "https://127.0.0.1:$DOWN" '{"retries":3,"retry_delay_ms":50}'
expect_failed down "auth: no answer from the broker at https://127.0.0.1:$DOWN: Connection refused .*\(gave up after 4 attempts\)"
[ "$(grep -c 'trying again' <<<"$ERR")" = 3 ] || fail "down: retries logged: $ERR"

note "TLS: unknown CA, another host's certificate: refused without retry; not TLS at all: retried"
start_server impostor
# Not even through OpenSSL's environment: only the config's CA counts.
export SSL_CERT_FILE=$PKI/rogue.pem SSL_CERT_DIR=$PKI
boot ok "https://127.0.0.1:$PORT"
unset SSL_CERT_FILE SSL_CERT_DIR
expect_failed impostor "auth: the broker at https://127.0.0.1:$PORT did not present a certificate valid for its host name under the configured CA"
expect_in "impostor: no retry" "$(grep -c 'trying again' <<<"$ERR" || true)" "^0$"
[ -z "$(requests)" ] || fail "impostor: a request got through: $(requests)"
start_server elsewhere
boot ok "https://127.0.0.1:$PORT"
expect_failed elsewhere "did not present a certificate valid for its host name"
[ -z "$(requests)" ] || fail "elsewhere: a request got through: $(requests)"
start_server plain
boot ok "https://127.0.0.1:$PORT" '{"retries":1,"retry_delay_ms":0}'
expect_failed plain "auth: no answer from the broker .*\(gave up after 2 attempts\)"

note "ok"
