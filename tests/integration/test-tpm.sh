#!/bin/bash
# cvmtool extend against swtpm (DESIGN §2, §3, §8): every active PCR bank is extended with the
# event digest, the TPM agrees with the log (tpm2_pcrread vs `cvmtool log replay` vs a replay with
# openssl from the log's digests), `cvmtool log verify` notices unlogged extends and records never
# extended, and failures (TPM gone, bad TCTI, wrong locality, bad content) are clean.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
command -v jq >/dev/null || fail "jq is missing (needed to read the log independently)"

zeros() { printf '%0*d' $(($1 * 2)) 0; }
hash_size() { case $1 in sha1) echo 20 ;; sha256) echo 32 ;; sha384) echo 48 ;; sha512) echo 64 ;; esac; }

# pcr_value BANK PCR: the register as the TPM reports it (tpm2-tools, not our code).
pcr_value() {
	tpm2_pcrread "$1:$2" | sed -nE "s/^ *$2 *: *0x([0-9A-Fa-f]+).*/\1/p" | tr 'A-F' 'a-f'
}

# openssl_replay LOG BANK: H(H(0||d0)||d1)... over the digests the log records for BANK.
openssl_replay() {
	local reg d
	reg=$(zeros "$(hash_size "$2")")
	while read -r d; do
		[ -n "$d" ] || continue
		reg=$(printf '%s%s' "$reg" "$d" | xxd -r -p | hash_hex "$2")
	done < <(tr '\036' '\n' <"$1" | jq -r --arg alg "$2" 'select(.)|.digests[]|select(.hashAlg==$alg)|.digest')
	echo "$reg"
}

# event_digest_openssl BANK TEXT: H("AAEL" tag u32le || u32le len || text), built byte by byte.
event_digest_openssl() {
	local len
	len=$(printf '%s' "$2" | wc -c)
	{
		printf '\x4c\x45\x41\x41'
		printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $(((len >> 8) & 255)))"
		printf "\\x$(printf %02x $(((len >> 16) & 255)))\\x$(printf %02x $(((len >> 24) & 255)))"
		printf '%s' "$2"
	} | hash_hex "$1"
}

