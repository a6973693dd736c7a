#!/bin/sh
# nodeward rollback control for ONE remediation run (reliability.md L2, L8).
#
# The remediation script writes this file, unchanged, into
# /var/lib/nodeward/backups/<run-id>/ (0700, root) next to the backups it made there:
#   index       one line per change: seq kind existed mode uid gid sha256 path (TAB-separated),
#               mode, owner and sha256 of what the file had BEFORE the run
#   installed   one line per file or meta change: seq "sha256 mode uid gid" path (TAB-
#               separated): what the file held right AFTER the run installed it
#   pins        one line per meta change: seq device:inode (TAB-separated): the very file
#               whose mode and owner this run changed; a restore touches that file or nothing
#   files/<seq> the bytes a changed file had before
#   services    what was reloaded (restore reloads them again after putting files back)
#   state       applying | armed | committed | rolled-back | restore-refused | kept
#               (restore-refused: a restore found a file changed after this run and put
#               nothing back; the change is in place, not verified, until an operator
#               rolls it back or keeps it: `nodeward rollback RUN [--keep-current]`)
#   timer       how the automatic restore was scheduled: systemd <unit> | at <job> | sleeper <pid>
#
#   sh control.sh arm SECONDS      schedule "restore auto" (systemd-run, else at, else a
#                                  detached sleeper), BEFORE anything is reloaded
#   sh control.sh disarm           cancel that schedule
#   sh control.sh commit           the change is proven good: disarm, state committed
#   sh control.sh restore WHY      put every file back (bytes, mode, owner), reload what was
#                                  reloaded; WHY=auto does nothing once committed. Refused
#                                  as a whole (exit 5, nothing touched) when a file no longer
#                                  holds what this run installed; exit 75 when another run
#                                  holds the node lock
#   sh control.sh keep             after a refused restore: say what differs, then mark the
#                                  run resolved (state kept), leaving the node as it is now
#   sh control.sh reload SERVICE   sshd | kubelet | sysctl | nftables | sudo | apt | none
#   sh control.sh status
#
# Nothing in this file is generated: it holds no value from any inventory or node.
set -u
LC_ALL=C
export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 077
TAB=$(printf '\t')
case $0 in
*/*) D=${0%/*} ;;
*) D=. ;;
esac
D=$(cd "$D" && pwd) || exit 1
BACKUPS=${D%/*}
RUN=${D##*/}
KUBELET_WAIT=$(cat "$D/kubelet.wait" 2>/dev/null)
case $KUBELET_WAIT in '' | *[!0-9]*) KUBELET_WAIT=90 ;; esac

say() { printf '%s\n' "nodeward-control: $*" >&2; }

systemd_pid1() {
	# systemd-run and systemctl only when systemd really is PID 1 *here*: a container
	# or namespace that merely sees the host's /run/systemd must not schedule work on
	# the host's systemd.
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null 2>&1
}

RUN_LOCKED=
NODE_LOCKDIR=
NODE_LOCK_FILE=

release() {
	[ -z "$RUN_LOCKED" ] || rmdir "$D/lock" 2>/dev/null
	[ -z "$NODE_LOCKDIR" ] || rm -rf "$NODE_LOCKDIR"
}
trap release EXIT

lock() {
	# restore and commit exclude each other: a timer firing during the bastion's
	# commit must not undo a change the bastion has just declared good, or vice versa.
	i=0
	while ! mkdir "$D/lock" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 30 ] || { say "lock held by another restore/commit"; exit 75; }
		sleep 1
	done
	RUN_LOCKED=1
}

# ------------------------------------------------------------------ node lock
#
# One remediation at a time on this node, whichever bastion (whichever journal) it
# comes from: the remediation script (runtime.sh, nw_lock) holds $BACKUPS/.lock from
# before its first read of a file until it exits, and a restore takes it too. flock(1)
# (util-linux, BusyBox) when there is one: the kernel drops the lock with its holder,
# even after SIGKILL. Without it, a directory $BACKUPS/.lock.d whose holder's pid is
# checked, so a killed holder does not block the node for ever.
#
# The holder writes "RUN PID" into the lock. A run may restore ITSELF while it holds
# the lock: its own EXIT trap ("restore failed"), or its timer firing while the run
# hangs in a reload ("restore auto"); waiting for the lock there would be a deadlock.

