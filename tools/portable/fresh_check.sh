#!/bin/sh
# The README's two commands on a really fresh machine (not run in CI; needs root, network and
# about 35 minutes on 2 cores: bootstrap 1, base 2, make demo 2.5, make test 29 of which 6 packages).
#
#   sh tools/portable/fresh_check.sh            # as root, from anywhere in the repository
#
# 1. bootstrap: a minimal Debian 12 (bookworm) root, built by Debian's own mmdebstrap
#    (--variant=minbase) from this machine's apt sources, in a temporary directory;
# 2. base packages: what the project's machine image starts with (gcc g++ clang make python3
#    git valgrind ca-certificates, without recommends) plus Node.js 20 and npm copied from this
#    machine (the image has them from nodesource, not Debian);
# 3. a clean `git clone` of this repository's HEAD (commit first: uncommitted changes are not
#    checked) at /work/fnet, and the shared data at /work/shared (data/ and weights/ only,
#    bind-mounted read-only; nothing else of ../shared is exposed);
# 4. in a chroot: `make demo` (which installs its packages, builds the weights, runs the demo),
#    then `make test`, exactly as the README says them (not strict: the skips are listed).
# Each step prints its wall time; the summary repeats them. Mounts are undone on any exit;
# KEEP=1 keeps the root (its path is printed), else it is deleted.
# Environment: SUITE (bookworm), SOURCES (/etc/apt/sources.list.d/debian.sources),
#              SHARED (../shared of the repository), TMPDIR.
set -eu
[ "$(id -u)" = 0 ] || { echo "fresh_check: needs root (mmdebstrap, chroot, mounts)" >&2; exit 1; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
head=$(git -C "$repo" rev-parse HEAD)
suite=${SUITE:-bookworm}
sources=${SOURCES:-/etc/apt/sources.list.d/debian.sources}
shared=${SHARED:-$repo/../shared}
[ -f "$sources" ] || { echo "fresh_check: no apt sources at $sources (set SOURCES)" >&2; exit 1; }
[ -d "$shared/data" ] || { echo "fresh_check: no shared data at $shared/data (set SHARED)" >&2; exit 1; }
shared=$(cd "$shared" && pwd)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "fresh_check: note: uncommitted changes are not part of the check (it clones HEAD $head)" >&2
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/fnet-fresh.XXXXXX")
cleanup() {
    rc=$?
    set +e
    # every mount below the root, deepest first
    for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || umount -f "$m"
    done
    if awk -v r="$root" '$2 == r || index($2, r "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        echo "fresh_check: mounts left under $root, not deleting it" >&2
    elif [ "${KEEP:-0}" = 1 ]; then
        echo "fresh_check: root kept at $root"
    else
        rm -rf --one-file-system "$root"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

times=""
t0=0
step() { t0=$(date +%s); echo; echo "==== fresh_check: $1 ($(date -u +%H:%M:%S) UTC)"; }
done_step() {
    dt=$(( $(date +%s) - t0 ))
    line=$(printf '%-58s %4dm%02ds' "$1" $((dt / 60)) $((dt % 60)))
    echo "==== $line"
    times="$times$line
"
}
# The chroot gets a clean environment (no CI, no STRICT: the README's plain commands).
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${ca_env:-} /bin/sh -c "$1"
}

# ---- 1. bootstrap
command -v mmdebstrap >/dev/null 2>&1 || { echo "fresh_check: installing mmdebstrap"; apt-get install -y -qq mmdebstrap >/dev/null; }
step "bootstrap: mmdebstrap --variant=minbase $suite into $root"
mmdebstrap --variant=minbase --mode=root "$suite" "$root" "$sources"
done_step "bootstrap (mmdebstrap minbase $suite)"

# ---- 2. base packages, mounts, network
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
step "base packages (the machine image's) + Node.js from this machine"
in_root 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
         apt-get install -y -qq --no-install-recommends gcc g++ clang make python3 git valgrind ca-certificates >/dev/null'
# HTTPS through a local CA (an egress proxy's) works inside as it does outside
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    in_root 'update-ca-certificates >/dev/null'
    ca_env=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
# Node.js as the image has it (nodesource's node with its npm): the binary and npm's folder
node=$(command -v node) && npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")") || {
    echo "fresh_check: this machine has no node/npm to copy" >&2; exit 1; }
cp "$node" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
in_root 'echo "node $(node --version), npm $(npm --version), $(gcc --version | head -1), $(python3 --version)"'
done_step "base packages + node"

# ---- 3. the repository (clean clone of HEAD) and the shared data
mkdir -p "$root/work/shared"
git clone -q --no-checkout "$repo" "$root/work/fnet"
git -C "$root/work/fnet" checkout -q --detach "$head"
echo "repository: $head -> /work/fnet"
for d in data weights; do
    [ -d "$shared/$d" ] || continue
    mkdir -p "$root/work/shared/$d"
    mount --bind "$shared/$d" "$root/work/shared/$d"
    mount -o remount,bind,ro "$root/work/shared/$d"
    echo "shared: $shared/$d -> /work/shared/$d (read-only)"
done

# ---- 4. the README's two commands
status=0
step "make demo (installs its packages, builds the weights, runs the demo)"
in_root 'cd /work/fnet && make demo' || status=$?
done_step "make demo (first run: deps + weights + demo)"
# make test runs even when the demo failed: one fresh run shows everything that breaks
# (it builds the weights itself)
if true; then
    step "make test"
    { if in_root 'cd /work/fnet && make test' 2>&1; then r=0; else r=$?; fi; echo $r > "$root/make_test.rc"; } | tee "$root/make_test.log"
    rc=$(cat "$root/make_test.rc"); [ "$rc" = 0 ] || status=$rc
    done_step "make test"
    echo "test summary: $(grep -E '^[0-9]+ passed, [0-9]+ failed' "$root/make_test.log" | tail -1)"
    sed -n '/^skips by reason/,/^[0-9]* passed, /p' "$root/make_test.log"
fi
echo
echo "==== fresh_check summary (commit $head, $(nproc) cores)"
printf '%s' "$times"
[ "$status" = 0 ] && echo "==== fresh_check: OK" || echo "==== fresh_check: FAILED"
exit "$status"