extend_ok() { # extend_ok PCR LOG OPERATION CONTENT [STDIN]
	if [ $# -ge 5 ]; then
		expect 0 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr "$1" --log "$2" "$3" - <<<"$5"
	else
		expect 0 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr "$1" --log "$2" "$3" "$4"
	fi
}

# The TPM, `cvmtool log replay` and an openssl replay of the log agree on every active bank; the log
# has digests for exactly the active banks, and every bank moved away from zero.
check_tpm_matches_log() { # LOG PCR
	local log=$1 pcr=$2 bank tpm ours indep banks logged
	banks=$(swtpm_active_banks | sort | tr '\n' ' ')
	logged=$(tr '\036' '\n' <"$log" | jq -r 'select(.)|.digests[].hashAlg' | sort -u | tr '\n' ' ')
	[ "$banks" = "$logged" ] || fail "log has banks '$logged', TPM has active banks '$banks'"
	expect 0 "$CVMTOOL" log replay "$log"
	for bank in $banks; do
		tpm=$(pcr_value "$bank" "$pcr")
		indep=$(openssl_replay "$log" "$bank")
		ours=$(sed -nE "s/^pcr$pcr +$bank +([0-9a-f]+)\$/\1/p" <<<"$OUT")
		[ -n "$tpm" ] || fail "tpm2_pcrread $bank:$pcr returned nothing"
		[ "$tpm" != "$(zeros "$(hash_size "$bank")")" ] || fail "bank $bank of PCR $pcr was not extended"
		[ "$tpm" = "$indep" ] || fail "PCR $pcr $bank: TPM $tpm, openssl replay $indep"
		[ "$tpm" = "$ours" ] || fail "PCR $pcr $bank: TPM $tpm, cvmtool log replay '$ours' ($OUT)"
	done
	expect 0 "$CVMTOOL" log verify "$log" --tcti "$SWTPM_TCTI"
}

L="$TEST_TMP/measure.log"

note "usage"
expect 0 "$CVMTOOL" extend --help
expect_in "help" "$OUT" "exit codes"
expect 2 "$CVMTOOL" extend --pcr 14 --log "$L" config '{}'
expect 2 "$CVMTOOL" extend --tcti x --pcr 24 --log "$L" config '{}'
expect 2 "$CVMTOOL" extend --tcti x --pcr 1x --log "$L" config '{}'
expect 2 "$CVMTOOL" extend --tcti x config '{}'
expect 2 "$CVMTOOL" extend --tcti x --log "$L" 'bad op' '{}'
expect 2 "$CVMTOOL" extend --tcti x --log "$L" config

note "default swtpm: all four banks active"
swtpm_start
[ "$(swtpm_active_banks | wc -l)" -ge 2 ] || fail "expected several active banks: $(swtpm_active_banks)"

# Content that needs canonicalization; the expected JCS text is written out by hand (RFC 8785:
# members sorted by UTF-16 code units, so U+1F600 sorts before U+FF61; escapes resolved).
c1='{"source":"fw_cfg","sha384":"00ff","a":1}'
t1='cvminit config {"a":1,"sha384":"00ff","source":"fw_cfg"}'
c2='{"z":[1,{"y":"\u00e9","b":true}],"name":"modèle ✓","｡":1,"\ud83d\ude00":2,"a":null}'
t2='cvminit model {"a":null,"name":"modèle ✓","z":[1,{"b":true,"y":"é"}],"😀":2,"｡":1}'

extend_ok 14 "$L" config "$c1"
expect_in "extend output" "$OUT" "^record +0$"
expect_in "extend output" "$OUT" "^mr +pcr14$"
for bank in $(swtpm_active_banks); do
	want=$(event_digest_openssl "$bank" "$t1")
	got=$(sed -nE "s/^$bank +([0-9a-f]+)\$/\1/p" <<<"$OUT")
	[ "$got" = "$want" ] || fail "event 0 $bank digest: printed '$got', openssl $want"
done
[ "$(grep -cE '^(sha|sm3)' <<<"$OUT")" -eq "$(swtpm_active_banks | wc -l)" ] || fail "not one digest per bank: $OUT"

extend_ok 14 "$L" model - "$c2"
expect_in "extend output" "$OUT" "^record +1$"
want=$(event_digest_openssl sha256 "$t2")
expect_in "extend output (unicode content from stdin)" "$OUT" "^sha256 +$want$"
extend_ok 14 "$L" disk '{"name":"data","cipher":"aes-xts-plain64","integrity":"hmac(sha256)","fs":"ext4"}'
extend_ok 14 "$L" boot-done '{}'
expect_in "extend output" "$OUT" "^record +3$"
# The log holds the digests printed above, i.e. of the hand-made texts.
got=$(tr '\036' '\n' <"$L" | jq -r 'select(.recnum==1)|.digests[]|select(.hashAlg=="sha256")|.digest')
[ "$got" = "$want" ] || fail "record 1 sha256 digest in the log is $got, expected $want"
check_tpm_matches_log "$L" 14
[ "$(pcr_value sha256 16)" = "$(zeros 32)" ] || fail "PCR 16 changed by extends of PCR 14"

note "another PCR (16) on the same TPM"
L16="$TEST_TMP/pcr16.log"
extend_ok 16 "$L16" config "$c1"
extend_ok 16 "$L16" app '{"k":"v"}'
expect_in "extend output" "$OUT" "^mr +pcr16$"
check_tpm_matches_log "$L16" 16
check_tpm_matches_log "$L" 14 # untouched by the PCR 16 extends

note "a log for another register is refused before anything is extended"
before=$(pcr_value sha256 16)
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr 16 --log "$L" config '{}'
expect_in "stderr" "$ERR" "pcr14|register"
[ "$(pcr_value sha256 16)" = "$before" ] || fail "PCR 16 extended although the log was refused"

note "bad content or a bad log: refused, nothing extended, log unchanged"
cp "$L" "$TEST_TMP/before.log"
before=$(pcr_value sha256 14)
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --log "$L" config '{"a":'
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --log "$L" config '[1,2]'
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --log "$L" config '{"x":1.5}'
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --log "$L" config '{"a":1,"a":2}'
printf 'not a log\n' >"$TEST_TMP/garbage.log"
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --log "$TEST_TMP/garbage.log" config '{}'
[ "$(pcr_value sha256 14)" = "$before" ] || fail "PCR 14 extended by a refused event"
cmp -s "$L" "$TEST_TMP/before.log" || fail "log changed by a refused event"

note "PCR 17 needs locality 4: refused by the TPM, no record left behind"
L17="$TEST_TMP/pcr17.log"
expect 3 "$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr 17 --log "$L17" config '{}'
expect_in "stderr" "$ERR" "locality"
[ ! -s "$L17" ] || fail "a record is left in the log although the extend failed: $(cat -v "$L17")"

note "an extend that is not in the log"
tpm2_pcrextend "14:sha256=$(printf 'unlogged' | hash_hex sha256)" || fail "tpm2_pcrextend failed"
expect 1 "$CVMTOOL" log verify "$L" --tcti "$SWTPM_TCTI"
expect_in "verify output" "$OUT$ERR" "pcr14"
expect_in "verify output" "$OUT$ERR" "differ|unlogged|not in the log|does not match|mismatch"
check_tpm_matches_log "$L16" 16 # the other PCR is still fine

note "the TPM goes away: exit 4, TCTI named, log unchanged, no tpm2-tss noise"
gone=$SWTPM_TCTI
swtpm_stop
cp "$L" "$TEST_TMP/before.log"
expect 4 "$CVMTOOL" extend --tcti "$gone" --log "$L" config '{}'
expect_in "stderr" "$ERR" "reach.*$gone"
grep -q 'ERROR:tcti' <<<"$ERR" && fail "tpm2-tss logged on stderr: $ERR"
cmp -s "$L" "$TEST_TMP/before.log" || fail "log changed although the TPM was unreachable"
expect 4 "$CVMTOOL" log verify "$L" --tcti "$gone"

note "bad TCTI strings"
expect 2 "$CVMTOOL" extend --tcti "nosuchtcti:foo" --log "$L" config '{}'
expect_in "stderr" "$ERR" "nosuchtcti:foo.*no such TCTI library"
expect 2 "$CVMTOOL" extend --tcti "swtpm:port=notaport" --log "$L" config '{}'
expect_in "stderr" "$ERR" "swtpm:port=notaport.*not valid"
grep -q 'ERROR:tcti' <<<"$ERR" && fail "tpm2-tss logged on stderr: $ERR"

note "swtpm_setup with sha1,sha256,sha384 active (sha512 not): exactly those banks are extended"
swtpm_start sha1,sha256,sha384
tcti_a=$SWTPM_TCTI
[ "$(swtpm_active_banks | tr '\n' ' ')" = "sha1 sha256 sha384 " ] || fail "active banks: $(swtpm_active_banks)"
LA="$TEST_TMP/a.log"
extend_ok 14 "$LA" config "$c1"
extend_ok 14 "$LA" model "$c2"
grep -q '^sha512' <<<"$OUT" && fail "an inactive bank was extended: $OUT"
check_tpm_matches_log "$LA" 14
[ "$(pcr_value sha512 14)" = "" ] || [ "$(pcr_value sha512 14)" = "$(zeros 64)" ] ||
	fail "inactive sha512 bank changed"

note "a log with one record more than the TPM saw"
LB="$TEST_TMP/b.log"
cp "$LA" "$LB"
swtpm_start sha1,sha256,sha384 # a second TPM takes the third extend
extend_ok 14 "$LB" boot-done '{}'
expect_in "extend output" "$OUT" "^record +2$"
expect 1 "$CVMTOOL" log verify "$LB" --tcti "$tcti_a"
expect_in "verify output" "$OUT$ERR" "record 2"
expect 0 "$CVMTOOL" log verify "$LA" --tcti "$tcti_a"

echo "ok"
