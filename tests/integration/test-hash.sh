#!/bin/bash
# cvmtool hash / manifest against coreutils (sha256sum, sha384sum, sha512sum) and python3's json:
# output byte-identical to the coreutils tools over a tree with odd names, accepted by `sha256sum -c`,
# independent of -j; refusals and read errors named with exit code 3; the manifest's digest and
# per-file digests checked with sha256sum.
set -euo pipefail
export LC_ALL=C
CVMTOOL=${CVMTOOL:-build/cvmtool}
CVMTOOL=$(realpath "$CVMTOOL")
work=$(mktemp -d /tmp/test-hash.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# expect_fail RC PATTERN CMD...: CMD exits with RC and its standard error contains PATTERN.
expect_fail() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$@" >out.txt 2>err.txt || rc=$?
	[ "$rc" -eq "$want" ] || { cat err.txt >&2; fail "$* exited $rc, expected $want"; }
	grep -qF -- "$pattern" err.txt || { cat err.txt >&2; fail "$*: stderr lacks '$pattern'"; }
}

# reference SUMTOOL DIR: what coreutils prints for every file below DIR in byte-wise path order.
reference() {
	find "$2" -type f -print0 | sort -z | xargs -0 -r "$1"
}

mkdir -p tree/a/b tree/c/d tree/empty-dir
printf 'hello\n' >tree/a/b/file
: >tree/empty
: >tree/c/d/empty
printf x >tree/a-c
printf y >'tree/with space'
printf z >$'tree/new\nline'
printf w >$'tree/back\\slash'
printf v >$'tree/cr\rreturn'
printf u >'tree/é'
printf t >$'tree/\xff-not-utf8'
printf s >'tree/a.b'
head -c 5000000 /dev/urandom >tree/c/random
head -c 300000 /dev/urandom >tree/a0

for alg in sha256 sha384 sha512; do
	"$CVMTOOL" hash -a "$alg" tree >got.txt
	reference "${alg}sum" tree >want.txt
	cmp got.txt want.txt || { diff got.txt want.txt || true; fail "hash -a $alg differs from ${alg}sum"; }
done
ok "output identical to sha256sum, sha384sum, sha512sum ($(wc -l <want.txt) files)"

"$CVMTOOL" hash tree >sums.txt
sha256sum -c --quiet sums.txt || fail "sha256sum -c rejects the output"
grep -q '^\\' sums.txt || fail "no escaped line in the output"
ok "sha256sum -c accepts the output"

"$CVMTOOL" hash -j 1 tree >j1.txt
"$CVMTOOL" hash -j 4 tree >j4.txt
cmp j1.txt j4.txt || fail "-j 1 and -j 4 differ"
cmp j1.txt sums.txt || fail "-j 1 and the default differ"
ok "-j 1, -j 4 and the default agree"

"$CVMTOOL" hash tree/ >slash.txt
grep -q '  tree/a-c$' slash.txt || fail "a trailing '/' on the argument is doubled"
! grep -q 'tree//' slash.txt || fail "a trailing '/' on the argument is doubled"
ln -s tree/a-c link-to-file
"$CVMTOOL" hash tree/a-c link-to-file tree/empty >got.txt
sha256sum tree/a-c link-to-file tree/empty >want.txt
cmp got.txt want.txt || fail "explicit files differ from sha256sum"
ok "explicit files (a symlink followed) as sha256sum"

"$CVMTOOL" hash --progress tree >progress.txt 2>progress.err
cmp progress.txt sums.txt || fail "--progress changed the output"
grep -q 'GB/s' progress.err || fail "--progress printed nothing"
ok "--progress reports on stderr only"

