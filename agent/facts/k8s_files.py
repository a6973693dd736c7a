"""Modes and owners of the Kubernetes files a node's processes actually use.

kube-bench stats the first path of a fixed list (cfg/config.yaml) whether or not the
kubelet reads it (anchors.md user asks 3-5). This fact starts from the processes:

1. the snippet finds kubelet, kube-apiserver, etcd, kube-controller-manager,
   kube-scheduler and kube-proxy the way k8s_components does (exact executable name,
   never `ps | grep`) and takes every path-valued flag from their argv, plus the paths
   named in the kubelet's --config file and --config-dir drop-ins, kube-proxy's and
   kube-scheduler's --config, etcd's --config-file, ETCD_* in etcd's environment, and
   the flags of static pod manifests whose process is not running;
2. only processes of the node's own mount namespace name paths: nothing is ever looked
   up through /proc/<pid>/root, where a pod's absolute symbolic links resolve against
   the HOST's root (a root pod posing as kube-apiserver made root read /etc/shadow that
   way; issue 12). A control-plane kind running only in a container (a kubeadm static
   pod) is judged by its manifest: a path under a hostPath volume mounted at the same
   path is the host's file; any other path, and every path of a container no manifest
   describes (kube-proxy's DaemonSet pod), is reported as living inside the container,
   unexamined (its checks ERROR, never PASS);
3. only where no running process names a file do the standard kubeadm / RKE2 / k3s /
   EKS / GKE locations of kube-bench's cfg/config.yaml stand in;
4. every file comes with the modes of its parent directories, so a finding can say that
   a 0644 file sits in a 0700 directory (kube-bench issue #1598) instead of hiding it.

Paths taken from argv or files are data: they must be plain absolute paths (strict
character set, no `..`) before the snippet passes them, quoted, to stat(1); anything
else is reported as unusable, never interpolated. Four configuration files whose
content checks need (encryption providers, audit policy, structured authorization,
etcd --config-file) are read with secret-like values replaced on the node, and the
CA files that etcd and the API server trust are hashed, to tell whether etcd has a CA
of its own (CIS 2.7).

Absent when the node has no Kubernetes component and no Kubernetes file at all.
"""

from __future__ import annotations

import posixpath
import re
import stat as statmod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.errors import InputError
from agent.facts import k8s_trust, parts
from agent.facts.model import Absent, FactValue, Observation, RawSection, Unavailable
from agent.facts.parts import Part, part_or_empty, split_parts
from agent.textsafe import printable
from agent.yamlsafe import load_yaml

FACT = "k8s_files"