holder() {
	if [ -n "$NODE_LOCK_FILE" ]; then
		read -r h _ <"$NODE_LOCK_FILE" 2>/dev/null
	else
		read -r h _ <"$BACKUPS/.lock.d/holder" 2>/dev/null
	fi
	printf '%s' "${h:-unknown}"
}

node_lock() {
	patience=$1 # seconds to wait for another run's lock; 0: refuse at once
	NODE_LOCK_FILE=
	if command -v flock >/dev/null 2>&1; then
		NODE_LOCK_FILE=$BACKUPS/.lock
		# Read-only: flock needs no more, and a child that inherits it can write nothing.
		[ -e "$NODE_LOCK_FILE" ] || : >>"$NODE_LOCK_FILE"
		exec 8<"$NODE_LOCK_FILE" || { say "cannot open $NODE_LOCK_FILE"; exit 1; }
		if flock -n 8; then
			printf '%s %s\n' "$RUN" "$$" >"$NODE_LOCK_FILE"
			return 0
		fi
		[ "$(holder)" = "$RUN" ] && return 0
		if [ "$patience" -gt 0 ] && flock -w "$patience" 8; then
			printf '%s %s\n' "$RUN" "$$" >"$NODE_LOCK_FILE"
			return 0
		fi
	else
		i=0
		while :; do
			if mkdir "$BACKUPS/.lock.d" 2>/dev/null; then
				NODE_LOCKDIR=$BACKUPS/.lock.d
				printf '%s %s\n' "$RUN" "$$" >"$NODE_LOCKDIR/holder"
				return 0
			fi
			[ "$(holder)" = "$RUN" ] && return 0
			read -r _ pid <"$BACKUPS/.lock.d/holder" 2>/dev/null
			case ${pid:-x} in *[!0-9]*) ;; *)
				kill -0 "$pid" 2>/dev/null || { rm -rf "$BACKUPS/.lock.d"; continue; }
				;;
			esac
			i=$((i + 1))
			[ "$i" -le "$patience" ] || break
			sleep 1
		done
	fi
	say "another nodeward remediation is running on this node (run $(holder)); try again when it has finished"
	exit 75
}

# ------------------------------------------------------------------ integrity
#
# A file is put back only while it still holds exactly what this run installed
# (sha256, mode, owner: the "installed" list). Otherwise something changed it after
# us - typically a later run, from this bastion or another one - and our backup is
# stale: restoring it would silently undo that later change, and rolling the later run
# back afterwards would then "restore" our installed version over the original.

identity() {
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

# later_run PATH "SHA MODE UID GID": the run (not rolled back, not older than this one)
# whose backup of PATH is exactly what this run installed - that run came after us.
later_run() {
	set -f
	# shellcheck disable=SC2086 # split the identity on purpose
	set -- "$1" $2
	set +f
	for other in "$BACKUPS"/*/; do
		other=${other%/}
		[ "$other" != "$D" ] && [ -f "$other/index" ] || continue
		[ "$(cat "$other/state" 2>/dev/null)" != rolled-back ] || continue
		[ ! "$D/control.sh" -nt "$other/control.sh" ] || continue
		if awk -F "$TAB" -v p="$1" -v sha="$2" -v meta="$3 $4 $5" '
			$8 == p && $3 == 1 && (($2 == "file" && $7 == sha) || ($2 == "meta" && $4 " " $5 " " $6 == meta)) { found = 1 }
			END { exit !found }' "$other/index"; then
			printf '%s\n' "${other##*/}"
			return 0
		fi
	done
	return 1
}

