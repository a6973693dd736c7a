# ---------------------------------------------------------------- nodeward runtime
# Constant library of every remediation script (agent/remediate/runtime.sh): no value
# from an inventory, a node or a template parameter is ever interpolated into it. The
# fix blocks below it only stage candidate files with these functions; nw_finish then
# runs the lockout-safe protocol of reliability.md L1-L13 for all of them at once:
#
#   prepare   each fix edits candidates in a private work directory (nothing on the
#             node changes); a fix whose guard fails is refused and dropped
#   plan      NW_MODE=plan stops here and prints a unified diff per changed file
#   backup    bytes, mode and owner of everything that changes, under
#             /var/lib/nodeward/backups/<run-id>/ (root only), with control.sh
#   install   each file staged in its destination directory, then renamed (atomic)
#   validate  with the real tools: sshd -t, sshd -T -C for the operator's connection,
#             visudo -c over the whole policy, nft -c, apt-config; failure restores
#   arm       an automatic restore on the node (systemd-run, at, or a sleeper)
#   reload    sshd (SIGHUP/systemctl), kubelet (restart + /healthz), sysctl, nft
#   verify    what a node can check itself: sshd answers on its port, sudo -n works
#   commit    NW_MODE=apply disarms here; NW_MODE=hold (nodeward --remediate) leaves the
#             timer armed until the bastion has proven a NEW SSH connection works
#
# Any failure after the first install, or a signal, restores everything (EXIT trap).
# Events go to stdout as TAB-separated lines starting with $NW_MARK.

nw_init() {
	LC_ALL=C
	export LC_ALL
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	export PATH
	umask 077
	TAB=$(printf '\t')
	NW_STATE_DIR=/var/lib/nodeward
	if [ "$(id -u)" != 0 ]; then
		printf '%s\n' "nodeward: this script must run as root (sudo sh $0)" >&2
		exit 2
	fi
	case $NW_MODE in apply | hold | plan) ;; *)
		printf '%s\n' "nodeward: NW_MODE must be apply, hold or plan" >&2
		exit 2
		;;
	esac
	[ -n "$NW_RUN_ID" ] || NW_RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
	case $NW_RUN_ID in *[!A-Za-z0-9_.-]* | .*)
		printf '%s\n' "nodeward: bad run id" >&2
		exit 2
		;;
	esac
	case $NW_ROLLBACK_SECONDS in '' | *[!0-9]*) NW_ROLLBACK_SECONDS=120 ;; esac
	NW_BACKUP=$NW_STATE_DIR/backups/$NW_RUN_ID
	NW_PHASE=prepare
	NW_WORK=$(mktemp -d) || exit 1
	trap nw_on_exit EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 141' PIPE
	mkdir "$NW_WORK/t" || exit 1
	: >"$NW_WORK/services"
	: >"$NW_WORK/expect"
	: >"$NW_WORK/checks"
	NW_SSHD=/usr/sbin/sshd
	[ -x "$NW_SSHD" ] || NW_SSHD=$(command -v sshd 2>/dev/null) || NW_SSHD=
	nw_connection "${1-}"
	nw_emit start "$NW_RUN_ID" "$NW_MODE" "$NW_USER" "$NW_CLIENT_ADDR" "$NW_SERVER_PORT"
	case $NW_MODE in apply | hold) nw_lock ;; esac
}

# ---------------------------------------------------------------- node lock

# One remediation at a time on this node, from any bastion: fd 9 holds a flock on
# /var/lib/nodeward/backups/.lock until this script exits (control.sh, node_lock, has
# the same lock and explains the fallback). Taken before any fix reads a file: a
# candidate computed from a file another run is about to change would undo that
# change. A plan (dry run) changes nothing and takes no lock. Every control.sh call
# and every command run as another account gets 9<&-: no daemon a reload starts (the
# kubelet) and no unprivileged process may keep the lock alive after us.
nw_busy() {
	nw_emit busy "$1"
	printf '%s\n' "nodeward: $1" >&2
	exit 75
}

nw_lock() {
	NW_BACKUPS=$NW_STATE_DIR/backups
	[ -d "$NW_BACKUPS" ] || mkdir -p -m 0700 "$NW_BACKUPS" || nw_die "cannot create $NW_BACKUPS"
	chmod 0700 "$NW_STATE_DIR" "$NW_BACKUPS" 2>/dev/null
	if command -v flock >/dev/null 2>&1; then
		[ -e "$NW_BACKUPS/.lock" ] || : >>"$NW_BACKUPS/.lock"
		exec 9<"$NW_BACKUPS/.lock" || nw_die "cannot open $NW_BACKUPS/.lock"
		if ! flock -n 9; then
			read -r nw_h _ <"$NW_BACKUPS/.lock"
			nw_busy "another nodeward remediation is running on this node (run ${nw_h:-unknown}); nothing was changed"
		fi
		printf '%s %s\n' "$NW_RUN_ID" "$$" >"$NW_BACKUPS/.lock"
	else
		while ! mkdir "$NW_BACKUPS/.lock.d" 2>/dev/null; do
			read -r nw_h nw_pid <"$NW_BACKUPS/.lock.d/holder" 2>/dev/null
			case ${nw_pid:-x} in *[!0-9]*) ;; *)
				if ! kill -0 "$nw_pid" 2>/dev/null; then
					rm -rf "$NW_BACKUPS/.lock.d" # its holder is gone (killed): stale
					continue
				fi
				;;
			esac
			nw_busy "another nodeward remediation is running on this node (run ${nw_h:-unknown}); nothing was changed"
		done
		NW_LOCKDIR=$NW_BACKUPS/.lock.d
		printf '%s %s\n' "$NW_RUN_ID" "$$" >"$NW_LOCKDIR/holder"
	fi
	nw_pending
}