SCRIPT = (
    parts.SHELL
    + r"""
nw_nl='
'
# "The host" is PID 1's mount namespace, not this shell's: an sshd unit with PrivateTmp= or
# ProtectSystem= gives its sessions a namespace of their own, and the kubelet would then
# look like a container. Unreadable (no root): this shell's, where nothing is trusted anyway.
nw_selfns=$(readlink /proc/1/ns/mnt 2>/dev/null || readlink /proc/self/ns/mnt 2>/dev/null)
nw_isname() {
  case $1 in
    kubelet | kube-apiserver | etcd | kube-controller-manager | kube-scheduler | kube-proxy) return 0 ;;
    hyperkube | k3s | k3s-* | rke2 | rke2-*) return 0 ;;
  esac
  return 1
}
# A path we pass on as data: absolute, normalised, plain characters. Sets nw_v.
nw_clean() {
  nw_v=$1
  while [ "$nw_v" != / ] && [ "${nw_v%/}" != "$nw_v" ]; do nw_v=${nw_v%/}; done
  case $nw_v in
    /*) ;;
    *) return 1 ;;
  esac
  case $nw_v in
    *[!A-Za-z0-9._/+:@=,~-]* | *//* | */./* | */../* | */. | */..) return 1 ;;
  esac
  [ ${#nw_v} -lt 1024 ]
}
# No path is ever looked up through /proc/<pid>/root. A container's absolute symbolic
# links resolve against OUR root when root follows them that way, so a root pod naming
# itself kube-apiserver with --tls-cert-file=/x, /x -> /etc/shadow in its image, made root
# stat, hash and read a HOST file (issue 12). Only processes of our own mount namespace
# name paths; a control-plane static pod in a container is known by its manifest, whose
# paths are the host's files under the pod's hostPath volumes (section 4, and
# _contained_refs() on the bastion); anything else a container names is reported as
# living inside it, never examined.
# 1. Component processes, chosen like k8s_components chooses them: /proc/<pid>/comm as a
#    fork-free pre-filter, then the exact basename of argv[0] or of /proc/<pid>/exe
#    (never `ps | grep`). One awk reads their NUL-separated argv and prints the
#    path-valued flags; values that are not plain absolute paths are reported, not used.
nw_pids=$(for nw_d in /proc/[0-9]*; do
  nw_c=
  read -r nw_c 2>/dev/null <"$nw_d/comm" || continue
  case $nw_c in
    kubelet | kube-apiserver | etcd | kube-controller* | kube-scheduler | kube-proxy) ;;
    hyperkube | k3s | k3s-* | rke2 | rke2-*) ;;
    *) continue ;;
  esac
  nw_e=$(readlink "$nw_d/exe" 2>/dev/null)
  nw_e=${nw_e% (deleted)}
  nw_e=${nw_e##*/}
  case $nw_e in '' | *[!A-Za-z0-9._+-]*) nw_e=- ;; esac
  # Only a process whose argv[0] or executable has a component's exact name can be one:
  # a link ~/bin/kubelet -> /bin/sleep gives the comm "kubelet" and must not use up a cap.
  nw_a=$(head -c 4096 "$nw_d/cmdline" 2>/dev/null | tr '\0' '\n' | head -n 1)
  nw_isname "${nw_a##*/}" || nw_isname "$nw_e" || continue
  # Who runs it, and who owns its executable: the awk below believes a component only
  # as k8s_trust.py does (a user's ~/x/kubelet --config=/etc/passwd names nothing).
  nw_ids=$(awk '/^Uid:/ { print $2 " " $3; exit }' "$nw_d/status" 2>/dev/null)
  case $nw_ids in [0-9]*' '[0-9]*) ;; *) nw_ids='- -' ;; esac
  nw_x=$(stat -L -c '%u %a' "$nw_d/exe" 2>/dev/null)
  case $nw_x in [0-9]*' '[0-7]*) ;; *) nw_x='- -' ;; esac
  nw_u=root
  if [ "${nw_ids%% *}" != 0 ]; then nw_u=$(getent passwd "${nw_ids%% *}" 2>/dev/null | cut -d: -f1); fi
  case $nw_u in '' | *[!a-z0-9_-]*) nw_u=- ;; esac
  nw_ns=-
  nw_m=$(readlink "$nw_d/ns/mnt" 2>/dev/null)
  if [ -n "$nw_selfns" ] && [ -n "$nw_m" ]; then
    if [ "$nw_m" = "$nw_selfns" ]; then nw_ns=host; else nw_ns=other; fi
  fi
  # Key 0: it could be believed (k8s_trust.py's accounts, a root-owned executable no one
  # else can write); those are kept first, so no user's processes push them out.
  nw_k=1
  case "$nw_ids $nw_x $nw_u" in
    "0 0 0 "[0-7]*) nw_k=0 ;;
    *) if [ "${nw_ids% *}" = "${nw_ids#* }" ] && [ "${nw_x% *}" = 0 ]; then
         case $nw_u in @ACCOUNTS@) nw_k=0 ;; esac
       fi ;;
  esac
  if [ "$nw_k" = 0 ] && [ $((0${nw_x#0 } & 022)) -ne 0 ]; then nw_k=1; fi
  printf '%s %s %s %s %s %s %s\n' "$nw_k" "${nw_d#/proc/}" "$nw_e" "$nw_ids" "$nw_x" "$nw_u" "$nw_ns"
done)
# More than 64 processes that could be components: the fact is Unavailable (the part
# "incomplete"), never a list that silently lost the kubelet (review of issue 12, finding 4).
nw_full=$(printf '%s\n' "$nw_pids" | grep -c '^0 ')
nw_pids=$( {
  printf '%s\n' "$nw_pids" | grep '^0 ' | head -n 64
  printf '%s\n' "$nw_pids" | grep '^1 ' | head -n 64
} | cut -d' ' -f2-)
nw_procs=$(printf '%s\n' "$nw_pids" | awk '
function base(p) { sub(/.*\//, "", p); return p }
function writable(mode,   g, o) {  # group or other write bit of an octal mode string
  g = substr(mode, length(mode) - 1, 1); o = substr(mode, length(mode), 1)
  return g ~ /[2367]/ || o ~ /[2367]/
}
function trusted(kind,   user) {
  if (ruid == "-" || ruid != euid || exeuid != "0" || exemode == "-" || writable(exemode)) return 0
  user = ruid == "0" ? "root" : name
  if (!((kind ":" user) in allowed)) return 0
  # A service account runs its own binary: `exec -a kube-apiserver /bin/sleep` as kube
  # is not an API server.
  if (user != "root" && exe != kind) return 0
  # A kubelet (and k3s, rke2) only on the node itself: any root pod passes the rest.
  # Control-plane static pods run in containers; k8s_components believes those only when
  # a manifest explains their argv, and fixes never take a path from a container.
  if ((kind in hostonly) && ns != "host") return 0
  return 1
}
function clean(v) {
  while (v != "/" && v ~ /\/$/) sub(/\/$/, "", v)
  if (v !~ /^\/[A-Za-z0-9._\/+:@=,~-]*$/ || length(v) >= 1024) return ""
  if (v ~ /\/\// || v ~ /\/\.\.?\// || v ~ /\/\.\.?$/) return ""
  return v
}
function emit(pid, kind, name, value, where,   d, c) {
  if (value ~ /^unix:\/\//) value = substr(value, 8)
  if (name == "audit-log-path") {
    if (value == "-" || value == "") return
    d = value; sub(/\/[^\/]*$/, "", d); if (d == "") d = "/"
    emit(pid, kind, "audit-log-dir", d, where)
  }
  c = clean(value)
  if (c == "") print "unsafe", pid, kind, name
  else if (where == "host") print "flag", pid, kind, name, c
  else print "inside", pid, kind, name, c
}
BEGIN {
  split("@TRUST_PAIRS@", t, " ")
  for (i in t) allowed[t[i]] = 1
  split("@HOST_KINDS@", t, " ")
  for (i in t) hostonly[t[i]] = 1
  split("kubelet kube-apiserver etcd kube-controller-manager kube-scheduler kube-proxy", t, " ")
  for (i in t) comp[t[i]] = 1
  split("kubeconfig bootstrap-kubeconfig config config-dir client-ca-file tls-cert-file" \
    " tls-private-key-file cert-dir pod-manifest-path container-runtime-endpoint cni-conf-dir", t, " ")
  for (i in t) want["kubelet", t[i]] = 1
  split("client-ca-file tls-cert-file tls-private-key-file etcd-cafile etcd-certfile etcd-keyfile" \
    " kubelet-client-certificate kubelet-client-key kubelet-certificate-authority service-account-key-file" \
    " service-account-signing-key-file proxy-client-cert-file proxy-client-key-file" \
    " requestheader-client-ca-file encryption-provider-config audit-policy-file audit-log-path" \
    " authorization-config admission-control-config-file authentication-config", t, " ")
  for (i in t) want["kube-apiserver", t[i]] = 1
  split("data-dir cert-file key-file trusted-ca-file peer-cert-file peer-key-file peer-trusted-ca-file" \
    " config-file", t, " ")
  for (i in t) want["etcd", t[i]] = 1
  split("kubeconfig authentication-kubeconfig authorization-kubeconfig root-ca-file client-ca-file" \
    " service-account-private-key-file cluster-signing-cert-file cluster-signing-key-file" \
    " requestheader-client-ca-file tls-cert-file tls-private-key-file", t, " ")
  for (i in t) want["kube-controller-manager", t[i]] = 1
  split("kubeconfig authentication-kubeconfig authorization-kubeconfig config client-ca-file" \
    " tls-cert-file tls-private-key-file", t, " ")
  for (i in t) want["kube-scheduler", t[i]] = 1
  split("kubeconfig config", t, " ")
  for (i in t) want["kube-proxy", t[i]] = 1
}
NF == 8 {
  pid = $1; exe = $2; ruid = $3; euid = $4; exeuid = $5; exemode = $6; name = $7; ns = $8
  file = "/proc/" pid "/cmdline"; n = 0
  split("", a)
  rs = RS; RS = "\0"
  while (n < 4096 && (getline x < file) > 0) a[++n] = x
  close(file); RS = rs
  if (n == 0) next
  b = base(a[1]); kind = ""; first = 2
  if (b in comp) kind = b
  else if (exe in comp) kind = exe
  else if ((b == "hyperkube" || exe == "hyperkube") && (a[2] in comp)) { kind = a[2]; first = 3 }
  else if (b ~ /^k3s(-|$)/ || exe ~ /^k3s(-|$)/) kind = "k3s"
  else if (b ~ /^rke2(-|$)/ || exe ~ /^rke2(-|$)/) kind = "rke2"
  if (kind == "") next
  if (!trusted(kind)) { print "impostor", pid, kind; next }
  # A believed process of another mount namespace (a static pod, the kube-proxy pod) names
  # its paths as "inside" records: shown in the report, never stat-ed or read.
  where = ns == "host" ? "host" : "container"
  print "proc", pid, kind, where
  for (i = first; i <= n; i++) {
    x = a[i]
    if (x == "--") break
    if (x !~ /^--?[A-Za-z0-9_]/) continue
    name = x; sub(/^--?/, "", name); value = ""; given = 0
    e = index(name, "=")
    if (e > 0) { value = substr(name, e + 1); name = substr(name, 1, e - 1); given = 1 }
    gsub(/_/, "-", name)
    if (!((kind, name) in want)) continue
    if (!given) {
      if (i < n && a[i + 1] !~ /^-/) { i++; value = a[i] } else continue
    }
    emit(pid, kind, name, value, where)
  }
}')
# The believed processes of our own mount namespace: the only ones whose paths (flags,
# ETCD_* variables) are followed. Decided once, by the awk above, for every step below.
nw_hostpids=" $(printf '%s\n' "$nw_procs" | awk '$1 == "proc" && $4 == "host" { printf "%s ", $2 }')"
nw_ishost() { case $nw_hostpids in *" $1 "*) return 0 ;; esac; return 1; }
# 2. Each process: the account it runs as, whether it runs in a container (another mount
#    namespace), and (etcd only) the ETCD_* settings of its environment, whitelisted by
#    name because an environment can hold passwords. /proc/<pid>/environ is the kernel's
#    copy, not a file in the container: reading it follows no link of the pod's.
nw_info=$(printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_rest; do
  [ "$nw_t" = proc ] || continue
  case $nw_pid in '' | *[!0-9]*) continue ;; esac
  nw_w=container
  if nw_ishost "$nw_pid"; then nw_w=-; fi
  nw_ids=$(stat -c '%u %U %g %G' "/proc/$nw_pid" 2>/dev/null)
  printf 'proc %s %s %s %s\n' "$nw_pid" "$nw_kind" "$nw_w" "$nw_ids"
  if [ "$nw_kind" = etcd ] && [ -r "/proc/$nw_pid/environ" ]; then
    tr '\0' '\n' <"/proc/$nw_pid/environ" \
      | grep -E -e '^ETCD_(DATA_DIR|CONFIG_FILE|CERT_FILE|KEY_FILE|TRUSTED_CA_FILE)=' \
        -e '^ETCD_(CLIENT_CERT_AUTH|AUTO_TLS)=' \
        -e '^ETCD_(PEER_CERT_FILE|PEER_KEY_FILE|PEER_TRUSTED_CA_FILE|PEER_CLIENT_CERT_AUTH|PEER_AUTO_TLS)=' \
        -e '^ETCD_(LISTEN_CLIENT_URLS|LISTEN_PEER_URLS)=' \
      | head -n 32 | sed "s/^/env $nw_pid /"
  fi
done)
# 3. Paths named inside the configuration files the processes read (kubelet --config and
#    its --config-dir drop-ins, kube-proxy/kube-scheduler --config): found line by line,
#    only to know what to stat; the kubelet fact parses these files properly.
#    JSON may put several keys on one line: `{` and `,` become line breaks first.
nw_keys() {  # KEYS-REGEX PID KIND FILE
  [ -f "$4" ] || return 0
  nw_x="s/^[[:space:]]*\"?($1)\"?[[:space:]]*:[[:space:]]*\"?([^\"[:space:],}]*).*\$/\\1 \\2/p"
  head -c 1048576 "$4" 2>/dev/null | tr ',{' '\n\n' | sed -n -E "$nw_x" \
    | head -n 64 | while read -r nw_k nw_x; do
      nw_x=${nw_x#unix://}
      if nw_clean "$nw_x"; then printf 'conf %s %s %s %s %s\n' "$2" "$3" "$nw_k" "$nw_v" "$4"; fi
    done
}
nw_conf=$(printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
  [ "$nw_t" = flag ] || continue  # "flag": a process of our own mount namespace
  case "$nw_kind $nw_name" in
    "kubelet config")
      nw_keys 'clientCAFile|staticPodPath|tlsCertFile|tlsPrivateKeyFile|containerRuntimeEndpoint' \
        "$nw_pid" kubelet "$nw_val" ;;
    "kubelet config-dir")
      for nw_f in "$nw_val"/*.conf; do
        nw_keys 'clientCAFile|staticPodPath|tlsCertFile|tlsPrivateKeyFile|containerRuntimeEndpoint' \
          "$nw_pid" kubelet "$nw_f"
      done ;;
    "kube-proxy config" | "kube-scheduler config")
      nw_keys 'kubeconfig' "$nw_pid" "$nw_kind" "$nw_val" ;;
    "etcd config-file")
      nw_keys 'data-dir' "$nw_pid" etcd "$nw_val" ;;
  esac
done)
# 4. Static pod manifests: the kubelet's staticPodPath / --pod-manifest-path and the
#    kubeadm and RKE2 defaults; the flags in each manifest's command, for components
#    whose process is not running.
nw_static=$( {
  printf '%s\n' /etc/kubernetes/manifests /var/lib/rancher/rke2/agent/pod-manifests
  printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
    if [ "$nw_t $nw_kind $nw_name" = "flag kubelet pod-manifest-path" ]; then printf '%s\n' "$nw_val"; fi
  done
  printf '%s\n' "$nw_conf" | while read -r nw_t nw_pid nw_kind nw_k nw_val nw_rest; do
    if [ "$nw_t $nw_k" = "conf staticPodPath" ]; then printf '%s\n' "$nw_val"; fi
  done
} | sort -u)
nw_mfiles=$(for nw_d in $nw_static; do
  for nw_f in "$nw_d"/*; do
    case $nw_f in */.* | *"$nw_nl"*) continue ;; esac
    if [ -f "$nw_f" ]; then printf '%s\n' "$nw_f"; fi
  done
done | head -n 64)
nw_mflags=$(printf '%s\n' "$nw_mfiles" | awk '
function clean(v) {
  while (v != "/" && v ~ /\/$/) sub(/\/$/, "", v)
  if (v !~ /^\/[A-Za-z0-9._\/+:@=,~-]*$/ || length(v) >= 1024) return ""
  if (v ~ /\/\// || v ~ /\/\.\.?\// || v ~ /\/\.\.?$/) return ""
  return v
}
BEGIN {
  split("kube-apiserver etcd kube-controller-manager kube-scheduler", t, " ")
  for (i in t) comp[t[i]] = 1
  # Every path flag of the control plane (as in the process awk): a static pod running
  # in a container is known by its manifest alone (see "No path is ever looked up").
  split("data-dir config-file encryption-provider-config audit-policy-file audit-log-path" \
    " authorization-config trusted-ca-file peer-trusted-ca-file client-ca-file etcd-cafile" \
    " kubeconfig tls-cert-file tls-private-key-file etcd-certfile etcd-keyfile" \
    " kubelet-client-certificate kubelet-client-key kubelet-certificate-authority" \
    " service-account-key-file service-account-signing-key-file proxy-client-cert-file" \
    " proxy-client-key-file requestheader-client-ca-file admission-control-config-file" \
    " authentication-config cert-file key-file peer-cert-file peer-key-file" \
    " authentication-kubeconfig authorization-kubeconfig root-ca-file" \
    " service-account-private-key-file cluster-signing-cert-file cluster-signing-key-file", t, " ")
  for (i in t) want[t[i]] = 1
}
$0 != "" {
  file = $0; kind = file; sub(/.*\//, "", kind); sub(/\.(yaml|yml|json|manifest)$/, "", kind)
  if (!(kind in comp)) kind = ""
  n = 0
  while (n < 20000 && (getline line < file) > 0) {
    n++
    if (kind == "" && line ~ /^[[:space:]]*-[[:space:]]*"?[^" =-][^" =]*"?[[:space:]]*$/) {
      word = line; sub(/^[[:space:]]*-[[:space:]]*"?/, "", word); sub(/"?[[:space:]]*$/, "", word)
      sub(/.*\//, "", word)
      if (word in comp) kind = word
    }
    if (line !~ /^[[:space:]]*-[[:space:]]*"?--?[A-Za-z0-9_-]+=/) continue
    x = line; sub(/^[[:space:]]*-[[:space:]]*"?--?/, "", x); sub(/"?[[:space:]]*$/, "", x)
    e = index(x, "="); name = substr(x, 1, e - 1); value = substr(x, e + 1); gsub(/_/, "-", name)
    if (!(name in want)) continue
    if (name == "audit-log-path") {
      if (value == "-") continue
      d = value; sub(/\/[^\/]*$/, "", d); d = clean(d)
      if (d != "") print "mflag", "audit-log-dir", d, file
    }
    c = clean(value)
    if (c != "") print "mflag", name, c, file
  }
  close(file)
  print "manifest", kind == "" ? "-" : kind, file
}')
# 5. Standard locations (kube-bench cfg/config.yaml, kubeadm, RKE2, k3s, EKS, GKE), used
#    where no running process names the file; and directories whose entries are judged.
nw_cands='cand kubelet_service /etc/systemd/system/kubelet.service
cand kubelet_service /lib/systemd/system/kubelet.service
cand kubelet_service /usr/lib/systemd/system/kubelet.service
cand kubelet_kubeconfig /etc/kubernetes/kubelet.conf
cand kubelet_kubeconfig /var/lib/kubelet/kubeconfig
cand kubelet_kubeconfig /etc/kubernetes/kubelet/kubeconfig
cand kubelet_kubeconfig /var/lib/rancher/rke2/agent/kubelet.kubeconfig
cand kubelet_kubeconfig /var/lib/rancher/k3s/agent/kubelet.kubeconfig
cand kubelet_bootstrap_kubeconfig /etc/kubernetes/bootstrap-kubelet.conf
cand kubelet_config /var/lib/kubelet/config.yaml
cand kubelet_config /etc/kubernetes/kubelet-config.yaml
cand kubelet_config /etc/kubernetes/kubelet/kubelet-config.json
cand kubelet_config /etc/kubernetes/kubelet/config.json
cand kubelet_config /home/kubernetes/kubelet-config.yaml
cand kubelet_client_ca /etc/kubernetes/pki/ca.crt
cand kubelet_client_ca /var/lib/rancher/rke2/agent/client-ca.crt
cand kubelet_client_ca /var/lib/rancher/k3s/agent/client-ca.crt
cand proxy_kubeconfig /var/lib/rancher/rke2/agent/kubeproxy.kubeconfig
cand proxy_kubeconfig /var/lib/rancher/k3s/agent/kubeproxy.kubeconfig
cand admin_kubeconfig /etc/kubernetes/admin.conf
cand admin_kubeconfig /etc/kubernetes/super-admin.conf
cand admin_kubeconfig /etc/rancher/k3s/k3s.yaml
cand admin_kubeconfig /etc/rancher/rke2/rke2.yaml
cand scheduler_kubeconfig /etc/kubernetes/scheduler.conf
cand scheduler_kubeconfig /var/lib/rancher/rke2/server/cred/scheduler.kubeconfig
cand scheduler_kubeconfig /var/lib/rancher/k3s/server/cred/scheduler.kubeconfig
cand controller_manager_kubeconfig /etc/kubernetes/controller-manager.conf
cand controller_manager_kubeconfig /var/lib/rancher/rke2/server/cred/controller.kubeconfig
cand controller_manager_kubeconfig /var/lib/rancher/k3s/server/cred/controller.kubeconfig
cand runtime_socket /run/containerd/containerd.sock
cand runtime_socket /run/k3s/containerd/containerd.sock
cand runtime_socket /run/crio/crio.sock
cand runtime_socket /run/cri-dockerd.sock
cand runtime_socket /run/docker.sock
cand runtime_config /etc/containerd/config.toml
cand runtime_config /etc/crio/crio.conf
cand runtime_config /etc/docker/daemon.json
cand runtime_config /var/lib/rancher/rke2/agent/etc/containerd/config.toml
cand runtime_config /var/lib/rancher/k3s/agent/etc/containerd/config.toml
cand etcd_data_dir /var/lib/etcd
cand etcd_data_dir /var/lib/rancher/rke2/server/db/etcd
cand etcd_data_dir /var/lib/rancher/k3s/server/db/etcd
list kubelet_service 1 /etc/systemd/system/kubelet.service.d
list kubelet_service 1 /lib/systemd/system/kubelet.service.d
list kubelet_service 1 /usr/lib/systemd/system/kubelet.service.d
list kubelet_service 1 /run/systemd/system/kubelet.service.d
list kubelet_config_dir 1 /var/lib/rancher/k3s/agent/etc/kubelet.conf.d
list kubelet_config_dir 1 /var/lib/rancher/rke2/agent/etc/kubelet.conf.d
list kubelet_pki 1 /var/lib/kubelet/pki
list pki 3 /etc/kubernetes/pki
list pki 3 /var/lib/rancher/rke2/server/tls
list pki 3 /var/lib/rancher/k3s/server/tls
list cni 2 /etc/cni/net.d
list runtime_config 1 /etc/crio/crio.conf.d'
nw_lists=$( {
  printf '%s\n' "$nw_cands" | sed -n -e 's/^list //p' -e 's/^cand \([a-z_]*\) /\1 0 /p'
  for nw_d in $nw_static; do printf 'static_pod_manifest 1 %s\n' "$nw_d"; done
  # Every directory a flag names (--cert-dir, --config-dir, --cni-conf-dir, the audit log
  # directory, the etcd data dir): its entries, one level deep.
  { printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
      if [ "$nw_t" = flag ]; then printf '%s\n' "$nw_val"; fi
    done
    printf '%s\n' "$nw_mflags" | while read -r nw_t nw_name nw_val nw_rest; do
      if [ "$nw_t" = mflag ]; then printf '%s\n' "$nw_val"; fi
    done
  } | sort -u | while read -r nw_p; do
    if [ -n "$nw_p" ] && [ -d "$nw_p" ]; then printf 'flagdir 1 %s\n' "$nw_p"; fi
  done
  if command -v systemctl >/dev/null 2>&1; then
    systemctl show -p FragmentPath -p DropInPaths kubelet.service 2>/dev/null \
      | sed -n -e 's/^FragmentPath=//p' -e 's/^DropInPaths=//p' | tr ' ' '\n' | while read -r nw_p; do
        if [ -n "$nw_p" ] && nw_clean "$nw_p"; then printf 'unit 0 %s\n' "$nw_v"; fi
      done
  fi
} | sort -u)
nw_entries=$(printf '%s\n' "$nw_lists" | while read -r nw_tag nw_depth nw_d; do
  if [ "$nw_depth" -gt 0 ] && [ -d "$nw_d" ]; then
    find "$nw_d" -mindepth 1 -maxdepth "$nw_depth" ! -path "*$nw_nl*" 2>/dev/null | head -n 1000
  fi
done)
nw_skipped=$(printf '%s\n' "$nw_lists" | while read -r nw_tag nw_depth nw_d; do
  if [ "$nw_depth" -gt 0 ] && [ -d "$nw_d" ]; then
    find "$nw_d" -mindepth 1 -maxdepth "$nw_depth" -path "*$nw_nl*" -exec printf 'x' \; 2>/dev/null
  fi
done | wc -c)
# 6. Everything to stat: the candidates, the paths the processes and manifests name (as
#    each process sees them), directory entries, and every parent directory, so a
#    finding can say whether a directory already keeps other users out (kube-bench #1598).
nw_paths=$( {
  printf '%s\n' "$nw_lists" | while read -r nw_tag nw_depth nw_d; do printf '%s\n' "$nw_d"; done
  printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
    if [ "$nw_t" = flag ]; then printf '%s\n' "$nw_val"; fi
  done
  printf '%s\n' "$nw_conf" | while read -r nw_t nw_pid nw_kind nw_k nw_val nw_rest; do
    if [ "$nw_t" = conf ]; then printf '%s\n' "$nw_val"; fi
  done
  printf '%s\n' "$nw_mflags" | while read -r nw_t nw_name nw_val nw_rest; do
    if [ "$nw_t" = mflag ]; then printf '%s\n' "$nw_val"; fi
  done
  printf '%s\n' "$nw_info" | while read -r nw_t nw_pid nw_kv; do
    case $nw_kv in ETCD_DATA_DIR=* | ETCD_*_FILE=*)
      nw_ishost "$nw_pid" || continue
      if nw_clean "${nw_kv#*=}"; then printf '%s\n' "$nw_v"; fi ;;
    esac
  done
  printf '%s\n' "$nw_entries"
} | grep '^/' | sort -u)
nw_stat() {
  nw_all=$( {
    printf '%s\n' "$nw_paths"
    printf '%s\n' "$nw_paths" | awk '{
      p = $0; top = ""
      if (match(p, /^\/proc\/[0-9]+\/root\//)) { top = substr(p, 1, RLENGTH - 1); p = substr(p, RLENGTH) }
      print (top == "" ? "/" : top)
      while (sub(/\/[^\/]*$/, "", p) && p != "") print top p
    }'
  } | sort -u)
  nw_ifs=$IFS; IFS=$nw_nl; set -f
  set -- $nw_all
  IFS=$nw_ifs; set +f
  if [ $# -gt 0 ]; then stat -L -c '%f %u %g %U %G %d %i %n' -- "$@" 2>/dev/null; fi
  return 0
}
nw_hash() {
  { printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
      case "$nw_t $nw_kind $nw_name" in
        "flag etcd trusted-ca-file" | "flag etcd peer-trusted-ca-file" \
          | "flag kube-apiserver client-ca-file" | "flag kube-apiserver etcd-cafile")
          printf '%s\n' "$nw_val" ;;
      esac
    done
    printf '%s\n' "$nw_mflags" | while read -r nw_t nw_name nw_val nw_rest; do
      case "$nw_t $nw_name" in
        "mflag trusted-ca-file" | "mflag peer-trusted-ca-file" | "mflag client-ca-file" | "mflag etcd-cafile")
          printf '%s\n' "$nw_val" ;;
      esac
    done
  } | sort -u | head -n 16 | while read -r nw_p; do
    if [ -f "$nw_p" ]; then sha256sum -- "$nw_p" 2>/dev/null | head -c 200; fi
  done
  return 0
}
# The four configuration files whose content a check needs (encryption providers, audit
# policy, structured authorization, etcd's --config-file). Values of secret-like keys are
# replaced on the node: encryption keys never leave it.
nw_doc() {
  printf 'path %s\n' "$1"
  nw_x='s/("?(secret|password|token)"?[[:space:]]*:[[:space:]]*)("[^"]*"|[^,}[:space:]]+)/\1"<redacted>"/g'
  sed -E "$nw_x" "$1"
}
# The control-plane manifests themselves, for their hostPath volumes and volumeMounts
# (parsed on the bastion): a path a container names is the host's file only under a
# hostPath volume mounted at the same path. `value:` (env) and secret-like values are
# blanked first: only the volume layout is needed.
nw_pod() {
  printf 'path %s\n' "$1"
  nw_x='s/("?(secret|password|token|value)"?[[:space:]]*:[[:space:]]*)("[^"]*"|[^,}[:space:]]+)/\1"<redacted>"/g'
  head -c 131072 "$1" | sed -E "$nw_x"
}
nw_pods=$(printf '%s\n' "$nw_mflags" \
  | awk '$1 == "manifest" && $2 != "-" && NF == 3 { print $3 }' | head -n 8)
nw_docs=$( {
  printf '%s\n' "$nw_procs" | while read -r nw_t nw_pid nw_kind nw_name nw_val; do
    case "$nw_t $nw_kind $nw_name" in
      "flag kube-apiserver encryption-provider-config" | "flag kube-apiserver audit-policy-file" \
        | "flag kube-apiserver authorization-config" | "flag etcd config-file")
        printf '%s\n' "$nw_val" ;;
    esac
  done
  printf '%s\n' "$nw_mflags" | while read -r nw_t nw_name nw_val nw_rest; do
    case "$nw_t $nw_name" in
      "mflag encryption-provider-config" | "mflag audit-policy-file" | "mflag authorization-config" \
        | "mflag config-file")
        printf '%s\n' "$nw_val" ;;
    esac
  done
  printf '%s\n' "$nw_info" | while read -r nw_t nw_pid nw_kv; do
    case $nw_kv in ETCD_CONFIG_FILE=*)
      nw_ishost "$nw_pid" || continue
      if nw_clean "${nw_kv#*=}"; then printf '%s\n' "$nw_v"; fi ;;
    esac
  done
  # k3s configures its embedded etcd with a file of etcd's own --config-file format
  # (kube-bench's k3s profiles read the same file).
  if printf '%s\n' "$nw_procs" | grep -q '^proc [0-9]* k3s$'; then
    printf '%s\n' /var/lib/rancher/k3s/server/db/etcd/config
  fi
} | sort -u | head -n 8)
printf '@nodeward-k8s-files 1\n'
nw_part procs 1048576 printf '%s\n' "$nw_procs"
nw_part info 262144 printf '%s\n' "$nw_info"
nw_part conf 262144 printf '%s\n' "$nw_conf"
nw_part manifests 262144 printf '%s\n' "$nw_mflags"
nw_part lists 262144 printf '%s\n' "$nw_lists"
nw_part skipped 64 printf '%s\n' "$nw_skipped"
if [ "$nw_full" -gt 64 ]; then
  nw_part incomplete 256 printf '%s\n' "more than 64 processes that could be Kubernetes components"
fi
nw_part stat 4194304 nw_stat
nw_part hash 8192 nw_hash
nw_i=0
for nw_p in $nw_pods; do
  nw_i=$((nw_i + 1))
  if [ -f "$nw_p" ]; then nw_part "pod$nw_i" 131072 nw_pod "$nw_p"; fi
done
nw_i=0
for nw_p in $nw_docs; do
  nw_i=$((nw_i + 1))
  if [ -f "$nw_p" ]; then nw_part "doc$nw_i" 262144 nw_doc "$nw_p"; fi
done
exit 0
"""
).replace("@TRUST_PAIRS@", k8s_trust.awk_pairs())
SCRIPT = SCRIPT.replace("@HOST_KINDS@", k8s_trust.host_kinds())
SCRIPT = SCRIPT.replace("@ACCOUNTS@", k8s_trust.accounts_pattern())