# intact: true when every file still holds what this run installed; otherwise one
# line per file that does not, naming the later run, and false.
intact() {
	# No "installed" list: the run stopped before it had installed everything (or it
	# predates the list). It held the node lock from before its first read, and no run
	# starts while another is applying or armed (nw_pending), so nothing else changed
	# these files since: the restore is safe without the comparison.
	[ -f "$D/installed" ] || return 0
	ok=0
	while IFS="$TAB" read -r seq want path; do
		[ -n "$seq" ] || continue
		now=$(identity "$path")
		[ "$now" = "$want" ] && continue
		ok=1
		if later=$(later_run "$path" "$want"); then
			say "refused: $path was changed after this run by run $later: roll back $later first"
		else
			say "refused: $path no longer holds what this run installed (it is $(describe "$now") now), and no later nodeward run on this node did that: someone else changed it"
		fi
	done <"$D/installed"
	return "$ok"
}

describe() {
	case $1 in
	link) echo "a symbolic link" ;;
	other) echo "not a regular file" ;;
	absent) echo "gone" ;;
	*)
		# shellcheck disable=SC2086 # split the identity on purpose
		set -- $1
		printf 'sha256 %s, mode %s, owner %s:%s' "$(printf '%s' "$1" | cut -c1-12)" "$2" "$3" "$4"
		;;
	esac
}

# ------------------------------------------------------------------ names only root controls
#
# A restore runs as root, maybe long after the run, maybe for a run that stopped before
# it had recorded "installed": before it changes anything by name it checks again that
# only root can change what that name leads to (the same walk as the runtime's
# nw_root_dir): every directory a name is looked up in is owned by root and writable by
# no group or other user. Otherwise a user could swap the name for a link to
# /etc/shadow and have root chmod it (issue 12 review, finding 1).