# A run whose change is live but not yet committed or rolled back (its bastion is
# proving a new login, or its timer has yet to fire) holds no lock any more, but its
# files are not settled: a run now would back up and build on them, and that run's
# restore would then find them changed. It must settle first.
nw_pending() {
	for nw_b in "$NW_BACKUPS"/*/; do
		nw_b=${nw_b%/}
		[ -f "$nw_b/state" ] || continue
		case $(cat "$nw_b/state") in
		armed) nw_busy "run ${nw_b##*/} on this node is not committed yet (its bastion is verifying it, or its rollback timer will try to restore it; if neither settles it, nodeward rollback ${nw_b##*/}); nothing was changed" ;;
		restore-refused) nw_busy "run ${nw_b##*/} on this node could not be rolled back: a file changed after it, so its change is still in place and was never verified; nodeward rollback ${nw_b##*/} says which file and restores once it is back, nodeward rollback ${nw_b##*/} --keep-current keeps the node as it is; nothing was changed" ;;
		applying) nw_busy "run ${nw_b##*/} on this node stopped while it was installing (killed?): roll it back first (nodeward rollback ${nw_b##*/}); nothing was changed" ;;
		esac
	done
}

# The bastion's address and the SSH port, as this node sees our connection: from the
# argument nodeward passes ($SSH_CONNECTION, expanded before sudo reset the
# environment), else from $SSH_CONNECTION, else from the running sshd.
nw_connection() {
	set -f
	# shellcheck disable=SC2086 # split "client port server port" on purpose
	set -- ${1:-${SSH_CONNECTION:-}}
	set +f
	NW_CLIENT_ADDR=${1:-127.0.0.1}
	NW_SERVER_ADDR=${3:-127.0.0.1}
	NW_SERVER_PORT=${4:-}
	[ -n "$NW_SERVER_PORT" ] || NW_SERVER_PORT=$(nw_sshd_port)
	set -f
	# shellcheck disable=SC2086
	set -- $NW_KEEP_USERS
	set +f
	NW_USER=${1:-${SUDO_USER:-root}}
}

