#!/bin/bash
# A fake key broker for tests/integration/test-kbs-client.sh: socat terminates TLS and runs this
# script once per connection with the decrypted stream on stdin/stdout. It answers one HTTP/1.1
# request (Connection: close) the way the test's mode, read from STATE/mode at each request, asks,
# so the client can be shown the protocol edges a real broker never produces. Test scaffolding.
#
#   usage: kbs-fake-broker.sh STATE-DIR JWE-ENC
#   STATE/mode        ok | deny | auth503 | hang | nocookie | garbage | wrongkey | big | notfound
#   STATE/key.bin     the resource; STATE/other.jwk a key that is not the client's (wrongkey)
#   STATE/requests.log  one "METHOD PATH" line per request; STATE/attest.json the last attest body
set -u
export LC_ALL=C
state=$1 jwe_enc=$2
mode=$(cat "$state/mode")
nonce="q3ofbm0AqHfkbgqUCfFkLu8fTjD5mhU9wSdTkYdsR6A="

IFS=' ' read -r method path _ || exit 0
len=0 cookie=""
while IFS= read -r line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
	case "${line,,}" in
	content-length:*) len=${line#*:} len=${len// /} ;;
	cookie:*) cookie=${line#*:} ;;
	esac
done
body=""
[ "$len" -gt 0 ] && body=$(head -c "$len")
echo "$method $path" >>"$state/requests.log"

respond() { # STATUS BODY [HEADER]
	printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n' \
		"$1" "${#2}"
	[ -n "${3:-}" ] && printf '%s\r\n' "$3"
	printf '\r\n%s' "$2"
}
kbs_error() { # STATUS VARIANT DETAIL
	respond "$1" "{\"type\":\"https://github.com/confidential-containers/kbs/errors/$2\",\"detail\":\"$3\"}"
}
have_session() { [[ $cookie == *kbs-session-id=fake-session* ]]; }

case "$path" in
/kbs/v0/auth)
	case $mode in
	auth503) kbs_error "503 Service Unavailable" Unavailable "try later" ;;
	hang) sleep 5 ;;
	nocookie) respond "200 OK" "{\"nonce\":\"$nonce\",\"extra-params\":\"\"}" ;;
	*) respond "200 OK" "{\"nonce\":\"$nonce\",\"extra-params\":\"\"}" \
		"Set-Cookie: kbs-session-id=fake-session; Path=/; Secure; HttpOnly" ;;
	esac ;;
/kbs/v0/attest)
	printf '%s' "$body" >"$state/attest.json"
	if ! have_session; then
		kbs_error "401 Unauthorized" UnAuthenticated "no session cookie"
	elif [ "$mode" = deny ]; then
		kbs_error "401 Unauthorized" PolicyDeny "model digest not allowed"
	else
		respond "200 OK" '{"token":"fake"}'
	fi ;;
/kbs/v0/resource/*)
	if ! have_session; then
		kbs_error "401 Unauthorized" UnAuthenticated "no session cookie"
		exit 0
	fi
	case $mode in
	garbage) respond "200 OK" "this is not a JWE" ;;
	big) respond "200 OK" "$(head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a')" ;;
	notfound) kbs_error "404 Not Found" ResourceNotFound "no such resource" ;;
	wrongkey) respond "200 OK" "$("$jwe_enc" "$state/other.jwk" "$state/key.bin")" ;;
	*)
		jq '."runtime-data"."tee-pubkey"' "$state/attest.json" >"$state/jwk.json"
		respond "200 OK" "$("$jwe_enc" "$state/jwk.json" "$state/key.bin")" ;;
	esac ;;
*) kbs_error "404 Not Found" NotFound "no such endpoint" ;;
esac