root_dir() {
	WHY=
	rest=$1
	cur=/
	hops=0
	dir_root_only / || return 1
	while [ -n "$rest" ]; do
		c=${rest%%/*}
		if [ "$c" = "$rest" ]; then rest=; else rest=${rest#*/}; fi
		case $c in
		'' | .) continue ;;
		..)
			cur=${cur%/*}
			[ -n "$cur" ] || cur=/
			continue
			;;
		esac
		next=${cur%/}/$c
		if [ -L "$next" ]; then
			hops=$((hops + 1))
			t=$(readlink -- "$next") && [ "$hops" -le 40 ] || {
				WHY="cannot resolve $next"
				return 1
			}
			case $t in /*) cur=/ ;; esac
			rest=$t/$rest
			continue
		fi
		[ -e "$next" ] || break
		dir_root_only "$next" || return 1
		cur=$next
	done
}

dir_root_only() {
	st=$(stat -c '%u %a %F' -- "$1" 2>/dev/null)
	case $st in
	"0 "[0-7]*" directory") ;;
	*)
		WHY="$1 is not a directory owned by root"
		return 1
		;;
	esac
	m=${st#0 }
	if [ $((0${m%% *} & 022)) -ne 0 ]; then
		WHY="$1 can be changed by someone other than root"
		return 1
	fi
}

# safe_parent PATH: only root controls the directory PATH's name is in.
safe_parent() {
	parent=${1%/*}
	root_dir "${parent:-/}" || {
		say "$1 not restored: $WHY"
		return 1
	}
}

state() { cat "$D/state" 2>/dev/null || echo none; }

set_state() { printf '%s\n' "$1" >"$D/state.new" && mv -f "$D/state.new" "$D/state"; }

# ------------------------------------------------------------------ reloads

sshd_bin() { if [ -x /usr/sbin/sshd ]; then echo /usr/sbin/sshd; else command -v sshd; fi; }

reload_sshd() {
	sshd=$(sshd_bin) || { say "no sshd"; return 1; }
	"$sshd" -t || { say "sshd -t rejects the configuration: not reloading"; return 1; }
	if systemd_pid1; then
		for unit in ssh sshd; do
			if systemctl is-active --quiet "$unit" 2>/dev/null; then
				systemctl reload "$unit" && return 0
			fi
		done
	fi
	# The Debian way without systemd: SIGHUP makes the listener re-exec itself with the
	# new configuration; open sessions keep running (reliability.md L7).
	pidfile=$("$sshd" -T 2>/dev/null | awk '$1 == "pidfile" { print $2; exit }')
	[ -n "$pidfile" ] || pidfile=/run/sshd.pid
	pid=$(cat "$pidfile" 2>/dev/null) || { say "no sshd pid file $pidfile"; return 1; }
	case $pid in '' | *[!0-9]*) say "bad pid in $pidfile"; return 1 ;; esac
	kill -HUP "$pid"
}

kubelet_url() {
	if [ -s "$D/kubelet.healthz" ]; then cat "$D/kubelet.healthz"; else echo http://127.0.0.1:10248/healthz; fi
}

kubelet_healthy() {
	url=$(kubelet_url)
	if command -v curl >/dev/null 2>&1; then
		body=$(curl -fsS --max-time 3 "$url" 2>/dev/null)
	elif command -v wget >/dev/null 2>&1; then
		body=$(wget -q -T 3 -O - "$url" 2>/dev/null)
	else
		say "neither curl nor wget: cannot ask the kubelet's health endpoint"
		return 1
	fi
	[ "$body" = ok ]
}

reload_kubelet() {
	# One node at a time is the bastion's job (it remediates nodes in sequence); here:
	# restart and wait for /healthz, so a broken config is noticed and restored.
	if systemd_pid1; then
		systemctl restart kubelet || return 1
	elif command -v rc-service >/dev/null 2>&1; then
		rc-service kubelet restart || return 1
	elif command -v service >/dev/null 2>&1; then
		service kubelet restart || return 1
	else
		say "no service manager to restart the kubelet with"
		return 1
	fi
	i=0
	while [ "$i" -lt "$KUBELET_WAIT" ]; do
		if kubelet_healthy; then return 0; fi
		sleep 1
		i=$((i + 1))
	done
	say "kubelet not healthy at $(kubelet_url) after ${KUBELET_WAIT}s"
	return 1
}

reload_sysctl() {
	[ -s "$D/sysctl.files" ] || return 0
	rc=0
	while IFS= read -r f; do
		[ -f "$f" ] || continue
		sysctl -q -p "$f" >/dev/null || rc=1
	done <"$D/sysctl.files"
	return "$rc"
}

restore_sysctl() {
	# Values that were live before the change go back as they were: removing a file
	# from sysctl.d does not change the running kernel.
	[ -s "$D/sysctl.before" ] || return 0
	while IFS="$TAB" read -r key value; do
		[ -n "$key" ] && sysctl -q -w "$key=$value" >/dev/null
	done <"$D/sysctl.before"
}

reload_nftables() {
	[ -s "$D/nft.file" ] || return 0
	nft -f "$(cat "$D/nft.file")"
}

restore_nftables() {
	[ -e "$D/nft.table" ] || return 0
	table=$(cat "$D/nft.table")
	# shellcheck disable=SC2086 # "inet nodeward": two words on purpose
	nft delete table $table 2>/dev/null
	if [ -s "$D/nft.before" ]; then nft -f "$D/nft.before"; fi
}

reload() {
	case $1 in
	sshd) reload_sshd ;;
	kubelet) reload_kubelet ;;
	sysctl) reload_sysctl ;;
	nftables) reload_nftables ;;
	sudo | apt | none) return 0 ;;
	*) say "unknown service $1"; return 1 ;;
	esac
}

# ------------------------------------------------------------------ timer

arm() {
	secs=$1
	case $secs in '' | *[!0-9]*) say "arm needs seconds"; exit 2 ;; esac
	run=${D##*/}
	if systemd_pid1 && command -v systemd-run >/dev/null 2>&1; then
		unit=nodeward-rollback-$run
		if systemd-run --quiet --unit="$unit" --on-active="${secs}s" --timer-property=AccuracySec=1s \
			/bin/sh "$D/control.sh" restore auto >/dev/null 2>&1; then
			printf 'systemd %s\n' "$unit" >"$D/timer"
			return 0
		fi
	fi
	if command -v at >/dev/null 2>&1 && pidof atd >/dev/null 2>&1; then
		mins=$(((secs + 59) / 60))
		job=$(printf '/bin/sh %s/control.sh restore auto\n' "$D" | at now + "$mins" minutes 2>&1 |
			awk '$1 == "job" { print $2; exit }')
		if [ -n "$job" ]; then
			printf 'at %s\n' "$job" >"$D/timer"
			return 0
		fi
	fi
	# A detached sleeper in its own session: it outlives this shell, the SSH channel and
	# the bastion, and holds none of their file descriptors (so the channel can close).
	if command -v setsid >/dev/null 2>&1; then
		setsid /bin/sh -c 'sleep "$1" && exec /bin/sh "$2" restore auto' nodeward-rollback \
			"$secs" "$D/control.sh" </dev/null >/dev/null 2>&1 &
	else
		nohup /bin/sh -c 'sleep "$1" && exec /bin/sh "$2" restore auto' nodeward-rollback \
			"$secs" "$D/control.sh" </dev/null >/dev/null 2>&1 &
	fi
	printf 'sleeper %s\n' "$!" >"$D/timer"
}