nw_sshd_port() {
	pid=$(cat /run/sshd.pid /var/run/sshd.pid 2>/dev/null | head -n 1)
	port=
	if [ -n "$pid" ] && command -v ss >/dev/null 2>&1; then
		port=$(ss -H -ltnp 2>/dev/null | awk -v p="pid=$pid," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	fi
	if [ -z "$port" ] && [ -n "$NW_SSHD" ]; then
		port=$("$NW_SSHD" -T 2>/dev/null | awk '$1 == "port" { print $2; exit }')
	fi
	printf '%s\n' "${port:-22}"
}

# ---------------------------------------------------------------- events

nw_flat() { printf '%s' "$1" | tr '\t\r\n' '   ' | cut -c1-400; }

nw_emit() {
	nw_line=$NW_MARK
	for nw_a in "$@"; do nw_line="$nw_line$TAB$(nw_flat "$nw_a")"; done
	printf '%s\n' "$nw_line"
}

nw_die() {
	nw_emit failed "$NW_PHASE" "$1"
	exit 1
}

# ---------------------------------------------------------------- candidates

nw_path_ok() {
	case $1 in
	/*) ;;
	*) return 1 ;;
	esac
	case $1 in *"$TAB"* | *\\* | *'
'*) return 1 ;; esac
	return 0
}

# nw_slot PATH: the work directory tracking PATH (created on first use) in NW_SLOT.
nw_slot() {
	nw_path_ok "$1" || {
		NW_FIX_ERROR="refusing an odd path: $(nw_flat "$1")"
		return 1
	}
	for nw_s in "$NW_WORK"/t/*; do
		[ -f "$nw_s/dest" ] || continue
		if [ "$(cat "$nw_s/dest")" = "$1" ]; then
			NW_SLOT=$nw_s
			return 0
		fi
	done
	# Every path root changes, whatever its source (a fixed name, a glob match, a dirs:
	# pattern, a process's flag, a content file staged next to it): only root may be able
	# to change what its name leads to, or a user swaps it for a link between our check
	# and our chmod, or for a link to /etc/shadow before a restore (issue 12 review 1).
	nw_safe_name "$1" || {
		nw_refuse "$NW_PIN_WHY"
		return 1
	}
	nw_n=$(find "$NW_WORK/t" -mindepth 1 -maxdepth 1 | wc -l)
	NW_SLOT=$NW_WORK/t/$(printf '%04d' $((nw_n + 1)))
	mkdir "$NW_SLOT" && printf '%s\n' "$1" >"$NW_SLOT/dest" || return 1
	if [ -L "$1" ]; then
		echo link >"$NW_SLOT/orig"
	elif [ -e "$1" ]; then
		stat -c '%a %u %g %F' -- "$1" >"$NW_SLOT/orig"
	else
		echo absent >"$NW_SLOT/orig"
	fi
}

# nw_edit PATH [MODE OWNER GROUP]: NW_CAND is the candidate content of PATH (a copy of
# the file, or empty for a new file created with MODE OWNER GROUP). Fixes chain: a
# second fix editing the same file continues from the first one's candidate.
nw_edit() {
	nw_slot "$1" || return 1
	NW_CAND=$NW_SLOT/cand
	[ -f "$NW_CAND" ] && return 0
	read -r nw_o _ <"$NW_SLOT/orig"
	case $nw_o in
	link)
		NW_FIX_ERROR="$1 is a symbolic link: nodeward does not edit through links"
		return 1
		;;
	absent)
		: >"$NW_CAND"
		printf '%s\n' "${2:-0644}" >"$NW_SLOT/mode"
		printf '%s\n' "${3:-root}" >"$NW_SLOT/owner"
		printf '%s\n' "${4:-root}" >"$NW_SLOT/group"
		;;
	*)
		if [ ! -f "$1" ]; then
			NW_FIX_ERROR="$1 is not a regular file"
			return 1
		fi
		cat -- "$1" >"$NW_CAND" || return 1
		;;
	esac
}

# nw_root_dir DIR: only root can change what the absolute path DIR leads to. Walked the
# way the kernel resolves it: every directory a name is looked up in, including those a
# symbolic link leads through (/sbin -> usr/sbin), must be a directory owned by root that
# no group or other user can write; a link is fine there, since only root can replace it.
# A missing part is fine too: root creates it (mkdir -p) in a directory only root
# controls. NW_PIN_WHY says why not; NW_ROOT_DIR is where DIR leads.
nw_root_dir() {
	NW_PIN_WHY=
	nw_rd_rest=$1
	nw_rd_cur=/
	nw_rd_hops=0
	nw_dir_root_only / || return 1
	while [ -n "$nw_rd_rest" ]; do
		nw_rd_c=${nw_rd_rest%%/*}
		if [ "$nw_rd_c" = "$nw_rd_rest" ]; then nw_rd_rest=; else nw_rd_rest=${nw_rd_rest#*/}; fi
		case $nw_rd_c in
		'' | .) continue ;;
		..)
			nw_rd_cur=${nw_rd_cur%/*}
			[ -n "$nw_rd_cur" ] || nw_rd_cur=/
			continue
			;;
		esac
		nw_rd_next=${nw_rd_cur%/}/$nw_rd_c
		if [ -L "$nw_rd_next" ]; then
			nw_rd_hops=$((nw_rd_hops + 1))
			nw_rd_t=$(readlink -- "$nw_rd_next") && [ "$nw_rd_hops" -le 40 ] || {
				NW_PIN_WHY="$1: cannot resolve $nw_rd_next"
				return 1
			}
			case $nw_rd_t in /*) nw_rd_cur=/ ;; esac
			nw_rd_rest=$nw_rd_t/$nw_rd_rest
			continue
		fi
		[ -e "$nw_rd_next" ] || break
		nw_dir_root_only "$nw_rd_next" || return 1
		nw_rd_cur=$nw_rd_next
	done
	NW_ROOT_DIR=$nw_rd_cur
}

nw_dir_root_only() {
	nw_rd_st=$(stat -c '%u %a %F' -- "$1" 2>/dev/null)
	case $nw_rd_st in
	"0 "[0-7]*" directory") ;;
	*)
		NW_PIN_WHY="$1 is not a directory owned by root: nodeward does not touch what is under it"
		return 1
		;;
	esac
	nw_rd_m=${nw_rd_st#0 }
	if [ $((0${nw_rd_m%% *} & 022)) -ne 0 ]; then
		NW_PIN_WHY="$1 can be changed by someone other than root: nodeward does not touch what is under it"
		return 1
	fi
}

# nw_safe_name PATH: only root can change what PATH names (nw_root_dir of its
# directory), and it is a regular file, a directory, a symbolic link (never followed:
# the callers refuse or skip it) or nothing yet. A FIFO or a device is never touched.
nw_safe_name() {
	nw_rd_parent=${1%/*}
	nw_root_dir "${nw_rd_parent:-/}" || return 1
	if [ -e "$1" ] && [ ! -L "$1" ] && [ ! -f "$1" ] && [ ! -d "$1" ]; then
		NW_PIN_WHY="$1 is not a regular file or a directory: not touched"
		return 1
	fi
}

# nw_pinned PATH: PATH is a regular file with one name, not a symbolic link, and only
# root can change what its name leads to (nw_safe_name). NW_PIN_WHY says why not.
nw_pinned() {
	NW_PIN_WHY=
	if [ -L "$1" ] || [ ! -f "$1" ]; then
		NW_PIN_WHY="$1 is a symbolic link or not a regular file: not touched"
		return 1
	fi
	nw_safe_name "$1" || return 1
	if [ "$(stat -c '%h' -- "$1")" != 1 ]; then
		NW_PIN_WHY="$1 has more than one name (hard links): not touched"
		return 1
	fi
}

# nw_pin PATH: refuse the fix unless PATH is pinned (nw_pinned), and remember its
# device and inode: nw_install_one changes that very file or nothing.
nw_pin() {
	nw_pinned "$1" || {
		nw_refuse "$NW_PIN_WHY"
		return 1
	}
	nw_slot "$1" || return 1
	nw_inode "$1"
}

# nw_inode PATH: remember which file PATH is now (device:inode); nw_install_one changes
# that very file or nothing, and the restore (control.sh, pins) puts back the mode and
# owner of that very file or nothing. A regular file with another name (a hard link)
# is refused: its other name may be anywhere.
nw_inode() {
	if [ -f "$1" ] && [ "$(stat -c '%h' -- "$1")" != 1 ]; then
		nw_refuse "$1 has more than one name (hard links): not touched"
		return 1
	fi
	[ -f "$NW_SLOT/ino" ] || stat -c '%d:%i' -- "$1" >"$NW_SLOT/ino"
}

# nw_chmod/nw_chown never act through a symbolic link (chmod would change its target).
nw_chmod() {
	nw_slot "$1" || return 1
	if [ -L "$1" ]; then
		NW_FIX_ERROR="$1 is a symbolic link: nodeward does not change modes through links"
		return 1
	fi
	nw_inode "$1" || return 1
	printf '%s\n' "$2" >"$NW_SLOT/mode"
}

nw_chown() {
	nw_slot "$1" || return 1
	if [ -L "$1" ]; then
		NW_FIX_ERROR="$1 is a symbolic link: nodeward does not change owners through links"
		return 1
	fi
	nw_inode "$1" || return 1
	printf '%s\n' "$2" >"$NW_SLOT/owner"
	printf '%s\n' "$3" >"$NW_SLOT/group"
}

# nw_replace PATH FILE: the candidate of PATH becomes FILE's content.
nw_replace() { cat -- "$2" >"$NW_CAND.new" && mv -f "$NW_CAND.new" "$NW_CAND"; }

nw_uid() {
	case $1 in
	*[!0-9]*) id -u -- "$1" 2>/dev/null ;;
	*) printf '%s\n' "$1" ;;
	esac
}

nw_gid() {
	case $1 in
	*[!0-9]*) getent group "$1" 2>/dev/null | cut -d: -f3 ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# nw_dirty SLOT: true when what the fixes want differs from the node now.
nw_dirty() {
	nw_d=$(cat "$1/dest")
	read -r nw_om nw_ou nw_og _ <"$1/orig"
	[ -f "$1/live" ] && return 0 # the file is right, the running value is not (sysctl)
	if [ -f "$1/cand" ]; then
		[ "$nw_om" = absent ] && return 0
		cmp -s "$1/cand" "$nw_d" || return 0
	fi
	[ "$nw_om" = absent ] && return 1
	if [ -f "$1/mode" ] && [ $((0$(cat "$1/mode"))) -ne $((0$nw_om)) ]; then return 0; fi
	if [ -f "$1/owner" ] && [ "$(nw_uid "$(cat "$1/owner")")" != "$nw_ou" ]; then return 0; fi
	if [ -f "$1/group" ] && [ "$(nw_gid "$(cat "$1/group")")" != "$nw_og" ]; then return 0; fi
	return 1
}

# Signature of the wanted changes (clean slots count as nothing).
nw_sigs() {
	for nw_s in "$NW_WORK"/t/*; do
		[ -d "$nw_s" ] || continue
		nw_dirty "$nw_s" || continue
		printf '%s ' "${nw_s##*/}"
		cat "$nw_s/cand" "$nw_s/mode" "$nw_s/owner" "$nw_s/group" 2>/dev/null | cksum
	done
}

