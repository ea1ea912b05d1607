# Sourced by tests that need a cvm-broker (after lib-swtpm.sh, whose at_exit, fail and TEST_TMP it
# uses). Certificates are made at test time with openssl; the broker listens on 127.0.0.1 only.
#
#   broker_certs              a test CA and a server certificate for 127.0.0.1, ::1, localhost and
#                             10.0.2.2 (the host as a QEMU user-network guest sees it): sets
#                             BROKER_CA (PEM file), BROKER_CERT, BROKER_KEY
#   broker_start POLICY KEYS [ARGS...]
#                             starts cvm-broker on 127.0.0.1 with a free port, audit log
#                             $TEST_TMP/audit.N.log; sets BROKER_PORT, BROKER_URL, BROKER_PID,
#                             BROKER_AUDIT; stopped when the test exits
#   broker_stop               stops the current broker, failing if it reported a sanitizer error
#   kbs_curl ARGS...          curl against it with the test CA, silent, at most 10 s

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