disarm() {
	[ -s "$D/timer" ] || return 0
	read -r kind id <"$D/timer"
	case $kind in
	systemd) systemctl stop "$id.timer" "$id.service" >/dev/null 2>&1 ;;
	at) atrm "$id" >/dev/null 2>&1 ;;
	sleeper)
		# Not when the sleeper itself is running this restore (it exec'd into it).
		case $id in '' | *[!0-9]* | "$$") ;; *)
			# setsid made it a process-group leader: take its sleep along.
			kill -s TERM -- "-$id" 2>/dev/null || kill -s TERM "$id" 2>/dev/null
			;;
		esac
		;;
	esac
	# The state file is the real guard: "restore auto" does nothing once committed.
	rm -f "$D/timer"
}

# ------------------------------------------------------------------ restore

restore() {
	why=$1
	# A stale timer of a committed run waits for nobody's lock.
	if [ "$why" = auto ]; then case $(state) in committed | kept) return 0 ;; esac; fi
	case $why in
	manual) node_lock 0 ;; # the operator: told at once that another run is busy (exit 75)
	*) node_lock 60 ;;     # a timer or a failed run: another run's lock is brief (nw_pending)
	esac
	lock
	now=$(state)
	if [ "$why" = auto ]; then case $now in committed | kept) return 0 ;; esac; fi
	if [ "$now" = rolled-back ]; then
		say "run already rolled back"
		return 0
	fi
	# All or nothing: when one file was changed after this run, nothing is restored.
	# Putting back only the others would leave a mix (say, this run's sshd_config
	# with the original drop-in) that no run ever validated with sshd -t or proved
	# with a new login; the node stays as it is, a state that was verified.
	if ! intact || ! names_safe; then
		say "nothing was restored: run $RUN is still in place on this node"
		# A run nobody committed stays unverified: no longer "armed" (no timer will
		# settle it) but waiting for an operator, who is told so by every later run
		# (runtime.sh, nw_pending) and settles it with `nodeward rollback` (restore once
		# the file is back, or keep). A committed run stays committed.
		case $(state) in armed | applying) set_state restore-refused ;; esac # (intact reuses $now)
		printf '%s %s\n' "$why" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$D/restore-refused"
		exit 5
	fi
	rm -f "$D/restore-refused"
	rc=0
	if [ -s "$D/index" ]; then
		sort -t "$TAB" -k1,1nr "$D/index" >"$D/index.rev"
		while IFS="$TAB" read -r seq kind existed mode uid gid sha path; do
			restore_one || {
				say "could not restore $path"
				rc=1
			}
		done <"$D/index.rev"
	fi
	restore_sysctl || rc=1
	restore_nftables || rc=1
	if [ -s "$D/services" ]; then
		for service in $(sort -u "$D/services"); do
			case $service in sysctl | nftables) continue ;; esac
			# Never hand the node lock to a daemon this reload starts (the kubelet).
			reload "$service" 8>&- || {
				say "reloading $service after the restore failed"
				rc=1
			}
		done
	fi
	set_state rolled-back
	printf '%s %s\n' "$why" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$D/rolled-back"
	disarm
	return "$rc"
}

# names_safe: every name the restore would touch is still safe to touch by name (see
# name_safe); otherwise one line per name that is not, and false. Checked for all of
# them before anything is restored (all or nothing, as with intact), and again by
# restore_one right before it acts.
names_safe() {
	[ -s "$D/index" ] || return 0
	ok=0
	while IFS="$TAB" read -r seq kind existed mode uid gid sha path; do
		[ -n "$seq" ] || continue
		name_safe || ok=1
	done <"$D/index"
	return "$ok"
}