MARK = "@nodeward-k8s-files 1"

# Roles: what a file is to the node. Checks ask for one role each.
KUBELET_SERVICE = "kubelet_service"
KUBELET_KUBECONFIG = "kubelet_kubeconfig"
KUBELET_BOOTSTRAP = "kubelet_bootstrap_kubeconfig"
KUBELET_CONFIG = "kubelet_config"
KUBELET_CLIENT_CA = "kubelet_client_ca"
KUBELET_PKI = "kubelet_pki"
PROXY_KUBECONFIG = "proxy_kubeconfig"
STATIC_POD_MANIFEST = "static_pod_manifest"
ADMIN_KUBECONFIG = "admin_kubeconfig"
SCHEDULER_KUBECONFIG = "scheduler_kubeconfig"
CONTROLLER_MANAGER_KUBECONFIG = "controller_manager_kubeconfig"
PKI = "pki"
CNI = "cni"
RUNTIME_SOCKET = "runtime_socket"
RUNTIME_CONFIG = "runtime_config"
ETCD_DATA_DIR = "etcd_data_dir"
AUDIT_LOG = "audit_log"
ROLES = (
    KUBELET_SERVICE, KUBELET_KUBECONFIG, KUBELET_BOOTSTRAP, KUBELET_CONFIG, KUBELET_CLIENT_CA,
    KUBELET_PKI, PROXY_KUBECONFIG, STATIC_POD_MANIFEST, ADMIN_KUBECONFIG, SCHEDULER_KUBECONFIG,
    CONTROLLER_MANAGER_KUBECONFIG, PKI, CNI, RUNTIME_SOCKET, RUNTIME_CONFIG, ETCD_DATA_DIR, AUDIT_LOG,
)  # fmt: skip

