#!/bin/sh
# nodeward rollback control for ONE remediation run (reliability.md L2, L8).
#
# The remediation script writes this file, unchanged, into
# /var/lib/nodeward/backups/<run-id>/ (0700, root) next to the backups it made there:
#   index       one line per change: seq kind existed mode uid gid sha256 path (TAB-separated)
#   files/<seq> the bytes a changed file had before
#   services    what was reloaded (restore reloads them again after putting files back)
#   state       applying | armed | committed | rolled-back
#   timer       how the automatic restore was scheduled: systemd <unit> | at <job> | sleeper <pid>
#
#   sh control.sh arm SECONDS      schedule "restore auto" (systemd-run, else at, else a
#                                  detached sleeper), BEFORE anything is reloaded
#   sh control.sh disarm           cancel that schedule
#   sh control.sh commit           the change is proven good: disarm, state committed
#   sh control.sh restore WHY      put every file back (bytes, mode, owner), reload what was
#                                  reloaded; WHY=auto does nothing once committed
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
KUBELET_WAIT=$(cat "$D/kubelet.wait" 2>/dev/null)
case $KUBELET_WAIT in '' | *[!0-9]*) KUBELET_WAIT=90 ;; esac

say() { printf '%s\n' "nodeward-control: $*" >&2; }

systemd_pid1() {
	# systemd-run and systemctl only when systemd really is PID 1 *here*: a container
	# or namespace that merely sees the host's /run/systemd must not schedule work on
	# the host's systemd.
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null 2>&1
}

lock() {
	# restore and commit exclude each other: a timer firing during the bastion's
	# commit must not undo a change the bastion has just declared good, or vice versa.
	i=0
	while ! mkdir "$D/lock" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 30 ] || { say "lock held by another restore/commit"; exit 75; }
		sleep 1
	done
	trap 'rmdir "$D/lock" 2>/dev/null' EXIT
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
	lock
	now=$(state)
	if [ "$why" = auto ] && [ "$now" = committed ]; then return 0; fi
	if [ "$now" = rolled-back ]; then
		say "run already rolled back"
		return 0
	fi
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
			reload "$service" || {
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

restore_one() {
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
restore) restore "${2:-manual}" ;;
reload) reload "${2-}" ;;
status) printf 'state %s\n' "$(state)" && cat "$D/timer" 2>/dev/null ;;
*)
	say "usage: sh control.sh arm SECONDS | disarm | commit | restore [auto|manual] | reload SERVICE | status"
	exit 2
	;;
esac
