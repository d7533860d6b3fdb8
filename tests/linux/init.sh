#!/bin/busybox sh
# /init of the busybox initramfs that vcr's Linux tests boot (L2 guest).
#
# Prints markers the tests look for, runs the command given on the kernel
# command line and ends the way it is asked to:
#   vcr.cmd=WORDS   a shell command, commas for spaces (the kernel command
#                   line has no quoting we can rely on): vcr.cmd=echo,hi
#   vcr.end=reboot  (default) reboot -f: with reboot=k the kernel resets
#                   through the i8042 (0xfe to port 0x64)
#   vcr.end=poweroff  poweroff -f: without ACPI the kernel halts every CPU
#   vcr.end=panic   echo c > /proc/sysrq-trigger (a kernel crash on purpose)
#   vcr.end=shell   an interactive shell on the console, then reboot
# Markers (one line each, at the start of a line):
#   VCR-LINUX-INIT up=SECONDS cpus=N   /init started
#   VCR-LINUX-CMD-BEGIN / VCR-LINUX-CMD-END status=N   around the command
#   VCR-LINUX-END how=...              just before the ending
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

cmd= end=reboot
for w in $(cat /proc/cmdline); do
    case "$w" in
        vcr.cmd=*) cmd=${w#vcr.cmd=} ;;
        vcr.end=*) end=${w#vcr.end=} ;;
    esac
done

echo "VCR-LINUX-INIT up=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc)"
if [ -n "$cmd" ]; then
    cmd=$(echo "$cmd" | tr ',' ' ')
    echo "VCR-LINUX-CMD-BEGIN"
    sh -c "$cmd"
    echo "VCR-LINUX-CMD-END status=$?"
fi
echo "VCR-LINUX-END how=$end"
case "$end" in
    poweroff) poweroff -f ;;
    # The END line is in the tty's buffer, drained by the UART's THRE
    # interrupts: a crash right away can lose it (a loaded host).
    panic) sleep 2; echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
    shell) setsid cttyhack sh; reboot -f ;;
    *) reboot -f ;;
esac
sleep 60