# A flag (or config key) naming one file: (component, flag) -> role.
FILE_FLAGS: Mapping[tuple[str, str], str] = {
    ("kubelet", "kubeconfig"): KUBELET_KUBECONFIG,
    ("kubelet", "bootstrap-kubeconfig"): KUBELET_BOOTSTRAP,
    ("kubelet", "config"): KUBELET_CONFIG,
    ("kubelet", "client-ca-file"): KUBELET_CLIENT_CA,
    ("kubelet", "clientCAFile"): KUBELET_CLIENT_CA,
    ("kubelet", "tls-cert-file"): KUBELET_PKI,
    ("kubelet", "tlsCertFile"): KUBELET_PKI,
    ("kubelet", "tls-private-key-file"): KUBELET_PKI,
    ("kubelet", "tlsPrivateKeyFile"): KUBELET_PKI,
    ("kubelet", "container-runtime-endpoint"): RUNTIME_SOCKET,
    ("kubelet", "containerRuntimeEndpoint"): RUNTIME_SOCKET,
    ("kube-proxy", "kubeconfig"): PROXY_KUBECONFIG,
    ("kube-scheduler", "kubeconfig"): SCHEDULER_KUBECONFIG,
    ("kube-controller-manager", "kubeconfig"): CONTROLLER_MANAGER_KUBECONFIG,
    ("etcd", "data-dir"): ETCD_DATA_DIR,
    ("etcd", "ETCD_DATA_DIR"): ETCD_DATA_DIR,
}
# A flag naming a directory whose entries are judged: (component, flag) -> role.
DIR_FLAGS: Mapping[tuple[str, str], str] = {
    ("kubelet", "config-dir"): KUBELET_CONFIG,
    ("kubelet", "cert-dir"): KUBELET_PKI,
    ("kubelet", "pod-manifest-path"): STATIC_POD_MANIFEST,
    ("kubelet", "staticPodPath"): STATIC_POD_MANIFEST,
    ("kubelet", "cni-conf-dir"): CNI,
    ("kube-apiserver", "audit-log-dir"): AUDIT_LOG,
}
# Control-plane flags naming keys and certificates (CIS 1.1.19-1.1.21 judge them by name
# under /etc/kubernetes/pki; these are the ones the processes really load).
KEY_FLAGS = frozenset(
    {
        "tls-private-key-file", "etcd-keyfile", "kubelet-client-key", "service-account-signing-key-file",
        "proxy-client-key-file", "key-file", "peer-key-file", "service-account-private-key-file",
        "cluster-signing-key-file",
    }
)  # fmt: skip
CERT_FLAGS = frozenset(
    {
        "client-ca-file", "tls-cert-file", "etcd-cafile", "etcd-certfile", "kubelet-client-certificate",
        "kubelet-certificate-authority", "service-account-key-file", "proxy-client-cert-file",
        "requestheader-client-ca-file", "cert-file", "trusted-ca-file", "peer-cert-file",
        "peer-trusted-ca-file", "root-ca-file", "cluster-signing-cert-file",
    }
)  # fmt: skip
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")

