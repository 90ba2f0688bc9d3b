#!/usr/bin/env bash
# A real single-node Kubernetes for breakfix's "needs cluster" tests, built from Debian's
# packages: kube-apiserver, kube-controller-manager, kube-scheduler and kubelet from the
# `kubernetes` source package (1.20.2, Go dependencies vendored), run with Debian's
# etcd-server, containerd, runc and CNI plugins, on loopback and a private bridge.
#
#   tests/k8s/cluster.sh build        build the binaries once (cached by version)
#   tests/k8s/cluster.sh up           start everything; prints the export line to use it
#   tests/k8s/cluster.sh load IMG...  copy Docker images into the node's containerd
#   tests/k8s/cluster.sh status       say what runs
#   tests/k8s/cluster.sh test [ARGS]  up, then the "needs cluster" tests (cargo test ARGS -- --ignored)
#   tests/k8s/cluster.sh down         stop everything `up` started and undo its host changes
#
# Needs root. Environment: BREAKFIX_K8S_CACHE (binaries, default /var/cache/breakfix/k8s),
# BREAKFIX_K8S_DIR (runtime state, default /var/tmp/breakfix-k8s).
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT=${BREAKFIX_K8S_CACHE:-/var/cache/breakfix/k8s}
DIR=${BREAKFIX_K8S_DIR:-/var/tmp/breakfix-k8s}
RUN=$DIR/run
PKI=$DIR/pki
KUBECONFIG_FILE=$DIR/admin.kubeconfig
SOCK=$DIR/containerd.sock
STATE=$DIR/containerd-state
BRIDGE=bfk8s0
POD_CIDR=10.245.0.0/24
NODE_NAME=breakfix-node
SELF=$(readlink -f "$0")

say() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "needs root (it starts containerd and a kubelet)"; }

go_version() { go env GOVERSION 2>/dev/null || echo nogo; }
reflect2_version() { dpkg-query -W -f '${Version}' golang-github-modern-go-reflect2-dev 2>/dev/null || echo none; }
bin_dir() { echo "$CACHE_ROOT/$K8S_VERSION-$(go_version)-reflect2-$(reflect2_version)"; }