# name_safe (seq kind path from the index line): whatever the kind, and even without an
# "installed" list, only root may be able to change the name; a file to put back is not
# a directory now; a mode and owner go back only onto the very file (device:inode
# recorded at the backup) this run changed, never through a link (chmod follows it),
# never onto a FIFO or a device.
name_safe() {
	safe_parent "$path" || return 1
	case $kind in
	file)
		if [ -d "$path" ] && [ ! -L "$path" ]; then
			say "$path not restored: it is a directory now"
			return 1
		fi
		;;
	meta)
		[ -e "$path" ] || [ -L "$path" ] || return 0
		if [ -L "$path" ] || { [ ! -f "$path" ] && [ ! -d "$path" ]; }; then
			say "$path not restored: it is a symbolic link or not a regular file or directory now"
			return 1
		fi
		pin=$(awk -F "$TAB" -v s="$seq" '$1 == s { print $2; exit }' "$D/pins" 2>/dev/null)
		if [ -z "$pin" ] || [ "$(stat -c '%d:%i' -- "$path")" != "$pin" ]; then
			# Another inode under the same name: a later run's content fix (and its own
			# rollback) or a package update replaced the file by rename. Only root can do
			# that here (safe_parent: every directory of the name is root's alone), and
			# intact() has already compared mode and owner with what this run installed;
			# a hard link to some other file is still refused.
			if [ ! -f "$path" ] || [ "$(stat -c '%h' -- "$path")" != 1 ]; then
				say "$path not restored: it is no longer the file this run changed"
				return 1
			fi
		fi
		;;
	esac
}

restore_one() {
	name_safe || return 1
	case $kind in
	file)
		if [ "$existed" = 1 ]; then
			dir=${path%/*}
			[ -n "$dir" ] || dir=/
			tmp=$(mktemp "$dir/.nodeward-restore.XXXXXX") || return 1
			if cat "$D/files/$seq" >"$tmp" && chown "$uid:$gid" "$tmp" && chmod "$mode" "$tmp" &&
				mv -f "$tmp" "$path"; then
				got=$(sha256sum "$path" | cut -c1-64)
				[ "$got" = "$sha" ] || { say "$path restored but checksum differs"; return 1; }
			else
				rm -f "$tmp"
				return 1
			fi
		else
			rm -f "$path"
		fi
		;;
	meta)
		[ -e "$path" ] || return 0
		chown -h "$uid:$gid" "$path" && chmod "$mode" "$path"
		;;
	dir)
		[ "$existed" = 1 ] || rmdir "$path" 2>/dev/null || :
		;;
	esac
}

# keep: the operator's answer to a refused restore (`nodeward rollback RUN
# --keep-current`): the node stays as it is now, and later runs may go ahead. What
# differs from what this run installed is said first, so the choice is an informed one.
keep() {
	node_lock 0
	lock
	now=$(state)
	case $now in
	restore-refused) ;;
	*)
		say "run $RUN is $now, not waiting for a decision: nothing to keep"
		exit 6
		;;
	esac
	intact || :
	set_state kept
	printf '%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$D/kept"
	disarm
	say "run $RUN kept as it is now on this node; later runs may go ahead"
}

commit() {
	lock
	now=$(state)
	if [ "$now" = rolled-back ]; then
		say "too late: the run was already rolled back ($(cat "$D/rolled-back" 2>/dev/null))"
		exit 3
	fi
	set_state committed
	disarm
}

case ${1-} in
arm) arm "${2-}" ;;
disarm) disarm ;;
commit) commit ;;
keep) keep ;;
restore) restore "${2:-manual}" ;;
reload) reload "${2-}" ;;
status) printf 'state %s\n' "$(state)" && cat "$D/timer" 2>/dev/null ;;
*)
	say "usage: sh control.sh arm SECONDS | disarm | commit | restore [auto|manual] | keep | reload SERVICE | status"
	exit 2
	;;
esac