# The component whose process decides a role's files. While it runs, only what it names
# counts; for these roles its built-in default location counts too when it names none.
OWNER: Mapping[str, str] = {
    KUBELET_KUBECONFIG: "kubelet", KUBELET_BOOTSTRAP: "kubelet", KUBELET_CONFIG: "kubelet",
    KUBELET_CLIENT_CA: "kubelet", KUBELET_PKI: "kubelet", RUNTIME_SOCKET: "kubelet", CNI: "kubelet",
    STATIC_POD_MANIFEST: "kubelet", PROXY_KUBECONFIG: "kube-proxy", SCHEDULER_KUBECONFIG: "kube-scheduler",
    CONTROLLER_MANAGER_KUBECONFIG: "kube-controller-manager", ETCD_DATA_DIR: "etcd",
    AUDIT_LOG: "kube-apiserver",
}  # fmt: skip
DEFAULTED = frozenset({KUBELET_PKI, RUNTIME_SOCKET, CNI, STATIC_POD_MANIFEST, ETCD_DATA_DIR})

MAX_FILES = 4000
_STAT = re.compile(
    r"^([0-9a-f]{1,8}) (\d{1,10}) (\d{1,10}) (\S{1,64}) (\S{1,64}) (\d{1,20}) (\d{1,20}) (/.{0,4095})$"
)
_PATH = re.compile(r"^/[A-Za-z0-9._/+:@=,~-]{0,1023}$")
_ROOT = re.compile(r"^/proc/(\d{1,10})/root(/.*)?$")
_HASH = re.compile(r"^([0-9a-f]{64})  (/.{0,4095})$")
_ENV = re.compile(r"^env (\d{1,10}) (ETCD_[A-Z_]{1,40})=(.{0,1024})$")


