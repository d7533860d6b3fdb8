# tests/linux/module.mk: the busybox initramfs the Linux-guest tests boot.
#
# $(BUILD)/tests/linux/initramfs.cpio.gz holds the static busybox that
# scripts/deps.sh installs (busybox-static), tests/linux/init.sh as /init and
# /dev/console (the kernel opens it for init before anything is mounted).
# Written by tests/linux/mkcpio.py: no root needed, reproducible bytes.
# The kernel itself is Debian's, from $(VCR_CACHE)/kernel (scripts/deps.sh).
LINUX_INITRAMFS := $(BUILD)/tests/linux/initramfs.cpio.gz
LINUX_BUSYBOX ?= /bin/busybox

$(LINUX_INITRAMFS): tests/linux/init.sh tests/linux/mkcpio.py tests/linux/module.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CPIO    $@")
	$(Q)python3 tests/linux/mkcpio.py $@.tmp dir:bin:755 dir:dev:755 dir:proc:755 \
		dir:sys:755 dir:tmp:1777 nod:dev/console:600:c:5:1 nod:dev/null:666:c:1:3 \
		file:bin/busybox:755:$(LINUX_BUSYBOX) file:init:755:tests/linux/init.sh
	$(Q)mv $@.tmp $@

ALL_TARGETS += $(LINUX_INITRAMFS)

# The Linux boot test alone on the reference KVM (tests/run --kvm runs it
# with the other KVM tests, on every flavour).
.PHONY: check-linux
check-linux: all
	$(Q)VCR_BUILD=$(abspath $(BUILD)) VCR_KVM_FLAVOUR=nested-kvm_amd tests/nested/kvm-run --nested \
		--boot-timeout 300 --timeout 900 -- bash $(CURDIR)/tests/linux/boot_parts.sh