nw_service() {
	grep -qx -- "$1" "$NW_WORK/services" || printf '%s\n' "$1" >>"$NW_WORK/services"
}

# nw_expect_sshd KEYWORD VALUE: after install, `sshd -T -C <operator>` must say so.
nw_expect_sshd() { printf '%s\t%s\n' "$1" "$2" >>"$NW_WORK/expect"; }

nw_refuse() { NW_REFUSED=$1; }

# nw_fix N REMEDIATION FUNCTION: run one fix block; keep its edits, or drop them all
# when it refuses or fails, so one bad fix never takes half-edited files along.
nw_fix() {
	NW_FIX=$1
	NW_REFUSED=
	NW_FIX_ERROR=
	rm -rf "$NW_WORK/snap"
	mkdir "$NW_WORK/snap"
	cp -R "$NW_WORK/t" "$NW_WORK/snap/t"
	cp "$NW_WORK/services" "$NW_WORK/expect" "$NW_WORK/snap/"
	nw_before=$(nw_sigs)
	"$3" || [ -n "$NW_FIX_ERROR$NW_REFUSED" ] || NW_FIX_ERROR="the fix block failed"
	if [ -n "$NW_REFUSED$NW_FIX_ERROR" ]; then
		rm -rf "$NW_WORK/t"
		mv "$NW_WORK/snap/t" "$NW_WORK/t"
		cp "$NW_WORK/snap/services" "$NW_WORK/snap/expect" "$NW_WORK/"
		if [ -n "$NW_REFUSED" ]; then
			nw_emit fix "$1" "$2" refused "$NW_REFUSED"
		else
			nw_emit fix "$1" "$2" error "$NW_FIX_ERROR"
		fi
		return 0
	fi
	if [ "$nw_before" = "$(nw_sigs)" ]; then
		nw_emit fix "$1" "$2" unchanged
	else
		nw_emit fix "$1" "$2" changes
	fi
}

# ---------------------------------------------------------------- guards

nw_spec() {
	printf 'user=%s,host=%s,addr=%s,laddr=%s,lport=%s' "$1" "$NW_CLIENT_ADDR" "$NW_CLIENT_ADDR" \
		"$NW_SERVER_ADDR" "$NW_SERVER_PORT"
}

# nw_sshd_T USER [sshd options]: the effective configuration for USER's connection
# from the bastion in $NW_WORK/T (Match blocks need -C; reliability.md L3).
nw_sshd_T() {
	nw_u=$1
	shift
	[ -n "$NW_SSHD" ] || {
		NW_WHY="sshd is not installed"
		return 1
	}
	if ! "$NW_SSHD" -T -C "$(nw_spec "$nw_u")" "$@" >"$NW_WORK/T" 2>"$NW_WORK/T.err"; then
		NW_WHY="sshd -T for $nw_u failed: $(nw_flat "$(head -c 300 "$NW_WORK/T.err")")"
		return 1
	fi
}

nw_user_matches() {
	# sshd's user[@host] patterns (*, ?) against the account and the bastion address.
	nw_pu=${1%%@*}
	# shellcheck disable=SC2254 # the pattern is the point
	case $2 in $nw_pu) ;; *) return 1 ;; esac
	case $1 in *@*) ;; *) return 0 ;; esac
	nw_ph=${1#*@}
	# shellcheck disable=SC2254
	case $NW_CLIENT_ADDR in $nw_ph) return 0 ;; esac
	return 1
}

nw_groups_match() {
	for nw_g in $2; do
		# shellcheck disable=SC2254
		case $nw_g in $1) return 0 ;; esac
	done
	return 1
}

# nw_sshd_access USER LOGIN [sshd options]: may USER still log in from the bastion?
# LOGIN=1 for the account nodeward itself uses (a key): PubkeyAuthentication,
# AuthenticationMethods and PermitRootLogin must still let that key in.
nw_sshd_access() {
	nw_acc=$1
	nw_login=$2
	shift 2
	nw_sshd_T "$nw_acc" "$@" || return 1
	nw_groups=$(id -Gn -- "$nw_acc" 2>/dev/null) || {
		NW_WHY="there is no account $nw_acc on this node"
		return 1
	}
	nw_has_au= nw_au= nw_du= nw_has_ag= nw_ag= nw_dg= nw_pk=yes nw_am=any nw_prl=
	set -f
	while read -r nw_k nw_v; do
		case $nw_k in
		allowusers)
			nw_has_au=1
			nw_user_matches "$nw_v" "$nw_acc" && nw_au=1
			;;
		denyusers) nw_user_matches "$nw_v" "$nw_acc" && nw_du=$nw_v ;;
		allowgroups)
			nw_has_ag=1
			nw_groups_match "$nw_v" "$nw_groups" && nw_ag=1
			;;
		denygroups) nw_groups_match "$nw_v" "$nw_groups" && nw_dg=$nw_v ;;
		pubkeyauthentication) nw_pk=$nw_v ;;
		authenticationmethods) nw_am=$nw_v ;;
		permitrootlogin) nw_prl=$nw_v ;;
		esac
	done <"$NW_WORK/T"
	set +f
	NW_WHY=
	if [ -n "$nw_du" ]; then
		NW_WHY="DenyUsers $nw_du matches $nw_acc"
	elif [ -n "$nw_has_au" ] && [ -z "$nw_au" ]; then
		NW_WHY="AllowUsers does not let $nw_acc in from $NW_CLIENT_ADDR"
	elif [ -n "$nw_dg" ]; then
		NW_WHY="DenyGroups $nw_dg matches a group of $nw_acc"
	elif [ -n "$nw_has_ag" ] && [ -z "$nw_ag" ]; then
		NW_WHY="AllowGroups names no group of $nw_acc ($nw_groups)"
	elif [ "$nw_login" = 1 ] && [ "$nw_pk" != yes ]; then
		NW_WHY="PubkeyAuthentication $nw_pk would refuse the key $nw_acc logs in with"
	elif [ "$nw_login" = 1 ] && [ "$nw_am" != any ] && ! nw_key_only_method "$nw_am"; then
		NW_WHY="AuthenticationMethods $nw_am has no list a key alone satisfies"
	elif [ "$nw_acc" = root ] && [ "$nw_login" = 1 ] && [ "$nw_prl" = no ]; then
		NW_WHY="PermitRootLogin no while nodeward logs in as root"
	fi
	[ -z "$NW_WHY" ]
}