@dataclass(frozen=True, slots=True)
class Stat:
    """`stat -L` of one path (symbolic links followed, as the process opens it)."""

    lookup: str  # the path stat(1) was given
    mode: int  # permission bits, setuid/setgid/sticky included
    kind: str  # "file", "dir", "socket" or "other"
    uid: int
    gid: int
    owner: str
    group: str
    dev: int
    ino: int

    @property
    def text(self) -> str:
        return f"{self.mode:04o} {printable(self.owner, 64)}:{printable(self.group, 64)}"


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file (or directory) of a role, why it is judged, and what stat(1) said."""

    role: str
    path: str  # as the process sees it
    why: str  # who uses it: "--kubeconfig of kubelet (pid 812)", "kubeadm default location"
    stat: Stat | None  # None: named, but missing or unreadable
    parents: tuple[tuple[str, Stat | None], ...] = ()  # "/" first, down to the directory holding it
    root: str = ""  # "/proc/<pid>/root" when looked up in a process's own mount namespace
    named: bool = False  # a process, manifest or unit names it (so missing is a finding)
    sort: str = ""  # "key", "cert", "conf", "dir" or "" (what a check may judge it as)
    inside: bool = False  # lives inside a container: never examined (stat is None)

    @property
    def shown(self) -> str:
        where = f" (as pid {self.root.split('/')[2]} sees it)" if self.root else ""
        if self.inside:
            where = " (inside a container: not examined)"
        return printable(self.path, 300) + where

    def barrier(self) -> tuple[str, Stat, str] | None:
        """The first parent directory that keeps users out, and whom: "every non-root
        user" (no group/other search bit, owned by root) or "other users" (no other
        search bit). None when every parent lets everyone through."""
        outer: tuple[str, Stat, str] | None = None
        for path, found in self.parents:
            if found is None or found.kind != "dir":
                continue
            if found.uid == 0 and not found.mode & 0o011:
                return path, found, "every non-root user"
            if outer is None and not found.mode & 0o001:
                outer = (path, found, f"users outside group {found.group}")
        return outer


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    kind: str
    root: str  # "" or /proc/<pid>/root
    uid: int | None
    user: str
    gid: int | None
    group: str
    contained: bool = False  # runs in another mount namespace: names no path root follows


@dataclass(frozen=True, slots=True)
class PathRef:
    """A path-valued flag or key as the node reported it."""

    kind: str  # component
    name: str  # flag name without dashes, config key or ETCD_* variable
    value: str
    pid: int | None  # None: from a static pod manifest
    source: str  # "/proc/812/cmdline", "/var/lib/kubelet/config.yaml", a manifest path


@dataclass(frozen=True, slots=True)
class Doc:
    path: str  # the lookup path
    text: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class K8sFiles:
    files: tuple[FileRef, ...]
    procs: Mapping[int, Proc] = field(default_factory=dict)
    refs: tuple[PathRef, ...] = ()
    env: Mapping[int, Mapping[str, str]] = field(default_factory=dict)  # etcd pid -> ETCD_* settings
    docs: Mapping[str, Doc] = field(default_factory=dict)  # by lookup path
    hashes: Mapping[str, str] = field(default_factory=dict)  # by lookup path
    manifests: Mapping[str, str] = field(default_factory=dict)  # manifest file -> component ("" unknown)
    unusable: tuple[str, ...] = ()  # flags whose value is not a plain absolute path
    notes: tuple[str, ...] = ()
    mounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # manifest -> host_mounts()

    def role(self, name: str) -> tuple[FileRef, ...]:
        return tuple(f for f in self.files if f.role == name)

    def running(self, kind: str) -> tuple[Proc, ...]:
        return tuple(p for p in self.procs.values() if p.kind == kind)

    def lookup_path(self, pid: int | None, path: str) -> str:
        proc = self.procs.get(pid) if pid is not None else None
        return (proc.root if proc is not None else "") + path

    def inside(self, pid: int | None, path: str) -> bool:
        """The file `path` of process `pid` lives inside its container: what the host has
        under that name is another file (or an attacker's link target), never it."""
        proc = self.procs.get(pid) if pid is not None else None
        if proc is None or not proc.contained:
            return False
        return not visible(path, pod_mounts(proc.kind, self.manifests, self.mounts))

    def doc(self, pid: int | None, path: str) -> Doc | None:
        if self.inside(pid, path):
            return None
        return self.docs.get(self.lookup_path(pid, path))

    def digest(self, pid: int | None, path: str) -> str | None:
        if self.inside(pid, path):
            return None
        return self.hashes.get(self.lookup_path(pid, path))

    def lookup(self, path: str) -> Observation | None:
        """`<role>.paths` (tuple of paths judged) and `<role>.count`."""
        role, _, what = path.partition(".")
        if role not in ROLES or what not in ("paths", "count"):
            return None
        found = self.role(role)
        source = (
            "stat -L on the node ("
            + (", ".join(sorted({f.why for f in found}))[:300] or "nothing found")
            + ")"
        )
        if what == "count":
            return Observation(len(found), source)
        return Observation(tuple(f.path for f in found), source)


# --- reading the parts ----------------------------------------------------------------


def _kind(mode: int) -> str:
    if statmod.S_ISREG(mode):
        return "file"
    if statmod.S_ISDIR(mode):
        return "dir"
    if statmod.S_ISSOCK(mode):
        return "socket"
    return "other"


def read_stats(part: Part) -> dict[str, Stat]:
    stats: dict[str, Stat] = {}
    for line in part.lines:
        match = _STAT.match(line)
        if match is None or len(stats) >= MAX_FILES * 4:
            continue
        raw, uid, gid, owner, group, dev, ino, name = match.groups()
        mode = int(raw, 16)
        stats[name] = Stat(
            name, statmod.S_IMODE(mode), _kind(mode), int(uid), int(gid), owner, group, int(dev), int(ino)
        )
    return stats


def _split_root(lookup: str) -> tuple[str, str]:
    """("/proc/12/root", "/etc/x") for a lookup through a process root, else ("", lookup)."""
    match = _ROOT.match(lookup)
    if match is None:
        return "", lookup
    return f"/proc/{match.group(1)}/root", match.group(2) or "/"


def parents_of(lookup: str, stats: Mapping[str, Stat]) -> tuple[tuple[str, Stat | None], ...]:
    root, path = _split_root(lookup)
    chain: list[tuple[str, Stat | None]] = []
    current = posixpath.dirname(path)
    while True:
        chain.append((current, stats.get(root + current if current != "/" else (root or "/"))))
        if current == "/":
            break
        current = posixpath.dirname(current)
    return tuple(reversed(chain))


def read_procs(part: Part) -> tuple[dict[int, Proc], dict[int, dict[str, str]]]:
    procs: dict[int, Proc] = {}
    env: dict[int, dict[str, str]] = {}
    for line in part.lines:
        fields = line.split(" ")
        if fields[0] == "proc" and len(fields) >= 4 and fields[1].isdigit():
            pid = int(fields[1])
            # "-": our own mount namespace; anything else ("container", or the
            # /proc/<pid>/root older snippets printed) is a container, looked into never.
            contained = fields[3] != "-"
            ids = [*fields[4:8], "", "", "", ""]
            procs[pid] = Proc(
                pid, fields[2][:64], "",
                int(ids[0]) if ids[0].isdigit() else None, printable(ids[1], 64),
                int(ids[2]) if ids[2].isdigit() else None, printable(ids[3], 64), contained,
            )  # fmt: skip
            continue
        match = _ENV.match(line)
        if match is not None:
            values = env.setdefault(int(match.group(1)), {})
            values.setdefault(match.group(2), match.group(3))  # the first wins: environ has one
    return procs, env


def read_refs(
    procs_part: Part, conf: Part, manifests: Part
) -> tuple[list[PathRef], dict[str, str], list[str]]:
    refs: list[PathRef] = []
    unusable: list[str] = []
    found_manifests: dict[str, str] = {}
    for line in procs_part.lines:
        fields = line.split(" ", 4)
        # "inside": a container's flag, named in the report and never examined.
        if (
            fields[0] in ("flag", "inside")
            and len(fields) == 5
            and fields[1].isdigit()
            and _PATH.match(fields[4])
        ):
            refs.append(
                PathRef(fields[2], fields[3], fields[4], int(fields[1]), f"/proc/{fields[1]}/cmdline")
            )
        elif fields[0] == "unsafe" and len(fields) >= 4:
            unusable.append(printable(f"--{fields[3]} of {fields[2]} (pid {fields[1]})", 120))
    for line in conf.lines:
        fields = line.split(" ", 5)
        if fields[0] == "conf" and len(fields) == 6 and fields[1].isdigit() and _PATH.match(fields[4]):
            refs.append(PathRef(fields[2], fields[3], fields[4], int(fields[1]), printable(fields[5], 300)))
    for line in manifests.lines:
        fields = line.split(" ", 3)
        if fields[0] == "manifest" and len(fields) >= 3:
            found_manifests[" ".join(fields[2:])] = "" if fields[1] == "-" else fields[1]
        elif fields[0] == "mflag" and len(fields) == 4 and _PATH.match(fields[2]):
            refs.append(PathRef("", fields[1], fields[2], None, printable(fields[3], 300)))
    # mflag lines come before their manifest's line: fill in the component now.
    refs = [
        PathRef(found_manifests.get(r.source, ""), r.name, r.value, None, r.source) if r.pid is None else r
        for r in refs
    ]
    return refs, found_manifests, unusable


def read_lists(part: Part) -> list[tuple[str, int, str]]:
    lists: list[tuple[str, int, str]] = []
    for line in part.lines:
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[1].isdigit() and fields[2].startswith("/"):
            lists.append((fields[0], int(fields[1]), fields[2]))
    return lists


def read_docs(found: Mapping[str, Part]) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for name, part in found.items():
        if not name.startswith("doc") or not part.lines or not part.lines[0].startswith("path /"):
            continue
        path = part.lines[0][5:]
        docs[path] = Doc(path, "\n".join(part.lines[1:]), part.truncated or part.exit_code != 0)
    return docs


def host_mounts(text: str, path: str) -> tuple[str, ...]:
    """The paths a static pod sees as the host's own files: mountPaths of its component
    container whose volume is a hostPath of the SAME path, without subPath (kubeadm
    mounts its PKI, kubeconfigs, audit and encryption files that way). A path mounted
    from elsewhere on the host is not examined either: the snippet stats names, not
    translations, and an unmapped name is reported, never guessed."""
    try:
        doc, _ = load_yaml(text, path, strict=False, max_bytes=1 << 20, max_nodes=20_000)
    except InputError:
        return ()
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    if not isinstance(spec, Mapping):
        return ()
    volumes: dict[str, str] = {}
    for volume in spec.get("volumes") or ():
        host = volume.get("hostPath") if isinstance(volume, Mapping) else None
        if (
            isinstance(host, Mapping)
            and isinstance(host.get("path"), str)
            and isinstance(volume.get("name"), str)
        ):
            volumes[volume["name"]] = posixpath.normpath(host["path"])
    found: list[str] = []
    for container in spec.get("containers") or ():
        if not isinstance(container, Mapping):
            continue
        command = container.get("command")
        words = command if isinstance(command, list) else []
        # The component may sit behind a wrapper that execs it (kops' /go-runner ...
        # /usr/local/bin/kube-apiserver --flags): any word of the command that is not a flag.
        if not any(
            isinstance(w, str) and not w.startswith("-") and posixpath.basename(w) in CONTROL_PLANE
            for w in words
        ):
            continue
        for mount in container.get("volumeMounts") or ():
            if not isinstance(mount, Mapping) or mount.get("subPath") or mount.get("subPathExpr"):
                continue
            where = mount.get("mountPath")
            if isinstance(where, str) and _PATH.match(where) and volumes.get(str(mount.get("name"))) == where:
                found.append(where)
    return tuple(found[:64])


def read_pod_mounts(found: Mapping[str, Part]) -> dict[str, tuple[str, ...]]:
    """manifest path -> host_mounts(); a manifest cut off or unreadable has none."""
    mounts: dict[str, tuple[str, ...]] = {}
    for name, part in found.items():
        if not name.startswith("pod") or not part.lines or not part.lines[0].startswith("path /"):
            continue
        path = part.lines[0][5:]
        complete = part.exit_code == 0 and not part.truncated
        mounts[path] = host_mounts("\n".join(part.lines[1:]), path) if complete else ()
    return mounts


def pod_mounts(
    kind: str, manifests: Mapping[str, str], mounts: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """The host-mounted paths of `kind`'s static pod; () when no manifest describes one."""
    return tuple(m for path, found in manifests.items() if found == kind for m in mounts.get(path, ()))


def visible(path: str, mounts: Iterable[str]) -> bool:
    """Is `path` at or under one of the pod's same-path hostPath mounts?"""
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def read_hashes(part: Part) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for line in part.lines:
        match = _HASH.match(line)
        if match is not None:
            hashes[match.group(2)] = match.group(1)
    return hashes


# --- deciding which files each role judges ---------------------------------------------


def _classify(path: str, flag: str = "") -> str:
    if flag in KEY_FLAGS:
        return "key"
    if flag in CERT_FLAGS:
        return "cert"
    name = posixpath.basename(path)
    if name.endswith(".key") or name.endswith("-key.pem") or name.endswith("key.pem"):
        return "key"
    if name.startswith(("kubelet-client-", "kubelet-server-")) and name.endswith(".pem"):
        return "key"  # kubelet's rotated files hold the private key and the certificate
    if name.endswith((".crt", ".pem", ".pub")):
        return "cert"
    return ""


class _Builder:
    def __init__(
        self, stats: Mapping[str, Stat], procs: Mapping[int, Proc], lists: list[tuple[str, int, str]]
    ) -> None:
        self.stats = stats
        self.procs = procs
        self.lists = lists
        self.files: list[FileRef] = []
        self.seen: set[tuple[str, str]] = set()
        self.inodes: set[tuple[str, int, int]] = set()

    def add(self, role: str, lookup: str, why: str, *, named: bool, sort: str = "") -> None:
        root, path = _split_root(lookup)
        found = self.stats.get(lookup)
        if found is None and not named:
            return  # a standard location that does not exist here
        if (role, lookup) in self.seen:
            return
        if found is not None:
            inode = (role, found.dev, found.ino)
            if inode in self.inodes:
                return  # /lib -> /usr/lib: one file under two names
            self.inodes.add(inode)
        self.seen.add((role, lookup))
        if found is not None and found.kind == "dir":
            sort = "dir"
        self.files.append(
            FileRef(role, path, printable(why, 300), found, parents_of(lookup, self.stats), root, named, sort)
        )

    def entries(self, directory: str, depth: int) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        base = prefix.count("/")
        return sorted(p for p in self.stats if p.startswith(prefix) and 0 < p.count("/") - base + 1 <= depth)

    def add_dir(
        self, role: str, lookup: str, why: str, *, named: bool, depth: int = 1, only: str = ""
    ) -> None:
        self.add(role, lookup, why, named=named, sort="dir")
        found = self.stats.get(lookup)
        if found is None or found.kind != "dir":
            return
        for entry in self.entries(lookup, depth):
            if only and not entry.endswith(only):
                continue
            self.add(role, entry, f"in {_split_root(lookup)[1]} ({why})", named=False, sort=_classify(entry))

    def root_of(self, pid: int | None) -> str:
        proc = self.procs.get(pid) if pid is not None else None
        return proc.root if proc is not None else ""

    def add_inside(self, role: str, path: str, why: str, sort: str = "") -> None:
        """A file a container uses that nothing here examined: named, never stat-ed."""
        if (role, "inside:" + path) in self.seen:
            return
        self.seen.add((role, "inside:" + path))
        self.files.append(FileRef(role, path, printable(why, 300), None, (), "", True, sort, inside=True))


def _why(ref: PathRef, procs: Mapping[int, Proc]) -> str:
    if ref.pid is None:
        return f"--{ref.name} in {ref.source}"
    kind = procs[ref.pid].kind if ref.pid in procs else ref.kind
    if ref.name.startswith("ETCD_"):
        return f"{ref.name} in the environment of {kind} (pid {ref.pid})"
    if ref.source.endswith("/cmdline"):
        return f"--{ref.name} of {kind} (pid {ref.pid}, {ref.source})"
    return f"{ref.name} in {ref.source} ({kind} pid {ref.pid})"


def build(
    stats: Mapping[str, Stat],
    procs: Mapping[int, Proc],
    refs: Iterable[PathRef],
    lists: list[tuple[str, int, str]],
    candidates: Iterable[tuple[str, str]],
    manifests: Mapping[str, str] | None = None,
    mounts: Mapping[str, tuple[str, ...]] | None = None,
) -> list[FileRef]:
    builder = _Builder(stats, procs, lists)
    manifests = manifests or {}
    mounts = mounts or {}
    # Only a process of the node's own mount namespace names files root examines. A kind
    # running only in containers is judged by its static pod manifest when one describes
    # it (paths under the pod's same-path hostPath mounts are the host's files), else by
    # nothing: what it names is listed as inside the container (checks ERROR).
    running = {p.kind for p in procs.values() if not p.contained}
    contained = {p.kind for p in procs.values() if p.contained} - running
    described = {kind for kind in manifests.values() if kind}
    refs = [r for r in refs if r.pid is None or r.pid in procs]
    host_refs = [r for r in refs if r.pid is None or not procs[r.pid].contained]
    inside_refs = [r for r in refs if r.pid is not None and procs[r.pid].contained]

    def add_named(role: str, ref: PathRef, *, is_dir: bool = False, sort: str = "") -> None:
        why = _why(ref, procs)
        if ref.pid is None and ref.kind in contained:
            if not visible(ref.value, mounts.get(ref.source, ())):
                why += (
                    ": no hostPath volume of the pod mounts it at that path, so it lives inside the container"
                )
                builder.add_inside(role, ref.value, why, sort)
                return
            why += " (a hostPath volume of the pod that runs in a container)"
        if is_dir:
            only = ".conf" if role == KUBELET_CONFIG else ""
            builder.add_dir(role, ref.value, why, named=True, only=only)
        else:
            builder.add(role, ref.value, why, named=True, sort=sort)

    def add_unexamined(role: str, kind: str) -> None:
        mine = [r for r in inside_refs if r.kind == kind and _role_of(r) == role]
        for ref in mine:
            builder.add_inside(role, ref.value, f"{_why(ref, procs)}: inside its container, not examined")
        if not mine:
            pids = ", ".join(str(p.pid) for p in procs.values() if p.kind == kind)
            why = (
                f"{kind} runs only in a container (pid {pids}) that no static pod manifest describes:"
                " the file it uses there is not examined"
            )
            builder.add_inside(role, f"({kind}'s file inside its container)", why)

    by_role: dict[str, list[tuple[PathRef, bool]]] = {}  # role -> [(ref, is a directory flag)]
    for ref in host_refs:
        key = (ref.kind, ref.name)
        if key in FILE_FLAGS:
            by_role.setdefault(FILE_FLAGS[key], []).append((ref, False))
        elif key in DIR_FLAGS:
            by_role.setdefault(DIR_FLAGS[key], []).append((ref, True))
    # Keys and certificates the control plane names by flag (wherever they live), first,
    # so the flag is what a finding names for a file that is also in /etc/kubernetes/pki.
    for ref in host_refs:
        if ref.kind in CONTROL_PLANE and (ref.name in KEY_FLAGS or ref.name in CERT_FLAGS):
            if ref.pid is None and ref.kind in running:
                continue
            add_named(PKI, ref, sort=_classify(ref.value, ref.name))
    for ref in inside_refs:
        if (
            ref.kind in CONTROL_PLANE
            and ref.kind not in described
            and (ref.name in KEY_FLAGS or ref.name in CERT_FLAGS)
        ):
            builder.add_inside(PKI, ref.value, f"{_why(ref, procs)}: inside its container, not examined",
                               _classify(ref.value, ref.name))  # fmt: skip
    for role in (*OWNER, KUBELET_SERVICE, ADMIN_KUBECONFIG, PKI, RUNTIME_CONFIG):
        owner = OWNER.get(role)
        mine = by_role.get(role, [])
        from_procs = [(r, d) for r, d in mine if r.pid is not None]
        from_manifests = [(r, d) for r, d in mine if r.pid is None]
        if owner is not None and owner in running:
            chosen = from_procs
            fallback = not chosen and role in DEFAULTED
        elif owner is not None and owner in contained and owner not in described:
            add_unexamined(role, owner)
            continue
        elif owner is not None and owner in contained:
            # Its manifest is the truth (k8s_components believes the container only when
            # its argv is the manifest's); a default location, as for a host process.
            chosen = from_manifests
            fallback = not chosen and role in DEFAULTED
        elif from_manifests:
            chosen, fallback = from_manifests, False
        else:
            chosen, fallback = [], True
        for ref, is_dir in chosen:
            if ref.pid is None:
                add_named(role, ref, is_dir=is_dir, sort="dir" if role == ETCD_DATA_DIR else "")
                continue
            lookup = builder.root_of(ref.pid) + ref.value
            why = _why(ref, procs)
            if is_dir:
                only = ".conf" if role == KUBELET_CONFIG else ""
                builder.add_dir(role, lookup, why, named=True, only=only)
            else:
                builder.add(role, lookup, why, named=True, sort="dir" if role == ETCD_DATA_DIR else "")
        if not fallback:
            continue
        source = (
            f"{owner} runs but names none: its default location" if owner in running else "standard location"
        )
        for cand_role, path in candidates:
            if cand_role == role:
                builder.add(role, path, source, named=False, sort=_classify(path))
        for list_role, depth, directory in lists:
            if list_role == role:
                builder.add_dir(role, directory, source, named=False, depth=depth, only=_only(role))
    return builder.files[:MAX_FILES]


def _role_of(ref: PathRef) -> str:
    key = (ref.kind, ref.name)
    return FILE_FLAGS.get(key) or DIR_FLAGS.get(key) or ""


def _only(role: str) -> str:
    # systemd reads only *.conf drop-ins; the kubelet only *.conf files of --config-dir.
    return ".conf" if role in (KUBELET_SERVICE, KUBELET_CONFIG) else ""


# --- parse -----------------------------------------------------------------------------


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    if not section.stdout.startswith(MARK.encode()):
        return Unavailable(f"the {FACT} section printed no records")
    found = split_parts(section.text)
    stat_part = part_or_empty(found, "stat")
    incomplete = part_or_empty(found, "incomplete")
    if incomplete.lines:
        return Unavailable(f"Kubernetes file discovery is incomplete: {printable(incomplete.lines[0], 200)}")
    if not stat_part.ok or stat_part.truncated:
        return Unavailable(
            f"stat of the Kubernetes files did not finish: {stat_part.error_text or 'cut off'}"
        )
    procs, env = read_procs(part_or_empty(found, "info"))
    refs, manifests, unusable = read_refs(
        part_or_empty(found, "procs"), part_or_empty(found, "conf"), part_or_empty(found, "manifests")
    )
    for pid, values in env.items():
        # etcd fills a flag absent from its command line from ETCD_<FLAG> (SetFlagsFromEnv).
        data_dir = values.get("ETCD_DATA_DIR")
        named = any(r.pid == pid and r.name == "data-dir" for r in refs)
        if pid in procs and data_dir is not None and _PATH.match(data_dir) and not named:
            refs.append(PathRef("etcd", "ETCD_DATA_DIR", data_dir, pid, f"/proc/{pid}/environ"))
    lists = read_lists(part_or_empty(found, "lists"))
    stats = read_stats(stat_part)
    # depth 0: a standard location (or a unit file systemd reported); deeper: a directory.
    candidates = [
        (KUBELET_SERVICE if role == "unit" else role, path) for role, depth, path in lists if depth == 0
    ]
    mounts = read_pod_mounts(found)
    files = build(
        stats, procs, refs, [entry for entry in lists if entry[1] > 0], candidates, manifests, mounts
    )
    skipped = part_or_empty(found, "skipped")
    notes: list[str] = []
    if skipped.lines and skipped.lines[0].strip().isdigit() and int(skipped.lines[0].strip()) > 0:
        notes.append(
            f"{skipped.lines[0].strip()} directory entries with a newline in their name were not examined"
        )
    if not files and not procs and not manifests:
        return Absent("no Kubernetes component runs here and no Kubernetes file exists")
    return K8sFiles(
        files=tuple(files),
        procs=procs,
        refs=tuple(refs),
        env={pid: dict(values) for pid, values in env.items()},
        docs=read_docs(found),
        hashes=read_hashes(part_or_empty(found, "hash")),
        manifests=manifests,
        unusable=tuple(unusable[:32]),
        notes=tuple(notes),
        mounts=mounts,
    )