# Refusals: a symlink or a FIFO inside a directory, a missing path, a read error.
cp -a tree tree-link
ln -s a-c 'tree-link/sym link'
expect_fail 3 "tree-link/sym link: symbolic link, refused" "$CVMTOOL" hash tree-link
grep -qF '  tree-link/a-c' out.txt || fail "files before the refused symlink were not printed"
mkdir -p tree-dirlink && ln -s ../tree tree-dirlink/sub
expect_fail 3 "tree-dirlink/sub: symbolic link, refused" "$CVMTOOL" hash tree-dirlink
mkdir -p tree-fifo && mkfifo tree-fifo/pipe
expect_fail 3 "tree-fifo/pipe: FIFO, refused" "$CVMTOOL" hash tree-fifo
expect_fail 3 "no-such-file: cannot open: No such file or directory" "$CVMTOOL" hash tree/a-c no-such-file
expect_fail 3 "/proc/self/mem: read error: Input/output error" "$CVMTOOL" hash /proc/self/mem
expect_fail 3 "tree-fifo/pipe: not a regular file" "$CVMTOOL" hash tree-fifo/pipe
ok "symlinks, FIFOs, missing files and read errors are named, exit 3"

expect_fail 2 "unsupported algorithm" "$CVMTOOL" hash -a md5 tree
expect_fail 2 "-j takes" "$CVMTOOL" hash -j 0 tree
expect_fail 2 "expected at least one PATH" "$CVMTOOL" hash
expect_fail 2 "expected one DIR" "$CVMTOOL" manifest
"$CVMTOOL" hash --help | grep -q 'Usage: cvmtool hash' || fail "hash --help"
"$CVMTOOL" manifest --help | grep -q 'Usage: cvmtool manifest' || fail "manifest --help"
ok "usage errors exit 2, --help works"

# The manifest: a tree of UTF-8 names.
mkdir -p model/sub/deeper
cp tree/a/b/file model/config.json
cp tree/c/random model/sub/weights-00001.bin
cp tree/a0 model/sub-weights.bin
: >model/sub/deeper/empty
printf q >$'model/odd "name"\\\n\x01'
printf r >'model/é.txt'
"$CVMTOOL" manifest model >manifest.json
[ "$(tail -c 1 manifest.json | od -An -c | tr -d ' ')" = '\n' ] || fail "manifest output lacks its newline"
want="sha256:$(head -c -1 manifest.json | sha256sum | cut -d' ' -f1)"
got=$("$CVMTOOL" manifest --digest model)
[ "$got" = "$want" ] || fail "manifest --digest $got, sha256 of the manifest $want"
python3 - manifest.json model <<'EOF'
import json, os, subprocess, sys
text = open(sys.argv[1], 'rb').read()[:-1].decode('utf-8')
m = json.loads(text)
# JCS for this subset (strings, integers, sorted members) is what Python prints with these options.
canon = json.dumps(m, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
assert canon == text, "manifest is not in canonical form"
assert m['alg'] == 'sha256'
paths = [f['path'] for f in m['files']]
assert paths == sorted(paths, key=lambda p: p.encode()), "paths are not in byte-wise order"
walked = sorted((os.path.relpath(os.path.join(d, f), sys.argv[2])
                 for d, _, fs in os.walk(sys.argv[2]) for f in fs), key=lambda p: p.encode())
assert paths == walked, (paths, walked)
for f in m['files']:
    p = os.path.join(sys.argv[2], f['path'])
    out = subprocess.run(['sha256sum', '--', p], check=True, capture_output=True).stdout.decode()
    assert f['digest'] == out.lstrip('\\').split(' ')[0], f
    assert f['size'] == os.path.getsize(p), f
print("manifest: %d files checked" % len(paths))
EOF
"$CVMTOOL" manifest -a sha512 --digest model | grep -Eq '^sha512:[0-9a-f]{128}$' || fail "manifest -a sha512"
"$CVMTOOL" manifest -j 1 model | cmp - manifest.json || fail "manifest -j 1 differs"
ok "manifest: canonical, sorted, digests equal sha256sum's, --digest is its sha256"

mkdir empty-model
[ "$("$CVMTOOL" manifest empty-model)" = '{"alg":"sha256","files":[]}' ] || fail "empty manifest"
expect_fail 3 "not valid UTF-8" "$CVMTOOL" manifest tree
expect_fail 3 "tree-link/sym link: symbolic link, refused" "$CVMTOOL" manifest tree-link
expect_fail 3 "no-such-dir: cannot open directory" "$CVMTOOL" manifest no-such-dir
ok "manifest: empty directory, refusals"