nw_key_only_method() {
	for nw_list in $1; do
		[ "$nw_list" = publickey ] && return 0
	done
	return 1
}

# nw_has_key USER: does USER have a way in that is not a password (an authorized key,
# an AuthorizedKeysCommand or a trusted user CA)?  reliability.md L4.
nw_has_key() {
	nw_sshd_T "$1" || return 1
	nw_akc=$(awk '$1 == "authorizedkeyscommand" { print $2; exit }' "$NW_WORK/T")
	nw_ca=$(awk '$1 == "trustedusercakeys" { print $2; exit }' "$NW_WORK/T")
	if [ -n "$nw_akc" ] && [ "$nw_akc" != none ]; then return 0; fi
	if [ -n "$nw_ca" ] && [ "$nw_ca" != none ]; then return 0; fi
	nw_home=$(getent passwd "$1" 2>/dev/null | cut -d: -f6)
	[ -n "$nw_home" ] || return 1
	nw_files=$(NW_H=$nw_home NW_U=$1 awk '$1 == "authorizedkeysfile" {
		for (i = 2; i <= NF; i++) {
			f = $i; gsub(/%%/, "\001", f); gsub(/%h/, ENVIRON["NW_H"], f); gsub(/%u/, ENVIRON["NW_U"], f)
			gsub(/\001/, "%", f); if (substr(f, 1, 1) != "/") f = ENVIRON["NW_H"] "/" f; print f
		}
	}' "$NW_WORK/T")
	set -f
	for nw_f in $nw_files; do
		if grep -Eq '^[[:space:]]*[^#[:space:]]' "$nw_f" 2>/dev/null; then
			set +f
			return 0
		fi
	done
	set +f
	return 1
}

# nw_guard_keys USERS: refuse the current fix when an account we must keep has no key.
nw_guard_keys() {
	[ "$NW_FORCE" = 1 ] && return 0
	for nw_user in "$@"; do
		if ! nw_has_key "$nw_user"; then
			nw_refuse "$nw_user has no authorized key (nor AuthorizedKeysCommand or user CA): turning password logins off would lock $nw_user out (L4); give $nw_user a key first, or use --i-have-console-access"
			return 1
		fi
	done
}

# nw_guard_unlocked USERS: UsePAM no makes sshd honour a locked ("!") password and
# refuse even key logins for that account (dev-sec ansible-ssh-hardening #115; L5).
nw_guard_unlocked() {
	[ "$NW_FORCE" = 1 ] && return 0
	for nw_user in "$@"; do
		nw_pw=$(getent shadow "$nw_user" 2>/dev/null | cut -d: -f2)
		case $nw_pw in !*)
			nw_refuse "$nw_user has a locked password: with UsePAM no sshd would refuse its key logins too (L5)"
			return 1
			;;
		esac
	done
}

# nw_guard_access USERS [sshd options]: every account must still get in (L3).
nw_guard_access() {
	[ "$NW_FORCE" = 1 ] && return 0
	nw_users=$1
	shift
	nw_first=1
	for nw_user in $nw_users; do
		if ! nw_sshd_access "$nw_user" "$nw_first" "$@"; then
			nw_refuse "would lock $nw_user out: $NW_WHY (L3)"
			return 1
		fi
		nw_first=0
	done
}

# nw_cidr_has CIDR ADDRESS: IPv4 prefixes are computed; for IPv6 only ::/0 or the
# address itself count (a refusal is the safe side of not knowing).
nw_cidr_has() {
	case $1 in
	*:*) [ "$1" = ::/0 ] || [ "${1%/128}" = "$2" ] ;;
	*)
		NW_C=$1 NW_A=$2 awk '
			function ip(s,   a) { if (split(s, a, ".") != 4) return -1; return ((a[1] * 256 + a[2]) * 256 + a[3]) * 256 + a[4] }
			BEGIN {
				split(ENVIRON["NW_C"], c, "/"); bits = (c[2] == "" ? 32 : c[2] + 0)
				n = ip(c[1]); a = ip(ENVIRON["NW_A"]); if (n < 0 || a < 0) exit 1
				size = 2 ^ (32 - bits); exit (int(n / size) == int(a / size)) ? 0 : 1
			}'
		;;
	esac
}

nw_can_sudo() {
	[ "$1" = root ] && return 0
	if command -v runuser >/dev/null 2>&1; then
		runuser -u "$1" -- sudo -n true </dev/null >/dev/null 2>&1 9<&-
	else
		su -s /bin/sh -c 'sudo -n true' -- "$1" </dev/null >/dev/null 2>&1 9<&-
	fi
}

# Which accounts to keep can use `sudo -n` now: they must still can afterwards (L11).
nw_sudo_baseline() {
	[ -f "$NW_WORK/sudo.before" ] && return 0
	: >"$NW_WORK/sudo.before"
	# visudo -c's complaints before the change: the change must not add any (a node
	# may already have, say, a world-writable drop-in that sudo skips with a warning).
	visudo -c >/dev/null 2>"$NW_WORK/visudo.err"
	sort -u "$NW_WORK/visudo.err" >"$NW_WORK/visudo.before"
	for nw_user in $NW_KEEP_USERS; do
		if nw_can_sudo "$nw_user"; then printf '%s\n' "$nw_user" >>"$NW_WORK/sudo.before"; fi
	done
}

# ---------------------------------------------------------------- finish

