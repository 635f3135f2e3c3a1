#!/usr/bin/env bash
# Installs the Debian packages the zedr-run test suite needs, only those that
# are missing. Idempotent and non-interactive; for Debian 12 (bookworm).
#
#   sudo scripts/install-test-deps.sh
#
# Run as non-root it only reports what is missing and exits 0 (the tests that
# need a missing tool skip themselves). Servers installed here (nginx,
# lighttpd, memcached, unbound, ...) are not started: a temporary
# /usr/sbin/policy-rc.d denies every service start.
set -euo pipefail

me=install-test-deps
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
say() { printf '%s: %s\n' "$me" "$*"; }
die() { printf '%s: ERROR: %s\n' "$me" "$*" >&2; exit 1; }

# One requirement per line: the name printed, then the Debian packages that
# satisfy it (any installed one counts; the first with an install candidate is
# installed). Names checked against bookworm with apt-cache policy: there
# nginx-light is only a transitional package depending on nginx, and the
# busybox package includes the httpd applet.
requirements=(
	"gunicorn gunicorn"
	"nginx nginx nginx-light nginx-core nginx-full nginx-extras"
	"busybox busybox busybox-static"
	"python3 python3"
	"python3-yaml python3-yaml"
	"systemd systemd"
	"util-linux util-linux"
	"curl curl"
	"iproute2 iproute2"
	"procps procps"
	"psmisc psmisc"
	"dnsmasq dnsmasq-base"
	"dnsperf dnsperf"
	"caddy caddy"
	"lighttpd lighttpd"
	"uwsgi uwsgi-core"
	"uwsgi-plugin-python3 uwsgi-plugin-python3"
	"memcached memcached"
	"unbound unbound"
	"node nodejs"
)

installed() { [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == "ii"* ]]; }
candidate() {
	local c
	c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
	[[ -n $c && $c != "(none)" ]]
}

missing=() # requirement lines not satisfied
for req in "${requirements[@]}"; do
	read -r name pkgs <<<"$req"
	ok=
	for p in $pkgs; do
		if installed "$p"; then ok=$p; break; fi
	done
	if [[ -n $ok ]]; then
		say "$name: present ($ok)"
	else
		missing+=("$req")
	fi
done

if ((${#missing[@]} > 0)) && ((EUID != 0)); then
	for req in "${missing[@]}"; do say "${req%% *}: MISSING"; done
	say "WARNING: not root, installing nothing; tests needing these will skip. Run as root to install." >&2
	exit 0
fi

if ((${#missing[@]} > 0)); then
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

	# Keep package scripts from starting services (invoke-rc.d and
	# deb-systemd-invoke ask policy-rc.d; 101 = action forbidden). An existing
	# policy that already forbids starting nginx is left alone; any other is set
	# aside and put back on exit.
	policy=/usr/sbin/policy-rc.d
	policy_saved=
	policy_created=
	restore_policy() {
		if [[ -n $policy_created ]]; then rm -f "$policy"; fi
		if [[ -n $policy_saved ]]; then mv -f "$policy_saved" "$policy"; fi
	}
	trap restore_policy EXIT
	rc=0
	[[ -x $policy ]] && { "$policy" nginx start </dev/null >/dev/null 2>&1 || rc=$?; }
	if [[ ! -e $policy ]] || ((rc != 101)); then
		if [[ -e $policy ]]; then
			policy_saved=$policy.$me.$$
			mv "$policy" "$policy_saved"
		fi
		printf '#!/bin/sh\n# created by %s; removed when it ends\nexit 101\n' "$me" >"$policy"
		chmod 755 "$policy"
		policy_created=1
	fi

	daemons='nginx|lighttpd|memcached|unbound'
	daemons_before=" $(pgrep -x "$daemons" | tr '\n' ' ' || true)"

	say "apt-get update"
	apt-get update -q </dev/null || die "apt-get update failed"
	to_install=()
	for req in "${missing[@]}"; do
		read -r name pkgs <<<"$req"
		pick=
		for p in $pkgs; do
			if candidate "$p"; then pick=$p; break; fi
		done
		[[ -n $pick ]] || die "$name: none of the packages ($pkgs) is available from the configured apt sources"
		to_install+=("$pick")
	done
	say "apt-get install ${to_install[*]}"
	apt-get install "${apt_opts[@]}" "${to_install[@]}" </dev/null || die "apt-get install ${to_install[*]} failed"
	for req in "${missing[@]}"; do say "${req%% *}: installed"; done

	# Belt and braces: stop server processes that appeared during the
	# install (there should be none), and only those.
	started=()
	for pid in $(pgrep -x "$daemons" || true); do
		[[ $daemons_before == *" $pid "* ]] || started+=("$pid")
	done
	if ((${#started[@]} > 0)); then
		say "WARNING: the install started servers (pids ${started[*]}); stopping them"
		if [[ -d /run/systemd/system ]]; then
			for unit in nginx lighttpd memcached unbound; do
				if systemctl is-active -q "$unit" 2>/dev/null; then systemctl stop "$unit" || true; fi
			done
		fi
		kill -TERM "${started[@]}" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "${started[@]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "${started[@]}" 2>/dev/null || true
	fi
fi

# Check that the tools the tests call actually work.
check() {
	local what=$1
	shift
	"$@" </dev/null >/dev/null 2>&1 || die "$what does not work (ran: $*); the tests need it"
}
check gunicorn gunicorn --version
check nginx nginx -v
check "busybox httpd" sh -c 'busybox --list | grep -x httpd'
check systemd-socket-activate systemd-socket-activate --help
check systemd-notify systemd-notify --help
check unshare unshare --help
check setpriv setpriv --help
check python3 python3 --version
check curl curl --version
check ss ss -V
check pgrep pgrep -V
check killall killall -V
check dnsmasq dnsmasq --version
check dnsperf sh -c 'dnsperf -h 2>&1 | grep -q Usage'
check caddy caddy version
check lighttpd lighttpd -v
check "uwsgi with python3" sh -c 'uwsgi --plugin python3 --help | grep -q wsgi-file'
check memcached memcached -V
check unbound unbound -V
check node node --version
say "all test dependencies present"
