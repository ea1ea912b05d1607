# Shell helpers that build canonical-log records (docs/measurement-log.md) with printf, xxd and
# openssl only, so tests and fixtures never depend on the code they check. Source it.
# The caller writes content JSON already in JCS form (compact, members sorted).
export LC_ALL=C

# u32le N -> 8 hex digits, little-endian
cel_u32le() {
	printf '%08x' "$1" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/'
}

# cel_event_digest ALG TEXT -> hex of H(u32le 0x4141454C || u32le len || TEXT)
cel_event_digest() {
	local alg=$1 text=$2
	{ printf 'LEAA'; cel_u32le "${#text}" | xxd -r -p; printf '%s' "$text"; } |
		openssl dgst "-$alg" -binary | xxd -p -c 256
}

# cel_extend ALG REGHEX DIGESTHEX -> H(reg || digest)
cel_extend() {
	printf '%s%s' "$2" "$3" | xxd -r -p | openssl dgst "-$1" -binary | xxd -p -c 256
}

# cel_zero ALG -> the all-zero register
cel_zero() {
	local n
	n=$(printf '' | openssl dgst "-$1" -binary | wc -c)
	printf "%0$((2 * n))d\n" 0
}

# cel_record RECNUM MR OPERATION CONTENT ALG... -> one committed record on stdout
cel_record() {
	local recnum=$1 mr=$2 op=$3 content=$4 text alg sep='' digests=''
	shift 4
	text="cvminit $op $content"
	for alg in "$@"; do
		digests+="$sep{\"hashAlg\":\"$alg\",\"digest\":\"$(cel_event_digest "$alg" "$text")\"}"
		sep=,
	done
	printf '\036{"recnum":%s,"mr":"%s","digests":[%s],"content_type":"cvminit","content":{"content":%s,"domain":"cvminit","operation":"%s"}}\n' \
		"$recnum" "$mr" "$digests" "$content" "$op"
}
