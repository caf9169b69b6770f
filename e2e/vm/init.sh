#!/bin/busybox sh
# /init of the test guest (e2e/tests/e2e/vm.rs): mounts what eBPF needs, runs each
# scenario, and prints `VM-PASS NAME` or `VM-FAIL NAME` after its output on
# the serial console, then `VM-DONE` and powers off. Binaries are under /t
# (templates: LANG-TYPE), packaged images under /pkgs, bpf-runtime in /bin.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t securityfs securityfs /sys/kernel/security
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
for m in /mods/*.ko; do [ -f "$m" ] && insmod "$m"; done
echo "VM-KERNEL $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"

# run_for TRIGGER CMD...: runs CMD, and TRIGGER once CMD has printed its
# first line (it prints once attached: under emulation that can take
# seconds); 3 s later CMD gets Ctrl-C (SIGINT) and prints what it saw.
run_for() {
	trigger=$1; shift
	"$@" > /tmp/out 2> /tmp/err &
	pid=$!
	i=0
	while [ ! -s /tmp/out ] && [ ! -s /tmp/err ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
	sleep 0.5
	$trigger
	sleep 3
	kill -INT $pid 2>/dev/null
	wait $pid
	code=$?
	cat /tmp/out /tmp/err
	return $code
}

# Five unlinks by one `rm` process, of files named after the scenario.
unlink_five() {
	for i in 1 2 3 4 5; do touch /tmp/vm-marker-$i; done
	rm /tmp/vm-marker-1 /tmp/vm-marker-2 /tmp/vm-marker-3 /tmp/vm-marker-4 /tmp/vm-marker-5
}

# The table of PID COMM CALLS ERRORS shows `rm` with at least 5 calls.
rm_counted() { awk '$2 == "rm" && $3 >= 5 { ok = 1 } END { exit !ok }' /tmp/out; }

# mkdir of the blocked name fails, another succeeds.
mkdirs() {
	if mkdir /tmp/forbidden 2>/dev/null; then echo "mkdir forbidden was allowed"; fi
	mkdir /tmp/allowed-dir
	rmdir /tmp/allowed-dir
}

# --duration is only a safety net: run_for stops each program.
s_template_kprobe() { run_for unlink_five "$1" --symbol do_unlinkat --duration 60 && rm_counted; }
s_template_kretprobe() { s_template_kprobe "$@"; }   # returns, counted the same way
s_template_fentry() { run_for unlink_five "$1" --duration 60 && grep -q "vm-marker-3" /tmp/out; }
s_template_fexit() { s_template_fentry "$@"; }       # the file names, on return
s_template_lsm() {
	run_for mkdirs "$1" --duration 60 || return 1
	[ ! -d /tmp/forbidden ] && grep "denied" /tmp/out | grep -q forbidden && grep "allowed" /tmp/out | grep -q allowed-dir
}

s_runtime_kprobe() {
	run_for unlink_five bpf-runtime run /pkgs/c-kprobe.tar --no-userspace --json --duration 60s --interval 1s || return 1
	grep '"comm":"rm"' /tmp/out | grep -q '"calls":5'
}
s_runtime_fentry() {
	run_for unlink_five bpf-runtime run /pkgs/c-fentry.tar --no-userspace --json --duration 60s || return 1
	grep -q 'vm-marker-3' /tmp/out
}
s_runtime_lsm() {
	run_for "mkdir /tmp/secret" bpf-runtime run /pkgs/c-lsm.tar --no-userspace --json --duration 60s --set blocked_name=secret || return 1
	[ ! -d /tmp/secret ] && grep '"secret"' /tmp/out | grep -q '"denied":1'
}
# tc on a kernel without tcx (6.1): a filter on the clsact qdisc, which the
# runtime creates and removes again.
s_runtime_tc() {
	ip link set lo up
	run_for "ping -c 5 -i 0.2 127.0.0.1" bpf-runtime run /pkgs/c-tc.tar --no-userspace --json --iface lo --duration 60s --interval 1s || return 1
	grep '"map":"stats"' /tmp/out | grep -q '"packets":[1-9]' || return 1
	tc qdisc show dev lo > /tmp/qdisc
	cat /tmp/qdisc
	! grep -q clsact /tmp/qdisc
}

# A corpus tool (bcc's libbpf-tools, unchanged) attaches its kprobes or
# fentry programs, sees some work, and shows its output decoded: no record
# or value as a hex string.
corpus_work() {
	unlink_five
	ls -R /sys/kernel/tracing/events/sched > /dev/null
	cat /proc/version > /dev/null
	mkdir /tmp/corpus-dir && rmdir /tmp/corpus-dir
}
s_corpus() {
	run_for corpus_work bpf-runtime run "$1" --json --duration 60s --interval 1s || return 1
	! grep -q '"event":"' /tmp/out && ! grep -q '"value":"[0-9a-f]*"}' /tmp/out
}

# The pre-load check agrees with the kernel: what it says is there is (the
# scenarios above attached kprobes, trampolines and the BPF LSM for real).
s_runtime_features() {
	bpf-runtime features > /tmp/out 2>&1
	cat /tmp/out
	for f in "kprobes (CONFIG_KPROBES)" "the BPF LSM" "kernel BTF" "BPF trampolines"; do
		grep -F "$f" /tmp/out | grep -q " yes" || { echo "features: $f not offered"; return 1; }
	done
}
s_runtime_leaves_nothing() {
	n=$(ls /sys/fs/bpf | wc -l)
	bpf-runtime list
	[ "$n" = 0 ] || { ls -R /sys/fs/bpf; return 1; }
}

# cilium/ebpf v0.9 (Debian 12's, for Go 1.19) cannot parse the BTF of 6.0+
# kernels; the Go templates rewrite it first. Should that ever fail, the
# line below names the reason (and the test fails).
CILIUM_09="cilium/ebpf v0.9 cannot read this kernel's BTF"

scenario() {
	name=$1; shift
	echo "VM-BEGIN $name"
	start=$(date +%s)
	if "$@"; then
		echo "VM-PASS $name ($(( $(date +%s) - start ))s)"
	elif grep -qF "$CILIUM_09" /tmp/out /tmp/err 2>/dev/null; then
		echo "VM-LIMIT $name: $CILIUM_09"
	else
		echo "VM-FAIL $name"
	fi
	rm -f /tmp/out /tmp/err
}

for bin in /t/*; do
	[ -x "$bin" ] || continue
	lt=$(basename "$bin")          # LANG-TYPE
	scenario "$lt" "s_template_${lt#*-}" "$bin"
done
for s in kprobe fentry lsm tc features; do
	scenario "runtime-$s" "s_runtime_$s"
done
for t in /corpus/*.tar; do
	[ -f "$t" ] || continue
	scenario "corpus-$(basename "$t" .tar)" s_corpus "$t"
done
scenario runtime-leaves_nothing s_runtime_leaves_nothing
echo VM-DONE
poweroff -f