install_packages() {
  local pkgs=(dpkg-dev golang-go rsync jq golang-github-modern-go-reflect2-dev etcd-server openssl
              containerd runc containernetworking-plugins gcc libc6-dev iproute2 curl)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_deb_src() {
  if ! apt-get source --print-uris kubernetes >/dev/null 2>&1; then
    say "adding deb-src entries for bookworm (needed for 'apt-get source kubernetes')"
    cat > /etc/apt/sources.list.d/breakfix-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
}

cmd_build() {
  need_root
  install_packages
  local out; out=$(bin_dir)
  if [ -f "$out/.complete" ]; then say "binaries cached in $out"; return; fi
  ensure_deb_src
  local w=${BREAKFIX_K8S_BUILD:-/var/tmp/breakfix-k8s-build}
  rm -rf "$w" "$out"; mkdir -p "$w" "$out"
  local t0=$SECONDS
  say "fetching the kubernetes source package"
  (cd "$w" && apt-get source -qq kubernetes >/dev/null 2>&1) || die "apt-get source kubernetes failed"
  local src; src=$(find "$w" -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  [ -d "$src/vendor" ] || die "no vendor/ in $src"
  # The vendored reflect2 1.0.1 crashes the apiserver under Go >= 1.18 (map iteration
  # SIGSEGV on the first custom-resource write); Debian's 1.0.2 is the upstream fix.
  rm -f "$src"/vendor/github.com/modern-go/reflect2/*.go "$src"/vendor/github.com/modern-go/reflect2/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s \
     "$src/vendor/github.com/modern-go/reflect2/"
  export GOCACHE=$w/gocache GOPROXY=off GOFLAGS= CGO_ENABLED=0
  say "generating the OpenAPI definitions (not shipped in the tarball)"
  (cd "$src" && make gen_openapi >"$w/gen_openapi.log" 2>&1) || die "make gen_openapi failed; see $w/gen_openapi.log"
  # Kubernetes 1.20 builds in GOPATH mode (its hack/lib/init.sh sets GO111MODULE=off).
  export GOPATH=$w/gopath GO111MODULE=off
  mkdir -p "$GOPATH/src/k8s.io"; ln -sfn "$src" "$GOPATH/src/k8s.io/kubernetes"
  local ld="-s -w" p
  for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=clean"
  done
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    say "go build $b"
    (cd "$GOPATH/src/k8s.io/kubernetes" && go build -tags selinux,notest -ldflags "$ld" -o "$out/$b" "./cmd/$b") \
      >"$w/build-$b.log" 2>&1 || die "go build $b failed; see $w/build-$b.log"
  done
  say "building the pause image's binary"
  gcc -static -O2 -o "$out/pause" "$src/build/pause/linux/pause.c" || die "gcc pause failed"
  touch "$out/.complete"
  rm -rf "$w"
  say "built in $((SECONDS - t0)) s into $out"
}


node_ip() { ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src") print $(i+1)}'; }

admin_curl() { curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:6443$1"; }

# wait_for SECONDS WHAT COMMAND...: polls until COMMAND succeeds, or fails with the log to read.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up within ${secs}s; see $RUN/*.log"
    sleep 0.2
  done
}

gen_pki() {
  [ -f "$PKI/.complete" ] && return
  rm -rf "$PKI"; mkdir -p "$PKI"; cd "$PKI"
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=breakfix-test-ca" -days 3650 -out ca.crt 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1" > server.ext
  openssl genrsa -out apiserver.key 2048 2>/dev/null
  openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out apiserver.crt 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth" > client.ext
  openssl genrsa -out admin.key 2048 2>/dev/null
  openssl req -new -key admin.key -subj "/O=system:masters/CN=breakfix-admin" -out admin.csr 2>/dev/null
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  touch .complete
  cd - >/dev/null
}

write_kubeconfig() {
  local ca crt key
  ca=$(base64 -w0 < "$PKI/ca.crt"); crt=$(base64 -w0 < "$PKI/admin.crt"); key=$(base64 -w0 < "$PKI/admin.key")
  cat > "$KUBECONFIG_FILE" <<KC
apiVersion: v1
kind: Config
clusters:
- name: breakfix-local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $ca
users:
- name: breakfix-admin
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: breakfix-local
  context:
    cluster: breakfix-local
    user: breakfix-admin
current-context: breakfix-local
KC
  chmod 600 "$KUBECONFIG_FILE"
}

write_configs() {
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam" "$DIR/kubelet/root" "$DIR/containerd/root"
  cat > "$DIR/containerd/config.toml" <<CT
version = 2
root = "$DIR/containerd/root"
state = "$STATE"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "breakfix.local/pause:$K8S_VERSION"
  # This kind of VM drops CAP_SYS_RESOURCE even for root: the CRI's oom_score_adj of -998
  # for the pause container makes every sandbox fail unless it is clamped to our own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
CT
  cat > "$DIR/cni/net.d/10-breakfix.conflist" <<CN
{
  "cniVersion": "0.4.0",
  "name": "breakfix",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$DIR/cni/ipam"}}
  ]
}
CN
  cat > "$DIR/kubelet/config.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
oomScoreAdj: 0
KL
}

# A single-layer OCI archive holding the static pause binary, for the pod sandboxes.
pause_image() {
  local out=$DIR/pause-oci.tar bin; bin=$(bin_dir)/pause
  [ -f "$out" ] && return
  local w; w=$(mktemp -d); mkdir -p "$w/root" "$w/blobs/sha256"
  cp "$bin" "$w/root/pause"
  tar -C "$w/root" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$w/layer.tar" .
  local ld ls cd cs md ms
  ld=$(sha256sum "$w/layer.tar" | cut -d' ' -f1); ls=$(stat -c %s "$w/layer.tar"); mv "$w/layer.tar" "$w/blobs/sha256/$ld"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" > "$w/config.json"
  cd=$(sha256sum "$w/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$w/config.json"); mv "$w/config.json" "$w/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" > "$w/manifest.json"
  md=$(sha256sum "$w/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$w/manifest.json"); mv "$w/manifest.json" "$w/blobs/sha256/$md"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"breakfix.local/pause:%s","org.opencontainers.image.ref.name":"%s"}}]}' "$md" "$ms" "$K8S_VERSION" "$K8S_VERSION" > "$w/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$w/oci-layout"
  tar -C "$w" -cf "$out" oci-layout index.json blobs
  rm -rf "$w"
}

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start_bg() { # NAME COMMAND...
  local name=$1; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }

# Docker sets the FORWARD policy to DROP, and with br_netfilter loaded that also drops
# traffic between pods on our bridge. Accept what enters or leaves the bridge.
open_bridge() {
  command -v iptables >/dev/null || return 0
  local dir
  for dir in -i -o; do
    iptables -C FORWARD "$dir" "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD 1 "$dir" "$BRIDGE" -j ACCEPT
  done
}

close_bridge() {
  command -v iptables >/dev/null || return 0
  local dir
  for dir in -i -o; do
    while iptables -D FORWARD "$dir" "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  done
}

cmd_up() {
  need_root
  cmd_build
  local bin; bin=$(bin_dir)
  if running apiserver && admin_curl /readyz >/dev/null 2>&1; then
    say "already up"
    print_exports; return
  fi
  local t0=$SECONDS ip; ip=$(node_ip)
  [ -n "$ip" ] || die "cannot find this host's primary IPv4 address (the kubelet refuses loopback)"
  mkdir -p "$RUN"; gen_pki; write_kubeconfig; write_configs; pause_image; open_bridge
  start_bg containerd containerd --config "$DIR/containerd/config.toml"
  wait_for 30 containerd ctr -a "$SOCK" version
  ctr_ images import "$DIR/pause-oci.tar" >/dev/null
  rm -rf "$RUN/etcd-data"
  start_bg etcd etcd --name breakfix --data-dir "$RUN/etcd-data" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster breakfix=http://127.0.0.1:23800
  wait_for 30 etcd curl -sf http://127.0.0.1:23790/health
  # 1.20 has no Pod Security admission: PodSecurityPolicy holds what a candidate's kubeconfig
  # creates. With it, no pod is admitted until breakfix applies its `breakfix-sandbox` policy
  # (on a session's first deploy); nothing here runs pods of its own (no DNS, no kube-proxy),
  # and the controller-manager acts with the admin's credentials, which may use that policy.
  start_bg apiserver "$bin/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:23790 \
    --bind-address=127.0.0.1 --secure-port=6443 --advertise-address=127.0.0.1 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC --allow-privileged=false \
    --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,PodSecurityPolicy
  wait_for 60 kube-apiserver admin_curl /readyz
  say "control plane ready after $((SECONDS - t0)) s"
  start_bg controller-manager "$bin/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=false
  start_bg scheduler "$bin/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port=10259 --port=0 --leader-elect=false
  start_bg kubelet "$bin/kubelet" --kubeconfig="$KUBECONFIG_FILE" --config="$DIR/kubelet/config.yaml" \
    --root-dir="$DIR/kubelet/root" --cert-dir="$DIR/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$ip" --address="$ip" \
    --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" \
    --pod-infra-container-image="breakfix.local/pause:$K8S_VERSION"
  node_ready() { admin_curl "/api/v1/nodes/$NODE_NAME" | jq -e '.status.conditions[] | select(.type=="Ready") | .status=="True"' | grep -q true; }
  wait_for 120 "the node" node_ready
  sa_ready() { admin_curl /api/v1/namespaces/default/serviceaccounts/default; }
  wait_for 60 "the default service account" sa_ready
  say "node $NODE_NAME ready after $((SECONDS - t0)) s"
  print_exports
}

print_exports() {
  echo "export KUBECONFIG=$KUBECONFIG_FILE BREAKFIX_IMAGE_LOADER='$SELF load'"
}

cmd_load() {
  need_root
  [ $# -gt 0 ] || die "usage: $0 load IMAGE..."
  running containerd || die "the cluster is not up (run: $0 up)"
  local img ref
  for img in "$@"; do
    docker image inspect "$img" >/dev/null 2>&1 || die "no Docker image $img"
    ref=$img; case "${img%%/*}" in *.*|*:*|localhost) ;; *) ref=docker.io/$img ;; esac
    case "$ref" in docker.io/*/*) ;; docker.io/*) ref=docker.io/library/${ref#docker.io/} ;; esac
    # breakfix tags images by content hash: a name already present holds the same content.
    if ctr_ images ls -q 2>/dev/null | grep -qxF "$ref"; then continue; fi
    say "loading $img"
    docker save "$img" | ctr_ images import - >/dev/null || die "import of $img failed"
  done
}

cmd_status() {
  local c
  for c in containerd etcd apiserver controller-manager scheduler kubelet; do
    if running "$c"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
  done
  if admin_curl /readyz >/dev/null 2>&1; then echo "apiserver: ready"; print_exports; fi
}

stop_pid() {
  local f=$RUN/$1.pid p
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill "$p" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
}

cmd_down() {
  need_root
  local t0=$SECONDS
  if running kubelet && running apiserver; then
    # Pods first, so the kubelet stops their sandboxes while it still runs.
    KUBECONFIG=$KUBECONFIG_FILE kubectl delete pods --all -A --grace-period=0 --force >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do [ "$(ctr_ tasks ls -q 2>/dev/null | wc -l)" = 0 ] && break; sleep 1; done
  fi
  for c in kubelet scheduler controller-manager apiserver etcd; do stop_pid "$c"; done
  if running containerd; then
    local t
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for t in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$t" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $SOCK" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  close_bridge
  local n
  for n in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns del "$n" 2>/dev/null || true; done
  local ss d
  for ss in /sys/fs/cgroup/*; do
    for d in kubepods k8s.io; do [ -d "$ss/$d" ] && find "$ss/$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  done
  # kubelet leaves its root-dir bind mount and the secret tmpfs mounts of killed pods behind.
  awk -v root="$DIR/kubelet/root" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  awk -v root="$DIR/containerd" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf /var/log/pods/* /var/log/containers/*.log "$RUN/etcd-data" "$STATE" "$DIR/cni/ipam"
  say "stopped in $((SECONDS - t0)) s"
}

cmd_test() {
  local exports; exports=$(cmd_up)
  eval "$exports"
  export KUBECONFIG BREAKFIX_IMAGE_LOADER
  cd "$(dirname "$SELF")/../.."
  say "running the needs-cluster tests against $KUBECONFIG"
  cargo test "$@" -- --ignored
}

case "${1:-}" in
  build) cmd_build ;;
  test) shift; cmd_test "$@" ;;
  up) cmd_up ;;
  load) shift; cmd_load "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  -h|--help|help) sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