nw_dirty_slots() {
	for nw_s in "$NW_WORK"/t/*; do
		[ -d "$nw_s" ] || continue
		if nw_dirty "$nw_s"; then printf '%s\n' "$nw_s"; fi
	done
}

nw_describe() {
	nw_d=$(cat "$1/dest")
	read -r nw_om nw_ou nw_og _ <"$1/orig"
	if [ "$nw_om" = absent ]; then
		printf 'create %s %s:%s' "$(cat "$1/mode")" "$(cat "$1/owner")" "$(cat "$1/group")"
		return
	fi
	nw_what=
	[ -f "$1/live" ] && nw_what="running value"
	if [ -f "$1/cand" ] && ! cmp -s "$1/cand" "$nw_d"; then nw_what="$nw_what content"; fi
	if [ -f "$1/mode" ] && [ $((0$(cat "$1/mode"))) -ne $((0$nw_om)) ]; then
		nw_what="$nw_what mode 0$nw_om->$(cat "$1/mode")"
	fi
	if [ -f "$1/owner" ]; then
		nw_want="$(nw_uid "$(cat "$1/owner")"):$(nw_gid "$(cat "$1/group")")"
		[ "$nw_want" = "$nw_ou:$nw_og" ] || nw_what="$nw_what owner $nw_ou:$nw_og->$nw_want"
	fi
	printf '%s' "${nw_what# }"
}

nw_plan() {
	for nw_s in $NW_DIRTY; do
		nw_d=$(cat "$nw_s/dest")
		nw_emit change "$nw_d" "$(nw_describe "$nw_s")"
		if [ -f "$nw_s/cand" ]; then
			nw_old=$nw_d
			[ -e "$nw_d" ] || nw_old=/dev/null
			nw_emit diff-begin "$nw_d"
			diff -u --label "a$nw_d" --label "b$nw_d" "$nw_old" "$nw_s/cand"
			nw_emit diff-end "$nw_d"
		fi
	done
}

nw_backup() {
	[ -d "$NW_STATE_DIR/backups" ] || mkdir -p -m 0700 "$NW_STATE_DIR/backups" || nw_die "cannot create $NW_STATE_DIR/backups"
	chmod 0700 "$NW_STATE_DIR" "$NW_STATE_DIR/backups" 2>/dev/null
	mkdir -m 0700 "$NW_BACKUP" || nw_die "cannot create $NW_BACKUP (run id used twice?)"
	mkdir -m 0700 "$NW_BACKUP/files" || nw_die "cannot create $NW_BACKUP/files"
	nw_write_control >"$NW_BACKUP/control.sh" || nw_die "cannot write control.sh"
	printf '%s\n' applying >"$NW_BACKUP/state"
	: >"$NW_BACKUP/index"
	: >"$NW_BACKUP/pins"
	: >"$NW_BACKUP/services"
	nw_seq=0
	for nw_s in $NW_DIRTY; do
		nw_d=$(cat "$nw_s/dest")
		nw_seq=$((nw_seq + 1))
		read -r nw_om _ <"$nw_s/orig"
		if [ "$nw_om" = absent ]; then
			nw_dir=${nw_d%/*}
			if [ -n "$nw_dir" ] && [ ! -d "$nw_dir" ]; then
				printf '%s\tdir\t0\t-\t-\t-\t-\t%s\n' "$nw_seq" "$nw_dir" >>"$NW_BACKUP/index"
				nw_seq=$((nw_seq + 1))
			fi
			printf '%s\tfile\t0\t-\t-\t-\t-\t%s\n' "$nw_seq" "$nw_d" >>"$NW_BACKUP/index"
			nw_emit backup "$nw_d" absent
			continue
		fi
		set -- $(stat -c '%a %u %g' -- "$nw_d")
		if [ -f "$nw_s/cand" ]; then
			cat -- "$nw_d" >"$NW_BACKUP/files/$nw_seq" || nw_die "cannot back up $nw_d"
			nw_sha=$(sha256sum <"$NW_BACKUP/files/$nw_seq" | cut -c1-64)
			printf '%s\tfile\t1\t%s\t%s\t%s\t%s\t%s\n' "$nw_seq" "$1" "$2" "$3" "$nw_sha" "$nw_d" >>"$NW_BACKUP/index"
		else
			nw_sha=-
			printf '%s\tmeta\t1\t%s\t%s\t%s\t-\t%s\n' "$nw_seq" "$1" "$2" "$3" "$nw_d" >>"$NW_BACKUP/index"
			# The very file whose mode and owner a restore may put back (control.sh, pins).
			printf '%s\t%s\n' "$nw_seq" "$(cat "$nw_s/ino")" >>"$NW_BACKUP/pins"
		fi
		nw_emit backup "$nw_d" "$nw_sha" "0$1" "$2:$3"
	done
}

# What each changed file holds now that it is installed, next to the index (see
# control.sh, intact): a restore puts a file back only while it still holds exactly
# this, so it never writes a stale backup over a later run's change. Also reported to
# the bastion's journal (installed-as).
nw_identity() {
	if [ -L "$1" ]; then
		echo link
	elif [ -f "$1" ]; then
		printf '%s %s\n' "$(sha256sum <"$1" | cut -c1-64)" "$(stat -c '%a %u %g' -- "$1")"
	elif [ -e "$1" ]; then
		echo other
	else
		echo absent
	fi
}

nw_record_installed() {
	: >"$NW_BACKUP/installed.new" || nw_die "cannot write $NW_BACKUP/installed"
	while IFS="$TAB" read -r nw_seq nw_kind _ _ _ _ _ nw_p; do
		case $nw_kind in file | meta) ;; *) continue ;; esac
		nw_id=$(nw_identity "$nw_p")
		printf '%s\t%s\t%s\n' "$nw_seq" "$nw_id" "$nw_p" >>"$NW_BACKUP/installed.new"
		set -f
		# shellcheck disable=SC2086 # "sha mode uid gid"
		set -- $nw_id
		set +f
		nw_emit installed-as "$nw_p" "$1" "0${2-}" "${3-}:${4-}"
	done <"$NW_BACKUP/index"
	mv -f "$NW_BACKUP/installed.new" "$NW_BACKUP/installed" || nw_die "cannot write $NW_BACKUP/installed"
}

nw_install_one() {
	nw_d=$(cat "$1/dest")
	read -r nw_om nw_ou nw_og _ <"$1/orig"
	if [ "$nw_om" = absent ]; then
		nw_mode=$(cat "$1/mode") nw_owner=$(cat "$1/owner") nw_group=$(cat "$1/group")
	else
		nw_mode=$(cat "$1/mode" 2>/dev/null || printf '%s' "$nw_om")
		nw_owner=$(cat "$1/owner" 2>/dev/null || printf '%s' "$nw_ou")
		nw_group=$(cat "$1/group" 2>/dev/null || printf '%s' "$nw_og")
	fi
	# The very file the fixes examined, or nothing: a name swapped for a symbolic link or
	# another file since then is not followed.
	if [ -f "$1/ino" ] && { [ -L "$nw_d" ] || [ "$(stat -c '%d:%i' -- "$nw_d" 2>/dev/null)" != "$(cat "$1/ino")" ]; }; then
		return 1
	fi
	# Checked again right before root acts (nw_slot checked when the fix ran): only root
	# can change the names involved, so nothing can swap them between here and the rename.
	nw_safe_name "$nw_d" || return 1
	if [ -f "$1/cand" ]; then
		nw_dir=${nw_d%/*}
		[ -n "$nw_dir" ] || nw_dir=/
		[ -d "$nw_dir" ] || mkdir -p -m 0755 "$nw_dir" || return 1
		# L1: staged in the destination directory (same filesystem: the rename is
		# atomic, and the file inherits the directory's default SELinux type). The
		# dotted name is one neither sshd's *.conf glob nor sudo's includedir reads.
		nw_stage=$(mktemp "$nw_dir/.nodeward.XXXXXX") || return 1
		if cat "$1/cand" >"$nw_stage" && chown "$nw_owner:$nw_group" "$nw_stage" &&
			chmod "$nw_mode" "$nw_stage" && mv -f "$nw_stage" "$nw_d"; then
			nw_emit installed "$nw_d"
			return 0
		fi
		rm -f "$nw_stage"
		return 1
	fi
	# Owner and mode only. chown first: the kernel clears set-uid/set-gid on a chown, and
	# a chmod after it must not bring them back, so the mode is at most the one the file
	# had (a fix only removes bits). -h and the link test: never through a link; the
	# device:inode: the file the fix examined (nw_safe_name: nobody else can swap it).
	[ -L "$nw_d" ] && return 1
	[ -f "$1/ino" ] || return 1
	nw_mode=$(printf '%04o' $((0$nw_mode & 0$nw_om)))
	nw_uid_want=$(nw_uid "$nw_owner") nw_gid_want=$(nw_gid "$nw_group")
	[ -n "$nw_uid_want" ] && [ -n "$nw_gid_want" ] || return 1
	chown -h -- "$nw_uid_want:$nw_gid_want" "$nw_d" || return 1
	[ -L "$nw_d" ] && return 1
	chmod -- "$nw_mode" "$nw_d" || return 1
	# shellcheck disable=SC2046 # three numbers
	set -- $(stat -c '%u %g %a' -- "$nw_d")
	[ "$1:$2" = "$nw_uid_want:$nw_gid_want" ] && [ $((0$3)) -eq $((0$nw_mode)) ] || return 1
	nw_emit installed "$nw_d"
}

nw_validate_sshd() {
	"$NW_SSHD" -t 2>"$NW_WORK/t.err" || nw_die "sshd -t rejects the new configuration: $(nw_flat "$(head -c 300 "$NW_WORK/t.err")")"
	nw_sshd_T "$NW_USER" || nw_die "$NW_WHY"
	while IFS="$TAB" read -r nw_k nw_v; do
		nw_key=$(printf '%s' "$nw_k" | tr 'A-Z' 'a-z')
		nw_got=$(awk -v k="$nw_key" '$1 == k { $1 = ""; sub(/^ /, ""); printf "%s%s", s, $0; s = " " }' "$NW_WORK/T")
		nw_l=$(printf '%s' "$nw_got" | tr 'A-Z' 'a-z')
		nw_r=$(printf '%s' "$nw_v" | tr 'A-Z' 'a-z')
		[ "$nw_l" = "$nw_r" ] || nw_die "after the change sshd -T -C $(nw_spec "$NW_USER") says $nw_k '$nw_got', not '$nw_v' (a Match block or an unread file wins)"
	done <"$NW_WORK/expect"
	if [ "$NW_FORCE" != 1 ]; then
		nw_first=1
		for nw_user in $NW_KEEP_USERS; do
			nw_sshd_access "$nw_user" "$nw_first" || nw_die "refused: the new configuration would lock $nw_user out: $NW_WHY (L3)"
			nw_first=0
		done
	fi
	nw_emit validated sshd "sshd -t; sshd -T -C $(nw_spec "$NW_USER")"
}

nw_validate_sudo() {
	if ! visudo -c >/dev/null 2>"$NW_WORK/v.err"; then
		sort -u "$NW_WORK/v.err" >"$NW_WORK/v.after"
		nw_new=$(comm -13 "$NW_WORK/visudo.before" "$NW_WORK/v.after" 2>/dev/null | head -c 300)
		if [ ! -f "$NW_WORK/visudo.before" ] || [ -n "$nw_new" ]; then
			nw_die "visudo -c rejects the whole policy: $(nw_flat "${nw_new:-$(tail -c 300 "$NW_WORK/v.err")}")"
		fi
	fi
	if [ "$NW_FORCE" != 1 ] && [ -f "$NW_WORK/sudo.before" ]; then
		while IFS= read -r nw_user; do
			nw_can_sudo "$nw_user" || nw_die "refused: $nw_user could run sudo -n before and no longer can (L11)"
		done <"$NW_WORK/sudo.before"
	fi
	nw_emit validated sudo "visudo -c"
}

nw_validate() {
	while IFS= read -r nw_svc; do
		case $nw_svc in
		sshd) nw_validate_sshd ;;
		sudo) nw_validate_sudo ;;
		nftables)
			nft -c -f "$NW_NFT_FILE" >"$NW_WORK/n.out" 2>&1 || nw_die "nft -c rejects $NW_NFT_FILE: $(nw_flat "$(head -c 300 "$NW_WORK/n.out")")"
			nw_emit validated nftables "nft -c -f $NW_NFT_FILE"
			;;
		apt)
			apt-config dump >/dev/null 2>"$NW_WORK/a.out" || nw_die "apt-config rejects the configuration: $(nw_flat "$(head -c 300 "$NW_WORK/a.out")")"
			nw_emit validated apt "apt-config dump"
			;;
		sysctl)
			while IFS="$TAB" read -r nw_k _; do
				[ -e "/proc/sys/$(printf '%s' "$nw_k" | tr . /)" ] || nw_die "the kernel has no sysctl $nw_k"
			done <"$NW_WORK/sysctl.keys"
			nw_emit validated sysctl "/proc/sys"
			;;
		esac
	done <"$NW_WORK/services"
}

nw_reload_all() {
	for nw_svc in sysctl apt sudo sshd nftables kubelet; do
		grep -qx "$nw_svc" "$NW_WORK/services" || continue
		# Recorded before the reload, so a restore reloads it even if the reload half-failed.
		printf '%s\n' "$nw_svc" >>"$NW_BACKUP/services"
		case $nw_svc in
		sysctl)
			cp "$NW_WORK/sysctl.files" "$NW_BACKUP/sysctl.files"
			while IFS="$TAB" read -r nw_k _; do
				printf '%s\t%s\n' "$nw_k" "$(sysctl -n "$nw_k" 2>/dev/null)" >>"$NW_BACKUP/sysctl.before"
			done <"$NW_WORK/sysctl.keys"
			;;
		nftables)
			printf '%s\n' "$NW_NFT_FILE" >"$NW_BACKUP/nft.file"
			printf '%s\n' "$NW_NFT_TABLE" >"$NW_BACKUP/nft.table"
			# shellcheck disable=SC2086 # "inet nodeward"
			nft list table $NW_NFT_TABLE >"$NW_BACKUP/nft.before" 2>/dev/null || : >"$NW_BACKUP/nft.before"
			;;
		kubelet)
			[ -n "${NW_KUBELET_HEALTHZ:-}" ] && printf '%s\n' "$NW_KUBELET_HEALTHZ" >"$NW_BACKUP/kubelet.healthz"
			[ -n "${NW_KUBELET_WAIT:-}" ] && printf '%s\n' "$NW_KUBELET_WAIT" >"$NW_BACKUP/kubelet.wait"
			;;
		esac
		sh "$NW_BACKUP/control.sh" reload "$nw_svc" 2>"$NW_WORK/r.err" 9<&- || nw_die "reloading $nw_svc failed: $(nw_flat "$(tail -c 300 "$NW_WORK/r.err")")"
		nw_emit reloaded "$nw_svc"
	done
}

nw_verify_sshd() {
	# What a script on the node can prove: the listener answers with an SSH banner on
	# its port. Only a NEW connection from the bastion proves logins still work, which
	# nodeward --remediate does before it commits (NW_MODE=hold).
	nw_i=0
	while [ "$nw_i" -lt 15 ]; do
		sleep 1
		if command -v ssh-keyscan >/dev/null 2>&1; then
			if ssh-keyscan -T 3 -p "$NW_SERVER_PORT" "$NW_SERVER_ADDR" 2>/dev/null | grep -q .; then return 0; fi
		else
			nw_pid=$(cat /run/sshd.pid 2>/dev/null) && kill -0 "$nw_pid" 2>/dev/null && return 0
		fi
		nw_i=$((nw_i + 1))
	done
	nw_die "sshd does not answer on $NW_SERVER_ADDR port $NW_SERVER_PORT after the reload"
}

nw_finish() {
	NW_DIRTY=$(nw_dirty_slots)
	if [ -z "$NW_DIRTY" ]; then
		nw_emit result unchanged
		exit 0
	fi
	if [ "$NW_MODE" = plan ]; then
		nw_plan
		nw_emit result planned
		exit 0
	fi
	# Candidates the real tools can judge on their own, before anything is installed.
	for nw_s in $NW_DIRTY; do
		[ -f "$nw_s/sudoers" ] && [ -f "$nw_s/cand" ] || continue
		visudo -c -f "$nw_s/cand" >"$NW_WORK/v.out" 2>&1 ||
			nw_die "visudo -cf rejects the candidate for $(cat "$nw_s/dest"): $(nw_flat "$(tail -c 300 "$NW_WORK/v.out")")"
	done
	nw_backup
	NW_PHASE=installed
	for nw_s in $NW_DIRTY; do
		nw_install_one "$nw_s" || nw_die "could not install $(cat "$nw_s/dest")"
	done
	nw_record_installed
	nw_validate
	sh "$NW_BACKUP/control.sh" arm "$NW_ROLLBACK_SECONDS" 9<&- || nw_die "could not arm the rollback timer"
	printf '%s\n' armed >"$NW_BACKUP/state"
	NW_PHASE=armed
	nw_emit armed "$(cat "$NW_BACKUP/timer" 2>/dev/null)" "$NW_ROLLBACK_SECONDS" "$NW_BACKUP"
	NW_PHASE=reloaded
	nw_reload_all
	if grep -qx sshd "$NW_WORK/services"; then
		nw_verify_sshd
		nw_emit verified sshd "answers on port $NW_SERVER_PORT"
	fi
	if [ "$NW_MODE" = hold ]; then
		NW_PHASE=held
		nw_emit result held "$NW_BACKUP"
		exit 0
	fi
	sh "$NW_BACKUP/control.sh" commit 9<&- || nw_die "the rollback timer fired before the commit"
	NW_PHASE=done
	nw_emit result applied "$NW_BACKUP"
	exit 0
}

nw_on_exit() {
	nw_rc=$?
	# Finish the restore whatever happens to our stdout or the SSH channel.
	trap '' PIPE HUP INT TERM
	case $NW_PHASE in
	installed | armed | reloaded)
		if sh "$NW_BACKUP/control.sh" restore failed 2>"$NW_WORK/x.err" 9<&-; then
			nw_emit rolled-back "$NW_BACKUP"
		else
			nw_emit rollback-failed "$(nw_flat "$(tail -c 300 "$NW_WORK/x.err")")" "$NW_BACKUP"
		fi
		[ "$nw_rc" != 0 ] || nw_rc=1
		;;
	esac
	rm -rf "$NW_WORK"
	[ -z "${NW_LOCKDIR-}" ] || rm -rf "$NW_LOCKDIR" # (a flock goes with this process)
	exit "$nw_rc"
}
# ---------------------------------------------------------------- end of runtime
