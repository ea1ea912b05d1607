# Sourced by tests that need a cvm-broker (after lib-swtpm.sh, whose at_exit, fail and TEST_TMP it
# uses). Certificates are made at test time with openssl; the broker listens on 127.0.0.1 only.
#
#   broker_certs              a test CA and a server certificate for 127.0.0.1, ::1, localhost and
#                             10.0.2.2 (the host as a QEMU user-network guest sees it): sets
#                             BROKER_CA (PEM file), BROKER_CERT, BROKER_KEY, and CA_SHA256 (the
#                             CA's DER SHA-256 with openssl: the key-provider event's ca_sha256)
#   broker_start POLICY KEYS [ARGS...]
#                             starts cvm-broker on 127.0.0.1 with a free port, audit log
#                             $TEST_TMP/audit.N.log; sets BROKER_PORT, BROKER_URL, BROKER_PID,
#                             BROKER_AUDIT; stopped when the test exits
#   broker_stop               stops the current broker, failing if it reported a sanitizer error
#   kbs_curl ARGS...          curl against it with the test CA, silent, at most 10 s
#   broker_disk_key           after broker_certs, with AK_SHA256 set: broker_start with the policy
#                             TEST_TMP/policy.json that releases default/disk/key (32 random bytes in
#                             KEYS=TEST_TMP/keys) to a TPM with that AK whose log holds the config and
#                             the key-provider event (this CA, that resource)
#   broker_boot_config OUT MODEL DIGEST RAN POLICY KEYS
#                             a port for a broker started later with --listen 127.0.0.1:$PORT (the
#                             config, and so the policy, names the broker's URL): a broker with POLICY
#                             and KEYS started and stopped to learn it; sets PORT. Then the config
#                             OUT: model "tiny" at MODEL pinned to DIGEST, the kbs at that URL with
#                             the test CA for default/disk/data (5 s, 3 retries 100 ms apart), and a
#                             workload `echo ran >RAN` as the caller's uid and gid

CVM_BROKER=${CVM_BROKER:-$BUILDDIR/cvm-broker}
[ -x "$CVM_BROKER" ] || fail "$CVM_BROKER is not built (make all)"
for tool in openssl curl; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done
_broker_n=0

broker_certs() {
	local d=$TEST_TMP/pki
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" \
		-days 2 -subj "/CN=cvminit test broker CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl: cannot make the CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/CN=localhost" 2>/dev/null || fail "openssl: cannot make the server key"
	printf 'subjectAltName=IP:127.0.0.1,IP:::1,IP:10.0.2.2,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/server.pem" 2>/dev/null || fail "openssl: cannot sign the server certificate"
	BROKER_CA=$d/ca.pem BROKER_CERT=$d/server.pem BROKER_KEY=$d/server.key
	CA_SHA256=$(openssl x509 -in "$BROKER_CA" -outform der | sha256sum | cut -d' ' -f1)
}

broker_start() {
	local policy=$1 keys=$2 i
	shift 2
	_broker_n=$((_broker_n + 1))
	BROKER_AUDIT=$TEST_TMP/audit.$_broker_n.log
	local portfile=$TEST_TMP/broker.$_broker_n.port
	rm -f "$portfile"
	"$CVM_BROKER" --listen 127.0.0.1:0 --port-file "$portfile" --cert "$BROKER_CERT" --key "$BROKER_KEY" \
		--policy "$policy" --keys "$keys" --audit "$BROKER_AUDIT" "$@" 2>"$TEST_TMP/broker.$_broker_n.err" &
	BROKER_PID=$!
	at_exit "kill $BROKER_PID 2>/dev/null; wait $BROKER_PID 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[ -s "$portfile" ] && break
		kill -0 "$BROKER_PID" 2>/dev/null || fail "cvm-broker did not start: $(cat "$TEST_TMP/broker.$_broker_n.err")"
		sleep 0.05
	done
	[ -s "$portfile" ] || fail "cvm-broker did not write its port"
	BROKER_PORT=$(cat "$portfile")
	BROKER_URL=https://127.0.0.1:$BROKER_PORT
	BROKER_ERR=$TEST_TMP/broker.$_broker_n.err
}

broker_stop() {
	local rc=0
	[ -n "${BROKER_PID:-}" ] || return 0
	kill "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || rc=$?
	BROKER_PID=
	# Under ASan/UBSan (make check-asan) a report goes to standard error.
	! grep -q 'Sanitizer\|runtime error:' "$BROKER_ERR" || fail "cvm-broker: $(cat "$BROKER_ERR")"
	[ "$rc" -eq 0 ] || fail "cvm-broker exited with $rc: $(tail -n 5 "$BROKER_ERR")"
}

kbs_curl() {
	curl -s --max-time 10 --cacert "$BROKER_CA" "$@"
}

broker_disk_key() {
	KEYS=$TEST_TMP/keys
	mkdir -p "$KEYS/default/disk"
	head -c 32 /dev/urandom >"$KEYS/default/disk/key"
	jq -n --arg ak "$AK_SHA256" --arg ca "$CA_SHA256" '{version:1, resources:{"default/disk/key":{
		tee:["tpm"], trusted_aks:[$ak],
		events:[{operation:"config"},
		        {operation:"key-provider", content:{ca_sha256:$ca, resource:"default/disk/key"}}]}}}' \
		>"$TEST_TMP/policy.json" || fail "broker_disk_key: jq failed"
	broker_start "$TEST_TMP/policy.json" "$KEYS"
}

broker_boot_config() {
	local out=$1 model=$2 digest=$3 ran=$4
	broker_start "$5" "$6"
	PORT=$BROKER_PORT
	broker_stop
	jq -n --arg m "$model" --arg d "$digest" --rawfile ca "$BROKER_CA" --arg url "https://127.0.0.1:$PORT" \
		--argjson u "$(id -u)" --argjson g "$(id -g)" --arg out "$ran" \
		'{version:1, models:[{name:"tiny", path:$m, expect:$d}],
		  kbs:{url:$url, ca:$ca, resource:"default/disk/data", timeout_ms:5000, retries:3, retry_delay_ms:100},
		  workload:{exec:["/bin/sh","-c","echo ran >"+$out], env:{PATH:"/usr/bin:/bin"}, user:$u, group:$g}}' \
		>"$out" || fail "broker_boot_config: jq failed"
}
